"""Pairs for rm/dpo, labelled answers with mismatched KL pairs for kto, and prompts for generation,
checked against the Qwen chat format tokenized segment by segment."""

from dataclasses import dataclass

import pytest

from tunefactory.config.data_args import DataArguments
from tunefactory.data.bad_rows import DROP_COLUMN
from tunefactory.data.processors import infer_seqlen
from tunefactory.data.processors.preference import FeedbackProcessor, PairwiseProcessor, UnsupervisedProcessor

M = -100


@pytest.fixture
def qwen(tiny_qwen2):
    from transformers import AutoTokenizer

    from tunefactory.data.template import get_template

    tokenizer = AutoTokenizer.from_pretrained(tiny_qwen2)
    return get_template(tokenizer, DataArguments(template="qwen")), tokenizer


def msg(role, content):
    return {"role": role, "content": content}


def example(question, response, system="Be brief."):
    return {"_prompt": [msg("user", question)], "_response": response, "_system": system, "_tools": "",
            "_images": None, "_videos": None, "_audios": None}


def batch_of(*examples):
    return {key: [ex[key] for ex in examples] for key in examples[0]}


def prompt_ids(tokenizer, question, system="Be brief."):
    return tokenizer.encode(f"<|im_start|>system\n{system}<|im_end|>\n<|im_start|>user\n{question}<|im_end|>\n"
                            "<|im_start|>assistant\n", add_special_tokens=False)


def answer_ids(tokenizer, answer):
    return tokenizer.encode(f"{answer}<|im_end|>\n", add_special_tokens=False)


CHOSEN = "Paris is the capital of France, on the Seine."
REJECTED = "Lyon."
PAIR = example("What is the capital of France?", [msg("assistant", CHOSEN), msg("assistant", REJECTED)])


# --- pairwise ---------------------------------------------------------------------------------------


def test_pairwise_sides_share_the_prompt_and_mask_it(qwen):
    template, tokenizer = qwen
    prompt = prompt_ids(tokenizer, "What is the capital of France?")
    chosen, rejected = answer_ids(tokenizer, CHOSEN), answer_ids(tokenizer, REJECTED)
    out = PairwiseProcessor(template, tokenizer, DataArguments(cutoff_len=1024))(batch_of(PAIR))
    assert out[DROP_COLUMN] == [""]
    assert out["chosen_input_ids"] == [prompt + chosen]
    assert out["chosen_labels"] == [[M] * len(prompt) + chosen]
    assert out["rejected_input_ids"] == [prompt + rejected]
    assert out["rejected_labels"] == [[M] * len(prompt) + rejected]


def test_pairwise_truncation_shares_the_budget_by_the_longer_answer(qwen):
    template, tokenizer = qwen
    prompt = prompt_ids(tokenizer, "What is the capital of France?")
    chosen, rejected = answer_ids(tokenizer, CHOSEN), answer_ids(tokenizer, REJECTED)
    assert len(chosen) > len(rejected)
    cutoff = 24
    keep_prompt, keep_answer = infer_seqlen(len(prompt), len(chosen), cutoff)
    assert keep_prompt < len(prompt) and len(rejected) < keep_answer < len(chosen)  # both get cut, by the chosen
    out = PairwiseProcessor(template, tokenizer, DataArguments(cutoff_len=cutoff))(batch_of(PAIR))
    assert out["chosen_input_ids"] == [prompt[:keep_prompt] + chosen[:keep_answer]]
    assert out["rejected_input_ids"] == [prompt[:keep_prompt] + rejected]
    assert out["chosen_labels"] == [[M] * keep_prompt + chosen[:keep_answer]]
    assert out["rejected_labels"] == [[M] * keep_prompt + rejected]
    assert len(out["chosen_input_ids"][0]) == cutoff


def test_pairwise_drops_rows_it_cannot_train_on(qwen):
    template, tokenizer = qwen
    single = example("Hi", [msg("assistant", "Hello")])
    squeezed = example("word " * 200, [msg("assistant", CHOSEN), msg("assistant", CHOSEN)])
    out = PairwiseProcessor(template, tokenizer, DataArguments(cutoff_len=8))(batch_of(single, squeezed))
    assert out[DROP_COLUMN] == ["a preference pair needs a chosen and a rejected answer, this one has 1",
                                "no answer token left after truncation to cutoff_len=8"]
    assert out["chosen_input_ids"] == out["rejected_labels"] == [[], []]


