"""SFT packing efficiency and processing throughput on the bundled data.

Runs `get_dataset(config, template, tokenizer)` (stage sft, tiny Qwen2 tokenizer, template `qwen`,
2 workers, `overwrite_cache: true`) on the bundled SFT datasets, for cutoff_len 512 and 2048, packed
(`packing` + `neat_packing`) and unpacked, on the data as bundled (x1) and listed --copies times
(`dataset: alpaca_demo,...,alpaca_demo,...`: the same names again, concatenated).

Efficiency is real tokens over all tokens in the batches the model would see:
  pad_to_cutoff      tokens / (rows x cutoff_len): every row padded to cutoff_len, the worst case
                     (packed: `ProcessReport.packing_efficiency`)
  batch1, batch8     the rows in dataset order, collated by `build_collator("supervised")` (padding
                     each batch to its longest row): attention_mask sum / input_ids.numel(). Neat-
                     packed rows are collated without position_ids, which only turn the mask 4D
                     (the first batches are checked to pad alike both ways). Batch 1 is 100% by
                     construction.
  batch8_shuffled    the same with the rows in a seeded random order, as the trainer's sampler
                     draws them (in order, unpacked rows of one dataset have similar lengths)
Throughput: the fastest of --repeat calls of the whole `get_dataset` (load + convert + encode +
pack) and of the load alone (`get_dataset(config)`, no template); encoding (+ packing) examples/s
is examples over their difference. Raw JSON files are read into the Arrow cache once beforehand.

    .venv/bin/python bench/bench_packing.py [--repeat K] [--copies N]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import peak_rss_mib, write_result  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DATASETS = ("alpaca_demo", "sharegpt_tools", "openai_messages", "arith_train")  # every bundled SFT train set
CUTOFFS = (512, 2048)
MODES = {"packed": {"packing": True, "neat_packing": True}, "unpacked": {"packing": False}}
BATCH_SIZES = (1, 8)
WORKERS = 2
TARGET = 0.95


def build_config(model: Path, cache: Path, cutoff: int, mode: str, copies: int):
    from tunefactory.config import parse_dict

    return parse_dict({"model_name_or_path": str(model), "cache_dir": str(cache), "stage": "sft", "do_train": True,
                       "output_dir": str(cache / "out"), "dataset": ",".join(DATASETS * copies),
                       "dataset_dir": str(ROOT / "data"), "template": "qwen", "cutoff_len": cutoff,
                       "overwrite_cache": True, "preprocessing_num_workers": WORKERS, **MODES[mode]})


def best_seconds(function, repeat: int):
    """(fastest wall time of `repeat` calls, the last call's result)."""
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = function()
        best = min(best, time.perf_counter() - start)
    return best, result


def batches(rows: list[dict], batch_size: int, shuffle_seed: int | None = None):
    order = list(range(len(rows)))
    if shuffle_seed is not None:
        random.Random(shuffle_seed).shuffle(order)
    for start in range(0, len(order), batch_size):
        yield [rows[i] for i in order[start:start + batch_size]]


def batch_efficiency(rows: list[dict], collator, batch_size: int, shuffle_seed: int | None = None) -> float:
    """Real tokens / all tokens of the collated batches.

    Neat-packed rows are collated without their position_ids: the padding is the same (see
    `neat_padding_unchanged`), and the 4D block mask the collator builds from them would cost
    ~30 ms a row at cutoff 2048 here; the 2D attention_mask then counts the real tokens.
    """
    real = total = 0
    for features in batches(rows, batch_size, shuffle_seed):
        batch = collator([{k: v for k, v in f.items() if k != "position_ids"} for f in features])
        real += int(batch["attention_mask"].sum())
        total += batch["input_ids"].numel()
    return real / total


def neat_padding_unchanged(rows: list[dict], collator, batch_size: int, checked: int = 4) -> bool:
    """Whether the first batches pad alike with position_ids (4D mask; real tokens from row lengths) and without."""
    for _, features in zip(range(checked), batches(rows, batch_size), strict=False):
        neat = collator(features)
        plain = collator([{k: v for k, v in f.items() if k != "position_ids"} for f in features])
        if (neat["attention_mask"].dim() != 4 or neat["input_ids"].shape != plain["input_ids"].shape
                or sum(len(f["input_ids"]) for f in features) != int(plain["attention_mask"].sum())):
            return False
    return True


def length_stats(lengths: list[int]) -> dict:
    import numpy as np

    values = np.asarray(lengths)
    return {"count": int(values.size), "mean": round(float(values.mean()), 1), "p50": int(np.percentile(values, 50)),
            "p90": int(np.percentile(values, 90)), "p99": int(np.percentile(values, 99)), "max": int(values.max())}


def per_dataset_stats(lengths: list[int], reports) -> dict:
    """Length stats per dataset: the concatenated rows come in the order of the loading reports."""
    spans: dict[str, list[int]] = {}
    offset = 0
    for report in reports:
        spans.setdefault(report.name, []).extend(lengths[offset:offset + report.rows_kept])
        offset += report.rows_kept
    return {name: length_stats(values) for name, values in spans.items()}


def measure(model: Path, cache: Path, tokenizer, template, collator, cutoff: int, mode: str, copies: int,
            repeat: int, load_s: float) -> tuple[dict, list[int] | None, list]:
    from tunefactory.data.pipeline import get_dataset

    config = build_config(model, cache, cutoff, mode, copies)
    seconds, module = best_seconds(lambda: get_dataset(config, template, tokenizer), repeat)
    report, train = module.processing[0], module.train
    rows = train.to_list()
    row_lengths = [len(row["input_ids"]) for row in rows]
    figures = {
        "data": f"bundled x{copies}", "copies": copies, "cutoff_len": cutoff, "mode": mode,
        "examples_in": report.examples_in, "examples_kept": report.examples_kept, "rows": report.rows,
        "tokens": report.tokens,
        "efficiency_pad_to_cutoff": round(report.tokens / (report.rows * cutoff), 4),
    }
    for size in BATCH_SIZES:
        figures[f"efficiency_batch{size}"] = round(batch_efficiency(rows, collator, size), 4)
    figures[f"efficiency_batch{BATCH_SIZES[-1]}_shuffled"] = round(
        batch_efficiency(rows, collator, BATCH_SIZES[-1], shuffle_seed=0), 4)
    example_lengths = None
    if mode == "packed":
        # examples inside the rows: a new one starts wherever position_ids return to 0
        example_lengths = [end - start for row in rows for start, end in _segments(row["position_ids"])]
        figures["report_packing_efficiency"] = round(report.packing_efficiency, 4)
        figures["neat_padding_unchanged"] = all(neat_padding_unchanged(rows, collator, size) for size in BATCH_SIZES)
        figures["examples_in_rows"] = len(example_lengths)
        figures["row_len"] = length_stats(row_lengths)
        figures["rows_below_90pct_full"] = sum(length < 0.9 * cutoff for length in row_lengths)
    else:
        example_lengths = row_lengths
    stats = length_stats(example_lengths)
    figures["example_len_mean"], figures["example_len_max"] = stats["mean"], stats["max"]
    figures["get_dataset_s"] = round(seconds, 3)
    figures["load_only_s"] = round(load_s, 3)
    figures["process_s"] = round(seconds - load_s, 3)
    figures["examples_per_s_get_dataset"] = round(report.examples_in / seconds)
    figures["examples_per_s_processing"] = round(report.examples_in / max(seconds - load_s, 1e-9))
    return figures, (row_lengths if mode == "unpacked" else None), module.reports


def _segments(position_ids: list[int]):
    starts = [i for i, p in enumerate(position_ids) if p == 0] + [len(position_ids)]
    return zip(starts[:-1], starts[1:], strict=False)


def main(repeat: int = 2, copies: int = 4) -> dict:
    import datasets

    from tunefactory.data.collators import build_collator
    from tunefactory.data.pipeline import get_dataset
    from tunefactory.data.template import get_template
    from tunefactory.model.tokenizer import load_tokenizer
    from tunefactory_fixtures.tiny_models import ensure_tiny_model

    datasets.disable_progress_bars()
    started = time.perf_counter()
    figures: dict = {
        "datasets": list(DATASETS), "template": "qwen", "tokenizer": "tiny qwen2 (byte-level BPE, vocab 1024)",
        "workers": WORKERS, "repeat": repeat, "target_packed_efficiency": TARGET,
        "definitions": {
            "efficiency_pad_to_cutoff": "tokens / (rows x cutoff_len): every row padded to cutoff_len (worst case); "
                                        "for packed rows this is ProcessReport.packing_efficiency",
            "efficiency_batchN": "rows in dataset order, collated N at a time by the supervised collator (padded to "
                                 "the batch's longest row): attention_mask sum / input_ids.numel() (neat-packed rows "
                                 "collated without position_ids, which only make the mask 4D: neat_padding_unchanged "
                                 "checks the first batches pad alike both ways)",
            "row_len, rows_below_90pct_full": "packed rows: length distribution and rows under 90% of cutoff_len "
                                              "(each 1000-example map batch per worker leaves a partly filled tail)",
            "efficiency_batch8_shuffled": "the same, rows in a seeded random order (as the trainer samples them)",
            "bundled xN": "the bundled datasets, each listed N times in `dataset:` (concatenated copies)",
            "examples_per_s_get_dataset": "examples / fastest whole get_dataset (load + convert + encode + pack)",
            "examples_per_s_processing": "examples / (get_dataset - load-only get_dataset without template)",
        },
    }
    with tempfile.TemporaryDirectory(prefix="bench-packing-") as tmp:
        cache = Path(tmp)
        model = ensure_tiny_model(cache / "models", arch="qwen2", size="tiny")
        base = build_config(model, cache, CUTOFFS[0], "unpacked", 1)
        tokenizer = load_tokenizer(base.model)
        template = get_template(tokenizer, base.data)
        collator = build_collator("supervised", tokenizer)
        get_dataset(base)  # read the raw JSON files into the Arrow cache once, outside every timing
        figures["runs"], figures["data"] = [], {}
        for n in sorted({1, copies}):
            load_s, _ = best_seconds(lambda n=n: get_dataset(build_config(model, cache, CUTOFFS[0], "unpacked", n)),
                                     repeat)
            lengths_by_cutoff = {}
            for cutoff in CUTOFFS:
                for mode in MODES:
                    run, lengths, reports = measure(model, cache, tokenizer, template, collator, cutoff, mode, n,
                                                    repeat, load_s)
                    figures["runs"].append(run)
                    if lengths is not None:
                        lengths_by_cutoff[cutoff] = (lengths, reports)
            if n == 1:  # the length distribution behind the efficiencies, per dataset
                longest, reports = lengths_by_cutoff[max(CUTOFFS)]
                shortest, _ = lengths_by_cutoff[min(CUTOFFS)]
                figures["data"] = {
                    "examples": len(longest), "load_only_s": round(load_s, 3),
                    f"example_len_at_cutoff_{max(CUTOFFS)}": length_stats(longest),
                    f"per_dataset_len_at_cutoff_{max(CUTOFFS)}": per_dataset_stats(longest, reports),
                    f"examples_truncated_at_cutoff_{min(CUTOFFS)}": sum(a != b for a, b in zip(shortest, longest,
                                                                                                 strict=True)),
                }
    packed = [run for run in figures["runs"] if run["mode"] == "packed"]
    figures["packed_meets_target"] = {f"{run['data']}, cutoff {run['cutoff_len']}":
                                      run["efficiency_pad_to_cutoff"] >= TARGET for run in packed}
    figures["total_s"] = round(time.perf_counter() - started, 1)
    figures["peak_rss_mib"] = round(peak_rss_mib())
    return figures


def table(figures: dict) -> str:
    head = ("data", "cutoff", "mode", "ex in", "rows", "mean len", "max len", "pad→cut", "b1", "b8", "b8 shuf",
            "get_ds s", "load s", "ex/s all", "ex/s proc")
    lines = [" | ".join(head), " | ".join("---" for _ in head)]
    for run in figures["runs"]:
        cells = (run["data"], run["cutoff_len"], run["mode"], run["examples_in"], run["rows"], run["example_len_mean"],
                 run["example_len_max"], f"{100 * run['efficiency_pad_to_cutoff']:.1f}%",
                 f"{100 * run['efficiency_batch1']:.1f}%", f"{100 * run['efficiency_batch8']:.1f}%",
                 f"{100 * run['efficiency_batch8_shuffled']:.1f}%", run["get_dataset_s"], run["load_only_s"],
                 run["examples_per_s_get_dataset"], run["examples_per_s_processing"])
        lines.append(" | ".join(str(cell) for cell in cells))
    return "\n".join(lines)


def parse_cli(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=2, help="timed calls per measurement (default 2); the fastest "
                                                              "is kept")
    parser.add_argument("--copies", type=int, default=4, help="times the datasets are listed for the larger run "
                                                              "(default 4)")
    return parser.parse_args(argv)


if __name__ == "__main__":
    args = parse_cli()
    figures = main(args.repeat, args.copies)
    path = write_result("packing", figures)
    print(json.dumps({key: value for key, value in figures.items() if key not in ("runs", "definitions")}, indent=2))
    print(table(figures))
    print(path)
