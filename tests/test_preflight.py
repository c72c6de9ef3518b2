"""`tunefactory validate` reports what each command would refuse before loading — and the command refuses it."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import pytest

from tunefactory import cli

DATA_DIR = Path(__file__).resolve().parents[1] / "data"


def run(*argv: str) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = cli.main(list(argv))
    return code, err.getvalue()


@pytest.fixture
def train_config(write_yaml, tmp_path):
    def make(**extra):
        return str(write_yaml({"model_name_or_path": "/nowhere/model", "stage": "sft", "do_train": True,
                               "dataset": "alpaca_demo", "dataset_dir": str(DATA_DIR), "template": "qwen",
                               "output_dir": str(tmp_path / "out"), "use_cpu": True, **extra}))
    return make


@pytest.fixture
def nothing_loads(monkeypatch):
    from tunefactory.model import loader

    def forbidden(*args, **kwargs):
        raise AssertionError("a model was loaded")

    monkeypatch.setattr(loader, "load_model", forbidden)
    monkeypatch.setattr(loader, "load_hf_config", forbidden)
    for name in ("USE_RAY", "FORCE_TORCHRUN", "API_PORT", "API_MEDIA_DIR"):
        monkeypatch.delenv(name, raising=False)


def both(command: str, config: str) -> tuple[str, str]:
    """validate's and the command's refusals; both must exit 1."""
    validated, message = run("validate", config, "--command", command)
    refused, command_message = run(command, config)
    assert (validated, refused) == (1, 1), message + command_message
    return message, command_message


def test_a_non_empty_output_dir_is_refused_by_validate_as_by_train(train_config, tmp_path, nothing_loads):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "notes.txt").write_text("mine")
    validated, trained = both("train", train_config())
    for message in (validated, trained):
        assert "is not empty and holds no checkpoint" in message and "overwrite_output_dir" in message
    assert (tmp_path / "out" / "notes.txt").read_text() == "mine"
    assert run("validate", train_config(overwrite_output_dir=True))[0] == 0


def test_ppo_resume_and_a_reward_adapter_without_its_head_are_reported_together(train_config, tmp_path,
                                                                                 nothing_loads):
    (tmp_path / "out" / "checkpoint-2").mkdir(parents=True)
    reward = tmp_path / "reward"
    reward.mkdir()
    config = train_config(stage="ppo", finetuning_type="lora", reward_model=str(reward), reward_model_type="lora")
    validated, trained = both("train", config)
    for message in (validated, trained):
        assert "stage: ppo cannot resume" in message and "has no value_head.safetensors" in message


def test_ray_keys_are_checked_when_use_ray_is_set(train_config, monkeypatch, nothing_loads):
    config = train_config(ray_num_workers=0)
    assert run("validate", config)[0] == 0  # without USE_RAY the Ray keys are not used
    monkeypatch.setenv("USE_RAY", "1")
    validated, trained = both("train", config)
    assert "ray_num_workers: 0 must be 1 or more" in validated and "ray_num_workers" in trained


def test_what_this_machine_cannot_run_is_refused_by_validate_too(train_config, nothing_loads):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU: bf16 runs here")
    validated, trained = both("train", train_config(bf16=True, use_cpu=False))
    assert "bf16: true needs a GPU" in validated and "bf16: true needs a GPU" in trained


def test_export_dir_checks(write_yaml, tmp_path, nothing_loads):
    target = tmp_path / "export"
    target.mkdir()
    (target / "model.safetensors").write_text("someone's model")
    config = str(write_yaml({"model_name_or_path": "/nowhere/model", "adapter_name_or_path": str(tmp_path),
                             "template": "qwen", "export_dir": str(target), "export_size": 0}))
    validated, exported = both("export", config)
    for message in (validated, exported):
        assert "is not empty" in message and "export_size" in message
    assert (target / "model.safetensors").read_text() == "someone's model"


@pytest.mark.parametrize("command", ["chat", "api"])
def test_inference_backends_and_the_api_port(write_yaml, monkeypatch, nothing_loads, command):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU: vLLM may run here")
    monkeypatch.setenv("API_PORT", "not-a-port")
    monkeypatch.setenv("API_MEDIA_DIR", "/nowhere/images")
    config = str(write_yaml({"model_name_or_path": "/nowhere/model", "template": "qwen", "infer_backend": "vllm"}))
    validated, served = both(command, config)
    for message in (validated, served):
        assert "infer_backend: vllm needs a CUDA GPU" in message
        assert ("API_PORT must be a port number" in message) == (command == "api")
        assert ("API_MEDIA_DIR='/nowhere/images' is not a folder" in message) == (command == "api")


def test_validate_names_the_commands_it_knows(train_config):
    code, message = run("validate", train_config(), "--command", "serve")
    assert code == 2 and "train|chat|webchat|api|export" in message
