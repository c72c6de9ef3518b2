"""What a user waits for before any training: CLI start, config validation, tiny-model build and forward."""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import peak_rss_mib, timed, write_result  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def cli_seconds(*args: str) -> float:
    return timed(lambda: subprocess.run([sys.executable, "-m", "tunefactory.cli", *args], check=True,
                                        capture_output=True), repeat=3)


def main() -> dict:
    import torch
    from transformers import AutoModelForCausalLM

    from tunefactory.config import parse_args
    from tunefactory_fixtures.tiny_models import build_tiny_model

    config = str(ROOT / "examples" / "train_lora" / "qwen2_5_lora_sft.yaml")
    parse_args([config])  # warm imports; the in-process figure is the parse itself
    figures = {
        "cli_help_s": cli_seconds("--help"),
        "cli_validate_s": cli_seconds("validate", config),
        "parse_config_in_process_ms": 1000 * timed(lambda: parse_args([config]), repeat=5),
    }
    with tempfile.TemporaryDirectory() as tmp:
        for size in ("tiny", "small", "bench"):
            start = time.perf_counter()
            path = build_tiny_model(Path(tmp) / size, arch="llama", size=size)
            figures[f"build_{size}_s"] = time.perf_counter() - start
            model = AutoModelForCausalLM.from_pretrained(path).eval()
            figures[f"{size}_params_m"] = sum(p.numel() for p in model.parameters()) / 1e6
            batch = torch.randint(0, model.config.vocab_size, (8, 512))
            with torch.no_grad():
                seconds = timed(lambda: model(batch), repeat=3)
            figures[f"{size}_forward_tokens_per_s"] = batch.numel() / seconds
    figures["peak_rss_mib"] = peak_rss_mib()
    return figures


if __name__ == "__main__":
    path = write_result("startup", main())
    print(path.read_text())
