"""The preference losses against hand computations with plain ``math`` on small numbers."""

from __future__ import annotations

import math

import pytest
import torch

from tunefactory.config import stages
from tunefactory.data.processors.common import IGNORE_INDEX
from tunefactory.train import losses
from tunefactory.train.losses import (
    bco_loss,
    dpo_loss,
    kto_loss,
    orpo_loss,
    pairwise_reward_loss,
    sequence_logps,
    simpo_loss,
)

BETA = 0.1


def logsigmoid(x: float) -> float:
    return -math.log1p(math.exp(-x)) if x >= 0 else x - math.log1p(math.exp(x))


def sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def t(*values: float) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float64)


def close(tensor: torch.Tensor, expected: list[float], tol: float = 1e-9) -> None:
    assert tensor.shape == (len(expected),)
    for got, want in zip(tensor.tolist(), expected, strict=True):
        assert got == pytest.approx(want, abs=tol, rel=tol), (tensor.tolist(), expected)


# A batch of two pairs: policy/reference log-probabilities of the chosen and rejected answers.
POLICY_CHOSEN = [-3.0, -4.0]
POLICY_REJECTED = [-5.0, -2.0]
REF_CHOSEN = [-3.5, -3.0]
REF_REJECTED = [-4.0, -2.5]
# by hand: chosen ratios (0.5, -1.0), rejected ratios (-1.0, 0.5), margins (1.5, -1.5)
CHOSEN_RATIOS = [0.5, -1.0]
REJECTED_RATIOS = [-1.0, 0.5]
MARGINS = [1.5, -1.5]


def dpo(loss_type: str, beta: float = BETA, label_smoothing: float = 0.0, **tensors) -> torch.Tensor:
    args = {"policy_chosen": t(*POLICY_CHOSEN), "policy_rejected": t(*POLICY_REJECTED),
            "ref_chosen": t(*REF_CHOSEN), "ref_rejected": t(*REF_REJECTED)}
    args.update(tensors)
    return dpo_loss(loss_type, beta=beta, label_smoothing=label_smoothing, **args)


# ---------------------------------------------------------------- sequence_logps


def test_sequence_logps_sums_shifted_label_log_probabilities_and_counts_tokens():
    logits = torch.tensor([
        [[1.0, 2.0, 0.5, -1.0], [0.0, 0.3, 1.2, 0.1], [2.0, -0.5, 0.0, 0.7], [0.4, 0.4, 0.4, 3.0]],
        [[0.2, -0.2, 1.0, 0.0], [1.5, 0.5, -1.0, 0.0], [0.0, 0.0, 0.0, 0.0], [9.0, 9.0, 9.0, 9.0]],
    ])
    labels = torch.tensor([
        [IGNORE_INDEX, IGNORE_INDEX, 3, 0],  # the prompt is masked; logits[:, 1] predicts 3, logits[:, 2] predicts 0
        [IGNORE_INDEX, 2, 1, IGNORE_INDEX],  # the padding is masked too: logits[:, 0] -> 2, logits[:, 1] -> 1
    ])

    def log_softmax(row: list[float], index: int) -> float:
        return row[index] - math.log(sum(math.exp(x) for x in row))

    rows = logits.tolist()
    expected_first = log_softmax(rows[0][1], 3) + log_softmax(rows[0][2], 0)
    expected_second = log_softmax(rows[1][0], 2) + log_softmax(rows[1][1], 1)

    logps, counts = sequence_logps(logits, labels)
    assert logps.dtype == torch.float32
    assert logps.tolist() == pytest.approx([expected_first, expected_second], abs=1e-5)
    assert counts.tolist() == [2, 2]
    # the last position's logits predict nothing: changing them changes nothing
    logits[:, -1] = torch.randn(2, 4) * 10
    assert sequence_logps(logits, labels)[0].tolist() == pytest.approx([expected_first, expected_second], abs=1e-5)


def test_sequence_logps_of_a_fully_masked_row_is_zero_with_zero_tokens():
    logits = torch.randn(2, 3, 5)
    labels = torch.tensor([[IGNORE_INDEX] * 3, [IGNORE_INDEX, 4, 4]])
    logps, counts = sequence_logps(logits, labels)
    assert counts.tolist() == [0, 2]
    assert logps[0].item() == 0.0
    expected = logits[1, :2].log_softmax(-1)[:, 4].sum()
    assert logps[1].item() == pytest.approx(expected.item(), abs=1e-5)


