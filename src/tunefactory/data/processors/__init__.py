"""From canonical examples to the rows a training stage consumes.

Each stage names its example format in `config.stages.STAGES` (pretrain, supervised, pairwise,
feedback, unsupervised); ``PROCESSORS`` encodes each format and `collators.build_collator`
batches it.

Rows that cannot be trained on (no answer token left after truncation, a template that refuses
the content) are dropped, counted and reported, never trained on silently.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field

from ...config.stages import STAGES, get_stage
from ...errors import DataError
from ..bad_rows import DROP_COLUMN, DropWords, drop_bad_rows, map_batched
from .common import IGNORE_INDEX, infer_seqlen
from .packing import SequencePacker, best_fit_decreasing
from .preference import FeedbackProcessor, PairwiseProcessor, UnsupervisedProcessor
from .pretrain import BlockConcatenator, PretrainProcessor
from .preview import describe_example
from .supervised import SupervisedProcessor, build_supervised_example

logger = logging.getLogger(__name__)

PROCESSORS = {"pretrain": PretrainProcessor, "supervised": SupervisedProcessor, "pairwise": PairwiseProcessor,
              "feedback": FeedbackProcessor, "unsupervised": UnsupervisedProcessor}
ENCODING_WORDS = DropWords(
    label="{name}",
    dropped="{label} example {index} dropped: {reason}",
    more="{label}: {count} more examples dropped (counts below)",
    problem="example {index}: {reason}",
    none_left="{summary}: no example is left to train on",
    too_many="{summary}: more than max_invalid_fraction={fraction} of the examples were dropped; if truncation "
             "dropped them, raise cutoff_len",
)

__all__ = ["DROP_COLUMN", "IGNORE_INDEX", "PROCESSORS", "ProcessReport", "best_fit_decreasing",
           "build_supervised_example", "describe_example", "infer_seqlen", "packing_enabled", "process_dataset",
           "processor_kind"]


def packing_enabled(data_args, stage: str) -> bool:
    """``packing`` defaults on for the stages that pack by default (pt, as in LLaMA-Factory);
    ``neat_packing`` implies it."""
    if data_args.neat_packing:
        return True
    return data_args.packing if data_args.packing is not None else get_stage(stage).packs_by_default


def processor_kind(stage: str, is_eval: bool = False, predict_with_generate: bool = False) -> str:
    """The example format a stage's rows take (its entry in `config.stages.STAGES`)."""
    if stage not in STAGES:
        raise ValueError(f"no processor for stage {stage!r}")
    return STAGES[stage].examples_for(is_eval, predict_with_generate)


@dataclass
class ProcessReport:
    """What processing one split did: examples kept and dropped (with why), and how rows were packed."""

    split: str
    kind: str
    examples_in: int | None = None  # None when streaming
    dropped: Counter = field(default_factory=Counter)
    first_dropped: list[tuple[int, str]] = field(default_factory=list)
    rows: int | None = None
    tokens: int | None = None
    row_capacity: int | None = None  # cutoff_len when rows are packed

    @property
    def examples_kept(self) -> int | None:
        return None if self.examples_in is None else self.examples_in - sum(self.dropped.values())

    @property
    def packing_efficiency(self) -> float | None:
        """Real tokens over the tokens the packed rows hold once padded to ``cutoff_len``."""
        if not self.row_capacity or not self.rows:
            return None
        return self.tokens / (self.rows * self.row_capacity)

    def record_drops(self, examples: int, reasons_by_kind: Counter, first: list[tuple[int, str]]) -> None:
        self.examples_in, self.dropped, self.first_dropped = examples, reasons_by_kind, first

    def summary(self) -> str:
        if self.examples_in is None:
            return f"{self.split}: {self.kind} processing, streaming (dropped rows are logged as they are met)"
        text = f"{self.split}: {self.examples_kept} of {self.examples_in} examples encoded ({self.kind})"
        if self.dropped:
            reasons = "; ".join(f"{count} x {reason}" for reason, count in self.dropped.most_common())
            text += f", {sum(self.dropped.values())} dropped ({reasons})"
        if self.row_capacity:
            text += (f"; packed into {self.rows} rows of up to {self.row_capacity} tokens "
                     f"({100 * self.packing_efficiency:.1f}% filled)")
        return text


def process_dataset(dataset, config, template, tokenizer, *, split: str = "train", is_eval: bool = False,
                    media=None):
    """``(processed dataset, ProcessReport)`` for one split of canonical examples (``media``: a MediaContext)."""
    data, stage = config.data, config.finetuning.stage
    kind = processor_kind(stage, is_eval, getattr(config.training, "predict_with_generate", False))
    packing = packing_enabled(data, stage) and kind in ("pretrain", "supervised")
    if packing and media is not None and _has_media(dataset, media.column):
        raise DataError(f"packing / neat_packing rows with {media.column} is not supported yet: set packing: false")
    processor = PROCESSORS[kind](template, tokenizer, data, media=media)
    if kind == "pretrain":
        processor.truncate = not packing
    report = ProcessReport(split, kind)
    encoded = map_batched(dataset, processor, data, f"Encoding {split} ({kind})", features=processor.features())
    encoded = drop_bad_rows(encoded, data, ENCODING_WORDS, split, report, refuse_empty=False)
    if packing:
        step = BlockConcatenator(data.cutoff_len) if kind == "pretrain" else SequencePacker(data.cutoff_len,
                                                                                           data.neat_packing)
        encoded = map_batched(encoded, step, data, f"Packing {split}")
        report.row_capacity = data.cutoff_len
    if not data.streaming:
        report.rows, report.tokens = len(encoded), _token_count(encoded)
    logger.info(report.summary())
    return encoded, report


def _has_media(dataset, column: str) -> bool:
    if f"_{column}" not in (getattr(dataset, "column_names", None) or []):
        return False
    return any(dataset[f"_{column}"]) if hasattr(dataset, "__len__") else True


def _token_count(dataset) -> int:
    import pyarrow.compute as pc

    column = "input_ids" if "input_ids" in dataset.column_names else "chosen_input_ids"
    lengths = pc.list_value_length(dataset.with_format("arrow")[column])
    return int(pc.sum(lengths).as_py() or 0)
