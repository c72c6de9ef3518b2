"""SFT speed and memory of the two ways a step skips work: the LM head only on labelled positions
(`lm_head_on_labels_only`) and padding-free batches (`padding_free`), against neither (the way every step ran
before them), same machine, same run.

Each run is a fresh `tunefactory train` process (bench_train.run_train: peak RSS and CPU time are its own),
tiny Llama of --sizes (`small`: 1.3M parameters, vocab 2048, where the LM head is a large share of the
compute; `bench`: 20M, vocab 8192), template `default`, `alpaca_demo` unpacked (`packing: false`: rows
padded to the batch's longest, the prompt positions labelled -100) at cutoff_len 512,
per_device_train_batch_size 4, fp32 on the CPU, --steps steps. LoRA (rank 8, all linear layers) and full
fine-tuning, each in three settings (`before`: both off; `labels_only`; `labels_only_padding_free`: both on,
the default) in rotating order, --repeat times; per setting the median of the repeats' tokens/s (non-pad
tokens over the timed steps, see bench_train.step_figures) and of their peak RSS, and the speed-ups over
`before`. --threads sets OMP_NUM_THREADS for the runs (default: torch's own).

    .venv/bin/python bench/bench_sft_speed.py [--steps 12] [--warmup 2] [--repeat 3] [--sizes small,bench]
                                              [--threads N]
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
SETTINGS = {  # name: (lm_head_on_labels_only, padding_free)
    "before": (False, False),
    "labels_only": (True, False),
    "labels_only_padding_free": (True, True),
}


def config(model: Path, cache: Path, out: Path, method: str, setting: str, steps: int) -> dict:
    labels_only, padding_free = SETTINGS[setting]
    base = bench_train.train_config(model, cache, out, method, steps)
    return {**base, "dataset": DATASET, "packing": False, "lm_head_on_labels_only": labels_only,
            "padding_free": padding_free}


def main(steps: int, warmup: int, repeat: int, sizes: list[str], threads: int | None = None) -> dict:
    from tunefactory_fixtures.tiny_models import ensure_tiny_model

    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    figures = {"dataset": DATASET, "cutoff_len": bench_train.CUTOFF, "batch": bench_train.BATCH, "packing": False,
               "steps": steps, "warmup": warmup, "repeat": repeat, "threads": threads, "runs": {}, "summary": {}}
    names = list(SETTINGS)
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        for size in sizes:
            model = ensure_tiny_model(folder / "models", arch="llama", size=size)
            for attempt in range(repeat):
                for method in METHODS:
                    for setting in names[attempt % 3:] + names[:attempt % 3]:  # rotate the order
                        key = f"{size}/{method}/{setting}"
                        run_dir = folder / key.replace("/", "-") / str(attempt)
                        run_dir.mkdir(parents=True)
                        out = run_dir / "out"
                        result = bench_train.run_train(config(model, folder / "cache", out, method, setting, steps),
                                                       run_dir, env)
                        result.update(bench_train.step_figures(out, warmup))
                        figures["runs"].setdefault(key, []).append(
                            {k: round(v, 3) if isinstance(v, float) else v for k, v in result.items()})
                        print(key, round(result["tokens_per_s"], 1), "tokens/s", round(result["peak_rss_mib"]),
                              "MiB", flush=True)
            for method in METHODS:
                runs = {setting: figures["runs"][f"{size}/{method}/{setting}"] for setting in SETTINGS}
                tokens = {k: statistics.median(r["tokens_per_s"] for r in v) for k, v in runs.items()}
                rss = {k: statistics.median(r["peak_rss_mib"] for r in v) for k, v in runs.items()}
                figures["summary"][f"{size}/{method}"] = {
                    **{f"tokens_per_s_{k}": round(v, 1) for k, v in tokens.items()},
                    **{f"speedup_{k}": round(v / tokens["before"], 3) for k, v in tokens.items() if k != "before"},
                    **{f"peak_rss_mib_{k}": round(v) for k, v in rss.items()},
                    "loss_last": {k: [r["loss_last"] for r in v] for k, v in runs.items()}}
    return figures


def parse_cli(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    bench_train.add_step_options(parser, steps=12, repeat=3, repeat_help="runs per setting, alternating the order")
    parser.add_argument("--sizes", default="small,bench", help="tiny model sizes (small,bench)")
    parser.add_argument("--threads", type=int, default=None, help="OMP_NUM_THREADS of the runs (torch's default)")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "sft_speed.json", help="JSON output")
    return parser.parse_args(argv)


if __name__ == "__main__":
    args = parse_cli()
    result = main(args.steps, args.warmup, args.repeat, args.sizes.split(","), args.threads)
    write_result("sft_speed", result, path=args.out)
    print(json.dumps(result["summary"], indent=2))
    print(args.out)
