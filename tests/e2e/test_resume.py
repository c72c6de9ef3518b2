"""Resuming a run ends where the uninterrupted run ends: same losses, same weights (full and LoRA).

Only the runs that are killed go in a process of their own (on one thread, as the others); every other run goes
through the CLI's entry point in this process (`train_in_process`, the e2e conftest's one thread), which spares an
interpreter start-up per run."""

import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

REPO_ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def settings(model, output_dir, **extra):
    return {"model_name_or_path": str(model), "stage": "sft", "do_train": True, "finetuning_type": "full",
            "dataset": "alpaca_demo", "dataset_dir": str(REPO_ROOT / "data"), "template": "qwen", "cutoff_len": 128,
            "max_samples": 48, "per_device_train_batch_size": 4, "max_steps": 12, "save_steps": 4,
            "logging_steps": 1, "learning_rate": 2e-3, "lr_scheduler_type": "cosine", "warmup_steps": 2,
            "seed": 7, "output_dir": str(output_dir), "report_to": "none", "use_cpu": True,
            "disable_gradient_checkpointing": True, "save_only_model": False, **extra}


class _LogLines(logging.Handler):
    def __init__(self):
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"[{record.levelname}|{record.name}] {record.getMessage()}")


def train_in_process(config: dict) -> str:
    """`tunefactory train` through the CLI's own entry point, in this process (no interpreter and import start-up,
    the e2e conftest's one thread); returns the run's log lines, as its stderr would hold them."""
    from tunefactory.cli import main

    handler, logger = _LogLines(), logging.getLogger("tunefactory")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        code = main(["train", *(f"{k}={v}" for k, v in config.items())])
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    log = "\n".join(handler.lines)
    assert code == 0, log[-3000:]
    return log


def losses(output_dir: Path) -> dict[int, float]:
    state = json.loads((output_dir / "trainer_state.json").read_text())
    return {entry["step"]: entry["loss"] for entry in state["log_history"] if "loss" in entry}


LORA = {"finetuning_type": "lora", "lora_target": "all", "lora_rank": 4, "lora_dropout": 0.1, "learning_rate": 1e-2}


def assert_same_run(resumed: Path, reference: Path) -> None:
    assert losses(resumed) == pytest.approx(losses(reference), abs=1e-6)
    weights = "adapter_model.safetensors" if (reference / "adapter_model.safetensors").is_file() \
        else "model.safetensors"
    ours, theirs = load_file(resumed / weights), load_file(reference / weights)
    assert ours.keys() == theirs.keys()
    for name in ours:
        torch.testing.assert_close(ours[name], theirs[name], atol=1e-6, rtol=0, msg=name)
    log_steps = [json.loads(line)["current_steps"] for line in (resumed / "trainer_log.jsonl").read_text().splitlines()
                 if "loss" in json.loads(line)]
    assert log_steps == sorted(set(log_steps)), "trainer_log.jsonl repeats steps after resuming"


@pytest.fixture(scope="module")
def uninterrupted(tiny_qwen2, tmp_path_factory):
    out = tmp_path_factory.mktemp("uninterrupted") / "run"
    train_in_process(settings(tiny_qwen2, out))
    return out


@pytest.fixture(scope="module")
def uninterrupted_lora(tiny_qwen2, tmp_path_factory):
    out = tmp_path_factory.mktemp("uninterrupted-lora") / "run"
    train_in_process(settings(tiny_qwen2, out, **LORA))
    return out


def test_resume_from_a_checkpoint_left_on_disk_matches_the_uninterrupted_run(uninterrupted, tiny_qwen2, tmp_path):
    # The disk as a crash right after step 4's checkpoint leaves it: later checkpoints and final files gone.
    out = tmp_path / "run"
    shutil.copytree(uninterrupted / "checkpoint-4", out / "checkpoint-4")
    shutil.copy(uninterrupted / "trainer_log.jsonl", out / "trainer_log.jsonl")  # lines past step 4 included
    assert "resuming the run from its last checkpoint" in train_in_process(settings(tiny_qwen2, out))
    assert_same_run(out, uninterrupted)


