"""Evaluation metrics for the sft stage, computed the way LLaMA-Factory computes them.

Two ``compute_metrics`` objects for ``transformers.Trainer``:

- ``TokenAccuracy`` (``compute_accuracy: true``): next-token accuracy on teacher-forced logits,
  with ``logits_to_token_ids`` as ``preprocess_logits_for_metrics`` so evaluation keeps token ids,
  never full-vocabulary logits.
- ``TextSimilarity`` (``predict_with_generate: true``): BLEU-4 and ROUGE-1/2/L between generated
  and reference texts, ×100.

Both accept one call with every prediction, or one call per batch (``batch_eval_metrics: true``,
where the Trainer passes ``compute_result=True`` on the last batch only): they keep running counts
or per-example scores, so memory stays flat whatever the size of the evaluation set.
"""

from __future__ import annotations

import functools
import json
import logging
import math
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np
import torch

from ..data.processors.common import IGNORE_INDEX
from ..errors import TuneFactoryError

if TYPE_CHECKING:
    from transformers import EvalPrediction, PreTrainedTokenizerBase

PREDICTIONS_FILENAME = "generated_predictions.jsonl"  # LLaMA-Factory's name, which tools downstream expect
SIMILARITY_KEYS = ("bleu-4", "rouge-1", "rouge-2", "rouge-l")


def logits_to_token_ids(logits: torch.Tensor | Sequence[torch.Tensor], labels: torch.Tensor) -> torch.Tensor:
    """Reduce logits to their argmax ids before the Trainer gathers them.

    Pass as ``Trainer(preprocess_logits_for_metrics=...)``: without it the Trainer accumulates
    batch × length × vocabulary floats for the whole evaluation set. When the model returns several
    outputs the Trainer hands over a tuple; the logits are its first 3-D member, which is element 0
    except for MoE models that also return an auxiliary loss ahead of them.
    """
    del labels  # part of the Trainer's hook signature; the argmax does not need them
    if isinstance(logits, (tuple, list)):
        logits = _first_sequence_logits(logits)
    if logits.dim() != 3:
        raise ValueError(f"expected logits shaped (batch, length, vocabulary), got shape {tuple(logits.shape)}")
    return logits.argmax(dim=-1)


def _first_sequence_logits(outputs: Sequence[Any]) -> torch.Tensor:
    """The first (batch, length, vocabulary) tensor among a model's extra outputs."""
    for output in outputs:
        if isinstance(output, torch.Tensor) and output.dim() == 3:
            return output
    shapes = [tuple(output.shape) if isinstance(output, torch.Tensor) else type(output).__name__ for output in outputs]
    raise ValueError(f"none of the model outputs looks like logits (batch, length, vocabulary): {shapes}")


def _to_numpy(array: Any) -> np.ndarray:
    """Trainer hands tensors (possibly on the GPU) in batched mode and numpy arrays otherwise."""
    if isinstance(array, torch.Tensor):
        return array.detach().cpu().numpy()
    return np.asarray(array)


class TokenAccuracy:
    """Share of supervised tokens whose next-token prediction is right (``compute_accuracy: true``).

    A causal LM's output at position i predicts the token at i + 1, so predictions[:, :-1] are
    compared with labels[:, 1:]. Positions labelled ``IGNORE_INDEX`` (prompt, padding) do not
    count, nor do predictions equal to ``IGNORE_INDEX``: the Trainer pads predictions from batches
    of different lengths with it.

    The score is pooled over tokens (correct / supervised), so it does not depend on how the
    evaluation set is split into batches. LLaMA-Factory averages per-example accuracies instead,
    which weighs a short answer as much as a long one.
    """

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        self._correct = 0
        self._total = 0

    def __call__(self, eval_preds: EvalPrediction, compute_result: bool = True) -> dict[str, float] | None:
        predictions = _to_numpy(eval_preds.predictions)
        labels = _to_numpy(eval_preds.label_ids)
        correct, total = count_correct_next_tokens(predictions, labels)
        self._correct += correct
        self._total += total
        if not compute_result:
            return None
        # No supervised token at all leaves accuracy undefined; NaN says so where 0.0 would mislead.
        accuracy = self._correct / self._total if self._total else math.nan
        self._reset()
        return {"accuracy": accuracy}


def count_correct_next_tokens(predictions: np.ndarray, labels: np.ndarray) -> tuple[int, int]:
    """(right predictions, supervised positions) for predicted ids against labels, with the causal shift."""
    if predictions.shape != labels.shape:
        raise ValueError(
            f"predictions {predictions.shape} and labels {labels.shape} differ in shape; predictions must be "
            "token ids: pass preprocess_logits_for_metrics=logits_to_token_ids to the Trainer"
        )
    shifted_predictions, shifted_labels = predictions[..., :-1], labels[..., 1:]
    counted = (shifted_labels != IGNORE_INDEX) & (shifted_predictions != IGNORE_INDEX)
    correct = (shifted_predictions == shifted_labels) & counted
    return int(correct.sum()), int(counted.sum())


