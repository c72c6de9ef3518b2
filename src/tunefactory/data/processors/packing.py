"""Packing tokenized examples into rows of at most ``cutoff_len`` tokens, whole examples only.

Bins are filled best-fit-decreasing: longest examples first, each into the fullest bin it still
fits. With ``neat_packing`` every row also gets per-example ``position_ids`` (restarting at 0),
from which the collator builds a block-diagonal attention mask: packed examples never attend to
each other and each token's loss is the loss it has when its example runs alone.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

from .common import IGNORE_INDEX


def best_fit_decreasing(lengths: list[int], capacity: int) -> list[list[int]]:
    """Indices of ``lengths`` grouped into bins whose sums are at most ``capacity``.

    Raises ValueError for an item longer than ``capacity``: splitting it is the caller's decision.
    """
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    bins: list[list[int]] = []
    free: list[tuple[int, int]] = []  # (free space, bin number), sorted: the fullest bins first
    for index in order:
        length = lengths[index]
        if length > capacity:
            raise ValueError(f"an item of length {length} does not fit in a bin of {capacity}")
        slot = bisect.bisect_left(free, (length, -1))
        if slot < len(free):
            space, number = free.pop(slot)
        else:
            space, number = capacity, len(bins)
            bins.append([])
        bins[number].append(index)
        if space - length > 0:
            bisect.insort(free, (space - length, number))
    return bins


@dataclass
class SequencePacker:
    """``datasets.map(batched=True)`` step: tokenized examples in, packed rows out."""

    cutoff_len: int
    neat: bool = False

    def __call__(self, batch: dict[str, list]) -> dict[str, list]:
        input_ids, labels = batch["input_ids"], batch["labels"]
        out: dict[str, list] = {"input_ids": [], "labels": []}
        if self.neat:
            out["position_ids"] = []
        for members in best_fit_decreasing([len(ids) for ids in input_ids], self.cutoff_len):
            members.sort()  # keep the data's order inside a row
            out["input_ids"].append([token for i in members for token in input_ids[i]])
            # An example's first label is never used alone (nothing precedes it); packed, it would be
            # predicted from the previous example's last token, so it is masked.
            out["labels"].append([label for i in members for label in [IGNORE_INDEX, *labels[i][1:]]])
            if self.neat:
                out["position_ids"].append([p for i in members for p in range(len(input_ids[i]))])
        return out
