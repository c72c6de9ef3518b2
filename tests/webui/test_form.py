"""The board's argument mapping: every widget reaches its key, and what the preview shows is what a job runs."""

from __future__ import annotations

import json

import pytest
import yaml

from tunefactory.config import parse_dict
from tunefactory.config.parser import specs_for
from tunefactory.config.stages import STAGE_NAMES, STAGES
from tunefactory.errors import ConfigError
from tunefactory.webui import form

DATASET_FOR_STAGE = {"rm": "preference_pairs", "dpo": "preference_pairs", "kto": "kto_demo"}


def board_values(**changes):
    values = form.defaults()
    values.update(model_name_or_path="some/model", dataset=["alpaca_demo"], _compute_type="fp32", template="llama3",
                  _output_name="run1")
    values.update(changes)
    return values


def test_every_config_field_names_a_real_key_of_its_command():
    commands = {"top": "train", "train": "train", "eval": "train", "chat": "chat", "export": "export"}
    for f in form.FIELDS:
        if f.key.startswith("_"):
            continue
        assert f.key in specs_for(commands[f.tab]), f"{f.key} is not a {commands[f.tab]} key"
        spec = specs_for(commands[f.tab])[f.key]
        if spec.choices and f.kind == "choice":
            extra = set(f.choices) - {str(c) for c in spec.choices} - {"none"}
            assert not extra, f"{f.key}: {extra} are not valid choices"


@pytest.mark.parametrize("stage", STAGE_NAMES)
@pytest.mark.parametrize("finetuning_type", form.FINETUNING_TYPES)
def test_the_default_form_gives_a_valid_config_for_every_stage(stage, finetuning_type):
    values = board_values(stage=stage, finetuning_type=finetuning_type,
                          dataset=[DATASET_FOR_STAGE.get(stage, "alpaca_demo")], reward_model="saves/rm")
    config = form.train_args(values, "saves")
    parsed = parse_dict(config)
    assert parsed.finetuning.stage == stage and parsed.finetuning.finetuning_type == finetuning_type
    assert config["output_dir"] == f"saves/model/{finetuning_type}/run1"


def test_each_train_widget_changes_its_own_key():
    """Change one widget at a time from the defaults: its key (and only what it derives) changes in the YAML."""
    base = form.train_args(board_values(finetuning_type="lora", use_galore=False), "saves")
    changes = {"learning_rate": ("1e-4", 1e-4), "num_train_epochs": ("2", 2.0), "max_grad_norm": ("0.5", 0.5),
               "max_samples": ("10", 10), "cutoff_len": (64, 64), "per_device_train_batch_size": (4, 4),
               "gradient_accumulation_steps": (2, 2), "lr_scheduler_type": ("linear", "linear"),
               "logging_steps": (1, 1), "save_steps": (7, 7), "warmup_steps": (3, 3),
               "neftune_noise_alpha": (5.0, 5.0), "packing": (True, True), "train_on_prompt": (True, True),
               "mask_history": (True, True), "resize_vocab": (True, True), "enable_thinking": (False, False),
               "lora_rank": (4, 4), "lora_alpha": (8, 8), "lora_dropout": (0.1, 0.1), "use_dora": (True, True),
               "use_rslora": (True, True), "lora_target": ("q_proj,v_proj", "q_proj,v_proj"),
               "dataset_dir": ("mydata", "mydata"), "template": ("qwen", "qwen"), "use_muon": (True, True),
               "use_adam_mini": (True, True), "use_dft_loss": (True, True), "use_eaft_loss": (True, True),
               "use_asft_loss": (True, True)}
    for key, (widget_value, config_value) in changes.items():
        config = form.train_args(board_values(finetuning_type="lora", **{key: widget_value}), "saves")
        assert config[key] == config_value, key
        assert {k: v for k, v in config.items() if k != key} == {k: v for k, v in base.items() if k != key}, key


