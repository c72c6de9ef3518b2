"""Data engine throughput: TuneFactory's load + convert of an alpaca dataset against bare `datasets`.

Generates N alpaca rows (instruction/input/output/system, deterministic, varied lengths) as JSON
Lines with a `dataset_info.json`, then measures, each in a fresh subprocess with a cold datasets
cache and 2 worker processes:

  tunefactory  `get_dataset(parse_dict({... "dataset": "bench_alpaca", ...}))`
  baseline     `load_dataset("json", ...)` + a batched `.map(num_proc=2)` producing the same
               canonical columns (_prompt, _response, _system, _tools, _images, _videos, _audios)

Figures: rows/s of load + convert (imports and config parsing excluded; the fastest of --repeat runs),
peak RSS of the measuring process (the worst run; and of its largest worker, which is forked and so
shares the parent's pages), RSS after imports (parse_dict builds transformers' training arguments,
so the TuneFactory side carries torch), rows kept, the tunefactory/baseline ratios, and whether both
sides produced the same examples.

    .venv/bin/python bench/bench_data.py [--rows N] [--repeat K]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import write_result  # noqa: E402

DATASET = "bench_alpaca"
FILE_NAME = "bench_alpaca.jsonl"
WORKERS = 2
CANONICAL_COLUMNS = ("_prompt", "_response", "_system", "_tools", "_images", "_videos", "_audios")

WORDS = ("the of and to in is that for it as with was on be by at this are from or an which have not but had "
         "model data train token layer batch gradient loss learning rate weight attention vector matrix sequence "
         "prompt answer question explain describe summarize translate write list compare reason step number value "
         "function return python code error test result example because therefore however first second finally "
         "résumé naïve 数据 模型 训练 ✓").split()
SYSTEMS = ("", "You are a helpful assistant.", "You are a concise assistant. Answer in one paragraph.",
           "You are an expert tutor. Explain your reasoning step by step, then give the final answer clearly.",
           "Réponds en français.")


# --- data -------------------------------------------------------------------------------------------
def make_row(rng: random.Random, index: int) -> dict[str, str]:
    def text(low: int, high: int) -> str:
        return " ".join(rng.choices(WORDS, k=rng.randint(low, high)))

    return {
        "instruction": f"[{index}] " + text(3, 60),
        "input": "" if rng.random() < 0.3 else text(1, 200),  # 30% without input, as in alpaca
        "output": text(1, 400),
        "system": SYSTEMS[index % len(SYSTEMS)],
    }


def write_dataset(folder: Path, rows: int, seed: int = 0, make_row=make_row) -> Path:
    rng = random.Random(seed)
    path = folder / FILE_NAME
    with path.open("w", encoding="utf-8") as handle:
        for index in range(rows):
            handle.write(json.dumps(make_row(rng, index), ensure_ascii=False) + "\n")
    info = {DATASET: {"file_name": FILE_NAME,
                      "columns": {"prompt": "instruction", "query": "input", "response": "output", "system": "system"}}}
    (folder / "dataset_info.json").write_text(json.dumps(info, indent=2), encoding="utf-8")
    return path


# --- children (one measurement each) ------------------------------------------------------------------
def _baseline_batch(batch: dict[str, list]) -> dict[str, list]:
    """The same field shuffling as TuneFactory's alpaca converter, written directly."""
    out: dict[str, list] = {name: [] for name in CANONICAL_COLUMNS}
    for instruction, query, output, system in zip(batch["instruction"], batch["input"], batch["output"],
                                                  batch["system"], strict=True):
        out["_prompt"].append([{"role": "user", "content": "\n".join(p for p in (instruction, query) if p)}])
        out["_response"].append([{"role": "assistant", "content": output}])
        out["_system"].append(system or "")
        out["_tools"].append("")
        out["_images"].append(None)
        out["_videos"].append(None)
        out["_audios"].append(None)
    return out


