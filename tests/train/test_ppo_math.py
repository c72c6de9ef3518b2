"""The arithmetic of one PPO step (``ppo_trainer.py``) against hand computations on small tensors.

Everything here is pure tensor code except the last section, which asks the tiny tokenizers which
tokens a template puts after an answer's stop token.
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from tunefactory.train.ppo_trainer import (
    CLIP_RANGE,
    CLIP_RANGE_VALUE,
    INIT_KL_COEF,
    KL_HORIZON,
    VALUE_COEF,
    AdaptiveKLController,
    PPOTrainer,
    RunningMoments,
    _align_right,
    advantages_and_returns,
    cut_at_stop,
    masked_mean,
    masked_whiten,
    ppo_losses,
    right_pad,
    strip_left_padding,
    token_rewards,
)

EPS = 1e-8  # masked_whiten's variance epsilon


def t(*rows) -> torch.Tensor:
    return torch.tensor(rows, dtype=torch.float64)


# Two answers of different lengths, right-padded: row 0 has 3 tokens, row 1 has 2.
MASK = t([1, 1, 1], [1, 1, 0])
LENGTHS = [3, 2]


def test_constants_are_trls_ppo_defaults():
    assert (INIT_KL_COEF, KL_HORIZON, CLIP_RANGE, CLIP_RANGE_VALUE, VALUE_COEF) == (0.2, 10000, 0.2, 0.2, 0.1)


# --- per-token rewards --------------------------------------------------------------------------------------------

def test_token_rewards_are_the_kl_penalty_plus_the_score_on_each_last_answer_token():
    logps = t([-1.0, -2.0, -0.5], [-0.3, -1.2, -9.0])
    ref_logps = t([-1.5, -1.0, -0.5], [-0.1, -1.0, 4.0])  # the padding column holds junk: it must not leak
    scores = t(2.0, -3.0)
    rewards, kl = token_rewards(scores, logps, ref_logps, MASK, kl_coef=0.1)

    # kl = log p - log p_ref on answer tokens, 0 on padding
    torch.testing.assert_close(kl, t([0.5, -1.0, 0.0], [-0.2, -0.2, 0.0]), atol=1e-12, rtol=0)
    expected = [
        [-0.1 * 0.5, -0.1 * -1.0, -0.1 * 0.0 + 2.0],  # row 0: the score lands on token 3 (its last)
        [-0.1 * -0.2, -0.1 * -0.2 + -3.0, 0.0],  # row 1: on token 2; the padded position stays 0
    ]
    torch.testing.assert_close(rewards, t(*expected), atol=1e-12, rtol=0)


def test_token_rewards_do_not_modify_their_inputs():
    logps, ref_logps = t([-1.0, -2.0, -0.5], [-0.3, -1.2, -9.0]), t([-1.5, -1.0, -0.5], [-0.1, -1.0, 4.0])
    copies = logps.clone(), ref_logps.clone()
    token_rewards(t(1.0, 1.0), logps, ref_logps, MASK, kl_coef=0.2)
    assert torch.equal(logps, copies[0]) and torch.equal(ref_logps, copies[1])


# --- generalised advantage estimation ------------------------------------------------------------------------------

def gae_by_hand(values: list[float], rewards: list[float], gamma: float, lam: float) -> tuple[list, list]:
    """One answer's advantages and returns, the textbook loop (after its last token the value is 0)."""
    advantages, running = [0.0] * len(values), 0.0
    for step in reversed(range(len(values))):
        next_value = values[step + 1] if step + 1 < len(values) else 0.0
        delta = rewards[step] + gamma * next_value - values[step]
        running = delta + gamma * lam * running
        advantages[step] = running
    return advantages, [a + v for a, v in zip(advantages, values, strict=True)]


