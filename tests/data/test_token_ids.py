"""`encode_texts`: one call of the Rust tokenizer for many texts, ids equal to encoding each text alone."""

import pytest

from tunefactory.data import token_ids
from tunefactory.data.token_ids import encode_texts

TEXTS = ["", "Hello, world!", " leading space", "two  spaces\nnew line\n\n", "数据 模型 训练 ✓ naïve",
         "<|im_start|>user\nhi<|im_end|>\n", "</s><s>[INST] x [/INST]", "<|eot_id|><|start_header_id|>",
         "a" * 3000, "\t tabs\tand trailing   "]


@pytest.fixture(scope="module", params=["tiny_llama", "tiny_qwen2"])
def tokenizer(request):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(request.getfixturevalue(request.param))


def one_by_one(tokenizer, texts):
    return [tokenizer.encode(text, add_special_tokens=False) for text in texts]


def test_equals_one_call_per_text(tokenizer):
    assert encode_texts(tokenizer, TEXTS) == one_by_one(tokenizer, TEXTS)
    assert encode_texts(tokenizer, []) == []


def test_fast_path_only_where_the_encoding_call_is_the_backends(tokenizer):
    assert token_ids._plain_fast_tokenizer(type(tokenizer))

    class Uppercasing(type(tokenizer)):  # a tokenizer that changes how texts are encoded
        def encode(self, text, *args, **kwargs):
            return super().encode(text.upper(), *args, **kwargs)

    assert not token_ids._plain_fast_tokenizer(Uppercasing)
    uppercasing = Uppercasing.from_pretrained(tokenizer.name_or_path)
    assert encode_texts(uppercasing, ["shout"]) == [tokenizer.encode("SHOUT", add_special_tokens=False)]


def test_backend_state_left_by_others_is_reset(tokenizer):
    expected = one_by_one(tokenizer, TEXTS)
    tokenizer._tokenizer.enable_truncation(max_length=3)  # as a tokenizer.json with truncation would load
    assert encode_texts(tokenizer, TEXTS) == expected
    assert tokenizer._tokenizer.truncation is None


def test_split_special_tokens_is_honoured(tokenizer):
    tokenizer.split_special_tokens = True
    try:
        expected = one_by_one(tokenizer, TEXTS)
        assert encode_texts(tokenizer, TEXTS) == expected
    finally:
        tokenizer.split_special_tokens = False
        tokenizer(["x"], add_special_tokens=False)  # the backend back to unsplit, for the other tests
    assert encode_texts(tokenizer, TEXTS) == one_by_one(tokenizer, TEXTS)


def test_other_tokenizers_go_one_by_one():
    class Doubling:  # a stand-in with only `encode`, as a slow tokenizer offers
        def encode(self, text, add_special_tokens=True):
            return [len(text)] * 2

    assert encode_texts(Doubling(), ["ab", "", "abc"]) == [[2, 2], [], [3, 3]]
