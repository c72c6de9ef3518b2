"""Continued pre-training: documents as ``[bos] text <eos>``, truncated alone or concatenated into blocks."""

import pytest

from tunefactory.config import parse_dict
from tunefactory.config.data_args import DataArguments
from tunefactory.data.bad_rows import DROP_COLUMN
from tunefactory.data.processors import process_dataset
from tunefactory.data.processors.pretrain import (
    BlockConcatenator,
    PretrainProcessor,
    document_end_id,
    tokenizer_bos_prefix,
)
from tunefactory.data.template import TEMPLATES, get_template


@pytest.fixture
def llama_tokenizer(tiny_llama):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_llama)


class AddsSpecialTokens:
    """Wraps a tokenizer so that ``add_special_tokens=True`` puts ``prefix`` before and ``suffix`` after the text."""

    def __init__(self, tokenizer, prefix=(), suffix=()):
        self.tokenizer, self.prefix, self.suffix = tokenizer, list(prefix), list(suffix)
        self.eos_token_id = tokenizer.eos_token_id

    def encode(self, text, add_special_tokens=True):
        ids = self.tokenizer.encode(text, add_special_tokens=False)
        return self.prefix + ids + self.suffix if add_special_tokens else ids

    def get_vocab(self):
        return self.tokenizer.get_vocab()

    def convert_tokens_to_ids(self, token):
        return self.tokenizer.convert_tokens_to_ids(token)


def doc(text):
    return {"_prompt": [{"role": "user", "content": text}], "_response": [], "_system": "", "_tools": "",
            "_images": None, "_videos": None, "_audios": None}


def batch_of(*examples):
    return {key: [ex[key] for ex in examples] for key in examples[0]}


def test_bos_prefix(llama_tokenizer):
    assert tokenizer_bos_prefix(llama_tokenizer) == []  # the tiny tokenizer adds nothing on its own
    assert tokenizer_bos_prefix(AddsSpecialTokens(llama_tokenizer, prefix=[0])) == [0]
    assert tokenizer_bos_prefix(AddsSpecialTokens(llama_tokenizer, prefix=[0, 7])) == [0, 7]
    assert tokenizer_bos_prefix(AddsSpecialTokens(llama_tokenizer, suffix=[1])) == []  # an added EOS is no prefix


def test_llama3_documents_end_with_end_of_text_not_the_chat_eos(llama_tokenizer):
    get_template(llama_tokenizer, DataArguments(template="llama3"))  # the chat template makes <|eot_id|> the EOS
    assert llama_tokenizer.eos_token == "<|eot_id|>"
    end_of_text = llama_tokenizer.convert_tokens_to_ids("<|end_of_text|>")
    assert end_of_text != llama_tokenizer.eos_token_id
    assert document_end_id(llama_tokenizer, "llama3") == end_of_text
    assert document_end_id(llama_tokenizer, "qwen") == llama_tokenizer.eos_token_id
    assert document_end_id(llama_tokenizer, None) == llama_tokenizer.eos_token_id


def test_pretrain_processor_document_ids(llama_tokenizer):
    text = "The quick brown fox."
    ids = llama_tokenizer.encode(text, add_special_tokens=False)
    eos = llama_tokenizer.eos_token_id
    processor = PretrainProcessor(TEMPLATES["empty"], llama_tokenizer, DataArguments(cutoff_len=1024))
    out = processor(batch_of(doc(text), doc("")))
    assert out["input_ids"][0] == ids + [eos]
    assert out["labels"][0] == out["input_ids"][0]
    assert out[DROP_COLUMN] == ["", "empty text"]

    with_bos = AddsSpecialTokens(llama_tokenizer, prefix=[0])
    out = PretrainProcessor(TEMPLATES["empty"], with_bos, DataArguments(cutoff_len=1024))(batch_of(doc(text)))
    assert out["input_ids"] == out["labels"] == [[0] + ids + [eos]]


def test_pretrain_processor_truncates_unless_packing(llama_tokenizer):
    text = "The quick brown fox jumps over the lazy dog."
    ids = llama_tokenizer.encode(text, add_special_tokens=False) + [llama_tokenizer.eos_token_id]
    assert len(ids) > 6
    processor = PretrainProcessor(TEMPLATES["empty"], llama_tokenizer, DataArguments(cutoff_len=6))
    out = processor(batch_of(doc(text)))
    assert out["input_ids"] == out["labels"] == [ids[:6]]
    processor.truncate = False  # documents are cut into blocks later instead
    assert processor(batch_of(doc(text)))["input_ids"] == [ids]


def test_block_concatenator_rows_and_stream():
    docs = [[1, 2, 3], [4, 5, 6, 7, 8], [9], [10, 11, 12, 13]]
    out = BlockConcatenator(4)({"input_ids": docs, "labels": docs})
    assert out["input_ids"] == [[1, 2, 3, 4], [5, 6, 7, 8], [9, 10, 11, 12], [13]]
    assert out["labels"] == out["input_ids"]
    docs = [list(range(i * 100, i * 100 + n)) for i, n in enumerate([17, 3, 29, 1, 8, 40, 2])]
    out = BlockConcatenator(16)({"input_ids": docs, "labels": docs})
    assert all(len(row) == 16 for row in out["input_ids"][:-1]) and 0 < len(out["input_ids"][-1]) <= 16
    assert [t for row in out["input_ids"] for t in row] == [t for d in docs for t in d]
    assert out["labels"] == out["input_ids"]


def test_pt_processing_packs_into_blocks_by_default(tmp_path, llama_tokenizer):
    from datasets import Dataset

    texts = ["The quick brown fox.", "Jumps over the lazy dog.", "", "Hello world, hello tokens."]
    dataset = Dataset.from_list([doc(t) for t in texts])
    config = parse_dict({"model_name_or_path": "m", "stage": "pt", "do_train": True, "output_dir": str(tmp_path),
                         "dataset": "unused", "cutoff_len": 8, "max_invalid_fraction": 0.5})
    eos = llama_tokenizer.eos_token_id
    stream = [t for text in texts if text for t in llama_tokenizer.encode(text, add_special_tokens=False) + [eos]]
    processed, report = process_dataset(dataset, config, TEMPLATES["empty"], llama_tokenizer)
    rows = processed["input_ids"]
    assert [t for row in rows for t in row] == stream
    assert all(len(row) == 8 for row in rows[:-1])
    assert processed["labels"] == rows
    assert (report.kind, report.examples_in, report.examples_kept, report.dropped) == ("pretrain", 4, 3,
                                                                                       {"empty text": 1})
    assert (report.rows, report.tokens, report.row_capacity) == (len(rows), len(stream), 8)

    config = parse_dict({"model_name_or_path": "m", "stage": "pt", "do_train": True, "output_dir": str(tmp_path),
                         "dataset": "unused", "cutoff_len": 8, "max_invalid_fraction": 0.5, "packing": False})
    processed, report = process_dataset(dataset, config, TEMPLATES["empty"], llama_tokenizer)
    expected = [(llama_tokenizer.encode(t, add_special_tokens=False) + [eos])[:8] for t in texts if t]
    assert processed["input_ids"] == expected and report.row_capacity is None
