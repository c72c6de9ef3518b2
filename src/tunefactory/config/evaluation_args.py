"""Evaluation arguments: which multiple-choice benchmark `tunefactory eval` scores, and how.

Names, types and defaults follow LLaMA-Factory's `llamafactory-cli eval` so its configs parse unchanged.
The help texts are what `-h` shows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from .fields import arg


@dataclass
class EvaluationArguments:
    task: str | None = arg(
        None, "The benchmark and split to score, written <benchmark>_<split>: mmlu_test, mmlu_validation, "
              "ceval_validation, cmmlu_test (required)."
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
