"""Map rows in batches, flag the rows that cannot be used, then drop, log, count and refuse them.

Converting raw rows into canonical examples and encoding examples for a stage work the same way:

    RowMapper (datasets.map, batched)  one output row per input row; a row refused with `BadRow`
                                        comes out empty, its reason in DROP_COLUMN
    drop_bad_rows                      removes the flagged rows, logs the first few, counts reasons
                                        by kind in the caller's report, and refuses the data when no
                                        row is left or too many were bad

Flagging inside the map, rather than filtering there, keeps row indices and counts the same with one
or many workers.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from typing import Any, Callable, Iterator

from ..errors import DataError

logger = logging.getLogger(__name__)

DROP_COLUMN = "_drop_reason"
REPORTED_ROWS = 10  # bad rows logged one by one per dataset or split; the rest are counted
PROBLEMS_IN_ERRORS = 3  # bad rows quoted in the error that refuses the data


class BadRow(ValueError):
    """This row cannot be used; the message is the reason shown to the user."""


def rows_of(batch) -> Iterator[dict]:
    """The rows of a batch given column by column (as ``datasets.map(batched=True)`` passes it)."""
    size = len(next(iter(batch.values())))
    for i in range(size):
        yield {key: values[i] for key, values in batch.items()}


@dataclass
class RowMapper:
    """``datasets.map(batched=True)`` step: ``encode`` turns each row into ``columns`` or raises `BadRow`.

    A refused row still comes out, as ``empty`` with its reason in DROP_COLUMN (``""`` for kept rows).
    Picklable when ``encode`` is, for worker processes.
    """

    encode: Callable[[dict], dict]
    columns: tuple[str, ...]
    empty: dict

    def __call__(self, batch) -> dict[str, list]:
        out: dict[str, list] = {name: [] for name in (*self.columns, DROP_COLUMN)}
        for row in rows_of(batch):
            try:
                encoded, reason = self.encode(row), ""
            except BadRow as exc:
                encoded, reason = self.empty, str(exc)
            for name in self.columns:
                out[name].append(encoded[name])
            out[DROP_COLUMN].append(reason)
        return out


def map_batched(dataset, function, data, desc: str, features=None):
    """``dataset.map(function, batched=True)`` with the data settings, replacing every input column."""
    kwargs = {"batched": True, "batch_size": data.preprocessing_batch_size, "remove_columns": column_names(dataset),
              "features": features}
    if not data.streaming:
        kwargs.update(num_proc=data.preprocessing_num_workers, load_from_cache_file=not data.overwrite_cache,
                      desc=desc)
    return dataset.map(function, **kwargs)


def column_names(dataset) -> list[str]:
    if dataset.column_names is not None:
        return list(dataset.column_names)
    return list(next(iter(dataset)).keys())  # a streaming dataset without declared features


@dataclass(frozen=True)
class DropWords:
    """How one step names its bad rows in logs and errors (``str.format`` templates).

    Fields: ``{label}`` (the dataset or split), ``{index}``, ``{reason}``, ``{count}``, ``{summary}``
    (the report's summary) and ``{fraction}`` (max_invalid_fraction).
    """

    label: str  # e.g. "dataset {name!r}"
    dropped: str  # one logged row
    more: str  # the rows past REPORTED_ROWS
    problem: str  # one row quoted in an error
    none_left: str
    too_many: str


def drop_bad_rows(dataset, data, words: DropWords, name: str, report, *, refuse_empty: bool = True):
    """``dataset`` without its flagged rows or DROP_COLUMN; refused when none is left or more than
    ``max_invalid_fraction`` were flagged. ``refuse_empty``: an empty input is refused too (raw data
    must have rows; an encoded split was already checked when it was converted).

    ``report`` receives the counts through ``record_drops(total, reasons_by_kind, first_dropped)``,
    and its ``summary()`` opens the errors. Streamed data has no length: its rows are dropped as they
    are met, and ``report`` is left as it is.
    """
    label = words.label.format(name=name)
    if data.streaming:
        return dataset.filter(StreamingDropFilter(label)).remove_columns(DROP_COLUMN)
    dataset, flagged, total = remove_flagged_rows(dataset)
    _log_first(flagged, words, label)
    report.record_drops(total, Counter(reason_kind(reason) for _, reason in flagged), flagged[:REPORTED_ROWS])
    problems = "; first problems: " + "; ".join(
        words.problem.format(index=index, reason=reason) for index, reason in flagged[:PROBLEMS_IN_ERRORS])
    if len(flagged) == total and (total or refuse_empty):
        raise DataError(words.none_left.format(label=label, summary=report.summary()) + problems)
    if len(flagged) > data.max_invalid_fraction * total:
        raise DataError(words.too_many.format(label=label, summary=report.summary(),
                                             fraction=data.max_invalid_fraction) + problems)
    return dataset


def _log_first(flagged: list[tuple[int, str]], words: DropWords, label: str) -> None:
    for index, reason in flagged[:REPORTED_ROWS]:
        logger.warning(words.dropped.format(label=label, index=index, reason=reason))
    if len(flagged) > REPORTED_ROWS:
        logger.warning(words.more.format(label=label, count=len(flagged) - REPORTED_ROWS))


def reason_kind(reason: str) -> str:
    """Group reasons for counting: 'broken turn order: message 3 ...' counts as 'broken turn order'."""
    return reason.split(":")[0]


def remove_flagged_rows(dataset) -> tuple[Any, list[tuple[int, str]], int]:
    """``(dataset without the flagged rows or DROP_COLUMN, [(row index, reason)], rows before)``.

    A row is flagged when DROP_COLUMN holds a non-empty reason.
    """
    import pyarrow.compute as pc

    # Read the reasons through Arrow: a Python loop over the column costs ~1 s per 100k rows.
    reasons = dataset.with_format("arrow")[DROP_COLUMN]
    is_flagged = pc.not_equal(reasons, "")
    flagged = [(index, reasons[index].as_py()) for index in pc.indices_nonzero(is_flagged).to_pylist()]
    if flagged:
        dataset = dataset.select(pc.indices_nonzero(pc.invert(is_flagged)).to_pylist())
    return dataset.remove_columns(DROP_COLUMN), flagged, len(reasons)


class StreamingDropFilter:
    """Streamed data has no length: flagged rows are logged as they are met (the first few) and dropped."""

    def __init__(self, name: str):
        self.name, self.seen = name, 0

    def __call__(self, example) -> bool:
        reason = example[DROP_COLUMN]
        if reason and self.seen < REPORTED_ROWS:
            self.seen += 1
            logger.warning("%s: a streamed row was skipped: %s", self.name, reason)
        return not reason