@pytest.mark.parametrize(("widget", "value", "expected"), [
    ("_compute_type", "bf16", {"bf16": True}),
    ("_compute_type", "pure_bf16", {"pure_bf16": True}),
    ("_booster", "flashattn2", {"flash_attn": "fa2"}),
    ("_booster", "liger_kernel", {"enable_liger_kernel": True}),
    ("quantization_bit", "4", {"quantization_bit": 4, "quantization_method": "bnb"}),
    ("rope_scaling", "yarn", {"rope_scaling": "yarn"}),
    ("_ds_stage", "3", {"deepspeed": "examples/deepspeed/ds_z3_config.json"}),
    ("_use_pissa", True, {"pissa_init": True, "pissa_convert": True}),
    ("_checkpoints", ["saves/a", "saves/b"], {"adapter_name_or_path": "saves/a,saves/b"}),
    ("report_to", ["tensorboard"], {"report_to": ["tensorboard"]}),
    ("val_size", 0.1, {"val_size": 0.1, "eval_strategy": "steps", "eval_steps": 100}),
    ("_extra_args", '{"optim": "adamw_torch", "seed": 7}', {"seed": 7}),
])
def test_board_only_widgets_become_their_keys(widget, value, expected):
    config = form.train_args(board_values(**{widget: value}), "saves")
    for key, wanted in expected.items():
        assert config[key] == wanted


def test_accordions_write_only_what_applies_to_the_run():
    lora = form.train_args(board_values(finetuning_type="lora"), "saves")
    full = form.train_args(board_values(finetuning_type="full"), "saves")
    assert "lora_rank" in lora and "lora_rank" not in full and "freeze_trainable_layers" not in full
    freeze = form.train_args(board_values(finetuning_type="freeze"), "saves")
    assert freeze["freeze_trainable_layers"] == 2 and "lora_rank" not in freeze
    dpo = form.train_args(board_values(stage="dpo", dataset=["preference_pairs"]), "saves")
    assert (dpo["pref_beta"], dpo["pref_loss"]) == (0.1, "sigmoid") and "reward_model" not in dpo
    galore = form.train_args(board_values(finetuning_type="full", use_galore=True, galore_rank=32), "saves")
    assert galore["use_galore"] is True and galore["galore_rank"] == 32
    assert "galore_rank" not in full
    # sft-only keys are never written for a stage that would refuse them
    assert "train_on_prompt" not in form.train_args(board_values(stage="dpo", train_on_prompt=True), "saves")
    assert "use_dft_loss" not in form.train_args(board_values(stage="dpo", use_dft_loss=True), "saves")


def test_full_finetuning_checkpoint_replaces_the_model():
    config = form.model_args(board_values(finetuning_type="full", _checkpoints=["saves/model/full/run0"]))
    assert config["model_name_or_path"] == "saves/model/full/run0" and "adapter_name_or_path" not in config


@pytest.mark.parametrize(("widget", "value", "needle"), [
    ("learning_rate", "fast", "learning_rate: 'fast' is not a number"),
    ("_extra_args", "{optim: 1}", "extra arguments: invalid JSON at line 1"),
    ("_extra_args", "[1, 2]", "expected a JSON object"),
])
def test_bad_widget_values_are_named(widget, value, needle):
    with pytest.raises(ConfigError, match=needle):
        form.train_args(board_values(**{widget: value}), "saves")


def test_preview_yaml_is_the_config_and_the_command_names_it():
    config = form.train_args(board_values(), "saves")
    command, text = form.preview(config, "/jobs/1/training_args.yaml")
    assert command == "tunefactory train /jobs/1/training_args.yaml"
    assert yaml.safe_load(text) == config
    assert list(yaml.safe_load(text)) == list(config)  # the order a person would write it


def test_saved_arguments_load_back_into_the_same_widgets():
    values = board_values(finetuning_type="lora", learning_rate="1e-4", _compute_type="bf16", _use_pissa=True,
                          _booster="liger_kernel", _ds_stage="2", _ds_offload=True, lora_rank=4, packing=True,
                          _checkpoints=["saves/a"], _extra_args='{"optim": "adamw_torch", "seed": 3}',
                          dataset=["alpaca_demo", "openai_messages"], quantization_bit="8", report_to=["wandb"])
    config = form.train_args(values, "saves")
    loaded = {**form.defaults(), "model_name_or_path": "", **form.values_from_config(config)}
    assert form.train_args(loaded, "saves") == config
    assert json.loads(loaded["_extra_args"]) == {"optim": "adamw_torch", "seed": 3}


def test_eval_export_and_chat_configs_parse(tiny_llama):
    values = board_values(model_name_or_path=str(tiny_llama), _eval_dataset=["alpaca_demo"], _eval_output_name="ev",
                          export_dir="out")
    predict = form.eval_args(values, "saves")
    assert predict["do_predict"] and predict["predict_with_generate"] and predict["eval_dataset"] == "alpaca_demo"
    assert parse_dict(predict).training.do_predict
    evaluate = form.eval_args({**values, "_predict": False}, "saves")
    assert evaluate["do_eval"] and "do_predict" not in evaluate
    assert parse_dict(form.export_args(values), command="export").model.export_dir == "out"
    assert parse_dict(form.chat_args(values), command="chat").model.infer_backend == "huggingface"


