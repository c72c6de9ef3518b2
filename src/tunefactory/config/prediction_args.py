"""Prediction arguments: where `tunefactory predict` writes its answers, and how many it generates at once.

The names are those of LLaMA-Factory's `scripts/vllm_infer.py` (`save_name`, `matrix_save_name`,
`batch_size`, `seed`), so its command lines carry over with `tunefactory predict` in front.
"""

from __future__ import annotations

from dataclasses import dataclass

from .fields import arg


@dataclass
class PredictionArguments:
    save_name: str = arg(
        "generated_predictions.jsonl", "File the predictions go to, one {\"prompt\", \"predict\", \"label\"} JSON "
                                       "object per line. If it already holds the first answers of the same data, "
                                       "the run continues after them (an interrupted run resumes); other content "
                                       "is refused, never overwritten."
    )
    matrix_save_name: str | None = arg(
        None, "File for the scores of the predictions against the labels (BLEU-4, ROUGE-1/2/L, ×100); "
              "default: predict_results.json beside save_name."
    )
    batch_size: int = arg(16, "Prompts generated together in one batch; the file grows by one batch at a time.")
    seed: int = arg(42, "Random seed; each batch is seeded from it and its first row, so a resumed run samples "
                        "what the uninterrupted run would have.")
