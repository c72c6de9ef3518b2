"""Which processor each stage uses, and when rows are packed."""

from dataclasses import dataclass

import pytest

from tunefactory.config import parse_dict
from tunefactory.config.data_args import DataArguments
from tunefactory.data.processors import PROCESSORS, packing_enabled, process_dataset, processor_kind


@pytest.mark.parametrize("stage, is_eval, generate, kind", [
    ("pt", False, False, "pretrain"),
    ("pt", True, True, "pretrain"),
    ("sft", False, False, "supervised"),
    ("sft", True, False, "supervised"),  # eval by loss
    ("sft", False, True, "supervised"),  # generation only matters for evaluation
    ("sft", True, True, "unsupervised"),  # eval / predict by generating
    ("rm", False, False, "pairwise"),
    ("rm", True, False, "pairwise"),
    ("dpo", False, False, "pairwise"),
    ("dpo", True, True, "pairwise"),
    ("kto", False, False, "feedback"),
    ("kto", True, False, "feedback"),
    ("ppo", False, False, "unsupervised"),
    ("ppo", True, True, "unsupervised"),
])
def test_processor_kind(stage, is_eval, generate, kind):
    assert processor_kind(stage, is_eval, generate) == kind
    assert kind in PROCESSORS


def test_unknown_stage_raises():
    with pytest.raises(ValueError, match="no processor for stage 'orpo'"):
        processor_kind("orpo")


@pytest.mark.parametrize("packing, neat, stage, expected", [
    (None, False, "pt", True),  # on by default for pt only
    (None, False, "sft", False),
    (None, False, "dpo", False),
    (False, False, "pt", False),
    (True, False, "sft", True),
    (None, True, "sft", True),  # neat_packing implies packing
    (False, True, "sft", True),
    (False, True, "pt", True),
])
def test_packing_enabled(packing, neat, stage, expected):
    assert packing_enabled(DataArguments(packing=packing, neat_packing=neat), stage) is expected


@dataclass
class FixedTemplate:
    """Prompt [1, 2, 3]; an answer's ids are its content's character codes."""

    efficient_eos: bool = False
    name: str = "fixed"

    def encode_oneturn(self, tokenizer, messages, system=None, tools=None):
        return [1, 2, 3], [ord(c) for c in messages[-1]["content"]]

    def encode_multiturn(self, tokenizer, messages, system=None, tools=None):
        return [([1, 2, 3], [ord(c) for c in messages[-1]["content"]])]

    def encode_prompt(self, tokenizer, messages, system=None, tools=None):
        return [1, 2, 3]


class EosOnly:
    eos_token_id = 99


def canonical(responses):
    from datasets import Dataset

    return Dataset.from_list([{"_prompt": [{"role": "user", "content": "q"}],
                               "_response": [{"role": "assistant", "content": text} for text in texts],
                               "_system": "", "_tools": ""} for texts in responses])


def config(tmp_path, **overrides):
    return parse_dict({"model_name_or_path": "m", "do_train": True, "output_dir": str(tmp_path), "dataset": "d",
                       "cutoff_len": 16, **overrides})


def test_packing_applies_to_pretrain_and_supervised_only(tmp_path):
    cfg = config(tmp_path, stage="sft", packing=True, do_predict=True, eval_dataset="e", predict_with_generate=True)
    prompts = canonical([["ab"], ["cd"]])
    processed, report = process_dataset(prompts, cfg, FixedTemplate(), EosOnly(), split="eval", is_eval=True)
    assert report.kind == "unsupervised" and report.row_capacity is None  # prompts to generate from: never packed
    assert processed["input_ids"] == [[1, 2, 3], [1, 2, 3]]
    assert (report.rows, report.tokens) == (2, 6)

    answers = canonical([["ab"], ["cd"], ["e"]])
    processed, report = process_dataset(answers, cfg, FixedTemplate(), EosOnly())
    assert report.kind == "supervised" and report.row_capacity == 16
    assert processed["input_ids"] == [[1, 2, 3, 97, 98, 1, 2, 3, 99, 100, 1, 2, 3, 101]]
    assert processed["labels"] == [[-100, -100, -100, 97, 98, -100, -100, -100, 99, 100, -100, -100, -100, 101]]
    assert (report.examples_in, report.rows, report.tokens) == (3, 1, 14)
    assert report.packing_efficiency == 14 / 16


def test_sft_generation_eval_gets_prompts_and_references(tmp_path):
    answers = canonical([["ab"], ["cd"]])
    cfg = config(tmp_path, stage="sft", do_predict=True, eval_dataset="e", predict_with_generate=True)
    processed, report = process_dataset(answers, cfg, FixedTemplate(), EosOnly(), split="eval", is_eval=True)
    assert report.kind == "unsupervised"
    assert processed["input_ids"] == [[1, 2, 3], [1, 2, 3]]
    assert processed["labels"] == [[97, 98], [99, 100]]
    processed, report = process_dataset(answers, cfg, FixedTemplate(), EosOnly(), split="train")
    assert report.kind == "supervised"
    assert processed["labels"] == [[-100, -100, -100, 97, 98], [-100, -100, -100, 99, 100]]
