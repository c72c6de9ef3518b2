"""Aborting a training job from the web board: it stops at a step with a checkpoint, and the next run resumes there.

The job runs the real command (`python -m tunefactory train <training_args.yaml>`) through JobStore, as the board
starts it.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest

from tunefactory.webui.jobs import Job, JobStore

REPO_ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def lora_sft(model: Path, output_dir: Path, max_steps: int) -> dict:
    return {"model_name_or_path": str(model), "stage": "sft", "do_train": True, "finetuning_type": "lora",
            "lora_target": "all", "lora_rank": 4, "dataset": "alpaca_demo", "dataset_dir": str(REPO_ROOT / "data"),
            "template": "qwen", "cutoff_len": 64, "max_samples": 16, "per_device_train_batch_size": 2,
            "max_steps": max_steps, "save_steps": 5, "logging_steps": 1, "learning_rate": 1e-3,
            "output_dir": str(output_dir), "report_to": "none", "use_cpu": True,
            "disable_gradient_checkpointing": True}


def logged_step(output_dir: Path) -> int:
    try:
        lines = (output_dir / "trainer_log.jsonl").read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return 0
    steps = [json.loads(line)["current_steps"] for line in lines if line.endswith("}")]
    return max(steps, default=0)


def wait_for(condition, job: Job, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    pytest.fail(f"timed out after {timeout} s waiting for {what}; the job's log ends with:\n{job.log_tail(3000)}")


def test_an_aborted_training_keeps_a_checkpoint_and_the_same_command_resumes_from_it(tiny_qwen2, tmp_path):
    out = tmp_path / "run"
    store = JobStore(tmp_path / "jobs")
    job = store.start("train", lora_sft(tiny_qwen2, out, max_steps=200), label="sft lora run")
    wait_for(lambda: logged_step(out) >= 6 or job.status() != "running", job, 120, "step 6")
    assert job.status() == "running", job.log_tail(3000)
    seen = logged_step(out)
    store.abort(job.id)
    wait_for(lambda: job.status() != "running", job, 60, "the job to stop")

    assert job.status() == "aborted", job.log_tail(3000)
    stopped = re.search(r"training stopped on request at step (\d+)", job.log_tail())
    assert stopped, job.log_tail(3000)
    step = int(stopped.group(1))
    assert 6 <= seen <= step < 200
    assert (out / f"checkpoint-{step}" / "adapter_model.safetensors").is_file()
    assert not (out / "adapter_model.safetensors").exists(), "an aborted run must not look complete"

    resumed = store.start("train", lora_sft(tiny_qwen2, out, max_steps=step + 2), label="sft lora run, resumed")
    wait_for(lambda: resumed.status() != "running", resumed, 120, "the resumed run to end")
    assert resumed.status() == "finished", resumed.log_tail(3000)
    assert re.search(rf"resuming the run from its last checkpoint \S*checkpoint-{step}\b", resumed.log_tail())
    assert (out / "adapter_model.safetensors").is_file()
    assert json.loads((out / "trainer_state.json").read_text())["global_step"] == step + 2
    assert [job.id for job in store.list()] == [resumed.id, job.id]
