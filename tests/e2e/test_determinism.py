"""Same config, same seed, same weights: every method and stage, two `tunefactory train` runs in two fresh
processes, compared bit for bit (losses and every saved tensor).

Each run is 3 optimizer steps on tiny_qwen2. Before seeding moved ahead of model loading, LoRA-family runs
differed from step 2 on: the adapter's A matrices came from an unseeded generator (B starts at zero, so
step 1 matched and hid it). lora_dropout is on, so the Trainer's own seeding is checked too.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

REPO_ROOT = Path(__file__).resolve().parents[2]
DATA_DIR = REPO_ROOT / "data"

pytestmark = pytest.mark.slow

LORA = {"finetuning_type": "lora", "lora_target": "all", "lora_rank": 4, "lora_dropout": 0.1}
STAGE_DATA = {"sft": "alpaca_demo", "rm": "style_pref_train", "dpo": "style_pref_train", "kto": "style_kto_train",
              "ppo": "style_kto_train", "grpo": "arith_train"}
# a reward that differs between completions from the first step, so every step updates the adapter
GRPO = {"reward_funcs": f"{REPO_ROOT / 'tests' / 'fixtures' / 'grpo_rewards.py'}:digits", "num_generations": 2,
        "max_completion_length": 6}
# name -> (stage, method keys)
METHODS = {
    "full": ("sft", {"finetuning_type": "full", "learning_rate": 1e-3}),
    "freeze": ("sft", {"finetuning_type": "freeze", "freeze_trainable_layers": 1, "learning_rate": 1e-3}),
    "lora": ("sft", LORA),
    "dora": ("sft", {**LORA, "use_dora": True}),
    "rslora": ("sft", {**LORA, "use_rslora": True}),
    "pissa": ("sft", {**LORA, "pissa_init": True}),
    "oft": ("sft", {"finetuning_type": "oft", "oft_block_size": 8, "module_dropout": 0.1}),
    "asft": ("sft", {**LORA, "use_asft_loss": True}),
    "muon": ("sft", {"finetuning_type": "full", "use_muon": True, "learning_rate": 1e-3}),
    "apollo": ("sft", {"finetuning_type": "full", "use_apollo": True, "apollo_rank": 4, "learning_rate": 1e-3}),
    "rm": ("rm", LORA),
    "dpo": ("dpo", LORA),
    "kto": ("kto", LORA),
    "ppo": ("ppo", LORA),  # its reward model: the rm run's adapter (reward_model_type: lora)
    "grpo": ("grpo", {**LORA, **GRPO}),
}


def settings(model, output_dir: Path, stage: str, method: dict, **extra) -> dict:
    return {"model_name_or_path": str(model), "stage": stage, "do_train": True, "dataset": STAGE_DATA[stage],
            "dataset_dir": str(DATA_DIR), "template": "qwen", "cutoff_len": 64, "max_samples": 12,
            "per_device_train_batch_size": 4, "max_steps": 3, "logging_steps": 1, "learning_rate": 1e-2,
            "max_new_tokens": 6, "save_strategy": "no", "seed": 11, "output_dir": str(output_dir),
            "report_to": "none", "use_cpu": True, "disable_gradient_checkpointing": True, **method, **extra}


def train_twice(config: dict, root: Path) -> tuple[Path, Path]:
    """The same config in two fresh `tunefactory train` processes at once (one thread each)."""
    outputs = (root / "first", root / "second")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    processes = [subprocess.Popen([sys.executable, "-m", "tunefactory.cli", "train",
                                   *(f"{k}={v}" for k, v in {**config, "output_dir": str(out)}.items())],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
                 for out in outputs]
    for process in processes:
        _, stderr = process.communicate(timeout=300)
        assert process.returncode == 0, stderr[-3000:]
    return outputs


def losses(output_dir: Path) -> list[float]:
    state = json.loads((output_dir / "trainer_state.json").read_text())
    return [entry["loss"] for entry in state["log_history"] if "loss" in entry]


def saved_tensors(output_dir: Path) -> dict[str, torch.Tensor]:
    tensors = {}
    for path in sorted(output_dir.glob("*.safetensors")):
        tensors.update({f"{path.name}:{name}": value for name, value in load_file(path).items()})
    assert tensors, f"no weights in {output_dir}"
    return tensors


@pytest.fixture(scope="module")
def runs(tiny_qwen2, tmp_path_factory) -> dict[str, tuple[Path, Path]]:
    """Every method trained twice; ppo scores with the first rm run's adapter."""
    root, done = tmp_path_factory.mktemp("determinism"), {}
    for name, (stage, method) in METHODS.items():
        extra = {"reward_model": str(done["rm"][0]), "reward_model_type": "lora"} if stage == "ppo" else {}
        done[name] = train_twice(settings(tiny_qwen2, root / name, stage, method, **extra), root / name)
    return done


@pytest.mark.parametrize("name", METHODS)
def test_two_runs_with_one_seed_give_identical_weights(runs, name):
    first, second = runs[name]
    assert len(losses(first)) == 3 and losses(first) == losses(second)
    ours, theirs = saved_tensors(first), saved_tensors(second)
    assert ours.keys() == theirs.keys()
    for key in ours:
        assert torch.equal(ours[key], theirs[key]), f"{name}: {key} differs between two runs of one seed"


def test_another_seed_gives_other_weights(runs, tiny_qwen2, tmp_path):
    """The check above can fail: the seed reaches the adapter's initialisation."""
    stage, method = METHODS["lora"]
    reseeded = tmp_path / "reseeded"
    config = {**settings(tiny_qwen2, reseeded, stage, method), "seed": 12}
    result = subprocess.run([sys.executable, "-m", "tunefactory.cli", "train", *(f"{k}={v}" for k, v in config.items())],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    ours, theirs = saved_tensors(runs["lora"][0]), saved_tensors(reseeded)
    assert any(not torch.equal(ours[key], theirs[key]) for key in ours)
