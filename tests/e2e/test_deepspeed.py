"""DeepSpeed ZeRO-2 and ZeRO-3 runs of `FORCE_TORCHRUN=1 NPROC_PER_NODE=1 tunefactory train … deepspeed=…`
with the configs in examples/deepspeed, on the CPU (DeepSpeed's CPU accelerator, gloo) and on a CUDA GPU.

Both stages must log the same losses, and the saved model must load in plain transformers: under ZeRO-3
the weights are partitioned, so this checks that the loader reads the real shapes (the template's
added tokens resize the embeddings here) and that `stage3_gather_16bit_weights_on_model_save` gathers
a whole model at the end. The first CPU run also compiles DeepSpeed's shared-memory op (about two
minutes, cached in ~/.cache/torch_extensions afterwards).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib.util import find_spec
from pathlib import Path

import pytest
import torch

REPO_ROOT = Path(__file__).resolve().parents[2]
ZERO_CONFIGS = ("ds_z2_config.json", "ds_z3_config.json")

pytestmark = pytest.mark.skipif(
    find_spec("deepspeed") is None,
    reason="deepspeed is not installed (pip install 'tunefactory[deepspeed]': an sdist that installs in about "
           "20 s and compiles its ops on first use)")


def sft_config(tmp_path: Path, model: Path, name: str, precision: str) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(
        f"model_name_or_path: {model}\nstage: sft\ndo_train: true\nfinetuning_type: full\n"
        f"dataset: alpaca_demo\ndataset_dir: {REPO_ROOT / 'data'}\ntemplate: qwen\ncutoff_len: 64\nmax_samples: 8\n"
        "add_special_tokens: <tool_a>,<tool_b>\nresize_vocab: true\n"  # ZeRO-3 must resize partitioned embeddings
        f"per_device_train_batch_size: 2\ngradient_accumulation_steps: 2\nmax_steps: 2\nlogging_steps: 1\n"
        f"learning_rate: 1.0e-3\nsave_strategy: 'no'\noutput_dir: {tmp_path / name}\nreport_to: none\n"
        f"disable_tqdm: true\nseed: 0\ndisable_gradient_checkpointing: true\n{precision}")
    return path


def train_with_deepspeed(config: Path, zero_config: str, **env) -> subprocess.CompletedProcess:
    environ = {**os.environ, "FORCE_TORCHRUN": "1", "NPROC_PER_NODE": "1", "OMP_NUM_THREADS": "1",
               "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", **env}
    for variable in ("LOCAL_RANK", "WORLD_SIZE", "USE_RAY"):
        environ.pop(variable, None)
    command = [sys.executable, "-m", "tunefactory.cli", "train", str(config),
               f"deepspeed=examples/deepspeed/{zero_config}"]
    return subprocess.run(command, cwd=REPO_ROOT, env=environ, capture_output=True, text=True, timeout=900)


def logged_losses(output_dir: Path) -> list[float]:
    rows = [json.loads(line) for line in (output_dir / "trainer_log.jsonl").read_text().splitlines()]
    return [row["loss"] for row in rows if "loss" in row]


def check_zero_runs(tmp_path: Path, model: Path, precision: str, tolerance: float, **env) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    losses = {}
    for zero_config in ZERO_CONFIGS:
        name = zero_config.removesuffix("_config.json")
        result = train_with_deepspeed(sft_config(tmp_path, model, name, precision), zero_config, **env)
        assert result.returncode == 0, result.stderr[-4000:]
        assert "--nproc_per_node 1" in result.stderr  # relaunched under torchrun, as a user would run it
        output_dir = tmp_path / name
        losses[name] = logged_losses(output_dir)
        assert len(losses[name]) == 2 and all(loss == loss and 0 < loss < 20 for loss in losses[name])

        trained = AutoModelForCausalLM.from_pretrained(output_dir)  # plain transformers, no DeepSpeed
        base = AutoModelForCausalLM.from_pretrained(model)
        tokenizer = AutoTokenizer.from_pretrained(output_dir)
        assert trained.get_input_embeddings().weight.shape[0] == len(tokenizer) > \
            base.get_input_embeddings().weight.shape[0]
        pairs = list(zip(trained.named_parameters(), base.named_parameters(), strict=True))
        assert all(torch.isfinite(weight).all() for (_, weight), _ in pairs)
        assert any(weight.shape == start.shape and not torch.equal(weight.float(), start.float())
                   for (_, weight), (_, start) in pairs), "training changed no weight"
    assert losses["ds_z3"] == pytest.approx(losses["ds_z2"], rel=tolerance)


@pytest.mark.slow
def test_zero2_and_zero3_sft_on_the_cpu(tiny_qwen2, tmp_path):
    check_zero_runs(tmp_path, tiny_qwen2, precision="", tolerance=1e-3, DS_ACCELERATOR="cpu",
                    CUDA_VISIBLE_DEVICES="")


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_zero2_and_zero3_sft_on_a_gpu(tiny_qwen2, tmp_path):
    precision = "bf16: true\n" if torch.cuda.is_bf16_supported() else "fp16: true\n"
    check_zero_runs(tmp_path, tiny_qwen2, precision=precision, tolerance=2e-2, CUDA_VISIBLE_DEVICES="0")