def test_sequence_logps_upcasts_half_precision_logits_and_passes_gradients():
    logits = torch.randn(1, 3, 4, dtype=torch.bfloat16, requires_grad=True)
    logps, _ = sequence_logps(logits, torch.tensor([[0, 1, 2]]))
    assert logps.dtype == torch.float32
    logps.sum().backward()
    assert logits.grad is not None and logits.grad[0, :2].abs().sum() > 0
    assert logits.grad[0, 2].abs().sum() == 0  # the last position predicts nothing


# ---------------------------------------------------------------- pairwise reward (rm)


def test_pairwise_reward_loss_is_bradley_terry():
    chosen, rejected = t(2.0, -1.0, 0.5), t(1.0, 1.0, 0.5)
    loss = pairwise_reward_loss(chosen, rejected)
    assert loss.dtype == torch.float32  # scores are compared in float32 whatever their dtype
    close(loss, [-logsigmoid(1.0), -logsigmoid(-2.0), math.log(2)], tol=1e-6)
    assert pairwise_reward_loss(torch.tensor([1.0], dtype=torch.bfloat16), torch.tensor([0.0])).dtype == torch.float32


# ---------------------------------------------------------------- dpo: sigmoid, hinge, ipo, kto_pair


def test_dpo_sigmoid_without_label_smoothing():
    close(dpo("sigmoid"), [-logsigmoid(BETA * m) for m in MARGINS])
    # by hand for the first pair: beta * margin = 0.15
    assert dpo("sigmoid")[0].item() == pytest.approx(math.log1p(math.exp(-0.15)))


def test_dpo_sigmoid_with_label_smoothing():
    eps = 0.2
    expected = [-logsigmoid(BETA * m) * (1 - eps) - logsigmoid(-BETA * m) * eps for m in MARGINS]
    close(dpo("sigmoid", label_smoothing=eps), expected)
    # cDPO: smoothing pulls the loss of a well-ranked pair up and of a badly ranked pair down
    plain = dpo("sigmoid")
    smoothed = dpo("sigmoid", label_smoothing=eps)
    assert smoothed[0] > plain[0] and smoothed[1] < plain[1]


def test_dpo_hinge_on_both_sides_of_the_hinge():
    # beta = 0.1: beta*margin = 0.15 and -0.15, both under 1: loss = 1 - beta * margin
    close(dpo("hinge"), [1 - 0.15, 1 + 0.15])
    # beta = 1: the first pair (margin 1.5) is past the hinge: zero loss and zero gradient
    policy_chosen = t(*POLICY_CHOSEN).requires_grad_()
    loss = dpo("hinge", beta=1.0, policy_chosen=policy_chosen)
    close(loss, [0.0, 1 + 1.5])
    loss.sum().backward()
    assert policy_chosen.grad.tolist() == [0.0, -1.0]


def test_dpo_ipo_is_the_squared_distance_of_the_margin_from_one_over_two_beta():
    target = 1 / (2 * BETA)  # 5.0
    close(dpo("ipo"), [(1.5 - target) ** 2, (-1.5 - target) ** 2])
    assert dpo("ipo").tolist() == pytest.approx([12.25, 42.25])
    # zero exactly when the margin reaches 1/(2 beta)
    zero = dpo("ipo", policy_chosen=t(-3.0 + 3.5, -4.0 + 6.5))
    close(zero, [0.0, 0.0])


def test_dpo_kto_pair_concatenates_chosen_then_rejected_against_the_other_sides_clamped_kl():
    loss = dpo("kto_pair")
    assert loss.shape == (4,)  # 2 * batch
    chosen_kl = max(0.0, sum(CHOSEN_RATIOS) / 2)  # mean(0.5, -1.0) = -0.25 -> clamped to 0
    rejected_kl = max(0.0, sum(REJECTED_RATIOS) / 2)  # mean(-1.0, 0.5) = -0.25 -> 0
    assert chosen_kl == rejected_kl == 0.0
    expected = [1 - sigmoid(BETA * (r - rejected_kl)) for r in CHOSEN_RATIOS]
    expected += [1 - sigmoid(BETA * (chosen_kl - r)) for r in REJECTED_RATIOS]
    close(loss, expected)


