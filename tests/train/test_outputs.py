"""output_dir rules before anything loads, the model card, and reporting switches."""

import os

import pytest

from tunefactory.config import parse_dict
from tunefactory.errors import ConfigError
from tunefactory.train.outputs import checkpoint_to_resume, write_model_card
from tunefactory.train.steps import configure_reporting


def run_config(tmp_path, **extra):
    return parse_dict({"model_name_or_path": "m", "stage": "sft", "do_train": True, "dataset": "alpaca_demo",
                       "output_dir": str(tmp_path / "out"), "finetuning_type": "lora", "lora_target": "all",
                       "template": "qwen", "report_to": "none", **extra})


def test_output_dir_rules(tmp_path):
    out = tmp_path / "out"
    assert checkpoint_to_resume(run_config(tmp_path).training) is None  # missing: a new run
    out.mkdir()
    assert checkpoint_to_resume(run_config(tmp_path).training) is None  # empty: a new run
    (out / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match="not empty and holds no checkpoint"):
        checkpoint_to_resume(run_config(tmp_path).training)
    assert checkpoint_to_resume(run_config(tmp_path, overwrite_output_dir=True).training) is None
    for step in (5, 10):
        (out / f"checkpoint-{step}").mkdir()
    assert checkpoint_to_resume(run_config(tmp_path).training) == str(out / "checkpoint-10")
    chosen = str(out / "checkpoint-5")
    assert checkpoint_to_resume(run_config(tmp_path, resume_from_checkpoint=chosen).training) == chosen
    with pytest.raises(ConfigError, match="is not a folder"):
        checkpoint_to_resume(run_config(tmp_path, resume_from_checkpoint=str(tmp_path / "nope")).training)


def test_evaluation_only_runs_never_resume(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "notes.txt").write_text("mine")
    config = run_config(tmp_path, do_train=False, do_eval=True, eval_dataset="arith_test")
    assert checkpoint_to_resume(config.training) is None


def test_model_card_names_base_data_method_and_results(tmp_path):
    config = run_config(tmp_path, lora_rank=16)
    (tmp_path / "out").mkdir()
    card = write_model_card(config, config.training.output_dir, {"train_loss": 1.23456, "epoch": 3}).read_text()
    assert card.startswith("---\nlibrary_name: peft\nbase_model: m\n")
    assert "datasets: alpaca_demo" in card and "template: `qwen`" in card
    assert "LoRA rank 16, alpha 32, targets all" in card
    assert "| train_loss | 1.235 |" in card and "| epoch | 3 |" in card


def test_use_swanlab_reports_through_the_transformers_integration(tmp_path, monkeypatch):
    for variable in ("SWANLAB_PROJECT", "SWANLAB_MODE"):
        monkeypatch.delenv(variable, raising=False)
    config = run_config(tmp_path, use_swanlab=True, swanlab_project="proj", swanlab_mode="local",
                        swanlab_run_name="run-1")
    configure_reporting(config)
    assert config.training.report_to == ["swanlab"] and config.training.run_name == "run-1"
    assert os.environ["SWANLAB_PROJECT"] == "proj" and os.environ["SWANLAB_MODE"] == "local"
    untouched = run_config(tmp_path)
    configure_reporting(untouched)
    assert untouched.training.report_to == []
