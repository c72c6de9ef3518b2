"""Two processes on the CPU (gloo): `FORCE_TORCHRUN=1 NPROC_PER_NODE=2 tunefactory train` gives the same
losses as one process with the same global batch, and writes its outputs once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO_ROOT = Path(__file__).resolve().parents[2]


def sft_config(tmp_path, model, name, per_device_batch) -> Path:
    output_dir = tmp_path / name
    path = tmp_path / f"{name}.yaml"
    path.write_text(
        f"model_name_or_path: {model}\nstage: sft\ndo_train: true\nfinetuning_type: full\n"
        f"dataset: alpaca_demo\ndataset_dir: {REPO_ROOT / 'data'}\ntemplate: qwen\ncutoff_len: 64\nmax_samples: 32\n"
        f"per_device_train_batch_size: {per_device_batch}\nnum_train_epochs: 2\nlogging_steps: 1\n"
        f"learning_rate: 5.0e-3\nsave_strategy: 'no'\noutput_dir: {output_dir}\nreport_to: none\nuse_cpu: true\n"
        "disable_tqdm: true\nseed: 0\ndisable_gradient_checkpointing: true\nplot_loss: true\n")
    return path


def train(config: Path, **env) -> subprocess.CompletedProcess:
    environ = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", **env}
    return subprocess.run([sys.executable, "-m", "tunefactory.cli", "train", str(config)], env=environ,
                          capture_output=True, text=True, timeout=600)


def logged_losses(output_dir: Path) -> list[float]:
    lines = (output_dir / "trainer_log.jsonl").read_text().splitlines()
    return [json.loads(line)["loss"] for line in lines if "loss" in json.loads(line)]


def test_two_process_ddp_matches_one_process_with_the_same_global_batch(tiny_qwen2, tmp_path):
    two = train(sft_config(tmp_path, tiny_qwen2, "ddp2", 4), FORCE_TORCHRUN="1", NPROC_PER_NODE="2")
    assert two.returncode == 0, two.stderr[-3000:]
    assert "--nproc_per_node 2" in two.stderr  # it really relaunched under torchrun
    one = train(sft_config(tmp_path, tiny_qwen2, "ddp1", 8))
    assert one.returncode == 0, one.stderr[-3000:]
    distributed, single = logged_losses(tmp_path / "ddp2"), logged_losses(tmp_path / "ddp1")
    assert len(distributed) == len(single) == 8  # 32 examples / global batch 8 x 2 epochs; one line per step
    assert distributed == pytest.approx(single, rel=1e-4)
    state = json.loads((tmp_path / "ddp2" / "trainer_state.json").read_text())
    assert state["global_step"] == 8
    for name in ("model.safetensors", "training_loss.png", "README.md", "train_results.json"):
        assert (tmp_path / "ddp2" / name).is_file(), name
