"""What every processor shares: the label mask value, the truncation budget, and the batched call.

A processor is a picklable callable for ``datasets.map(batched=True)``: canonical columns in,
model-input columns out. Its ``encode`` turns one example into model inputs or raises `BadRow`;
the `RowMapper` keeps a refused row, empty, with its reason in ``DROP_COLUMN``, for the pipeline
to drop, count and report (see `bad_rows`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ...errors import DataError
from ..bad_rows import DROP_COLUMN, BadRow, RowMapper, rows_of
from ..multimodal import PLUGINS

IGNORE_INDEX = -100  # labels with this value add nothing to the loss (PyTorch's cross-entropy default)
MEDIA_COLUMNS = ("_images", "_videos", "_audios")
MEDIA_OUTPUTS = ("images", "audios")  # processed rows' columns of media paths, for the plugins that take them


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
    return labels.count(IGNORE_INDEX) < len(labels)


@dataclass
class Processor:
    """Base for the stage processors: the template, tokenizer and data settings they encode with."""

    template: Any
    tokenizer: Any
    data_args: Any

    output_columns: tuple[str, ...] = ()
    media: Any = None  # a MediaContext when the template's family has a media plugin
    handles_media: bool = False  # this stage's processor encodes media rows (the others refuse them)

    def __call__(self, batch: dict[str, list]) -> dict[str, list]:
        handled = self.media.column if self.handles_media and self.media is not None else None
        if any(batch.get(column) for column in MEDIA_COLUMNS if column != f"_{handled}"):
            for example in rows_of(batch):
                _refuse_media(example, self.template, handled)
        return RowMapper(self._encode_row, self.output_columns, self.empty_row())(batch)

    def encode(self, example: dict) -> dict:
        """The example's model inputs; raises `BadRow` with the reason it cannot be trained on."""
        raise NotImplementedError

    def with_media(self, example: dict) -> dict:
        """The example with each placeholder of its prompt written as the model's own media tokens."""
        if self.media is None:
            return example
        return {**example, "_prompt": self.media.expand(example["_prompt"], self.media_items(example))}

    def media_items(self, example: dict) -> list:
        """The canonical example's items of the plugin's column (its images, or its sounds)."""
        return list(example[f"_{self.media.column}"] or [])

    def media_columns(self) -> tuple[str, ...]:
        """The output column carrying the media paths, to be read when a batch is collated (none without media)."""
        return () if self.media is None else (self.media.column,)

    def check_media_kept(self, messages: list[dict], *rows: list[int]) -> None:
        """Truncation may not cut into an item's tokens: the model would get pixels (sound) for tokens that are gone.
        ``messages``: the expanded messages the rows were encoded from; each row must keep all their media tokens."""
        token = self.media.plugin.token
        written = sum(message["content"].count(token) for message in messages)
        for ids in rows:
            kept = self.media.token_count(ids, self.tokenizer)
            if kept != written:
                lower = "image_max_pixels" if self.media.column == "images" else "the sounds' length"
                raise BadRow(f"cutoff_len={self.cutoff_len} cuts into the {self.media.column[:-1]} tokens ({kept} "
                             f"of {written} kept); raise cutoff_len or lower {lower}")

    def _encode_row(self, example: dict) -> dict:
        try:
            return self.encode(example)
        except DataError as exc:  # the template refuses this example's content (a malformed tool call, ...)
            raise BadRow(str(exc)) from exc

    def empty_row(self) -> dict:
        return {name: [] if name != "kto_tags" else False for name in self.output_columns}

    def features(self):
        """The output's Arrow types, declared so that `datasets` need not infer them from every row."""
        from datasets import Features, List, Value

        types = {name: Value("bool") if name == "kto_tags" else List(Value("string")) if name in MEDIA_OUTPUTS else
                 List(Value("int64")) for name in self.output_columns}
        return Features({**types, DROP_COLUMN: Value("string")})

    @property
    def cutoff_len(self) -> int:
        return self.data_args.cutoff_len

    @property
    def eos_id(self) -> int:
        return self.tokenizer.eos_token_id


def _refuse_media(example: dict, template, handled: str | None = None) -> None:
    """Media this stage or template cannot train on stop the run, saying why (``handled``: the column it takes)."""
    family, name = getattr(template, "multimodal", None), getattr(template, "name", "?")
    plugin = PLUGINS.get(family)
    for column in MEDIA_COLUMNS:
        kind = column[1:]
        if not example.get(column) or kind == handled:
            continue
        if plugin is not None and plugin.media == kind:
            why = f"this stage does not train on {kind} yet (sft, rm, dpo and kto do)"
        elif plugin is not None:
            why = f"template {name!r} is for a model that takes {plugin.media}, not {kind}"
        elif family and kind in MEDIA_OUTPUTS:
            why = (f"template {name!r} has no media plugin yet ({family}); {kind} train "
                   f"with sft on templates of these plugins so far: {', '.join(PLUGINS)}")
        elif kind in MEDIA_OUTPUTS:
            why = (f"template {name!r} is text-only: use the model's multimodal template (e.g. qwen2_vl, "
                   "qwen2_audio)")
        else:
            why = f"{kind} are not supported yet"
        raise DataError(f"this dataset has {kind} ({example[column][0]!r}, ...): {why}; or drop the media "
                        "columns from dataset_info.json to train on the text alone")
