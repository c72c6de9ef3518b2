"""What image training refuses, with a message that says why and what to do."""

from __future__ import annotations

from pathlib import Path

import pytest

from tunefactory.config import parse_dict
from tunefactory.errors import DataError
from tunefactory.train import steps

DATA = Path(__file__).resolve().parents[2] / "data"


def load(model: Path, **changes):
    config = parse_dict({"model_name_or_path": str(model), "stage": "sft", "do_train": True, "template": "qwen2_vl",
                         "dataset": "mllm_demo", "dataset_dir": str(DATA), "cutoff_len": 256,
                         "output_dir": "unused", **changes})
    tokenizer, template = steps.load_tokenizer_and_template(config)
    return steps.load_data(config, template, tokenizer, steps.load_media(config, template))


def test_packing_rows_with_images_is_refused(tiny_qwen2_vl):
    with pytest.raises(DataError, match="packing / neat_packing rows with images is not supported yet"):
        load(tiny_qwen2_vl, packing=True)


def test_a_cutoff_inside_an_image_drops_the_row_with_the_reason(tiny_qwen2_vl):
    data = load(tiny_qwen2_vl, cutoff_len=48, max_invalid_fraction=1.0)
    [report] = [r for r in data.processing if r.split == "train"]
    assert list(report.dropped) == ["cutoff_len=48 cuts into the image tokens (15 of 18 kept); raise cutoff_len or "
                                    "lower image_max_pixels"]
    assert (report.examples_in, report.examples_kept) == (8, 7)


def test_a_text_template_refuses_image_rows_naming_the_fix(tiny_qwen2_vl):
    with pytest.raises(DataError, match="template 'qwen' is text-only: use the model's multimodal template"):
        load(tiny_qwen2_vl, template="qwen")
