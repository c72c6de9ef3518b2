"""Batch prediction (`tunefactory predict`): rows/s and generated tokens/s at batch_size 1, 4 and 16.

The rows are the first --rows of the bundled `alpaca_demo` set, rendered by the `llama3` template; the model is
a tiny random Llama (`ensure_tiny_model`, --sizes, float32 on the CPU). Decoding is greedy with a fixed
max_new_tokens, so an untrained model's answers run to the limit and every batch size generates about the same
tokens (`completion_tokens` says how many). What runs is `run_predict`'s own path after loading: the ChatModel
(transformers engine) and `generate_into`, writing save_name as the command does; each batch size writes its own
file, and the files are compared with batch_size 1's (`same_predictions_as_batch_1`).

For each size and batch size, the median of --repeat runs:
  rows_per_s, tokens_per_s   predictions and generated tokens per second of generation
Peak RSS is this process's after each size. Other work on the machine changes the figures: run it on a quiet one.

    .venv/bin/python bench/bench_predict.py [--sizes tiny,small] [--rows N] [--max-new-tokens T] [--repeat R]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS_DIR, peak_rss_mib, write_result  # noqa: E402

BATCH_SIZES = (1, 4, 16)
DATA_DIR = Path(__file__).resolve().parents[1] / "data"


def measure_size(size: str, folder: Path, rows: int, max_new_tokens: int, repeat: int) -> dict:
    import torch

    from tunefactory.config import parse_dict
    from tunefactory.data.template import get_template
    from tunefactory.data.prompts import encode_prompts
    from tunefactory.eval.predict import generate_into, load_examples
    from tunefactory.infer.chat_model import ChatModel
    from tunefactory.model.tokenizer import load_tokenizer
    from tunefactory_fixtures.tiny_models import ensure_tiny_model

    model_dir = ensure_tiny_model(folder / "models", arch="llama", size=size)
    config = parse_dict({"model_name_or_path": str(model_dir), "template": "llama3", "dataset": "alpaca_demo",
                         "dataset_dir": str(DATA_DIR), "max_samples": rows, "do_sample": False,
                         "max_new_tokens": max_new_tokens, "infer_dtype": "float32"}, command="predict")
    tokenizer = load_tokenizer(config.model)
    template = get_template(tokenizer, config.data, config.model.model_name_or_path)
    prompts = encode_prompts(load_examples(config), template, tokenizer, config.data.cutoff_len)
    chat_model = ChatModel(config, max_batch_rows=max(BATCH_SIZES), tokenizer_and_template=(tokenizer, template))
    runs, reference = [], None
    for batch_size in BATCH_SIZES:
        times, tokens, text = [], 0, None
        for attempt in range(repeat):
            output = folder / f"{size}-{batch_size}-{attempt}.jsonl"
            started = time.perf_counter()
            tokens = generate_into(output, prompts, 0, chat_model, batch_size, seed=42)
            times.append(time.perf_counter() - started)
            text = output.read_text(encoding="utf-8")
        reference = reference if reference is not None else text
        seconds = statistics.median(times)
        runs.append({"batch_size": batch_size, "rows": len(prompts), "completion_tokens": tokens,
                     "rows_per_s": round(len(prompts) / seconds, 2), "tokens_per_s": round(tokens / seconds, 1),
                     "seconds_median": round(seconds, 3), "seconds_all": [round(t, 3) for t in times],
                     "same_predictions_as_batch_1": text == reference})
    for run in runs:
        run["speedup_vs_batch_1"] = round(run["rows_per_s"] / runs[0]["rows_per_s"], 2)
    parameters = sum(p.numel() for p in chat_model.model.parameters())
    chat_model.engine.close()
    return {"size": size, "parameters": parameters, "torch_threads": torch.get_num_threads(),
            "prompt_tokens_mean": round(statistics.mean(len(p.prompt_ids) for p in prompts), 1),
            "runs": runs, "peak_rss_mib": round(peak_rss_mib())}


def main(sizes: list[str], rows: int, max_new_tokens: int, repeat: int) -> dict:
    with tempfile.TemporaryDirectory() as folder:
        results = [measure_size(size, Path(folder), rows, max_new_tokens, repeat) for size in sizes]
    return {"dataset": "alpaca_demo", "template": "llama3", "rows": rows, "max_new_tokens": max_new_tokens,
            "decoding": "greedy", "dtype": "float32", "device": "cpu", "repeat": repeat, "sizes": results}


def table(figures: dict) -> str:
    lines = [f"{'size':<6} {'batch':>5} {'rows/s':>8} {'tokens/s':>9} {'x b1':>6} {'same':>5}"]
    for result in figures["sizes"]:
        for r in result["runs"]:
            lines.append(f"{result['size']:<6} {r['batch_size']:>5} {r['rows_per_s']:>8} {r['tokens_per_s']:>9} "
                         f"{r['speedup_vs_batch_1']:>6} {str(r['same_predictions_as_batch_1']):>5}")
        lines.append(f"{result['size']}: {result['parameters']:,} parameters, peak RSS {result['peak_rss_mib']} MiB")
    return "\n".join(lines)


def parse_cli(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="tiny,small", help="tiny-model sizes, comma-separated (tiny,small)")
    parser.add_argument("--rows", type=int, default=64, help="rows of alpaca_demo to answer (64)")
    parser.add_argument("--max-new-tokens", type=int, default=32, help="tokens generated per row at most (32)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per setting; the median is kept (3)")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "predict.json",
                        help="JSON output (bench/results/predict.json)")
    return parser.parse_args(argv)


if __name__ == "__main__":
    args = parse_cli()
    figures = main(args.sizes.split(","), args.rows, args.max_new_tokens, args.repeat)
    write_result("predict", figures, path=args.out)
    print(table(figures))
    print(args.out)
