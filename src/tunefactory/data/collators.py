"""Batching processed rows into tensors, per stage.

    SFTCollator        input_ids / attention_mask / labels (+ position_ids), padded to the longest row
                       (or a multiple of ``pad_to_multiple_of``); also serves pt and predict (left padding);
                       with ``padding_free``, the rows concatenated into one row instead (see
                       train/padding_free.py)
    PairwiseCollator   rm / dpo: the chosen rows, then the rejected rows, in one batch of 2 x size
    KTOCollator        kto: the rows, their mismatched ``kl_*`` rows, and ``kto_tags``

Neat-packed rows (with ``position_ids``) get an attention mask in which a token attends only to
earlier tokens of its own example, in the form the attention implementation takes:
  eager                        4D additive float mask in the compute dtype (0 or the dtype's minimum)
  sdpa (and others)            4D boolean mask (True = may attend)
  flash_attention_2/3, kernels no mask: the rows are concatenated into one, and the restarting
                               ``position_ids`` tell the kernel where each example begins
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from .processors.common import IGNORE_INDEX, MEDIA_OUTPUTS

FLASH_IMPLEMENTATIONS = ("flash_attention_2", "flash_attention_3")


def pad_column(rows: list[list[int]], value: int, length: int, side: str = "right") -> torch.Tensor:
    out = torch.full((len(rows), length), value, dtype=torch.long)
    for i, row in enumerate(rows):
        if not len(row):
            continue
        if side == "right":
            out[i, : len(row)] = torch.as_tensor(row, dtype=torch.long)
        else:
            out[i, length - len(row):] = torch.as_tensor(row, dtype=torch.long)
    return out


def padded_length(rows: list[list[int]], multiple: int | None) -> int:
    longest = max((len(row) for row in rows), default=0)
    if multiple:
        longest = -(-longest // multiple) * multiple
    return longest


def block_causal_mask(position_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """``[batch, 1, seq, seq]`` booleans: True where query i may attend key j.

    Key j must be at or before i, in the same example (a new example starts wherever
    ``position_ids`` returns to 0), and neither may be padding. Every token may attend to itself, so
    padded rows never turn into an all-masked softmax (NaN).
    """
    starts = (position_ids == 0) & (attention_mask.bool())
    segment = torch.cumsum(starts.long(), dim=-1)
    seq_len = position_ids.shape[-1]
    causal = torch.tril(torch.ones(seq_len, seq_len, dtype=torch.bool, device=position_ids.device))
    same = segment[:, :, None] == segment[:, None, :]
    real = attention_mask.bool()
    mask = causal & same & real[:, None, :] & real[:, :, None]  # padding neither attends nor is attended to
    mask |= torch.eye(seq_len, dtype=torch.bool, device=position_ids.device)
    return mask[:, None, :, :]


def attention_mask_for(mask: torch.Tensor, attn_implementation: str, dtype: torch.dtype) -> torch.Tensor:
    """The boolean 4D mask in the form ``attn_implementation`` takes (see the module docstring)."""
    if attn_implementation == "eager":
        zero, minimum = torch.tensor(0, dtype=dtype), torch.tensor(torch.finfo(dtype).min, dtype=dtype)
        return torch.where(mask, zero, minimum)
    return mask


@dataclass
class SFTCollator:
    tokenizer: Any
    pad_to_multiple_of: int | None = None
    label_pad_token_id: int = IGNORE_INDEX
    padding_side: str | None = None  # default: the tokenizer's; "left" to generate
    attn_implementation: str = "sdpa"
    compute_dtype: torch.dtype = torch.float32
    media: Any = None  # a MediaContext: the rows' images become the model's pixel inputs here, read lazily
    padding_free: bool = False  # training rows with labels: one concatenated row, positions restarting per row

    def __call__(self, features: list[dict]) -> dict[str, torch.Tensor]:
        side = self.padding_side or getattr(self.tokenizer, "padding_side", "right")
        inputs = [feature["input_ids"] for feature in features]
        length = padded_length(inputs, self.pad_to_multiple_of)
        batch = {
            "input_ids": pad_column(inputs, self.tokenizer.pad_token_id, length, side),
            "attention_mask": pad_column([[1] * len(ids) for ids in inputs], 0, length, side),
        }
        aligned = False  # labels beside every input position (training rows)
        if "labels" in features[0]:
            labels = [feature["labels"] for feature in features]
            aligned = all(len(a) == len(b) for a, b in zip(inputs, labels, strict=True))  # not so for predict
            label_length = length if aligned else padded_length(labels, self.pad_to_multiple_of)
            batch["labels"] = pad_column(labels, self.label_pad_token_id, label_length, side)
        if "position_ids" in features[0]:
            batch["position_ids"] = _pad_positions([feature["position_ids"] for feature in features], length, side)
            self._isolate_packed_examples(batch)
        elif self.padding_free and side == "right" and self.media is None and aligned:
            _concatenate_padded_rows(batch, keep_mask=self.attn_implementation not in FLASH_IMPLEMENTATIONS)
        if self.media is not None:  # each row's images (sounds), read now, as the model's media inputs
            rows = [list(feature.get(self.media.column) or []) for feature in features]
            batch.update(self.media.batch_inputs(rows, batch["input_ids"], self.tokenizer))
        return batch

    def _isolate_packed_examples(self, batch: dict[str, torch.Tensor]) -> None:
        if self.attn_implementation in FLASH_IMPLEMENTATIONS:
            _concatenate_rows(batch)
            return
        mask = block_causal_mask(batch["position_ids"], batch["attention_mask"])
        batch["attention_mask"] = attention_mask_for(mask, self.attn_implementation, self.compute_dtype)


def _pad_positions(rows: list[list[int]], length: int, side: str) -> torch.Tensor:
    """Padding gets positions 0, 1, 2, ...: a run of its own, never the continuation of an example."""
    padded = [list(row) + list(range(length - len(row))) if side == "right" else
              list(range(length - len(row))) + list(row) for row in rows]
    return torch.tensor(padded, dtype=torch.long)


def _concatenate_padded_rows(batch: dict[str, torch.Tensor], keep_mask: bool) -> None:
    """Right-padded rows as one row without padding: positions restart at each row, and each row's first label
    is dropped (in the padded batch no position predicts it; here the previous row's last one would). An
    all-ones mask is kept for sdpa (transformers then builds no mask at all); flash kernels take none."""
    keep = batch.pop("attention_mask").bool()
    labels = batch["labels"].clone()
    labels[:, 0] = IGNORE_INDEX
    positions = keep.long().cumsum(-1) - 1
    batch["input_ids"] = batch["input_ids"][keep][None, :]
    batch["labels"] = labels[keep][None, :]
    batch["position_ids"] = positions[keep][None, :]
    if keep_mask:
        batch["attention_mask"] = torch.ones_like(batch["input_ids"])


def _concatenate_rows(batch: dict[str, torch.Tensor]) -> None:
    """One row without padding: flash-attention kernels read example boundaries from position_ids."""
    keep = batch.pop("attention_mask").bool()
    for key in ("input_ids", "labels", "position_ids"):
        if key in batch:
            batch[key] = batch[key][keep][None, :]


@dataclass
class PairwiseCollator:
    """Chosen rows first, then rejected rows: ``batch[:n]`` and ``batch[n:]`` are the two sides."""

    collator: SFTCollator

    def __call__(self, features: list[dict]) -> dict[str, torch.Tensor]:
        # both sides of a pair show the same media: each side's rows carry them, in the rows' order
        rows = [{"input_ids": f[f"{side}_input_ids"], "labels": f[f"{side}_labels"], **_media_of(f)}
                for side in ("chosen", "rejected") for f in features]
        return self.collator(rows)


@dataclass
class KTOCollator:
    collator: SFTCollator

    def __call__(self, features: list[dict]) -> dict[str, torch.Tensor]:
        # a KL row is its example's prompt with another answer: both carry the example's media
        batch = self.collator([{"input_ids": f["input_ids"], "labels": f["labels"], **_media_of(f)}
                               for f in features])
        kl = self.collator([{"input_ids": f["kl_input_ids"], "labels": f["kl_labels"], **_media_of(f)}
                            for f in features])
        batch.update({f"kl_{key}": value for key, value in kl.items()})
        batch["kto_tags"] = torch.tensor([bool(f["kto_tags"]) for f in features])
        return batch


def _media_of(feature: dict) -> dict:
    """A processed row's media paths, under their column's name."""
    return {column: feature[column] for column in MEDIA_OUTPUTS if column in feature}


def build_collator(kind: str, tokenizer, *, pad_to_multiple_of: int | None = None,
                   ignore_pad_token_for_loss: bool = True, attn_implementation: str = "sdpa",
                   compute_dtype: torch.dtype = torch.float32, media=None, padding_free: bool = False):
    """The collator for a processor ``kind`` (see `processors.processor_kind`); ``padding_free`` applies to
    supervised and pretrain rows only."""
    base = SFTCollator(
        tokenizer,
        pad_to_multiple_of=pad_to_multiple_of,
        label_pad_token_id=IGNORE_INDEX if ignore_pad_token_for_loss else tokenizer.pad_token_id,
        padding_side="left" if kind == "unsupervised" else "right",  # generation continues from the right edge
        attn_implementation=attn_implementation,
        compute_dtype=compute_dtype,
        media=media,
        padding_free=padding_free and kind in ("supervised", "pretrain"),
    )
    if kind == "pairwise":
        return PairwiseCollator(base)
    if kind == "feedback":
        return KTOCollator(base)
    return base
