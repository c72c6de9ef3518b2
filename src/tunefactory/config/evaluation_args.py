"""Evaluation arguments: which benchmark `tunefactory eval` scores, and how.

`eval_backend: builtin` scores MMLU/C-Eval/CMMLU; its keys' names, types and defaults follow LLaMA-Factory's
`llamafactory-cli eval` so its configs parse unchanged. `eval_backend: lm_eval` runs tasks of EleutherAI's
lm-evaluation-harness (`tasks`, `num_fewshot`, `limit`, `include_path`, `apply_chat_template`).
The help texts are what `-h` shows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from .fields import arg


@dataclass
class EvaluationArguments:
    eval_backend: Literal["builtin", "lm_eval"] = arg(
        "builtin", "builtin: score task (MMLU, C-Eval, CMMLU) from task_dir; lm_eval: run tasks with EleutherAI's "
                   "lm-evaluation-harness (pip install 'tunefactory[eval]')."
    )
    task: str | None = arg(
        None, "The benchmark and split to score, written <benchmark>_<split>: mmlu_test, mmlu_validation, "
              "ceval_validation, cmmlu_test (required with eval_backend: builtin)."
    )
    tasks: list[str] | None = arg(
        None, "Comma-separated lm-evaluation-harness task or group names, e.g. arc_easy,hellaswag "
              "(required with eval_backend: lm_eval)."
    )
    num_fewshot: int | None = arg(None, "lm_eval: few-shot examples per prompt (default: each task's own).")
    limit: float | None = arg(
        None, "lm_eval: rows scored per task; below 1.0 a fraction of each task (for quick checks only)."
    )
    include_path: str | None = arg(
        None, "lm_eval: a folder of your own task YAMLs, added to the harness's tasks."
    )
    apply_chat_template: bool = arg(
        False, "lm_eval: wrap prompts in the tokenizer's chat template (the one `template` saves with the model)."
    )
    task_dir: str = arg(
        "evaluation", "Folder holding one folder per benchmark (LLaMA-Factory's layout): <benchmark>/mapping.json "
                      "and the CSVs, unpacked or as <benchmark>/<benchmark>.zip."
    )
    batch_size: int = arg(4, "Questions scored per forward pass.")
    seed: int = arg(42, "Random seed, set before the model loads.")
    lang: Literal["en", "zh"] = arg("en", "Language of the prompt: the subject line and the answer cue.")
    n_shot: int = arg(5, "Solved examples (the first rows of the subject's dev split) shown before each question.")
    save_dir: str | None = arg(
        None, "Folder to write results.json and results.log to; it must not exist yet (nothing is overwritten)."
    )
    download_mode: str = arg(
        "reuse_dataset_if_exists", "Accepted for LLaMA-Factory configs and ignored: benchmarks are read from "
                                   "task_dir, never downloaded."
    )