class TextSimilarity:
    """BLEU-4 and ROUGE-1/2/L (f-score) of generated texts against references (``predict_with_generate``).

    The recipe is LLaMA-Factory's, so numbers compare across the two projects:

    - ids equal to ``IGNORE_INDEX`` are padding and are dropped; the rest is decoded with
      ``skip_special_tokens=True``;
    - BLEU-4: nltk ``sentence_bleu`` over the characters of the decoded texts (not jieba words),
      smoothed with ``SmoothingFunction().method3``;
    - ROUGE: rouge_chinese on jieba words joined by spaces; a blank prediction or reference
      scores 0.0 (rouge_chinese cannot score empty text);
    - each example's score is ×100 and rounded to 4 decimals, then the examples are averaged.

    Character-level BLEU-4 has no 4-grams in texts under four characters, so even an exact match
    that short scores below 100 (smoothing, not a bug of ours).
    """

    def __init__(self, tokenizer: PreTrainedTokenizerBase) -> None:
        self.tokenizer = tokenizer
        _import_text_metric_libraries()  # a missing package fails now, not after hours of generation
        self._reset()

    def _reset(self) -> None:
        self._scores: dict[str, list[float]] = {key: [] for key in SIMILARITY_KEYS}

    def __call__(self, eval_preds: EvalPrediction, compute_result: bool = True) -> dict[str, float] | None:
        predictions = self._decode(eval_preds.predictions)
        references = self._decode(eval_preds.label_ids)
        for prediction, reference in zip(predictions, references, strict=True):
            for key, score in score_text_pair(prediction, reference).items():
                self._scores[key].append(score)
        if not compute_result:
            return None
        result = {key: float(np.mean(scores)) if scores else math.nan for key, scores in self._scores.items()}
        self._reset()
        return result

    def _decode(self, token_ids: Any) -> list[str]:
        """Texts from padded id rows; dropping ``IGNORE_INDEX`` works even for a tokenizer without a pad token."""
        rows = [row[row != IGNORE_INDEX].tolist() for row in _to_numpy(token_ids)]
        return self.tokenizer.batch_decode(rows, skip_special_tokens=True)


def score_text_pair(prediction: str, reference: str) -> dict[str, float]:
    """BLEU-4 and ROUGE-1/2/L of one prediction against one reference, ×100 and rounded to 4 decimals."""
    libraries = _import_text_metric_libraries()
    scores = _rouge_f_scores(prediction, reference, libraries)
    scores["bleu-4"] = _character_bleu4(prediction, reference, libraries)
    return {key: round(float(scores[key]) * 100, 4) for key in SIMILARITY_KEYS}  # nltk may return int 0


def _rouge_f_scores(prediction: str, reference: str, libraries: SimpleNamespace) -> dict[str, float]:
    """ROUGE f-scores on jieba words; rouge_chinese splits the space-joined text back into those words."""
    hypothesis_words = " ".join(libraries.jieba.cut(prediction))
    reference_words = " ".join(libraries.jieba.cut(reference))
    if not hypothesis_words.split() or not reference_words.split():
        return {"rouge-1": 0.0, "rouge-2": 0.0, "rouge-l": 0.0}
    scores = libraries.Rouge().get_scores(hypothesis_words, reference_words)[0]
    return {key: scores[key]["f"] for key in ("rouge-1", "rouge-2", "rouge-l")}


def _character_bleu4(prediction: str, reference: str, libraries: SimpleNamespace) -> float:
    """Sentence BLEU-4 with characters as tokens, which needs no word segmentation for any language."""
    return libraries.sentence_bleu(
        [list(reference)], list(prediction), smoothing_function=libraries.SmoothingFunction().method3
    )


@functools.cache
def _import_text_metric_libraries() -> SimpleNamespace:
    """Import nltk, jieba and rouge_chinese on first use: they are an optional extra."""
    try:
        import jieba
        from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu
        from rouge_chinese import Rouge
    except ImportError as error:
        raise TuneFactoryError(
            f"BLEU/ROUGE metrics (predict_with_generate) need nltk, jieba and rouge-chinese, "
            f"and {error.name or error} is missing: pip install 'tunefactory[metrics]'"
        ) from error
    jieba.setLogLevel(logging.WARNING)  # otherwise its first cut logs "Building prefix dict..." at INFO
    return SimpleNamespace(jieba=jieba, Rouge=Rouge, sentence_bleu=sentence_bleu, SmoothingFunction=SmoothingFunction)


def save_predictions(
    path: str | Path, prompts: Sequence[str], predictions: Sequence[str], labels: Sequence[str]
) -> Path:
    """Write one ``{"prompt", "predict", "label"}`` JSON object per line, as LLaMA-Factory does.

    ``path`` is the output directory (the file is ``generated_predictions.jsonl`` in it) or a
    ``.jsonl`` file. Lists of different lengths are refused: zipping them would silently pair a
    prompt with another example's prediction. Returns the file written.
    """
    if not len(prompts) == len(predictions) == len(labels):
        raise ValueError(
            f"cannot save predictions: {len(prompts)} prompts, {len(predictions)} predictions "
            f"and {len(labels)} labels; the three must have one entry per example"
        )
    output_file = _predictions_file(Path(path))
    output_file.parent.mkdir(parents=True, exist_ok=True)
    with output_file.open("w", encoding="utf-8") as writer:
        for prompt, prediction, label in zip(prompts, predictions, labels, strict=True):
            record = {"prompt": prompt, "predict": prediction, "label": label}
            writer.write(json.dumps(record, ensure_ascii=False) + "\n")
    return output_file


def _predictions_file(path: Path) -> Path:
    """An explicit ``.jsonl`` path is used as is; anything else is the directory to write into."""
    return path if path.suffix == ".jsonl" else path / PREDICTIONS_FILENAME


def pairwise_accuracy(eval_prediction) -> dict[str, float]:
    """Reward-model accuracy: the share of pairs whose chosen answer scores above the rejected one.

    ``predictions`` is ``[pairs, 2]``: (chosen score, rejected score) per row."""
    scores = _to_numpy(eval_prediction.predictions).reshape(-1, 2)
    return {"accuracy": float(np.mean(scores[:, 0] > scores[:, 1]))}