def _digest(dataset) -> str:
    """A fingerprint of a few examples' canonical columns, to check both sides produce the same data."""
    n = len(dataset)
    picks = sorted({0, 1, n // 3, n // 2, n - 1} & set(range(n)))
    sample = [{k: dataset[i][k] for k in CANONICAL_COLUMNS} for i in picks]
    return hashlib.sha256(json.dumps(sample, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:16]


def child(mode: str, folder: Path) -> dict:
    import datasets

    datasets.disable_progress_bars()
    data_file = str(folder / FILE_NAME)
    if mode == "tunefactory":
        from tunefactory.config import parse_dict
        from tunefactory.data.pipeline import get_dataset

        config = parse_dict({"model_name_or_path": "/nowhere/model", "stage": "sft", "do_train": True,
                             "finetuning_type": "lora", "template": "llama3", "dataset": DATASET,
                             "dataset_dir": str(folder), "output_dir": str(folder / "out"),
                             "preprocessing_num_workers": WORKERS})
        rss_imported = _rss(resource.RUSAGE_SELF)
        start = time.perf_counter()
        module = get_dataset(config)
        seconds = time.perf_counter() - start
        result = module.train
        rows_read = module.reports[0].rows_read
    else:
        rss_imported = _rss(resource.RUSAGE_SELF)
        start = time.perf_counter()
        raw = datasets.load_dataset("json", data_files=[data_file], split="train")
        rows_read = len(raw)
        result = raw.map(_baseline_batch, batched=True, batch_size=1000, num_proc=WORKERS,
                         remove_columns=raw.column_names)
        seconds = time.perf_counter() - start
    return {"seconds": seconds, "rows_read": rows_read, "rows_kept": len(result),
            "columns": sorted(result.column_names), "digest": _digest(result),
            "rss_after_imports_mib": rss_imported, "peak_rss_mib": _rss(resource.RUSAGE_SELF),
            "worker_peak_rss_mib": _rss(resource.RUSAGE_CHILDREN)}


def _rss(who) -> float:
    return resource.getrusage(who).ru_maxrss / 1024  # Linux: KiB


def measure(mode: str, folder: Path) -> dict:
    """Run one measurement in a fresh interpreter with its own, empty datasets cache."""
    with tempfile.TemporaryDirectory(prefix="hf-datasets-cache-") as cache:
        env = {**os.environ, "HF_DATASETS_CACHE": cache, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
               "TOKENIZERS_PARALLELISM": "false"}
        proc = subprocess.run([sys.executable, __file__, "--child", mode, "--dir", str(folder)], env=env,
                              capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{mode} measurement failed:\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# --- parent -------------------------------------------------------------------------------------------
def main(rows: int = 100_000, repeat: int = 3) -> dict:
    figures: dict = {"rows": rows, "workers": WORKERS, "repeat": repeat}
    with tempfile.TemporaryDirectory(prefix="bench-data-") as tmp:
        folder = Path(tmp)
        start = time.perf_counter()
        path = write_dataset(folder, rows)
        figures["generate_s"] = time.perf_counter() - start
        figures["file_mib"] = path.stat().st_size / 2**20
        runs: dict[str, list[dict]] = {"tunefactory": [], "baseline": []}
        for _ in range(repeat):  # alternate, so drift hits both sides alike
            for mode in runs:
                runs[mode].append(measure(mode, folder))
    for mode, results in runs.items():
        best = min(results, key=lambda r: r["seconds"])
        figures[mode] = {
            "seconds": best["seconds"],
            "rows_per_s": rows / best["seconds"],
            "seconds_all": [r["seconds"] for r in results],
            "peak_rss_mib": max(r["peak_rss_mib"] for r in results),  # the worst run: memory is a limit
            "rss_after_imports_mib": max(r["rss_after_imports_mib"] for r in results),
            "worker_peak_rss_mib": max(r["worker_peak_rss_mib"] for r in results),
            "rows_read": best["rows_read"],
            "rows_kept": best["rows_kept"],
            "columns": best["columns"],
        }
    tf, base = figures["tunefactory"], figures["baseline"]
    figures["ratio_rows_per_s"] = tf["rows_per_s"] / base["rows_per_s"]  # > 1: TuneFactory faster
    figures["ratio_peak_rss"] = tf["peak_rss_mib"] / base["peak_rss_mib"]  # > 1: TuneFactory uses more
    figures["ratio_peak_rss_above_imports"] = ((tf["peak_rss_mib"] - tf["rss_after_imports_mib"])
                                               / max(base["peak_rss_mib"] - base["rss_after_imports_mib"], 1e-9))
    digests = {r["digest"] for results in runs.values() for r in results}
    figures["same_examples"] = len(digests) == 1 and tf["columns"] == base["columns"]
    return figures


def parse_cli(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000, help="rows to generate (default 100000)")
    parser.add_argument("--repeat", type=int, default=3, help="measurements per side (default 3); the fastest is kept")
    parser.add_argument("--child", choices=("tunefactory", "baseline"), help=argparse.SUPPRESS)
    parser.add_argument("--dir", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


if __name__ == "__main__":
    args = parse_cli()
    if args.child:
        print(json.dumps(child(args.child, Path(args.dir))))
    else:
        out = write_result("data", main(args.rows, args.repeat))
        print(out.read_text())
