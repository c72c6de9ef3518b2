"""SFT encoding throughput: canonical alpaca examples to input_ids/labels, as `process_dataset` does it.

Generates N (50k) alpaca rows (bench_data's generator), loads and converts them once with
`get_dataset(config)`, then times `process_dataset` on the converted split (stage sft, template
`llama3`, the tiny Llama's byte-level BPE tokenizer, cutoff_len 2048, unpacked, 2 workers, fresh
cache each time), each in a fresh subprocess. Encoding rows/s is rows / the fastest of --repeat runs.

`--baseline-src DIR` also runs the same measurement on another checkout's `src/` (an earlier commit,
e.g. `git worktree add /tmp/before <commit>`, then `--baseline-src /tmp/before/src`), alternating
with this one, for a before/after figure from one run; `same_ids` says whether both wrote the same
input_ids and labels. `--lengths` picks the row lengths: `alpaca` (the Stanford Alpaca data's
shape: short instructions, 60% without input, answers of a few dozen words; the default) or `long`
(bench_data's rows, ~800 tokens each).

    .venv/bin/python bench/bench_encode.py [--rows N] [--repeat K] [--lengths alpaca|long] [--baseline-src DIR]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_data import DATASET, WORDS, WORKERS, make_row, write_dataset  # noqa: E402
from common import write_result  # noqa: E402



def make_alpaca_row(rng: random.Random, index: int) -> dict[str, str]:
    """A row shaped like Stanford Alpaca's: ~13-word instructions, input in 40% of rows, ~45-word answers."""
    def text(mean: int) -> str:
        return " ".join(rng.choices(WORDS, k=max(1, int(rng.expovariate(1 / mean)))))

    return {"instruction": f"[{index}] " + text(12), "input": text(15) if rng.random() < 0.4 else "",
            "output": text(45), "system": ""}


def child(folder: Path, model_dir: Path) -> dict:
    import datasets

    datasets.disable_progress_bars()
    from tunefactory.config import parse_dict
    from tunefactory.data import processors
    from tunefactory.data.pipeline import get_dataset
    from tunefactory.data.template import get_template
    from tunefactory.model.tokenizer import load_tokenizer

    config = parse_dict({"model_name_or_path": str(model_dir), "stage": "sft", "do_train": True,
                         "finetuning_type": "lora", "template": "llama3", "dataset": DATASET, "cutoff_len": 2048,
                         "dataset_dir": str(folder), "output_dir": str(folder / "out"),
                         "preprocessing_num_workers": WORKERS, "overwrite_cache": True})
    tokenizer = load_tokenizer(config.model)
    template = get_template(tokenizer, config.data)
    canonical = get_dataset(config).train
    start = time.perf_counter()
    encoded, report = processors.process_dataset(canonical, config, template, tokenizer)
    seconds = time.perf_counter() - start
    digest = hashlib.sha256()
    for row in encoded.with_format("arrow").iter(batch_size=10_000):
        digest.update(str(row["input_ids"].to_pylist()).encode() + str(row["labels"].to_pylist()).encode())
    return {"seconds": seconds, "rows": len(canonical), "kept": report.examples_kept, "tokens": report.tokens,
            "digest": digest.hexdigest()[:16]}


def measure(mode: str, folder: Path, model_dir: Path, src: str | None) -> dict:
    with tempfile.TemporaryDirectory(prefix="hf-datasets-cache-") as cache:
        env = {**os.environ, "HF_DATASETS_CACHE": cache, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
               "TOKENIZERS_PARALLELISM": "false"}
        if src:  # the other checkout's package first on the path
            env["PYTHONPATH"] = os.pathsep.join(filter(None, [src, env.get("PYTHONPATH")]))
        proc = subprocess.run([sys.executable, __file__, "--child", "--dir", str(folder), "--model", str(model_dir)],
                              env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{mode} measurement failed:\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(rows: int = 50_000, repeat: int = 3, lengths: str = "alpaca", baseline_src: str | None = None) -> dict:
    from tunefactory_fixtures.tiny_models import ensure_tiny_model

    figures: dict = {"rows": rows, "lengths": lengths, "workers": WORKERS, "repeat": repeat, "template": "llama3",
                     "cutoff_len": 2048, "tokenizer": "tiny llama (byte-level BPE)", "baseline_src": baseline_src}
    sources = {"current": None, **({"baseline": baseline_src} if baseline_src else {})}
    with tempfile.TemporaryDirectory(prefix="bench-encode-") as tmp:
        folder = Path(tmp)
        write_dataset(folder, rows, make_row=make_alpaca_row if lengths == "alpaca" else make_row)
        model_dir = ensure_tiny_model(folder / "models", arch="llama", size="tiny")
        runs: dict[str, list[dict]] = {mode: [] for mode in sources}
        for _ in range(repeat):  # alternate, so drift hits both alike
            for mode, src in sources.items():
                runs[mode].append(measure(mode, folder, model_dir, src))
    for mode, results in runs.items():
        best = min(results, key=lambda r: r["seconds"])
        figures[mode] = {"seconds": round(best["seconds"], 3), "rows_per_s": round(rows / best["seconds"], 1),
                         "seconds_all": [round(r["seconds"], 3) for r in results], "kept": best["kept"],
                         "tokens": best["tokens"], "tokens_per_row": round(best["tokens"] / max(best["kept"], 1), 1)}
    if baseline_src:
        figures["speedup"] = round(figures["current"]["rows_per_s"] / figures["baseline"]["rows_per_s"], 2)
    figures["same_ids"] = len({r["digest"] for results in runs.values() for r in results}) == 1
    return figures


def parse_cli(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=50_000, help="rows to generate (default 50000)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per mode (default 3); the fastest is kept")
    parser.add_argument("--lengths", choices=("alpaca", "long"), default="alpaca", help="row lengths (default alpaca)")
    parser.add_argument("--baseline-src", help="another checkout's src/ to measure beside this one")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--dir", help=argparse.SUPPRESS)
    parser.add_argument("--model", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


if __name__ == "__main__":
    args = parse_cli()
    if args.child:
        print(json.dumps(child(Path(args.dir), Path(args.model))))
    else:
        result = main(args.rows, args.repeat, args.lengths, args.baseline_src)
        print(json.dumps(result, indent=2))
        write_result("encode", result)
