"""Best-fit-decreasing bins and the packed rows built from them."""

import math
import random
from collections import Counter

import pytest

from tunefactory.data.processors import best_fit_decreasing
from tunefactory.data.processors.packing import SequencePacker

M = -100


def check_bins(bins, lengths, capacity):
    assert sorted(i for members in bins for i in members) == list(range(len(lengths)))  # each index exactly once
    assert all(members for members in bins)
    assert all(sum(lengths[i] for i in members) <= capacity for members in bins)


@pytest.mark.parametrize("lengths, capacity, optimum", [
    ([6, 4, 5, 5], 10, 2),
    ([7, 3, 3, 3, 2, 2], 10, 2),
    ([5, 5, 5], 10, 2),
    ([10, 10], 10, 2),
    ([1] * 10, 10, 1),
    ([9, 1, 8, 2, 7, 3], 10, 3),
    ([4, 4, 4, 3, 3, 2], 10, 2),
    ([3], 3, 1),
])
def test_small_cases_reach_the_optimum(lengths, capacity, optimum):
    bins = best_fit_decreasing(lengths, capacity)
    check_bins(bins, lengths, capacity)
    assert len(bins) == optimum


def test_best_fit_puts_an_item_in_the_fullest_bin_it_fits():
    # sorted 6, 5, 4, 3: 6 -> bin A (4 free), 5 -> bin B (5 free), 4 -> A (the fuller one that fits), 3 -> B
    assert best_fit_decreasing([4, 6, 3, 5], 10) == [[1, 0], [3, 2]]


def test_empty_input_gives_no_bins():
    assert best_fit_decreasing([], 10) == []


def test_an_item_longer_than_the_capacity_raises():
    with pytest.raises(ValueError, match="an item of length 11 does not fit in a bin of 10"):
        best_fit_decreasing([3, 11, 2], 10)


def test_many_random_lengths_pack_close_to_the_lower_bound():
    rng = random.Random(1234)
    capacity = 1024
    lengths = [rng.randint(1, capacity) for _ in range(1000)]
    bins = best_fit_decreasing(lengths, capacity)
    check_bins(bins, lengths, capacity)
    assert len(bins) <= math.ceil(sum(lengths) / capacity) * 1.05 + 1
    short = [rng.randint(1, 300) for _ in range(1000)]  # mostly short examples, as in sft data
    bins = best_fit_decreasing(short, capacity)
    check_bins(bins, short, capacity)
    assert len(bins) <= math.ceil(sum(short) / capacity) * 1.05 + 1


def batch(lengths, start=1):
    """Example i holds distinct tokens; its labels are its tokens with the first two masked (a prompt)."""
    input_ids, labels, token = [], [], start
    for length in lengths:
        ids = list(range(token, token + length))
        token += length
        input_ids.append(ids)
        labels.append([M, M] + ids[2:] if length > 2 else list(ids))
    return {"input_ids": input_ids, "labels": labels}


def split_rows(row, position_ids):
    """Cut a neat row into its examples where position_ids restart at 0."""
    starts = [i for i, p in enumerate(position_ids) if p == 0] + [len(row)]
    return [row[a:b] for a, b in zip(starts, starts[1:], strict=False)]


def test_sequence_packer_rows_fit_and_keep_every_example():
    lengths = [5, 3, 8, 2, 7, 1, 4, 6]
    data = batch(lengths)
    out = SequencePacker(cutoff_len=10)(data)
    assert set(out) == {"input_ids", "labels"}
    assert all(len(row) <= 10 for row in out["input_ids"])
    assert [len(a) for a in out["input_ids"]] == [len(b) for b in out["labels"]]
    assert Counter(t for row in out["input_ids"] for t in row) == Counter(t for ids in data["input_ids"] for t in ids)
    assert len(out["input_ids"]) == math.ceil(sum(lengths) / 10)  # 36 tokens: 4 rows is the optimum
    # each example is whole and contiguous; inside a row examples keep the data's order
    firsts = {ids[0]: i for i, ids in enumerate(data["input_ids"])}
    for row, labels in zip(out["input_ids"], out["labels"], strict=True):
        position, previous = 0, -1
        while position < len(row):
            index = firsts[row[position]]
            assert index > previous
            ids, length = data["input_ids"][index], len(data["input_ids"][index])
            assert row[position:position + length] == ids
            # the first label of every packed example is masked, the rest are the example's own labels
            assert labels[position:position + length] == [M] + data["labels"][index][1:]
            position, previous = position + length, index


def test_sequence_packer_exact_rows():
    data = {"input_ids": [[1, 2, 3], [4, 5], [6, 7, 8, 9], [10]],
            "labels": [[M, 2, 3], [4, 5], [M, M, 8, 9], [10]]}
    out = SequencePacker(cutoff_len=5)(data)
    # sorted 4, 3, 2, 1: [6..9] opens bin A, [1..3] bin B, [4, 5] fills B, [10] fills A
    assert out["input_ids"] == [[6, 7, 8, 9, 10], [1, 2, 3, 4, 5]]
    assert out["labels"] == [[M, M, 8, 9, M], [M, 2, 3, M, 5]]


def test_neat_packing_position_ids_restart_at_each_example():
    lengths = [5, 3, 8, 2, 7, 1, 4, 6]
    data = batch(lengths)
    out = SequencePacker(cutoff_len=10, neat=True)(data)
    assert set(out) == {"input_ids", "labels", "position_ids"}
    seen = []
    for row, positions in zip(out["input_ids"], out["position_ids"], strict=True):
        assert len(positions) == len(row) <= 10
        pieces = split_rows(row, positions)
        for piece in split_rows(positions, positions):
            assert piece == list(range(len(piece)))
        seen += pieces
    assert sorted(seen) == sorted(data["input_ids"])


def test_an_example_longer_than_the_cutoff_is_not_packed_silently():
    with pytest.raises(ValueError, match="does not fit"):
        SequencePacker(cutoff_len=4)(batch([2, 5]))
