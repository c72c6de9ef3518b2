"""The losses of the preference stages, as plain functions of per-sequence log-probabilities.

Each takes tensors of shape ``[batch]`` and returns per-example losses, so the trainers stay thin
and every formula can be checked by hand (tests/train/test_losses.py). Conventions follow
LLaMA-Factory (and through it TRL): ``ipo``, ``orpo`` and ``simpo`` use the *average* log-probability
per answer token, the others the sum.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..data.processors.common import IGNORE_INDEX

AVERAGED_LOSSES = ("ipo", "orpo", "simpo")


@dataclass(frozen=True)
class PreferenceLossSettings:
    """The settings the dpo and kto losses read (LLaMA-Factory's ``pref_*``, ``dpo_*``, ``kto_*`` keys)."""

    loss_type: str = "sigmoid"  # pref_loss
    beta: float = 0.1  # pref_beta
    ftx: float = 0.0  # pref_ftx: weight of the chosen answer's SFT loss
    bco_weight: float = 0.0  # pref_bco_weight
    label_smoothing: float = 0.0  # dpo_label_smoothing
    simpo_gamma: float = 0.5
    ld_alpha: float | None = None
    kto_chosen_weight: float = 1.0
    kto_rejected_weight: float = 1.0

    @classmethod
    def from_arguments(cls, finetuning) -> PreferenceLossSettings:
        f = finetuning
        return cls(loss_type=f.pref_loss, beta=f.pref_beta, ftx=f.pref_ftx, bco_weight=f.pref_bco_weight,
                   label_smoothing=f.dpo_label_smoothing, simpo_gamma=f.simpo_gamma, ld_alpha=f.ld_alpha,
                   kto_chosen_weight=f.kto_chosen_weight, kto_rejected_weight=f.kto_rejected_weight)


def token_logps(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(log p(label) per position [B, T-1] (0 where unlabelled), label mask [B, T-1])``.

    ``logits[:, t]`` predicts ``labels[:, t + 1]``; positions labelled -100 count for nothing."""
    labels = labels[:, 1:]
    logits = logits[:, :-1]
    mask = labels != IGNORE_INDEX
    safe_labels = torch.where(mask, labels, 0)
    gathered = torch.gather(logits.float().log_softmax(-1), dim=-1, index=safe_labels.unsqueeze(-1)).squeeze(-1)
    return gathered * mask, mask


def sequence_logps(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Sum of log p(label) over each row's labelled tokens, and how many there are."""
    return summed_logps(*token_logps(logits, labels))


def summed_logps(per_token: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return (per_token * mask).sum(-1), mask.sum(-1)


def length_desensitised_logps(logits: torch.Tensor, labels: torch.Tensor,
                              alpha: float) -> tuple[torch.Tensor, torch.Tensor]:
    """LD-DPO (``ld_alpha``): on a batch of chosen rows then rejected rows, answer tokens beyond the
    shorter answer of each pair count ``alpha`` times, so length alone wins less. Returns (logps, counts)."""
    return length_desensitised(*token_logps(logits, labels), alpha)


def length_desensitised(per_token: torch.Tensor, mask: torch.Tensor, alpha: float) -> tuple[torch.Tensor, torch.Tensor]:
    counts = mask.sum(-1)
    half = counts.shape[0] // 2
    shared = torch.minimum(counts[:half], counts[half:]).repeat(2)
    shared_part = mask & (mask.cumsum(-1) <= shared.unsqueeze(-1))
    rest = mask & ~shared_part
    return (per_token * shared_part).sum(-1) + alpha * (per_token * rest).sum(-1), counts


def pairwise_reward_loss(chosen_scores: torch.Tensor, rejected_scores: torch.Tensor) -> torch.Tensor:
    """Bradley-Terry: -log sigmoid(r_chosen - r_rejected)."""
    return -F.logsigmoid(chosen_scores.float() - rejected_scores.float())


def dpo_loss(loss_type: str, policy_chosen: torch.Tensor, policy_rejected: torch.Tensor, ref_chosen: torch.Tensor,
             ref_rejected: torch.Tensor, beta: float, label_smoothing: float = 0.0) -> torch.Tensor:
    """The reference-based losses: sigmoid (DPO, with cDPO label smoothing), hinge (SLiC), ipo, kto_pair."""
    chosen_ratio = policy_chosen - ref_chosen
    rejected_ratio = policy_rejected - ref_rejected
    margin = chosen_ratio - rejected_ratio
    if loss_type == "sigmoid":
        return -F.logsigmoid(beta * margin) * (1 - label_smoothing) - F.logsigmoid(-beta * margin) * label_smoothing
    if loss_type == "hinge":
        return torch.relu(1 - beta * margin)
    if loss_type == "ipo":
        return (margin - 1 / (2 * beta)) ** 2
    if loss_type == "kto_pair":
        # Each side's KL term is estimated from the other side of the batch, as in the KTO paper.
        chosen_kl = chosen_ratio.mean().clamp(min=0).detach()
        rejected_kl = rejected_ratio.mean().clamp(min=0).detach()
        return torch.cat((1 - torch.sigmoid(beta * (chosen_ratio - rejected_kl)),
                          1 - torch.sigmoid(beta * (chosen_kl - rejected_ratio))))
    raise ValueError(f"unknown pref_loss {loss_type!r}")


def orpo_loss(chosen_avg: torch.Tensor, rejected_avg: torch.Tensor, beta: float) -> tuple[torch.Tensor, torch.Tensor]:
    """ORPO: the chosen answer's NLL plus beta times -log sigmoid(log odds ratio).

    Returns (losses, odds-ratio losses); inputs are average log-probabilities (always < 0)."""
    log_odds = (chosen_avg - rejected_avg) - (torch.log1p(-torch.exp(chosen_avg))
                                              - torch.log1p(-torch.exp(rejected_avg)))
    odds_ratio_loss = -F.logsigmoid(log_odds)
    return -chosen_avg + beta * odds_ratio_loss, odds_ratio_loss


def simpo_loss(chosen_avg: torch.Tensor, rejected_avg: torch.Tensor, beta: float, gamma: float) -> torch.Tensor:
    """SimPO: -log sigmoid(beta * (avg_chosen - avg_rejected) - gamma), no reference model."""
    return -F.logsigmoid(beta * (chosen_avg - rejected_avg) - gamma)


def bco_loss(chosen_rewards: torch.Tensor, rejected_rewards: torch.Tensor, delta: float | torch.Tensor) -> torch.Tensor:
    """BCO: each side classified against the running mean reward ``delta`` (``pref_bco_weight``)."""
    return -F.logsigmoid(chosen_rewards - delta) - F.logsigmoid(-(rejected_rewards - delta))


def kto_loss(policy_logps: torch.Tensor, ref_logps: torch.Tensor, desirable: torch.Tensor, kl: torch.Tensor,
             beta: float, desirable_weight: float, undesirable_weight: float) -> torch.Tensor:
    """KTO per example: desirable answers are pushed above the KL baseline, undesirable ones below.

    ``kl`` is the batch's estimate of KL(policy || reference) from mismatched prompt/answer rows,
    clamped at zero and not differentiated through."""
    ratio = policy_logps - ref_logps
    kl = kl.detach().clamp(min=0)
    desirable_loss = desirable_weight * (1 - torch.sigmoid(beta * (ratio - kl)))
    undesirable_loss = undesirable_weight * (1 - torch.sigmoid(beta * (kl - ratio)))
    return torch.where(desirable, desirable_loss, undesirable_loss)