def test_dpo_kto_pair_uses_the_other_sides_positive_kl_and_does_not_differentiate_it():
    # chosen ratios (2.0, 1.0): mean 1.5; rejected ratios (0.4, 0.0): mean 0.2. Both positive: no clamping.
    policy_chosen = t(-1.0, -2.0).requires_grad_()
    policy_rejected = t(-4.6, -3.0).requires_grad_()
    ref_chosen, ref_rejected = t(-3.0, -3.0), t(-5.0, -3.0)
    loss = dpo_loss("kto_pair", policy_chosen, policy_rejected, ref_chosen, ref_rejected, beta=BETA)
    chosen_kl, rejected_kl = 1.5, 0.2
    expected = [1 - sigmoid(BETA * (r - rejected_kl)) for r in (2.0, 1.0)]  # chosen: against the *rejected* KL
    expected += [1 - sigmoid(BETA * (chosen_kl - r)) for r in (0.4, 0.0)]  # rejected: against the *chosen* KL
    close(loss, expected)
    # the first chosen row's gradient comes from its own term only (the KL means are detached)
    loss.sum().backward()
    s = sigmoid(BETA * (2.0 - rejected_kl))
    assert policy_chosen.grad[0].item() == pytest.approx(-BETA * s * (1 - s))
    s = sigmoid(BETA * (chosen_kl - 0.4))
    assert policy_rejected.grad[0].item() == pytest.approx(BETA * s * (1 - s))


def test_dpo_unknown_loss_type_is_refused():
    with pytest.raises(ValueError, match="unknown pref_loss 'nope'"):
        dpo("nope")


def test_reference_free_and_averaged_loss_lists():
    assert set(stages.REFERENCE_FREE_LOSSES) == {"orpo", "simpo"}
    assert set(losses.AVERAGED_LOSSES) == {"ipo", "orpo", "simpo"}


# ---------------------------------------------------------------- orpo, simpo, bco


def test_orpo_log_odds_and_loss_by_hand():
    chosen_avg, rejected_avg = [-0.5, -2.0], [-1.5, -0.3]
    per_example, odds_ratio = orpo_loss(t(*chosen_avg), t(*rejected_avg), beta=BETA)
    expected_odds, expected_loss = [], []
    for c, r in zip(chosen_avg, rejected_avg, strict=True):
        log_odds = (c - r) - (math.log1p(-math.exp(c)) - math.log1p(-math.exp(r)))
        expected_odds.append(-logsigmoid(log_odds))
        expected_loss.append(-c + BETA * -logsigmoid(log_odds))
    close(odds_ratio, expected_odds)
    close(per_example, expected_loss)
    # log odds is log(p_c / (1 - p_c)) - log(p_r / (1 - p_r)) with p the average token probability
    p_c, p_r = math.exp(-0.5), math.exp(-1.5)
    log_odds = math.log(p_c / (1 - p_c)) - math.log(p_r / (1 - p_r))
    assert odds_ratio[0].item() == pytest.approx(math.log1p(math.exp(-log_odds)))


def test_orpo_gradient_includes_the_sft_term():
    chosen = t(-0.5).requires_grad_()
    rejected = t(-0.5).requires_grad_()
    per_example, _ = orpo_loss(chosen, rejected, beta=0.0)  # beta 0: the NLL alone
    per_example.sum().backward()
    assert chosen.grad.item() == pytest.approx(-1.0)
    assert rejected.grad.item() == 0.0


def test_simpo_by_hand():
    gamma = 0.5
    chosen_avg, rejected_avg = [-0.8, -2.0], [-1.6, -1.0]
    expected = [-logsigmoid(2.0 * (c - r) - gamma) for c, r in zip(chosen_avg, rejected_avg, strict=True)]
    close(simpo_loss(t(*chosen_avg), t(*rejected_avg), beta=2.0, gamma=gamma), expected)
    # first pair by hand: 2.0 * 0.8 - 0.5 = 1.1
    assert simpo_loss(t(-0.8), t(-1.6), beta=2.0, gamma=gamma).item() == pytest.approx(math.log1p(math.exp(-1.1)))


def test_bco_classifies_each_side_against_delta():
    chosen_rewards, rejected_rewards, delta = [0.3, -0.2], [-0.1, 0.4], 0.05
    expected = [-logsigmoid(c - delta) - logsigmoid(-(r - delta))
                for c, r in zip(chosen_rewards, rejected_rewards, strict=True)]
    close(bco_loss(t(*chosen_rewards), t(*rejected_rewards), delta), expected)
    close(bco_loss(t(*chosen_rewards), t(*rejected_rewards), torch.tensor(delta, dtype=torch.float64)), expected)


