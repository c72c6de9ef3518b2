"""The stage table: every entry resolves to real code, and every layer reads the table rather than a stage's name."""

from __future__ import annotations

import dataclasses
import typing
from importlib import import_module
from pathlib import Path

import pytest

from tunefactory.config import parse_dict
from tunefactory.config.finetuning_args import FinetuningArguments
from tunefactory.config.stages import STAGE_NAMES, STAGES, get_stage

SRC = Path(__file__).resolve().parents[2] / "src" / "tunefactory"


def test_the_stage_key_accepts_exactly_the_table():
    choices = typing.get_args(typing.get_type_hints(FinetuningArguments)["stage"])
    assert choices == STAGE_NAMES == tuple(STAGES)


@pytest.mark.parametrize("name", STAGE_NAMES)
def test_each_entry_names_a_recipe_and_formats_that_exist(name):
    from tunefactory.data.collators import build_collator
    from tunefactory.data.processors import PROCESSORS

    stage = STAGES[name]
    module_name, function_name = stage.recipe.split(":")
    assert callable(getattr(import_module(module_name), function_name))
    for kind in filter(None, (stage.examples, stage.generation_examples)):
        assert kind in PROCESSORS
        assert callable(build_collator(kind, tokenizer=type("T", (), {"pad_token_id": 0})()))
    if stage.preflight:
        module_name, function_name = stage.preflight.split(":")
        assert callable(getattr(import_module(module_name), function_name))
    assert stage.plot_keys and stage.plot_keys[0] == "loss"


def test_unknown_stage_names_the_valid_ones():
    with pytest.raises(ValueError, match="no stage 'orpo'; the stages are pt, sft, rm, ppo, dpo, kto, grpo"):
        get_stage("orpo")


def test_no_module_outside_the_table_and_recipes_matches_a_stage_name():
    """Adding a stage touches the table and its recipe: no other module branches on a stage's name."""
    offenders = []
    for path in SRC.rglob("*.py"):
        if path.name == "stages.py":
            continue
        text = path.read_text(encoding="utf-8")
        for name in STAGE_NAMES:
            if f'== "{name}"' in text or f'stage in ("{name}"' in text:
                offenders.append(f"{path.relative_to(SRC)}: {name}")
    assert offenders == []


def test_train_runs_the_recipe_the_table_names(monkeypatch):
    """`tunefactory train` dispatches through the table: pointing an entry elsewhere runs that function."""
    from tunefactory.train import run

    called = []
    monkeypatch.setitem(STAGES, "sft", dataclasses.replace(STAGES["sft"], recipe=f"{__name__}:_record_call"))
    monkeypatch.setattr(f"{__name__}._CALLS", called)
    run.run_train(parse_dict({"model_name_or_path": "unused", "dataset": "alpaca_demo", "output_dir": "unused"}))
    assert called == ["sft"]


_CALLS: list[str] = []


def _record_call(config) -> None:
    _CALLS.append(config.finetuning.stage)


@pytest.mark.parametrize("stage, key, value", [("rm", "ld_alpha", 0.5), ("ppo", "mask_history", True)])
def test_a_stage_refuses_the_keys_other_stages_own(stage, key, value):
    owner = next(s.name for s in STAGES.values() if key in s.own_keys)
    with pytest.raises(Exception, match=rf"{key}.* only works with stage: {owner} \(this config has stage: {stage}\)"):
        parse_dict({"model_name_or_path": "m", "dataset": "d", "stage": stage, key: value,
                    "reward_model": "r", "output_dir": "o"})
