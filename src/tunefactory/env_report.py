"""What a bug report needs: versions, devices and which optional packages are present."""

from __future__ import annotations

import os
import platform
from importlib import metadata

from . import __version__

CORE_PACKAGES = ("torch", "transformers", "datasets", "accelerate", "peft", "trl", "tokenizers", "safetensors")

# distribution name -> what it enables
OPTIONAL_PACKAGES = {
    "deepspeed": "DeepSpeed ZeRO training",
    "bitsandbytes": "QLoRA (4/8-bit) on GPU",
    "vllm": "vLLM inference engine",
    "flash-attn": "flash_attention_2",
    "liger-kernel": "Liger kernels",
    "fastapi": "OpenAI-compatible API server",
    "uvicorn": "API server runner",
    "gradio": "web chat and web UI",
    "lm_eval": "eval_backend: lm_eval (lm-evaluation-harness)",
    "jieba": "Chinese word segmentation for metrics",
    "nltk": "BLEU metric",
    "rouge-chinese": "ROUGE metric",
    "matplotlib": "training_loss.png",
    "tensorboard": "report_to: tensorboard",
    "wandb": "report_to: wandb",
    "mlflow": "report_to: mlflow",
    "swanlab": "report_to: swanlab",
    "ray": "USE_RAY=1 distributed training",
    "modelscope": "USE_MODELSCOPE_HUB=1",
    "openmind": "USE_OPENMIND_HUB=1",
}


def package_version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def device_summary() -> str:
    import torch

    parts = [f"cpu ({os.cpu_count()} cores)"]
    if torch.cuda.is_available():
        names = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
        parts.append(f"cuda x{len(names)}: {', '.join(names)} (CUDA {torch.version.cuda})")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        parts.append("mps")
    if hasattr(torch, "xpu") and torch.xpu.is_available():
        parts.append(f"xpu x{torch.xpu.device_count()}")
    return "; ".join(parts)


def environment_rows() -> list[tuple[str, str]]:
    rows = [
        ("tunefactory", __version__),
        ("platform", platform.platform()),
        ("python", platform.python_version()),
    ]
    rows += [(name, package_version(name) or "not installed") for name in CORE_PACKAGES]
    rows.append(("devices", device_summary()))
    for name, purpose in OPTIONAL_PACKAGES.items():
        version = package_version(name)
        rows.append((f"{name} (optional)", f"{version if version else 'not installed'}  — {purpose}"))
    return rows


def format_environment() -> str:
    rows = environment_rows()
    width = max(len(key) for key, _ in rows)
    return "\n".join(f"{key.ljust(width)}  {value}" for key, value in rows)