def kill_after_first_checkpoint(config: dict, out: Path) -> None:
    """Start the run in a process of its own (one thread, as the in-process runs it is compared with) and SIGKILL it
    as soon as checkpoint-4 is complete on disk."""
    args = [sys.executable, "-m", "tunefactory.cli", "train", *(f"{k}={v}" for k, v in config.items())]
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               env={**os.environ, "OMP_NUM_THREADS": "1"})
    deadline = time.time() + 240
    while not (out / "checkpoint-4" / "trainer_state.json").exists() and process.poll() is None:
        if time.time() > deadline:
            process.kill()
            pytest.fail("no checkpoint-4 within 240 s")
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    if (out / "trainer_state.json").exists():
        pytest.skip("the run finished before it could be killed")


def test_a_killed_run_resumes_to_the_same_result(uninterrupted, tiny_qwen2, tmp_path):
    out = tmp_path / "run"
    config = settings(tiny_qwen2, out)
    kill_after_first_checkpoint(config, out)
    assert "resuming the run from" in train_in_process(config)
    assert_same_run(out, uninterrupted)


def test_a_killed_lora_run_resumes_to_the_same_adapter(uninterrupted_lora, tiny_qwen2, tmp_path):
    # lora_dropout > 0: the resumed run must also restore the random generators' state from the checkpoint
    out = tmp_path / "run"
    config = settings(tiny_qwen2, out, **LORA)
    kill_after_first_checkpoint(config, out)
    assert not (out / "adapter_model.safetensors").exists()
    assert "resuming the run from" in train_in_process(config)
    assert_same_run(out, uninterrupted_lora)
    assert len(losses(out)) == 12


def test_a_non_empty_output_dir_without_checkpoints_is_refused(tiny_qwen2, tmp_path, capsys):
    from tunefactory.cli import main

    out = tmp_path / "run"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    assert main(["train", *(f"{k}={v}" for k, v in settings(tiny_qwen2, out).items())]) == 1
    stderr = capsys.readouterr().err
    assert "is not empty and holds no checkpoint" in stderr and "overwrite_output_dir" in stderr
    assert (out / "notes.txt").read_text() == "mine"


GRPO = {"stage": "grpo", "finetuning_type": "lora", "lora_target": "all", "lora_rank": 4, "learning_rate": 1e-2,
        "dataset": "arith_train", "max_samples": 64, "num_generations": 2, "max_completion_length": 6,
        "reward_funcs": f"{REPO_ROOT / 'tests' / 'fixtures' / 'grpo_rewards.py'}:digits"}


def test_a_killed_grpo_run_resumes_to_the_same_adapter(tiny_qwen2, tmp_path):
    """The rollouts after the resume are sampled as the uninterrupted run sampled them (the RNG state and the
    prompt order come back with the checkpoint), so the adapter ends the same."""
    reference = tmp_path / "uninterrupted"
    train_in_process(settings(tiny_qwen2, reference, **GRPO))
    out = tmp_path / "run"
    config = settings(tiny_qwen2, out, **GRPO)
    kill_after_first_checkpoint(config, out)
    assert "resuming the run from" in train_in_process(config)
    assert_same_run(out, reference)
    assert len(losses(out)) == 12


OFT = {"finetuning_type": "oft", "oft_block_size": 8, "module_dropout": 0.1, "learning_rate": 1e-2}


def test_an_oft_run_learns_only_its_adapter_and_resumes_to_the_same_adapter(tiny_qwen2, tmp_path):
    """OFT trains peft's orthogonal blocks only; resuming from a checkpoint on disk ends where the uninterrupted
    run ends (module_dropout > 0, so the random generators' state must come back too)."""
    import json as _json

    reference = tmp_path / "uninterrupted"
    train_in_process(settings(tiny_qwen2, reference, **OFT))
    adapter_config = _json.loads((reference / "adapter_config.json").read_text())
    assert adapter_config["peft_type"] == "OFT" and adapter_config["oft_block_size"] == 8
    weights = load_file(reference / "adapter_model.safetensors")
    assert weights and all(".oft_" in name for name in weights), sorted(weights)[:5]
    assert not (reference / "model.safetensors").exists()
    curve = losses(reference)
    assert sum(list(curve.values())[-3:]) < sum(list(curve.values())[:3]), curve

    out = tmp_path / "resumed"
    shutil.copytree(reference / "checkpoint-4", out / "checkpoint-4")
    shutil.copy(reference / "trainer_log.jsonl", out / "trainer_log.jsonl")
    assert "resuming the run from its last checkpoint" in train_in_process(settings(tiny_qwen2, out, **OFT))
    assert_same_run(out, reference)