@dataclass
class FixedOneTurn:
    """A template stand-in: prompt [1, 2, 3]; an answer's ids are its content's character codes."""

    efficient_eos: bool = True
    name: str = "fixed"

    def encode_oneturn(self, tokenizer, messages, system=None, tools=None):
        return [1, 2, 3], [ord(c) for c in messages[-1]["content"]]


class EosOnly:
    eos_token_id = 99


def test_pairwise_efficient_eos_ends_each_answer_with_eos():
    pair = example("q", [msg("assistant", "ab"), msg("assistant", "c")])
    out = PairwiseProcessor(FixedOneTurn(), EosOnly(), DataArguments(cutoff_len=100))(batch_of(pair))
    assert out["chosen_input_ids"] == [[1, 2, 3, 97, 98, 99]]
    assert out["rejected_labels"] == [[M, M, M, 99, 99]]


# --- kto --------------------------------------------------------------------------------------------


def kto(question, answer, desirable):
    empty = msg("assistant", "")
    return example(question, [msg("assistant", answer), empty] if desirable else [empty, msg("assistant", answer)])


def test_feedback_tags_and_mismatched_kl_pairs(qwen):
    template, tokenizer = qwen
    rows = [kto("Q zero", "Answer zero", True), kto("Q one", "Answer one", False), kto("Q two", "Answer two", True)]
    out = FeedbackProcessor(template, tokenizer, DataArguments(cutoff_len=1024))(batch_of(*rows))
    assert out[DROP_COLUMN] == ["", "", ""]
    assert out["kto_tags"] == [True, False, True]
    questions, answers = ["Q zero", "Q one", "Q two"], ["Answer zero", "Answer one", "Answer two"]
    for i in range(3):
        prompt, answer = prompt_ids(tokenizer, questions[i]), answer_ids(tokenizer, answers[i])
        assert out["input_ids"][i] == prompt + answer
        assert out["labels"][i] == [M] * len(prompt) + answer
        # the KL pair: this row's prompt with the previous row's answer (row 0 takes the last row's)
        mismatched = answer_ids(tokenizer, answers[i - 1])
        assert out["kl_input_ids"][i] == prompt + mismatched, i
        assert out["kl_labels"][i] == [M] * len(prompt) + mismatched, i


def test_feedback_rows_without_a_label_pair_are_dropped(qwen):
    template, tokenizer = qwen
    good, bad = kto("Q", "A", False), example("Q", [msg("assistant", "A")])
    out = FeedbackProcessor(template, tokenizer, DataArguments(cutoff_len=1024))(batch_of(good, bad))
    assert out[DROP_COLUMN] == ["", "a KTO example needs one answer and its desirable/undesirable label"]
    assert out["kto_tags"] == [False, False]  # a dropped row's empty tag


# --- unsupervised -----------------------------------------------------------------------------------


def test_unsupervised_prompt_ends_with_the_assistant_header_and_keeps_the_reference(qwen):
    template, tokenizer = qwen
    header = tokenizer.encode("<|im_start|>assistant\n", add_special_tokens=False)
    prompt, reference = prompt_ids(tokenizer, "What is the capital of France?"), answer_ids(tokenizer, CHOSEN)
    with_reference = example("What is the capital of France?", [msg("assistant", CHOSEN)])
    without = example("What is the capital of France?", [])
    out = UnsupervisedProcessor(template, tokenizer, DataArguments(cutoff_len=1024))(batch_of(with_reference, without))
    assert out[DROP_COLUMN] == ["", ""]
    assert out["input_ids"] == [prompt, prompt]
    assert prompt[-len(header):] == header
    assert out["labels"] == [reference, []]


def test_unsupervised_truncation(qwen):
    template, tokenizer = qwen
    prompt, reference = prompt_ids(tokenizer, "What is the capital of France?"), answer_ids(tokenizer, CHOSEN)
    keep_prompt, keep_answer = infer_seqlen(len(prompt), len(reference), 16)
    with_reference = example("What is the capital of France?", [msg("assistant", CHOSEN)])
    without = example("What is the capital of France?", [])
    out = UnsupervisedProcessor(template, tokenizer, DataArguments(cutoff_len=16))(batch_of(with_reference, without))
    assert out["input_ids"] == [prompt[:keep_prompt], prompt[:16]]
    assert out["labels"] == [reference[:keep_answer], []]
