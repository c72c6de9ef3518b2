"""Batched multiple-choice scoring of `tunefactory eval`: questions/s at batch_size 1, 4 and 8, 0 and 5 shots.

The benchmark is an MMLU-layout folder (mapping.json, data/{dev,val,test}/<subject>_<split>.csv) written with
the fixture writer's subjects and CSV helper (`tunefactory_fixtures.benchmarks`): each fixture subject gets
five dev rows (its own dev and val rows) and --questions test rows (its fixture rows, all splits, numbered so
no two are alike), so the prompts have realistic and varied lengths. The model is a tiny random Llama
(`ensure_tiny_model`, `--sizes`, template `fewshot`, float32 on the CPU), loaded through the config and
`load_model` as `run_eval` does.

What runs is `run_eval`'s own path without the CLI and without writing results: `load_benchmark`, then per
subject `subject_prompts` (template encoding, shots dropped to fit the context) and `ChoiceScorer.predict`
(one forward pass per batch, longest prompts first, padded on the right). For each size, n_shot and
batch_size, the median of --repeat runs over every question:
  questions_per_s          scoring alone (ChoiceScorer.predict over all subjects' prompts)
  end_to_end_questions_per_s  prompts + scoring (what `tunefactory eval` spends after loading)
  prompt_tokens_mean       mean prompt length in tokens, padded_tokens_share: pad tokens / all tokens fed
Peak RSS is this process's (resource.getrusage) after each size. Other work on the machine changes the
figures: compare runs on a quiet machine.

    .venv/bin/python bench/bench_eval.py [--sizes tiny,small] [--questions N] [--repeat R] [--out PATH]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS_DIR, peak_rss_mib, write_result  # noqa: E402

BATCH_SIZES = (1, 4, 8)
SHOTS = (0, 5)


def write_mmlu(task_dir: Path, questions: int) -> Path:
    """An MMLU folder with the fixture subjects, 5 dev rows and ``questions`` test rows each."""
    from tunefactory_fixtures.benchmarks import ROWS, SUBJECTS, _csv

    folder = task_dir / "mmlu"
    mapping = {key: {"name": names[0], "category": names[2]} for key, names in SUBJECTS.items()}
    folder.mkdir(parents=True)
    (folder / "mapping.json").write_text(json.dumps(mapping, indent=2), encoding="utf-8")
    for subject, splits in ROWS.items():
        pool = splits["test"] + splits["val"] + splits["dev"]
        test = []
        for i in range(questions):
            question, *rest = pool[i % len(pool)]
            # vary the length a little as real questions do: a numbered preamble, repeated for some rows
            preamble = f"Item {i}. " + "Read carefully. " * (i % 7)
            test.append((preamble + question, *rest))
        rows = {"dev": (splits["dev"] + splits["val"])[:5], "val": splits["val"], "test": test}
        for split, split_rows in rows.items():
            path = folder / "data" / split / f"{subject}_{split}.csv"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(_csv(split_rows), encoding="utf-8")
    return task_dir


def measure_size(size: str, task_dir: Path, cache: Path, repeat: int) -> dict:
    import torch

    from tunefactory.config import parse_dict
    from tunefactory.data.template import get_template
    from tunefactory.eval.benchmarks import load_benchmark
    from tunefactory.eval.evaluator import ChoiceScorer, subject_prompts
    from tunefactory.model.loader import ModelSpec, load_model
    from tunefactory.model.tokenizer import load_tokenizer
    from tunefactory_fixtures.tiny_models import ensure_tiny_model

    model_dir = ensure_tiny_model(cache, arch="llama", size=size)
    config = parse_dict({"model_name_or_path": str(model_dir), "template": "fewshot", "task": "mmlu_test",
                         "task_dir": str(task_dir), "n_shot": 5, "batch_size": 1, "infer_dtype": "float32"},
                        command="eval")
    e = config.evaluation
    subjects = load_benchmark(e.task_dir, e.task)
    tokenizer = load_tokenizer(config.model)
    template = get_template(tokenizer, config.data, config.model.model_name_or_path)
    start = time.perf_counter()
    model = load_model(tokenizer, ModelSpec.from_config(config), is_trainable=False)
    load_s = time.perf_counter() - start
    max_length = getattr(model.config, "max_position_embeddings", None)
    total = sum(len(s.questions) for s in subjects)

    runs = []
    for n_shot in SHOTS:
        def build():
            return [subject_prompts(template, tokenizer, s, n_shot, e.lang, max_length) for s in subjects]

        prompt_times = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            prompts = build()
            prompt_times.append(time.perf_counter() - t0)
        prompt_s = statistics.median(prompt_times)
        lengths = [len(p) for per_subject in prompts for p in per_subject]
        reference = None
        for batch_size in BATCH_SIZES:
            scorer = ChoiceScorer(model, tokenizer, batch_size)
            scorer.predict(prompts[0][:batch_size])  # warm-up
            times, predictions = [], None
            for _ in range(repeat):
                t0 = time.perf_counter()
                predictions = [scorer.predict(p) for p in prompts]
                times.append(time.perf_counter() - t0)
            score_s = statistics.median(times)
            if reference is None:
                reference = predictions
            padded = 0
            for per_subject in prompts:
                ordered = sorted((len(p) for p in per_subject), reverse=True)
                padded += sum(max(ordered[i:i + batch_size]) * len(ordered[i:i + batch_size])
                              for i in range(0, len(ordered), batch_size))
            runs.append({
                "n_shot": n_shot, "batch_size": batch_size, "questions": total,
                "questions_per_s": round(total / score_s, 1),
                "end_to_end_questions_per_s": round(total / (score_s + prompt_s), 1),
                "score_s_median": round(score_s, 3), "score_s_all": [round(t, 3) for t in times],
                "prompt_s_median": round(prompt_s, 3),
                "prompt_tokens_mean": round(statistics.mean(lengths), 1), "prompt_tokens_max": max(lengths),
                "padded_tokens_share": round(1 - sum(lengths) / padded, 3),
                "same_predictions_as_batch_1": predictions == reference,
            })
    for run in runs:
        base = next(r for r in runs if r["n_shot"] == run["n_shot"] and r["batch_size"] == 1)
        run["speedup_vs_batch_1"] = round(run["questions_per_s"] / base["questions_per_s"], 2)
    parameters = sum(p.numel() for p in model.parameters())
    del model
    return {"size": size, "parameters": parameters, "model_load_s": round(load_s, 3),
            "torch_threads": torch.get_num_threads(), "runs": runs, "peak_rss_mib": round(peak_rss_mib())}


def main(sizes: list[str], questions: int, repeat: int) -> dict:
    with tempfile.TemporaryDirectory() as folder:
        task_dir = write_mmlu(Path(folder) / "evaluation", questions)
        cache = Path(folder) / "models"
        results = [measure_size(size, task_dir, cache, repeat) for size in sizes]
    return {"task": "mmlu_test", "subjects": 2, "questions_per_subject": questions, "repeat": repeat,
            "template": "fewshot", "dtype": "float32", "device": "cpu", "sizes": results}


def table(figures: dict) -> str:
    lines = [f"{'size':<6} {'shots':>5} {'batch':>5} {'tokens':>7} {'pad %':>6} {'q/s':>8} {'e2e q/s':>8} {'x b1':>6}"]
    for result in figures["sizes"]:
        for r in result["runs"]:
            lines.append(f"{result['size']:<6} {r['n_shot']:>5} {r['batch_size']:>5} {r['prompt_tokens_mean']:>7} "
                         f"{100 * r['padded_tokens_share']:>6.1f} {r['questions_per_s']:>8} "
                         f"{r['end_to_end_questions_per_s']:>8} {r['speedup_vs_batch_1']:>6}")
        lines.append(f"{result['size']}: {result['parameters']:,} parameters, peak RSS {result['peak_rss_mib']} MiB")
    return "\n".join(lines)


def parse_cli(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="tiny,small", help="tiny-model sizes, comma-separated (tiny,small)")
    parser.add_argument("--questions", type=int, default=200, help="test questions per subject (200; 2 subjects)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per setting; the median is kept (3)")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "eval.json", help="JSON output (bench/results/eval.json)")
    return parser.parse_args(argv)


if __name__ == "__main__":
    args = parse_cli()
    figures = main(args.sizes.split(","), args.questions, args.repeat)
    write_result("eval", figures, path=args.out)
    print(table(figures))
    print(args.out)