def test_advantages_and_returns_match_a_hand_written_gae_loop_for_rows_of_different_lengths():
    values = t([0.5, -0.25, 1.0], [0.3, 0.7, 123.0])  # junk in row 1's padding
    rewards = t([0.1, -0.2, 1.5], [0.05, -2.0, 77.0])
    advantages, returns = advantages_and_returns(values, rewards, MASK)

    by_hand = [gae_by_hand(values[i, :n].tolist(), rewards[i, :n].tolist(), 1.0, 0.95) for i, n in enumerate(LENGTHS)]
    expected_returns = t(by_hand[0][1], [*by_hand[1][1], 0.0])
    assert torch.equal(returns, expected_returns), (returns, expected_returns)  # same operations: bit for bit

    raw = np.array(by_hand[0][0] + by_hand[1][0])  # the 5 answer tokens' advantages
    whitened = (raw - raw.mean()) / math.sqrt(raw.var(ddof=1) + EPS)
    expected_advantages = t(whitened[:3].tolist(), [*whitened[3:].tolist(), 0.0])
    torch.testing.assert_close(advantages, expected_advantages, atol=1e-12, rtol=0)
    assert float(masked_mean(advantages, MASK)) == pytest.approx(0.0, abs=1e-12)


def test_gae_defaults_are_gamma_1_and_lambda_0_95():
    values, rewards = t([0.2, 0.4, -0.1]), t([0.0, 0.0, 1.0])
    _, returns = advantages_and_returns(values, rewards, t([1, 1, 1]))
    advantages, expected = gae_by_hand([0.2, 0.4, -0.1], [0.0, 0.0, 1.0], 1.0, 0.95)
    assert returns[0].tolist() == pytest.approx(expected, abs=1e-12)
    # gamma 1: the last token's return is its reward; lambda 0.95 discounts the TD errors before it
    assert returns[0, -1].item() == pytest.approx(1.0, abs=1e-12)
    assert advantages[0] == pytest.approx(0.4 - 0.2 + 0.95 * ((-0.1 - 0.4) + 0.95 * (1.0 + 0.1)), abs=1e-12)


# --- whitening -----------------------------------------------------------------------------------------------------

def test_masked_whiten_uses_only_masked_positions():
    values = t([1.0, 2.0, 4.0], [-1.0, 3.0, 1000.0])
    kept = np.array([1.0, 2.0, 4.0, -1.0, 3.0])
    mean, std = kept.mean(), math.sqrt(kept.var(ddof=1) + EPS)  # the sample variance of the masked entries
    whitened = masked_whiten(values, MASK)
    torch.testing.assert_close(whitened, (values - mean) / std, atol=1e-12, rtol=0)
    masked = whitened[MASK.bool()].numpy()
    assert masked.mean() == pytest.approx(0.0, abs=1e-12) and masked.std(ddof=1) == pytest.approx(1.0, abs=1e-6)

    unshifted = masked_whiten(values, MASK, shift_mean=False)  # whiten_rewards keeps the mean
    torch.testing.assert_close(unshifted, (values - mean) / std + mean, atol=1e-12, rtol=0)


# --- the clipped losses --------------------------------------------------------------------------------------------

def test_ppo_policy_loss_takes_the_clipped_term_when_the_ratio_leaves_the_trust_region():
    # tokens: ratio e^0.5 = 1.65 with A = +1 (clipped to 1.2 wins), ratio e^-0.5 = 0.61 with A = -1 (clipped 0.8
    # wins), ratio e^0.1 = 1.105 with A = +2 (inside: unclipped), and a padding token with a huge ratio.
    old_logps = t([-1.0, -1.0, -1.0, -1.0])
    logps = (old_logps + t([0.5, -0.5, 0.1, 5.0])).requires_grad_()
    advantages = t([1.0, -1.0, 2.0, 100.0])
    mask = t([1, 1, 1, 0])
    zeros = torch.zeros(1, 4, dtype=torch.float64)
    loss, stats = ppo_losses(logps, old_logps, zeros, zeros, advantages, zeros, mask)

    per_token = [max(-1.0 * math.exp(0.5), -1.0 * 1.2),  # = -1.2
                 max(1.0 * math.exp(-0.5), 1.0 * 0.8),  # = 0.8
                 max(-2.0 * math.exp(0.1), -2.0 * min(math.exp(0.1), 1.2))]  # = -2 e^0.1
    assert per_token[:2] == [-1.2, 0.8]
    policy_loss = sum(per_token) / 3
    assert stats["policy_loss"].item() == pytest.approx(policy_loss, abs=1e-12)
    assert stats["value_loss"].item() == 0.0 and loss.item() == pytest.approx(policy_loss, abs=1e-12)
    assert stats["clip_fraction"].item() == pytest.approx(2 / 3, abs=1e-12)

    loss.backward()  # a clipped term carries no gradient; the unclipped one does, padding none
    grad = logps.grad[0].tolist()
    assert grad[0] == 0.0 and grad[1] == 0.0 and grad[3] == 0.0
    assert grad[2] == pytest.approx(-2.0 * math.exp(0.1) / 3, abs=1e-12)


