"""What every processor shares: the label mask value, the truncation budget, and dropping rows.

A processor is a picklable callable for ``datasets.map(batched=True)``: canonical columns in,
model-input columns out. A row it cannot train on still comes out, with its reason in
``DROP_COLUMN``, so the pipeline can count and report drops the same way with one or many workers.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from ...errors import DataError

logger = logging.getLogger(__name__)

IGNORE_INDEX = -100  # labels with this value add nothing to the loss (PyTorch's cross-entropy default)
DROP_COLUMN = "_drop_reason"
MEDIA_COLUMNS = ("_images", "_videos", "_audios")


def infer_seqlen(source_len: int, target_len: int, cutoff_len: int) -> tuple[int, int]:
    """How many prompt and response tokens to keep so both fit in ``cutoff_len``.

    The same budget rule as LLaMA-Factory: a short response is kept whole; else a short prompt is
    kept whole; else both are cut in proportion to their lengths. A long prompt so never leaves a
    response with nothing to learn from.
    """
    if target_len * 2 < cutoff_len:
        max_target_len = cutoff_len
    elif source_len * 2 < cutoff_len:
        max_target_len = cutoff_len - source_len
    else:
        max_target_len = int(cutoff_len * (target_len / (source_len + target_len)))
    new_target_len = min(max_target_len, target_len)
    new_source_len = min(max(cutoff_len - new_target_len, 0), source_len)
    return new_source_len, new_target_len


def has_supervised_token(labels: list[int]) -> bool:
    return any(label != IGNORE_INDEX for label in labels)


@dataclass
class Processor:
    """Base for the stage processors: the template, tokenizer and data settings they encode with."""

    template: Any
    tokenizer: Any
    data_args: Any

    output_columns: tuple[str, ...] = ()

    def __call__(self, batch: dict[str, list]) -> dict[str, list]:
        out: dict[str, list] = {name: [] for name in (*self.output_columns, DROP_COLUMN)}
        for index, example in enumerate(_rows(batch)):
            _refuse_media(example)
            try:
                encoded, reason = self.encode(example, index, batch), ""
            except DataError as exc:
                encoded, reason = None, str(exc)
            if encoded is None:
                encoded, reason = self.empty_row(), reason or "nothing to encode"
            elif isinstance(encoded, str):  # the encoder names why the example cannot be trained on
                encoded, reason = self.empty_row(), encoded
            for name in self.output_columns:
                out[name].append(encoded[name])
            out[DROP_COLUMN].append(reason)
        return out

    def encode(self, example: dict, index: int, batch: dict[str, list]) -> dict | str:
        """The example's model inputs, or the reason it must be dropped."""
        raise NotImplementedError

    def empty_row(self) -> dict:
        return {name: [] if name != "kto_tags" else False for name in self.output_columns}

    @property
    def cutoff_len(self) -> int:
        return self.data_args.cutoff_len

    @property
    def eos_id(self) -> int:
        return self.tokenizer.eos_token_id


def _rows(batch: dict[str, list]):
    size = len(next(iter(batch.values())))
    for i in range(size):
        yield {key: values[i] for key, values in batch.items()}


def _refuse_media(example: dict) -> None:
    for column in MEDIA_COLUMNS:
        if example.get(column):
            raise DataError(f"this dataset has {column[1:]} ({example[column][0]!r}, ...): TuneFactory does not "
                            "train multimodal models yet; drop the media columns from dataset_info.json to train "
                            "on the text alone")


def remove_flagged_rows(dataset, column: str) -> tuple[Any, list[tuple[int, str]], int]:
    """``(dataset without the flagged rows or the column, [(row index, reason)], rows before)``.

    A row is flagged when ``column`` holds a non-empty reason.
    """
    import pyarrow.compute as pc

    # Read the reasons through Arrow: a Python loop over the column costs ~1 s per 100k rows.
    reasons = dataset.with_format("arrow")[column]
    is_flagged = pc.not_equal(reasons, "")
    flagged = [(index, reasons[index].as_py()) for index in pc.indices_nonzero(is_flagged).to_pylist()]
    if flagged:
        dataset = dataset.select(pc.indices_nonzero(pc.invert(is_flagged)).to_pylist())
    return dataset.remove_columns(column), flagged, len(reasons)


class StreamingDropFilter:
    """Streamed data has no length: flagged rows are logged as they are met (the first few) and dropped."""

    REPORTED = 10

    def __init__(self, name: str, column: str = DROP_COLUMN):
        self.name, self.column, self.seen = name, column, 0

    def __call__(self, example) -> bool:
        reason = example[self.column]
        if reason and self.seen < self.REPORTED:
            self.seen += 1
            logger.warning("%s: a streamed row was skipped: %s", self.name, reason)
        return not reason
