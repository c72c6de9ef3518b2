"""Optimizer state, peak memory and speed of full fine-tuning with each optimizer switch, same model, same steps.

Each run is a fresh `tunefactory train` process (bench_train.run_train: peak RSS and CPU time are its own) on
the `bench` tiny Llama (full fine-tuning, `alpaca_demo` + `arith_train` packed at cutoff_len 512, batch 4,
fp32 on the CPU, lr 1e-5 constant, --steps steps): AdamW (the Trainer's default), `use_muon`,
`use_adam_mini`, `use_galore` (rank 16, and layer-wise), `use_apollo` (rank 16) and `use_badam` (layer mode, and
ratio mode at its 5 %), at their defaults. A checkpoint is saved at the last step; the size of its `optimizer.pt`
is the optimizer's state. Per optimizer: state bytes (and as a multiple of the float32 weights), peak RSS, tokens/s
after the warm-up steps, first and last loss. Medians of --repeat runs, in rotation.

    .venv/bin/python bench/bench_optimizers.py [--steps 8] [--warmup 2] [--repeat 1] [--only adamw,badam_ratio]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_train  # noqa: E402
from common import write_result  # noqa: E402

OPTIMIZERS = {"adamw": {}, "muon": {"use_muon": True}, "adam_mini": {"use_adam_mini": True},
              "galore": {"use_galore": True}, "galore_layerwise": {"use_galore": True, "galore_layerwise": True},
              "apollo": {"use_apollo": True}, "badam": {"use_badam": True},
              "badam_ratio": {"use_badam": True, "badam_mode": "ratio"}}


def main(steps: int = 8, warmup: int = 2, repeat: int = 1, only: list[str] | None = None) -> dict:
    from tunefactory_fixtures.tiny_models import ensure_tiny_model

    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    figures = {"size": bench_train.SIZE, "method": "full", "steps": steps, "warmup": warmup, "repeat": repeat,
               "runs": {}, "summary": {}}
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        model = ensure_tiny_model(folder / "models", arch="llama", size=bench_train.SIZE)
        weights = (model / "model.safetensors").stat().st_size
        for attempt in range(repeat):
            for optimizer, extra in OPTIMIZERS.items():
                if only and optimizer not in only:
                    continue
                run_dir = folder / f"{optimizer}-{attempt}"
                run_dir.mkdir()
                out = run_dir / "out"
                config = {**bench_train.train_config(model, folder / "cache", out, "full", steps), **extra,
                          "save_strategy": "steps", "save_steps": steps, "save_only_model": False}
                result = bench_train.run_train(config, run_dir, env)
                result.update(bench_train.step_figures(out, warmup))
                # layer-wise GaLore's Trainer holds a placeholder: its real state is not in the checkpoint
                result["optimizer_state_bytes"] = (out / f"checkpoint-{steps}" / "optimizer.pt").stat().st_size
                figures["runs"].setdefault(optimizer, []).append(
                    {k: round(v, 3) if isinstance(v, float) else v for k, v in result.items()})
                print(optimizer, result["optimizer_state_bytes"], "bytes of state,", round(result["tokens_per_s"], 1),
                      "tokens/s,", round(result["peak_rss_mib"]), "MiB", flush=True)
        for optimizer, runs in figures["runs"].items():
            state = statistics.median(r["optimizer_state_bytes"] for r in runs)
            figures["summary"][optimizer] = {
                "optimizer_state_mib": round(state / 2**20, 2), "state_per_weight_copy": round(state / weights, 2),
                "peak_rss_mib": round(statistics.median(r["peak_rss_mib"] for r in runs)),
                "tokens_per_s": round(statistics.median(r["tokens_per_s"] for r in runs), 1),
                "loss_first": runs[0]["loss_first"], "loss_last": runs[0]["loss_last"]}
        figures["weights_mib"] = round(weights / 2**20, 2)
    return figures


def parse_cli(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    bench_train.add_step_options(parser, steps=8, repeat=1, repeat_help="runs per optimizer, in rotation")
    parser.add_argument("--only", type=lambda text: text.split(","), default=None,
                        help=f"comma-separated optimizers to run (of {', '.join(OPTIMIZERS)}); all by default")
    return parser.parse_args(argv)


if __name__ == "__main__":
    args = parse_cli()
    sys.path.insert(0, str(bench_train.ROOT / "tests"))
    path = write_result("optimizers", main(args.steps, args.warmup, args.repeat, args.only))
    print(path)
