"""padding_fraction in the run log: the share of padded positions, lower with length-grouped batches."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tunefactory.config import parse_dict
from tunefactory.train.run import run_train

REPO_ROOT = Path(__file__).resolve().parents[2]


def _padding_fractions(model, out, **extra) -> list[float]:
    run_train(parse_dict({
        "model_name_or_path": str(model), "stage": "sft", "do_train": True, "finetuning_type": "lora",
        "dataset": "alpaca_demo", "dataset_dir": str(REPO_ROOT / "data"), "template": "qwen", "cutoff_len": 256,
        "max_samples": 64, "per_device_train_batch_size": 8, "num_train_epochs": 1, "logging_steps": 1,
        "output_dir": str(out), "report_to": "none", "save_strategy": "no", "plot_loss": False, "use_cpu": True,
        "seed": 3, "disable_gradient_checkpointing": True, "padding_free": False, **extra}, command="train"))
    lines = [json.loads(line) for line in (out / "trainer_log.jsonl").read_text().splitlines()]
    return [line["padding_fraction"] for line in lines if "padding_fraction" in line]


@pytest.fixture(scope="module")
def fractions(tiny_qwen2, tmp_path_factory):
    folder = tmp_path_factory.mktemp("padding")
    return {strategy: _padding_fractions(tiny_qwen2, folder / strategy, train_sampling_strategy=strategy)
            for strategy in ("random", "group_by_length")}


def test_every_training_log_reports_the_padding_fraction(fractions):
    assert len(fractions["random"]) == 8  # 64 rows / 8 a batch, a log a step
    assert all(0.0 < value < 1.0 for value in fractions["random"])


def test_length_grouped_batches_pad_less(fractions):
    random_mean = sum(fractions["random"]) / len(fractions["random"])
    grouped_mean = sum(fractions["group_by_length"]) / len(fractions["group_by_length"])
    # 64 rows in batches of 8: transformers sorts mega-batches of only 16 rows, so the gain is modest here
    assert grouped_mean < 0.75 * random_mean, (grouped_mean, random_mean)
