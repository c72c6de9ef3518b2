"""sft's DFT, EAFT and ASFT losses against hand computations, and their labelled-only logits."""

from __future__ import annotations

import math

import pytest
import torch
from transformers import AutoModelForCausalLM

from tunefactory.train.sft_losses import SftLoss, labelled_logits, weighted_sft_loss

LOGITS = [[2.0, 0.5, -1.0, 0.0], [0.1, 0.2, 3.0, -0.5], [1.0, 1.0, 1.0, 1.0]]
TARGETS = [0, 3, 1]
REF = [[1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 2.0, 0.0], [0.5, 1.5, 1.0, 1.0]]


def softmax(row):
    exps = [math.exp(x) for x in row]
    return [e / sum(exps) for e in exps]


def ce(row, target):
    return -math.log(softmax(row)[target])


def entropy(row):
    return -sum(p * math.log(p) for p in softmax(row))


def kl(ref_row, row):
    p, q = softmax(ref_row), softmax(row)
    return sum(a * (math.log(a) - math.log(b)) for a, b in zip(p, q))


def loss_of(kind, alpha=1.0, count=None):
    logits = torch.tensor(LOGITS, requires_grad=True)
    value = weighted_sft_loss(SftLoss(kind, alpha), logits, torch.tensor(TARGETS), torch.tensor(REF), count)
    return value, logits


def test_dft_weighs_each_tokens_cross_entropy_by_its_probability():
    expected = sum(math.exp(-ce(r, t)) * ce(r, t) for r, t in zip(LOGITS, TARGETS)) / 3
    value, logits = loss_of("dft")
    assert value.item() == pytest.approx(expected, rel=1e-6)
    value.backward()
    # the weight is detached: the gradient is p(y) * (softmax - onehot) / N
    for i, (row, target) in enumerate(zip(LOGITS, TARGETS)):
        weight = softmax(row)[target]
        manual = [weight * (p - (j == target)) / 3 for j, p in enumerate(softmax(row))]
        assert logits.grad[i].tolist() == pytest.approx(manual, abs=1e-6)


def test_eaft_weighs_by_the_top_20_entropy_over_3_to_the_alpha():
    # a vocabulary of 4 keeps every logit in the top 20
    expected = sum((entropy(r) / 3.0) ** 2 * ce(r, t) for r, t in zip(LOGITS, TARGETS)) / 10
    value, _ = loss_of("eaft", alpha=2.0, count=10)  # over the accumulation window's 10 tokens
    assert value.item() == pytest.approx(expected, rel=1e-6)


def test_eaft_uses_only_the_20_largest_logits():
    row = torch.cat([torch.linspace(0, 4, 20), torch.full((30,), -1.0)]).unsqueeze(0)
    top = torch.linspace(0, 4, 20).tolist()
    expected = (entropy(top) / 3.0) * -torch.log_softmax(row, -1)[0, 5].item()
    value = weighted_sft_loss(SftLoss("eaft", 1.0), row, torch.tensor([5]))
    assert value.item() == pytest.approx(expected, rel=1e-5)


def test_asft_adds_alpha_times_kl_from_the_reference():
    dft = sum(math.exp(-ce(r, t)) * ce(r, t) for r, t in zip(LOGITS, TARGETS))
    expected = (dft + 0.3 * sum(kl(p, r) for p, r in zip(REF, LOGITS))) / 3
    value, _ = loss_of("asft", alpha=0.3)
    assert value.item() == pytest.approx(expected, rel=1e-6)
    same = weighted_sft_loss(SftLoss("asft", 0.3), torch.tensor(LOGITS), torch.tensor(TARGETS), torch.tensor(LOGITS))
    assert same.item() == pytest.approx(dft / 3, rel=1e-6)  # no KL when the model is its reference


def test_no_labelled_token_gives_a_zero_loss_with_a_gradient_path():
    logits = torch.zeros((0, 4), requires_grad=True)
    value = weighted_sft_loss(SftLoss("dft"), logits, torch.zeros(0, dtype=torch.long))
    assert value.item() == 0.0 and value.requires_grad


def test_settings_come_from_llamafactorys_keys():
    from tunefactory.config.finetuning_args import FinetuningArguments

    assert SftLoss.from_arguments(FinetuningArguments()) is None
    assert SftLoss.from_arguments(FinetuningArguments(use_eaft_loss=True, eaft_alpha=0.5)) == SftLoss("eaft", 0.5)
    asft = SftLoss.from_arguments(FinetuningArguments(use_asft_loss=True))
    assert asft == SftLoss("asft", 0.1) and asft.needs_reference


def test_labelled_only_logits_equal_the_full_models_at_the_labelled_positions(tiny_llama):
    model = AutoModelForCausalLM.from_pretrained(tiny_llama).eval()
    torch.manual_seed(0)
    ids = torch.randint(3, 200, (2, 9))
    labels = ids.clone()
    labels[0, :5] = -100
    labels[1, :7] = -100
    inputs = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": labels}
    with torch.no_grad():
        fused, fused_targets = labelled_logits(model, inputs, labelled_head=True)
        full, full_targets = labelled_logits(model, inputs, labelled_head=False)
    assert fused.shape == (4 + 2, model.config.vocab_size)
    assert fused_targets.tolist() == full_targets.tolist() == ids[0, 5:].tolist() + ids[1, 7:].tolist()
    torch.testing.assert_close(fused, full, atol=1e-5, rtol=0)
