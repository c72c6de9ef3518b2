"""The sft loss variants LLaMA-Factory users turn on with one key, as functions of the labelled positions' logits.

Each weighs the token cross-entropy CE_t = -log p(y_t) of every labelled position t by a factor that is not
differentiated through (a *detached* weight), and sums over the labelled tokens:

    use_dft_loss   DFT, dynamic fine-tuning (Wu et al., 2025):      w_t = p(y_t)
    use_eaft_loss  EAFT, entropy-adaptive fine-tuning:              w_t = (H20_t / 3) ** eaft_alpha
                   H20_t = entropy of the softmax over the 20 largest logits at t (3 ~ ln 20, its maximum)
    use_asft_loss  ASFT, anchored sft: DFT plus asft_alpha * KL(p_ref || p) at every labelled position, the
                   reference being the model as training starts (or ``ref_model``)

The sum is divided by the labelled tokens of the whole gradient-accumulation window when the Trainer gives
that count (as transformers does for the plain loss), else by this batch's: so, unlike LLaMA-Factory's ASFT,
the loss does not grow with gradient_accumulation_steps (docs/training.md).

Only the labelled positions' logits are computed where the LM head allows it (`labelled_head.py`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .labelled_head import IGNORE_INDEX, MODEL_INPUTS, labelled_hidden

EAFT_TOP_K = 20
EAFT_ENTROPY_SCALE = 3.0  # about ln 20: the entropy of 20 equal logits, so H20 / 3 lies in [0, ~1]


@dataclass(frozen=True)
class SftLoss:
    """Which variant (``dft``, ``eaft`` or ``asft``) and its exponent or KL weight."""

    kind: str
    alpha: float = 1.0

    @classmethod
    def from_arguments(cls, finetuning) -> SftLoss | None:
        if finetuning.use_dft_loss:
            return cls("dft")
        if finetuning.use_eaft_loss:
            return cls("eaft", finetuning.eaft_alpha)
        if finetuning.use_asft_loss:
            return cls("asft", finetuning.asft_alpha)
        return None

    @property
    def needs_reference(self) -> bool:
        return self.kind == "asft"


def labelled_logits(model, inputs: dict, labelled_head: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """``(float32 logits [N, vocab], targets [N])`` of the N labelled positions (a position predicts the next
    token's label)."""
    labels = inputs["labels"]
    if labelled_head:
        head, hidden, targets, _ = labelled_hidden(model, inputs, labels)
        return head(hidden).float(), targets
    logits = model(**{k: inputs[k] for k in MODEL_INPUTS if k in inputs}, use_cache=False).logits
    mask = labels[:, 1:] != IGNORE_INDEX
    return logits[:, :-1][mask].float(), labels[:, 1:][mask]


def token_weights(kind: str, logits: torch.Tensor, token_ce: torch.Tensor, alpha: float) -> torch.Tensor:
    """The detached per-token weight of DFT (and ASFT's first term) or EAFT."""
    with torch.no_grad():
        if kind in ("dft", "asft"):
            return torch.exp(-token_ce)
        top = logits.topk(min(EAFT_TOP_K, logits.shape[-1]), dim=-1).values.log_softmax(-1)
        entropy = -(top.exp() * top).sum(-1)
        return (entropy / EAFT_ENTROPY_SCALE).pow(alpha)


def weighted_sft_loss(loss: SftLoss, logits: torch.Tensor, targets: torch.Tensor,
                      ref_logits: torch.Tensor | None = None, num_items_in_batch=None) -> torch.Tensor:
    """The variant's loss over labelled logits [N, V] and targets [N] (``ref_logits``: the reference's, for ASFT)."""
    if not len(targets):
        return logits.sum() * 0.0
    token_ce = F.cross_entropy(logits, targets, reduction="none")
    total = (token_weights(loss.kind, logits, token_ce, loss.alpha) * token_ce).sum()
    if loss.kind == "asft":
        ref_logps = ref_logits.float().log_softmax(-1)
        kl = (ref_logps.exp() * (ref_logps - logits.log_softmax(-1))).sum(-1)  # KL(p_ref || p) per position
        total = total + loss.alpha * kl.sum()
    count = len(targets) if num_items_in_batch is None else num_items_in_batch
    if torch.is_tensor(count):
        count = count.to(total.device)
    return total / count
