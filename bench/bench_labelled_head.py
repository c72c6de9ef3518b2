"""SFT speed and memory with the LM head only on labelled positions (`lm_head_on_labels_only`) against the
model's own loss over every position, same machine, same run.

Each run is a fresh `tunefactory train` process (bench_train.run_train: peak RSS and CPU time are its own),
tiny Llama of --sizes (`small`: 1.3M parameters, vocab 2048, where the LM head is a large share of the
compute; `bench`: 20M, vocab 8192), template `default`, `alpaca_demo` unpacked (`packing: false`: rows
padded to the batch's longest, the prompt positions labelled -100) at cutoff_len 512,
per_device_train_batch_size 4, fp32 on the CPU, --steps steps. LoRA (rank 8, all linear layers) and full
fine-tuning, each with the flag on and off, in alternating order, --repeat times; per setting the median
of the repeats' tokens/s (non-pad tokens over the timed steps, see bench_train.step_figures) and of their
peak RSS, and the speed-up of on over off.

    .venv/bin/python bench/bench_labelled_head.py [--steps 12] [--warmup 2] [--repeat 3] [--sizes small,bench]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_train  # noqa: E402
from common import RESULTS_DIR, write_result  # noqa: E402

DATASET = "alpaca_demo"
METHODS = ("lora", "full")


def config(model: Path, cache: Path, out: Path, method: str, labels_only: bool, steps: int) -> dict:
    base = bench_train.train_config(model, cache, out, method, steps)
    return {**base, "dataset": DATASET, "packing": False, "lm_head_on_labels_only": labels_only}


def main(steps: int, warmup: int, repeat: int, sizes: list[str]) -> dict:
    from tunefactory_fixtures.tiny_models import ensure_tiny_model

    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    figures = {"dataset": DATASET, "cutoff_len": bench_train.CUTOFF, "batch": bench_train.BATCH, "packing": False,
               "steps": steps, "warmup": warmup, "repeat": repeat, "runs": {}, "summary": {}}
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        for size in sizes:
            model = ensure_tiny_model(folder / "models", arch="llama", size=size)
            for attempt in range(repeat):
                for method in METHODS:
                    order = (True, False) if attempt % 2 == 0 else (False, True)
                    for labels_only in order:
                        key = f"{size}/{method}/{'labels_only' if labels_only else 'all_positions'}"
                        run_dir = folder / key.replace("/", "-") / str(attempt)
                        run_dir.mkdir(parents=True)
                        out = run_dir / "out"
                        result = bench_train.run_train(config(model, folder / "cache", out, method, labels_only,
                                                              steps), run_dir, env)
                        result.update(bench_train.step_figures(out, warmup))
                        figures["runs"].setdefault(key, []).append(
                            {k: round(v, 3) if isinstance(v, float) else v for k, v in result.items()})
                        print(key, round(result["tokens_per_s"], 1), "tokens/s", round(result["peak_rss_mib"]),
                              "MiB", flush=True)
            for method in METHODS:
                on, off = (figures["runs"][f"{size}/{method}/{flag}"] for flag in ("labels_only", "all_positions"))
                tokens_on, tokens_off = (statistics.median(r["tokens_per_s"] for r in runs) for runs in (on, off))
                rss_on, rss_off = (statistics.median(r["peak_rss_mib"] for r in runs) for runs in (on, off))
                figures["summary"][f"{size}/{method}"] = {
                    "tokens_per_s_labels_only": round(tokens_on, 1), "tokens_per_s_all_positions": round(tokens_off, 1),
                    "speedup": round(tokens_on / tokens_off, 3), "peak_rss_mib_labels_only": round(rss_on),
                    "peak_rss_mib_all_positions": round(rss_off),
                    "loss_last_equal": [a["loss_last"] == b["loss_last"] for a, b in zip(on, off, strict=True)]}
    return figures


def parse_cli(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    bench_train.add_step_options(parser, steps=12, repeat=3, repeat_help="runs per setting, alternating the order")
    parser.add_argument("--sizes", default="small,bench", help="tiny model sizes (small,bench)")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "labelled_head.json", help="JSON output")
    return parser.parse_args(argv)


if __name__ == "__main__":
    args = parse_cli()
    result = main(args.steps, args.warmup, args.repeat, args.sizes.split(","))
    write_result("labelled_head", result, path=args.out)
    print(json.dumps(result["summary"], indent=2))
    print(args.out)