def test_ppo_value_loss_clips_the_new_value_around_the_old_one():
    # token 0: moving 0 -> 1 towards return 0.5; unclipped error 0.25 beats clipped (0.2 - 0.5)^2 = 0.09
    # token 1: moving 0 -> 0.5 towards return 1.0; the clipped value 0.2 is further: (0.8)^2 = 0.64 wins
    # token 2: a small move 0.1 -> 0.15 inside the clip range: (0.15 - 0.4)^2
    values = t([1.0, 0.5, 0.15, 9.0])
    old_values = t([0.0, 0.0, 0.1, 0.0])
    returns = t([0.5, 1.0, 0.4, -9.0])
    mask = t([1, 1, 1, 0])
    zeros = torch.zeros(1, 4, dtype=torch.float64)
    loss, stats = ppo_losses(zeros, zeros, values, old_values, zeros, returns, mask)

    value_loss = 0.5 * (0.25 + 0.64 + (0.15 - 0.4) ** 2) / 3
    assert stats["value_loss"].item() == pytest.approx(value_loss, abs=1e-12)
    assert stats["policy_loss"].item() == 0.0 and stats["clip_fraction"].item() == 0.0
    assert loss.item() == pytest.approx(VALUE_COEF * value_loss, abs=1e-12)


# --- adaptive KL control -------------------------------------------------------------------------------------------

def test_adaptive_kl_controller_clips_the_error_and_scales_by_steps_over_horizon():
    controller = AdaptiveKLController(0.2, target=6.0)
    assert controller.value == 0.2 and controller.horizon == 10000

    controller.update(current_kl=0.0, n_steps=4)  # error -1 -> clipped to -0.2
    expected = 0.2 * (1 - 0.2 * 4 / 10000)
    assert controller.value == pytest.approx(expected, rel=1e-15)

    controller.update(current_kl=60.0, n_steps=8)  # error 9 -> clipped to +0.2
    expected *= 1 + 0.2 * 8 / 10000
    assert controller.value == pytest.approx(expected, rel=1e-15)

    controller.update(current_kl=6.6, n_steps=16)  # error 0.1: inside the clip range, kept
    expected *= 1 + 0.1 * 16 / 10000
    assert controller.value == pytest.approx(expected, rel=1e-12)

    before = controller.value
    controller.update(current_kl=6.0, n_steps=100)  # on target: no change
    assert controller.value == pytest.approx(before, rel=1e-15)


def test_adaptive_kl_controller_horizon():
    controller = AdaptiveKLController(1.0, target=2.0, horizon=10)
    controller.update(current_kl=1.0, n_steps=5)  # error -0.5 -> -0.2; 1 - 0.2 * 5 / 10
    assert controller.value == pytest.approx(0.9, rel=1e-15)
    controller.update(current_kl=2.2, n_steps=10)  # error 0.1; x 1.1
    assert controller.value == pytest.approx(0.99, rel=1e-12)


# --- running score moments (ppo_score_norm) ------------------------------------------------------------------------