def test_datasets_are_offered_by_stage(tmp_path):
    (tmp_path / "dataset_info.json").write_text(json.dumps({
        "plain": {"file_name": "a.json"},
        "pairs": {"file_name": "b.json", "ranking": True, "columns": {"prompt": "p", "chosen": "c", "rejected": "r"}},
        "tagged": {"file_name": "c.json", "formatting": "sharegpt", "columns": {"messages": "m", "kto_tag": "t"}},
    }))
    assert form.datasets_for_stage(tmp_path, "sft") == ["plain", "tagged"]
    assert form.datasets_for_stage(tmp_path, "dpo") == ["pairs"]
    assert form.datasets_for_stage(tmp_path, "kto") == ["tagged"]
    assert form.datasets_for_stage(tmp_path / "missing", "sft") == []


def test_checkpoints_are_the_finished_runs_of_the_model_and_method(tmp_path):
    values = board_values(_model_name=form.CUSTOM_MODEL, model_name_or_path="/models/tiny-llama/")
    run = tmp_path / "tiny-llama" / "lora" / "run1"
    run.mkdir(parents=True)
    (run / "adapter_config.json").write_text("{}")
    (tmp_path / "tiny-llama" / "lora" / "broken").mkdir()
    assert form.list_checkpoints(tmp_path, values) == [str(run)]
    assert form.list_checkpoints(tmp_path, {**values, "finetuning_type": "full"}) == []
    known = board_values(_model_name="Qwen3-8B")
    assert form.output_dir("saves", known, "x").as_posix() == "saves/Qwen3-8B/lora/x"


NUMBER_TEXTS = {"learning_rate": ("2e-4", 2e-4), "num_train_epochs": ("2.5", 2.5), "max_grad_norm": ("0.5", 0.5),
                "max_samples": ("7", 7), "quantization_bit": ("4", 4), "template": ("qwen", "qwen")}


def changed_value(f: form.Field):
    if f.key in NUMBER_TEXTS:
        return NUMBER_TEXTS[f.key][0]
    if f.kind == "check":
        return not f.default
    if f.kind == "int":
        return f.default + 1
    if f.kind == "number":
        return f.default + 0.5
    if f.kind == "choice":
        return next(c for c in f.choices if c != f.default and c != "none")
    if f.kind == "multi":
        return [next(c for c in f.choices if c not in f.default)]
    return {"image_max_pixels": "1024", "image_min_pixels": "64", "video_max_pixels": "512",
            "video_min_pixels": "32"}.get(f.key, "q_proj")


def context_for(f: form.Field) -> dict:
    """The other widgets a field needs to apply: its finetuning type, stage or switch."""
    if f.key == "quantization_method":
        return {"quantization_bit": "4"}
    if f.section in ("freeze", "lora"):
        return {"finetuning_type": f.section}
    if f.section in form.OWNED_SECTIONS:
        return {f"use_{f.section}": True, "finetuning_type": "full"}
    if f.key in form.RLHF_KEY_APPLIES:
        return {"stage": next(s.name for s in STAGES.values() if form.RLHF_KEY_APPLIES[f.key](s))}
    return {}


@pytest.mark.parametrize("f", [f for f in form.FIELDS if f.tab in ("top", "train") and not f.key.startswith("_")
                               and f.key not in ("stage", "finetuning_type", "dataset")], ids=lambda f: f.key)
def test_every_train_widget_reaches_its_key(f):
    value = changed_value(f)
    config = form.train_args(board_values(**{**context_for(f), f.key: value}), "saves")
    assert config[f.key] == NUMBER_TEXTS.get(f.key, (value, value))[1]


TAB_BUILDERS = {"eval": lambda v: form.eval_args(v, "saves"), "export": form.export_args, "chat": form.chat_args}


@pytest.mark.parametrize("f", [f for f in form.FIELDS if f.tab in TAB_BUILDERS and not f.key.startswith("_")],
                         ids=lambda f: f.key)
def test_every_eval_chat_and_export_widget_reaches_its_key(f):
    value = "8" if f.key == "export_quantization_bit" else changed_value(f)
    context = {"export_quantization_bit": "8"} if f.key == "export_quantization_dataset" else {}
    values = board_values(**{"_eval_dataset": ["alpaca_demo"], "export_dir": "out", **context, f.key: value})
    assert TAB_BUILDERS[f.tab](values)[f.key] == (8 if f.key == "export_quantization_bit" else value)