# ---------------------------------------------------------------- kto


def test_kto_with_weights_and_a_positive_kl():
    policy, ref = [-3.0, -5.0, -4.0], [-3.5, -4.0, -4.0]  # ratios 0.5, -1.0, 0.0
    desirable = torch.tensor([True, False, True])
    kl = 0.3
    loss = kto_loss(t(*policy), t(*ref), desirable, t(kl), beta=BETA, desirable_weight=1.5, undesirable_weight=0.7)
    expected = [1.5 * (1 - sigmoid(BETA * (0.5 - kl))),
                0.7 * (1 - sigmoid(BETA * (kl - -1.0))),
                1.5 * (1 - sigmoid(BETA * (0.0 - kl)))]
    close(loss, expected)


def test_kto_clamps_a_negative_kl_to_zero():
    policy, ref = [-3.0, -5.0], [-3.5, -4.0]
    desirable = torch.tensor([True, False])
    loss = kto_loss(t(*policy), t(*ref), desirable, t(-0.8), beta=BETA, desirable_weight=1.0, undesirable_weight=2.0)
    close(loss, [1 - sigmoid(BETA * 0.5), 2.0 * (1 - sigmoid(BETA * 1.0))])
    same_as_zero = kto_loss(t(*policy), t(*ref), desirable, t(0.0), beta=BETA, desirable_weight=1.0,
                            undesirable_weight=2.0)
    close(loss, same_as_zero.tolist())


def test_kto_kl_is_detached_and_policy_gets_gradients():
    policy = t(-3.0, -5.0).requires_grad_()
    ref = t(-3.5, -4.0).requires_grad_()
    kl = t(0.3).requires_grad_()
    loss = kto_loss(policy, ref, torch.tensor([True, False]), kl, beta=BETA, desirable_weight=1.0,
                    undesirable_weight=1.0)
    loss.sum().backward()
    assert kl.grad is None  # not differentiated through
    s_desirable = sigmoid(BETA * (0.5 - 0.3))
    s_undesirable = sigmoid(BETA * (0.3 - -1.0))
    # d/dp (1 - sigmoid(beta (p - r - kl))) = -beta s (1 - s); undesirable: +beta s (1 - s)
    assert policy.grad.tolist() == pytest.approx([-BETA * s_desirable * (1 - s_desirable),
                                                  BETA * s_undesirable * (1 - s_undesirable)])
    assert ref.grad.tolist() == pytest.approx([-g for g in policy.grad.tolist()])


def test_kto_kl_needs_no_grad_in_the_graph():
    # a kl tensor that is part of a graph is cut off: backward reaches only the policy
    source = torch.tensor(0.5, dtype=torch.float64, requires_grad=True)
    kl = source * 2
    policy = t(-3.0).requires_grad_()
    kto_loss(policy, t(-3.0), torch.tensor([True]), kl, beta=BETA, desirable_weight=1.0,
             undesirable_weight=1.0).sum().backward()
    assert source.grad is None
    assert policy.grad is not None


def test_ld_alpha_weights_only_the_longer_answers_extra_tokens():
    from tunefactory.train.losses import length_desensitised_logps

    torch.manual_seed(0)
    logits = torch.randn(2, 6, 5)
    # chosen: 2 answer tokens (positions 3, 4); rejected: 4 answer tokens (positions 2..5)
    labels = torch.tensor([[-100, -100, -100, 1, 2, -100], [-100, -100, 3, 4, 0, 1]])
    token_logps = logits[:, :-1].log_softmax(-1)
    c = token_logps[0, 2, 1] + token_logps[0, 3, 2]
    r_shared = token_logps[1, 1, 3] + token_logps[1, 2, 4]
    r_extra = token_logps[1, 3, 0] + token_logps[1, 4, 1]
    logps, counts = length_desensitised_logps(logits, labels, alpha=0.25)
    assert counts.tolist() == [2, 4]
    assert torch.allclose(logps, torch.stack([c, r_shared + 0.25 * r_extra]))
    plain, _ = length_desensitised_logps(logits, labels, alpha=1.0)
    assert torch.allclose(plain, sequence_logps(logits, labels)[0])