def test_running_moments_equal_numpys_mean_and_sample_std_over_several_updates():
    rng = np.random.default_rng(0)
    batches = [rng.normal(3.0, 2.0, size=n) for n in (4, 7, 2, 5)]
    moments = RunningMoments()
    seen = []
    for batch in batches:
        moments.update(torch.tensor(batch, dtype=torch.float64))
        seen.extend(batch)
        assert moments.count == len(seen)
        assert moments.mean == pytest.approx(np.mean(seen), abs=1e-12)
        assert moments.std == pytest.approx(np.std(seen, ddof=1), abs=1e-12)
        assert moments.var == pytest.approx(np.var(seen), abs=1e-12)  # the population variance, kept internally


def test_score_normalisation_uses_the_moments_including_the_current_batch():
    fake = SimpleNamespace(settings=SimpleNamespace(score_norm=True), score_moments=RunningMoments())
    first, second = t(1.0, 2.0, 6.0), t(-1.0, 0.0)
    PPOTrainer.normalised_scores(fake, first)
    normalised = PPOTrainer.normalised_scores(fake, second)
    seen = np.array([1.0, 2.0, 6.0, -1.0, 0.0])
    expected = (second.numpy() - seen.mean()) / (seen.std(ddof=1) + 1e-8)
    assert normalised.tolist() == pytest.approx(expected.tolist(), abs=1e-12)

    fake.settings.score_norm = False
    assert PPOTrainer.normalised_scores(fake, second) is second


# --- turning generations into answers ------------------------------------------------------------------------------

STOP, PAD = 5, 0


@pytest.mark.parametrize("tokens, expected", [
    ([3, 4, STOP, PAD, PAD], [3, 4, STOP]),  # stopped: the stop token is kept, the padding after it dropped
    ([3, STOP, 4, STOP], [3, STOP]),  # the first stop token ends the answer
    ([STOP, PAD], [STOP]),
    ([3, 4, PAD, PAD], [3, 4]),  # cut off by max_new_tokens (or padded with the batch): padding stripped
    ([3, PAD, 4, PAD], [3, PAD, 4]),  # only trailing padding goes
    ([3, 4, 6], [3, 4, 6]),  # ran out of tokens: kept whole
    ([3, 7, 4, STOP], [3, 7]),  # any of the stop tokens
])
def test_cut_at_stop(tokens, expected):
    assert cut_at_stop(tokens, {STOP, 7}, PAD) == expected


@pytest.mark.parametrize("tokens", [[PAD, PAD], []])
def test_cut_at_stop_never_returns_an_empty_answer(tokens):
    answer = cut_at_stop(tokens, {STOP, 7}, PAD)
    assert len(answer) == 1 and answer[0] in {STOP, 7}  # a lone stop token: an empty answer that ended its turn
    assert cut_at_stop(tokens, {STOP}, PAD) == [STOP]


def test_cut_at_stop_when_padding_is_a_stop_token():
    # llama3: pad_token is <|eot_id|>, itself a stop token; an answer that ends with it keeps it
    assert cut_at_stop([3, 4, PAD, PAD], {PAD, 7}, PAD) == [3, 4, PAD]
    assert cut_at_stop([3, 7, PAD], {PAD, 7}, PAD) == [3, 7]
    assert cut_at_stop([3, 4], {PAD}, PAD) == [3, 4]
    assert cut_at_stop([], {PAD}, PAD) == [PAD]


def test_cut_at_stop_does_not_modify_its_input():
    tokens = [3, 4, PAD, PAD]
    cut_at_stop(tokens, {STOP}, PAD)
    assert tokens == [3, 4, PAD, PAD]


def test_completed_appends_the_turn_suffix_only_after_a_stop_token():
    fake = SimpleNamespace(stop_ids={STOP}, turn_suffix=[11])
    assert PPOTrainer.completed(fake, [3, 4, STOP]) == [3, 4, STOP, 11]
    assert PPOTrainer.completed(fake, [3, 4]) == [3, 4]  # cut off: the turn did not end
    assert PPOTrainer.completed(SimpleNamespace(stop_ids={STOP}, turn_suffix=[]), [3, STOP]) == [3, STOP]


def test_strip_left_padding():
    ids = torch.tensor([[0, 0, 1, 2], [3, 4, 5, 6]])
    mask = torch.tensor([[0, 0, 1, 1], [1, 1, 1, 1]])
    assert strip_left_padding(ids, mask) == [[1, 2], [3, 4, 5, 6]]


