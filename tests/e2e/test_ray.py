"""`USE_RAY=1 tunefactory train` on a local Ray cluster of 2 CPU workers: the Trainer runs DDP across them (half the
steps of one worker, the same losses as one process with the same global batch), writes its outputs once, and a
failing worker ends the run with its message and exit code 1.

Each run starts its own local cluster (``ray_init_kwargs: {address: local, num_cpus: 2}``), which the CLI shuts down
on exit; Ray's start-up is most of the time here (about 30 s a run on 2 cores).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("ray.train", reason="ray[train] is not installed (pip install 'tunefactory[ray]')")

pytestmark = pytest.mark.slow

REPO_ROOT = Path(__file__).resolve().parents[2]
SAMPLES, EPOCHS, PER_DEVICE_BATCH, WORKERS = 32, 2, 4, 2
STEPS = SAMPLES * EPOCHS // (PER_DEVICE_BATCH * WORKERS)  # 8; one worker with the same per-device batch: 16


def sft_settings(model, output_dir: Path, per_device_batch: int, **overrides) -> dict:
    return {"model_name_or_path": str(model), "stage": "sft", "do_train": True, "finetuning_type": "full",
            "dataset": "alpaca_demo", "dataset_dir": str(REPO_ROOT / "data"), "template": "qwen", "cutoff_len": 64,
            "max_samples": SAMPLES, "per_device_train_batch_size": per_device_batch, "num_train_epochs": EPOCHS,
            "logging_steps": 1, "learning_rate": 5.0e-3, "save_strategy": "no", "output_dir": str(output_dir),
            "report_to": "none", "use_cpu": True, "disable_tqdm": True, "seed": 0,
            "disable_gradient_checkpointing": True, "plot_loss": True, **overrides}


def ray_settings(tmp_path: Path) -> dict:
    return {"ray_num_workers": WORKERS, "resources_per_worker": {"CPU": 1}, "ray_run_name": "tiny_sft",
            "ray_storage_path": str(tmp_path / "ray"),
            "ray_init_kwargs": {"address": "local", "num_cpus": WORKERS, "include_dashboard": False}}


def train_on_ray(config: dict, tmp_path: Path) -> subprocess.CompletedProcess:
    path = tmp_path / "ray_sft.yaml"
    path.write_text(json.dumps(config), encoding="utf-8")  # JSON is YAML
    environ = {key: value for key, value in os.environ.items() if key != "RAY_ADDRESS"}
    environ.update(USE_RAY="1", FORCE_TORCHRUN="1", OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1",
                   HF_DATASETS_OFFLINE="1", RAY_DEDUP_LOGS="0")
    return subprocess.run([sys.executable, "-m", "tunefactory.cli", "train", str(path)], env=environ,
                          capture_output=True, text=True, timeout=300, cwd=tmp_path)


def log_records(output_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (output_dir / "trainer_log.jsonl").read_text().splitlines()]


def test_two_ray_workers_train_ddp_like_one_process_with_the_same_global_batch(tiny_qwen2, tmp_path):
    from tunefactory.config import parse_dict
    from tunefactory.train.run import run_train

    out = tmp_path / "ray_out"
    result = train_on_ray({**sft_settings(tiny_qwen2, out, PER_DEVICE_BATCH), **ray_settings(tmp_path)}, tmp_path)
    logs = result.stdout + result.stderr
    assert result.returncode == 0, logs[-4000:]
    # FORCE_TORCHRUN was set too: Ray wins, and its workers are one torch.distributed group of 2
    assert "--nproc_per_node" not in logs
    assert "Ray Train worker 0 of 2 (torch.distributed gloo)" in logs
    assert "Ray Train worker 1 of 2 (torch.distributed gloo)" in logs

    single = tmp_path / "single_out"
    run_train(parse_dict(sft_settings(tiny_qwen2, single, PER_DEVICE_BATCH * WORKERS)))

    state = json.loads((out / "trainer_state.json").read_text())
    assert state["global_step"] == STEPS  # the workers split each epoch: half the steps of a single worker
    records, single_records = log_records(out), log_records(single)
    assert [r["current_steps"] for r in records if "loss" in r] == list(range(1, STEPS + 1))  # written once
    assert len(records) == len(single_records)
    losses = [r["loss"] for r in records if "loss" in r]
    assert losses == pytest.approx([r["loss"] for r in single_records if "loss" in r], rel=1e-4)
    for name in ("model.safetensors", "tokenizer.json", "training_loss.png", "README.md", "train_results.json"):
        assert (out / name).is_file(), name
    assert (tmp_path / "ray" / "tiny_sft").is_dir()  # Ray's run folder: ray_storage_path / ray_run_name


def test_a_failing_worker_ends_the_run_with_its_message(tiny_qwen2, tmp_path):
    # Adam moves each weight by about learning_rate: 1e30 overflows at step 1, and the loss guard stops every worker.
    out = tmp_path / "ray_out"
    config = {**sft_settings(tiny_qwen2, out, PER_DEVICE_BATCH, learning_rate=1e30, max_samples=16),
              **ray_settings(tmp_path)}
    result = train_on_ray(config, tmp_path)
    assert result.returncode == 1, (result.stdout + result.stderr)[-4000:]
    assert "tunefactory train: training loss became nan at step 2" in result.stderr
    assert "(Ray worker 0)" in result.stderr
    assert not (out / "model.safetensors").exists()
