"""Distributed-training configs: the DeepSpeed JSONs in examples/deepspeed parse and pass the `deepspeed`
rule, every way a DeepSpeed config can disagree with the training config is reported by name, and the
accelerate FSDP configs use keys `accelerate launch` really reads."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tunefactory.config import parse_args, parse_dict
from tunefactory.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
DEEPSPEED_CONFIGS = sorted((ROOT / "examples" / "deepspeed").glob("*.json"))
ACCELERATE_CONFIGS = sorted((ROOT / "examples" / "accelerate").glob("*.yaml"))
LAUNCH_VARIABLES = ("LOCAL_RANK", "WORLD_SIZE", "FORCE_TORCHRUN", "USE_RAY")


def train_config(deepspeed, **keys) -> dict:
    return {"model_name_or_path": "Qwen/Qwen2.5-0.5B-Instruct", "stage": "sft", "do_train": True,
            "finetuning_type": "full", "dataset": "alpaca_demo", "dataset_dir": str(ROOT / "data"),
            "template": "qwen", "output_dir": "saves/test", "per_device_train_batch_size": 2,
            "gradient_accumulation_steps": 4, "deepspeed": deepspeed, **keys}


def message_of(mapping: dict) -> str:
    with pytest.raises(ConfigError) as info:
        parse_dict(mapping)
    return str(info.value)


def write_json(tmp_path, content, name="ds.json") -> str:
    """A DeepSpeed config file; a mapping gets ZeRO stage 2 unless it says otherwise."""
    if isinstance(content, dict):
        content = json.dumps({"zero_optimization": {"stage": 2}, **content})
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    return str(path)


def z3_config(tmp_path, **overrides) -> str:
    ds = json.loads((ROOT / "examples" / "deepspeed" / "ds_z3_config.json").read_text())
    return write_json(tmp_path, {**ds, **overrides})


# --- the examples -----------------------------------------------------------------------------------

def test_the_five_zero_configs_are_there():
    assert [p.name for p in DEEPSPEED_CONFIGS] == [
        "ds_z0_config.json", "ds_z2_config.json", "ds_z2_offload_config.json", "ds_z3_config.json",
        "ds_z3_offload_config.json"]


@pytest.mark.parametrize("path", DEEPSPEED_CONFIGS, ids=lambda p: p.name)
def test_example_deepspeed_config_parses_and_validates(path):
    ds = json.loads(path.read_text())
    stage = int(path.name[len("ds_z")])
    zero = ds["zero_optimization"]
    assert zero["stage"] == stage
    # batch sizes, accumulation, clipping and precision follow the training config
    for key in ("train_batch_size", "train_micro_batch_size_per_gpu", "gradient_accumulation_steps",
                "gradient_clipping"):
        assert ds[key] == "auto", key
    assert ds["bf16"]["enabled"] == ds["fp16"]["enabled"] == "auto"
    assert zero["contiguous_gradients"] is True and zero["overlap_comm"] is False
    assert "reduce_bucket_size" in zero
    if stage == 3:
        assert zero["stage3_gather_16bit_weights_on_model_save"] is True  # the final save is a loadable model
    offloaded = {"offload_optimizer"} | ({"offload_param"} if stage == 3 else set())
    for key in offloaded if "offload" in path.name else ():
        assert zero[key] == {"device": "cpu", "pin_memory": True}, key
    if "offload" not in path.name:
        assert not {"offload_optimizer", "offload_param"} & set(zero)
    for precision in ({}, {"bf16": True}, {"max_grad_norm": 0.5, "per_device_train_batch_size": 8}):
        config = parse_dict(train_config(str(path), **precision))
        assert config.training.deepspeed == str(path)  # kept (or deferred) as written


def test_the_zero3_example_yaml_uses_the_zero3_config(monkeypatch):
    monkeypatch.chdir(ROOT)  # the example's path is relative to the repository, as LLaMA-Factory's are
    config = parse_args([str(ROOT / "examples" / "train_full" / "qwen2_5_full_sft_ds3.yaml")])
    assert config.training.deepspeed == "examples/deepspeed/ds_z3_config.json"
    assert config.finetuning.finetuning_type == "full" and config.training.ddp_timeout == 180000000


def test_a_deepspeed_mapping_is_checked_like_a_file():
    ds = {"train_micro_batch_size_per_gpu": 3, "zero_optimization": {"stage": 2}}
    assert "train_micro_batch_size_per_gpu: 3" in message_of(train_config(ds))
    parse_dict(train_config({**ds, "train_micro_batch_size_per_gpu": 2}))


# --- files that cannot be read ------------------------------------------------------------------------

def test_a_missing_file_is_named(tmp_path):
    missing = str(tmp_path / "nowhere" / "ds_z3.json")
    message = message_of(train_config(missing))
    assert f"deepspeed: {missing} is not a file" in message and "examples/deepspeed" in message


def test_invalid_json_names_the_file_and_the_line(tmp_path):
    path = write_json(tmp_path, '{\n  "train_batch_size": "auto",\n  "zero_optimization": {"stage": 3,}\n}\n')
    message = message_of(train_config(path))
    assert f"deepspeed: {path} is not valid JSON" in message and "line 3" in message


def test_json_that_is_not_an_object_is_refused(tmp_path):
    path = write_json(tmp_path, "[1, 2]")
    assert "must hold a JSON object of DeepSpeed settings, not list" in message_of(train_config(path))


def test_a_broken_file_is_reported_by_name_even_with_deepspeed_installed(tmp_path, monkeypatch):
    # transformers would read the file while building the arguments and stop with a bare JSON error
    import tunefactory.config.training_args as training_args

    monkeypatch.setattr(training_args, "find_spec", lambda name: object())
    path = write_json(tmp_path, '{"zero_optimization": ')
    assert f"deepspeed: {path} is not valid JSON" in message_of(train_config(path))


# --- settings that disagree -------------------------------------------------------------------------

@pytest.mark.parametrize("stage", [4, -1, "3", True])
def test_zero_stage_must_be_0_to_3(tmp_path, stage):
    path = write_json(tmp_path, {"zero_optimization": {"stage": stage}})
    assert f"zero_optimization.stage must be 0, 1, 2 or 3, not {json.dumps(stage)}" in message_of(train_config(path))


@pytest.mark.parametrize("zero", [None, 3])
def test_the_zero_optimization_section_is_required(tmp_path, zero):
    ds = {"train_batch_size": "auto", **({} if zero is None else {"zero_optimization": zero})}
    path = write_json(tmp_path, json.dumps(ds))
    assert "needs a zero_optimization section" in message_of(train_config(path))


def test_stage_1_is_accepted(tmp_path):
    parse_dict(train_config(write_json(tmp_path, {"zero_optimization": {"stage": 1}})))


@pytest.mark.parametrize("ds_key, value, key, config_value", [
    ("train_micro_batch_size_per_gpu", 4, "per_device_train_batch_size", 2),
    ("gradient_accumulation_steps", 1, "gradient_accumulation_steps", 4),
    ("gradient_clipping", 0.3, "max_grad_norm", 1.0),
])
def test_batch_accumulation_and_clipping_must_be_auto_or_equal(tmp_path, ds_key, value, key, config_value):
    path = write_json(tmp_path, {ds_key: value})
    message = message_of(train_config(path))
    assert f"sets {ds_key}: {value} but the config has {key}: {config_value}" in message
    assert '"auto"' in message
    parse_dict(train_config(path, **{key: value}))  # equal values are fine


def test_train_batch_size_must_be_a_multiple_of_the_per_process_batch(tmp_path):
    path = write_json(tmp_path, {"train_batch_size": 12})
    assert "train_batch_size: 12" in message_of(train_config(path))  # 2 x 4 = 8 per process
    parse_dict(train_config(write_json(tmp_path, {"train_batch_size": 16}, "ok.json")))  # two processes


def test_precision_must_agree_unless_auto(tmp_path):
    path = write_json(tmp_path, {"bf16": {"enabled": True}, "fp16": {"enabled": True}})
    problems = message_of(train_config(path))
    assert "sets bf16.enabled: true but the config has bf16: false" in problems
    assert "sets fp16.enabled: true but the config has fp16: false" in problems
    disabled = write_json(tmp_path, {"bf16": {"enabled": False}}, "off.json")
    assert "sets bf16.enabled: false but the config has bf16: true" in message_of(train_config(disabled, bf16=True))
    parse_dict(train_config(write_json(tmp_path, {"bf16": {"enabled": True}}, "on.json"), bf16=True))


def test_every_problem_is_reported_at_once(tmp_path):
    path = write_json(tmp_path, {"train_micro_batch_size_per_gpu": 4, "gradient_accumulation_steps": 1,
                                 "zero_optimization": {"stage": 3}})
    with pytest.raises(ConfigError) as info:
        parse_dict(train_config(path, pure_bf16=True))
    assert len(info.value.problems) == 3
    for problem, part in zip(info.value.problems, ("train_micro_batch_size_per_gpu: 4",
                                                   "gradient_accumulation_steps: 1", "pure_bf16"), strict=True):
        assert part in problem


# --- what ZeRO-3 cannot do (as LLaMA-Factory refuses) -------------------------------------------------

@pytest.mark.parametrize("keys, expected", [
    ({"pure_bf16": True}, "pure_bf16 does not work with ZeRO-3"),
    ({"finetuning_type": "lora", "pissa_init": True}, "pissa_init needs whole weights"),
    ({"finetuning_type": "lora", "quantization_bit": 8}, "quantization_bit: 8 cannot be split by ZeRO-3"),
    ({"finetuning_type": "lora", "adapter_name_or_path": "a,b"}, "merges adapters into the base weights"),
    ({"finetuning_type": "lora", "adapter_name_or_path": "a", "create_new_adapter": True},
     "merges adapters into the base weights"),
])
def test_zero3_refuses_what_needs_whole_weights(tmp_path, keys, expected):
    z3 = z3_config(tmp_path)
    assert expected in message_of(train_config(z3, **keys))
    z2 = str(ROOT / "examples" / "deepspeed" / "ds_z2_config.json")
    if "quantization_bit" not in keys:  # bitsandbytes is a separate, machine-dependent note
        parse_dict(train_config(z2, **keys))  # ZeRO-2 keeps whole weights on every process


def test_zero3_accepts_4bit_qlora_and_one_continued_adapter(tmp_path):
    z3 = z3_config(tmp_path)
    parse_dict(train_config(z3, finetuning_type="lora", quantization_bit=4))
    parse_dict(train_config(z3, finetuning_type="lora", adapter_name_or_path="a"))
    parse_dict(train_config(z3, finetuning_type="freeze"))


# --- the launcher note ----------------------------------------------------------------------------------

@pytest.fixture
def no_launcher(monkeypatch):
    for variable in LAUNCH_VARIABLES:
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setattr("tunefactory.launch.visible_gpus", lambda: 0)
    return monkeypatch


def launcher_notes(config) -> list[str]:
    return [note for note in config.environment_notes if "distributed launcher" in note]


def test_deepspeed_in_one_plain_process_is_a_note_that_says_how_to_launch(no_launcher):
    config = parse_dict(train_config(str(DEEPSPEED_CONFIGS[0])))
    assert launcher_notes(config) and "FORCE_TORCHRUN=1" in launcher_notes(config)[0]


@pytest.mark.parametrize("variable", ["FORCE_TORCHRUN", "USE_RAY"])
def test_no_launcher_note_when_train_relaunches_or_uses_ray(no_launcher, variable):
    no_launcher.setenv(variable, "1")
    assert not launcher_notes(parse_dict(train_config(str(DEEPSPEED_CONFIGS[0]))))


def test_no_launcher_note_inside_a_launcher(no_launcher):
    # LOCAL_RANK/WORLD_SIZE set by torchrun, accelerate or deepspeed (faked: transformers would join a process group)
    no_launcher.setattr("tunefactory.launch.inside_launcher", lambda environ=None: True)
    assert not launcher_notes(parse_dict(train_config(str(DEEPSPEED_CONFIGS[0]))))


def test_no_launcher_note_when_several_gpus_relaunch(no_launcher):
    no_launcher.setattr("tunefactory.launch.visible_gpus", lambda: 2)
    assert not launcher_notes(parse_dict(train_config(str(DEEPSPEED_CONFIGS[0]))))


# --- accelerate FSDP configs ------------------------------------------------------------------------

def test_the_three_fsdp_configs_are_there():
    assert [p.name for p in ACCELERATE_CONFIGS] == ["fsdp2_config.yaml", "fsdp_config.yaml",
                                                    "fsdp_config_offload.yaml"]


@pytest.mark.parametrize("path", ACCELERATE_CONFIGS, ids=lambda p: p.name)
def test_fsdp_config_uses_keys_accelerate_launch_reads(path):
    from accelerate.commands.config.config_args import load_config_from_file
    from accelerate.commands.launch import _validate_launch_command, launch_command_parser
    from accelerate.utils.launch import prepare_multi_gpu_env

    raw = yaml.safe_load(path.read_text())
    loaded = load_config_from_file(str(path))  # accelerate's own reader: unknown top-level keys fail here
    assert loaded.distributed_type.value == "FSDP"
    parser = launch_command_parser()
    launch_options = {action.dest for action in parser._actions}
    unknown = set(raw["fsdp_config"]) - launch_options
    assert not unknown, f"{path.name}: accelerate launch has no option {sorted(unknown)}"

    args = parser.parse_args(["--config_file", str(path), "-m", "tunefactory.cli", "train", "cfg.yaml"])
    args = _validate_launch_command(args)[0]
    env = prepare_multi_gpu_env(args)
    version = raw["fsdp_config"]["fsdp_version"]
    assert env["ACCELERATE_USE_FSDP"] == "true" and env["FSDP_VERSION"] == str(version)
    assert env["FSDP_AUTO_WRAP_POLICY"] == "TRANSFORMER_BASED_WRAP"
    assert env["FSDP_STATE_DICT_TYPE"] == "FULL_STATE_DICT"  # transformers then saves a loadable model
    assert env["FSDP_CPU_RAM_EFFICIENT_LOADING"] == "true"
    assert env["FSDP_RESHARD_AFTER_FORWARD"] == ("full_shard" if version == 1 else "true")
    assert env["FSDP_OFFLOAD_PARAMS"] == ("true" if "offload" in path.name else "false")
    if version == 1:
        assert env["FSDP_SYNC_MODULE_STATES"] == "true" and env["FSDP_USE_ORIG_PARAMS"] == "true"
    assert env["ACCELERATE_MIXED_PRECISION"] == "bf16"