def test_right_pad():
    ids, mask = right_pad([[1, 2, 3], [4], [5, 6]], pad_id=9, device="cpu")
    assert ids.tolist() == [[1, 2, 3], [4, 9, 9], [5, 6, 9]]
    assert mask.tolist() == [[1, 1, 1], [1, 0, 0], [1, 1, 0]]
    assert ids.dtype == torch.long and mask.dtype == torch.long and ids.device.type == "cpu"


def test_align_right_moves_each_rows_answer_to_the_front():
    values = t([1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0], [9.0, 10.0, 11.0, 12.0])
    answer_mask = t([0, 1, 1, 0], [0, 0, 0, 1], [1, 1, 1, 0])
    aligned = _align_right(values, answer_mask)
    assert aligned.tolist() == [[2.0, 3.0, 0.0], [8.0, 0.0, 0.0], [9.0, 10.0, 11.0]]
    assert aligned.dtype == values.dtype
    # one argument: the mask itself, aligned the same way (the answer mask of the aligned tensors)
    assert _align_right(answer_mask).tolist() == [[1, 1, 0], [1, 0, 0], [1, 1, 1]]


def test_aligned_rollout_tensors_feed_the_per_token_arithmetic():
    """The answer mask of a rollout ([n, T-1], answers after prompts of different lengths) aligned to the front
    gives the rows token_rewards and GAE expect: each answer's tokens first, its last token at length - 1."""
    answer_mask = t([0, 0, 1, 1, 1, 0], [0, 1, 1, 0, 0, 0])  # prompt lengths 3 and 2, answers 3 and 2
    logps = t([9, 9, -1.0, -2.0, -0.5, 9], [9, -0.3, -1.2, 9, 9, 9])
    mask = _align_right(answer_mask)
    assert mask.tolist() == MASK.tolist()
    rewards, _ = token_rewards(t(2.0, -3.0), _align_right(logps, answer_mask), torch.zeros(2, 3, dtype=torch.float64),
                               mask, kl_coef=1.0)
    torch.testing.assert_close(rewards, t([1.0, 2.0, 0.5 + 2.0], [0.3, 1.2 - 3.0, 0.0]), atol=1e-12, rtol=0)


# --- the turn's ending after the stop token (ppo.py) -----------------------------------------------------------

def _template(model_dir, name):
    from transformers import AutoTokenizer

    from tunefactory.config.data_args import DataArguments
    from tunefactory.data.template import get_template

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    return tokenizer, get_template(tokenizer, DataArguments(template=name))


def test_turn_suffix_after_stop_is_qwens_newline_after_im_end(tiny_qwen2):
    from tunefactory.train.ppo import turn_suffix_after_stop

    tokenizer, template = _template(tiny_qwen2, "qwen")
    suffix = turn_suffix_after_stop(template, tokenizer)
    assert suffix == tokenizer.encode("\n", add_special_tokens=False) and len(suffix) == 1
    assert tokenizer.decode(suffix) == "\n"
    # it is what follows <|im_end|> when the template ends an assistant turn
    _, answer = template.encode_oneturn(tokenizer, [{"role": "user", "content": "Hi"},
                                                    {"role": "assistant", "content": "Hello"}])
    im_end = tokenizer.convert_tokens_to_ids("<|im_end|>")
    assert template.stop_token_ids(tokenizer) == [im_end]
    assert answer[answer.index(im_end) + 1:] == suffix


def test_turn_suffix_after_stop_is_empty_for_llama3(tiny_llama):
    from tunefactory.train.ppo import turn_suffix_after_stop

    tokenizer, template = _template(tiny_llama, "llama3")
    assert turn_suffix_after_stop(template, tokenizer) == []
    _, answer = template.encode_oneturn(tokenizer, [{"role": "user", "content": "Hi"},
                                                    {"role": "assistant", "content": "Hello"}])
    assert answer[-1] == tokenizer.convert_tokens_to_ids("<|eot_id|>")
