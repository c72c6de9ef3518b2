"""`infer_seqlen`: LLaMA-Factory's rule for sharing ``cutoff_len`` between a prompt and its response."""

import pytest

from tunefactory.data.processors import IGNORE_INDEX, infer_seqlen


def test_ignore_index_is_pytorch_cross_entropy_default():
    assert IGNORE_INDEX == -100


@pytest.mark.parametrize("source, target, cutoff, expected", [
    # short response (2 * 10 < 50): the response is kept whole, the prompt gets the rest
    (100, 10, 50, (40, 10)),
    (3, 4, 100, (3, 4)),  # everything fits
    (0, 7, 20, (0, 7)),
    # long response, short prompt (2 * 10 < 50): the prompt is kept whole, the response gets the rest
    (10, 100, 50, (10, 40)),
    (1, 30, 30, (1, 29)),
    # both long: the response gets int(cutoff * target / (source + target)), the prompt the rest
    (60, 40, 50, (30, 20)),  # int(50 * 40 / 100) = 20
    (3, 2, 4, (3, 1)),  # int(4 * 2 / 5) = 1
    (6, 6, 4, (2, 2)),
    (1000, 2, 4, (4, 0)),  # int(4 * 2 / 1002) = 0: a very long prompt can leave the response nothing
    (25, 25, 50, (25, 25)),  # exactly fits
])
def test_infer_seqlen_hand_computed(source, target, cutoff, expected):
    assert infer_seqlen(source, target, cutoff) == expected


def test_infer_seqlen_never_exceeds_the_budget_or_the_inputs():
    for cutoff in range(1, 41):
        for source in range(0, 61):
            for target in range(0, 61):
                new_source, new_target = infer_seqlen(source, target, cutoff)
                assert 0 <= new_source <= source and 0 <= new_target <= target, (source, target, cutoff)
                assert new_source + new_target <= cutoff, (source, target, cutoff)
                if source + target <= cutoff:  # nothing is cut when everything fits
                    assert (new_source, new_target) == (source, target), (source, target, cutoff)
                else:  # and the budget is used in full when it does not
                    assert new_source + new_target == cutoff, (source, target, cutoff)
