"""The LM head only where there are labels, a chunk at a time.

In sft most positions are prompt tokens labelled -100, yet a causal LM's own loss projects every
position through the LM head (``[tokens × vocab]`` logits, often the largest tensor of a step) and
only then ignores most of them. Here the model runs with its head swapped for a pass-through, the
hidden states of the labelled positions are gathered, and the head and the cross-entropy (or the
token log-probabilities, for dpo/kto) run over them in chunks inside one autograd function, so the
full logits never exist. Loss and gradients equal the model's own path (tests/train/test_labelled_head.py).

Used only where that is exact: a plain ``nn.Linear`` head without bias and no logit post-processing
(soft-capping, scaling, router losses), and no sharded parameters (FSDP, ZeRO-3) that the head
module's own forward would gather. Otherwise the model's own path runs (``fused_head_blocker`` says why).
"""

from __future__ import annotations

import contextlib
import logging

import torch
from torch import nn

logger = logging.getLogger(__name__)

IGNORE_INDEX = -100
CHUNK_BYTES = 256 * 2**20  # float32 logits per chunk
# config keys that change what the head's output means (soft-capping, scaling, auxiliary losses)
POSTPROCESSING_KEYS = ("final_logit_softcapping", "logit_scale", "logits_scaling", "output_router_logits",
                       "router_aux_loss_coef_in_loss")
MODEL_INPUTS = ("input_ids", "attention_mask", "position_ids")


def causal_lm(model) -> nn.Module:
    """The transformers CausalLM inside DDP and PEFT wrappers (or the model itself)."""
    if isinstance(model, nn.parallel.DistributedDataParallel):
        model = model.module
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def fused_head_blocker(model, extra_inputs=()) -> str | None:
    """Why the labelled-only head cannot be used for this model (None: it can)."""
    lm = causal_lm(model)
    head = lm.get_output_embeddings() if hasattr(lm, "get_output_embeddings") else None
    if not isinstance(head, nn.Linear) or type(head) is not nn.Linear:
        return "the LM head is not a plain linear layer"
    if head.bias is not None:
        return "the LM head has a bias"
    config = lm.config.get_text_config() if hasattr(lm.config, "get_text_config") else lm.config
    for key in POSTPROCESSING_KEYS:
        value = getattr(config, key, None)
        if value not in (None, False, 0, 1, 1.0):
            return f"the model post-processes its logits ({key}={value})"
    if getattr(head.weight, "ds_id", None) is not None or "FullyShardedDataParallel" in type(model).__name__:
        return "the head's weights are sharded (FSDP / ZeRO-3)"
    unknown = sorted(set(extra_inputs) - set(MODEL_INPUTS) - {"labels"})
    if unknown:
        return f"the batch carries inputs it does not handle ({', '.join(unknown)})"
    return None


def use_labelled_head(model, enabled: bool) -> bool:
    """Whether training runs the head only on labelled positions (``lm_head_on_labels_only``), logged."""
    if not enabled:
        return False
    blocker = fused_head_blocker(model)
    if blocker:
        logger.info("lm_head_on_labels_only: using the model's own loss because %s", blocker)
        return False
    logger.info("lm_head_on_labels_only: the LM head runs only on labelled positions, in chunks")
    return True


class _PassHidden(nn.Module):
    def forward(self, hidden_states):
        return hidden_states


@contextlib.contextmanager
def hidden_states_as_logits(model):
    """Run ``model`` with its head replaced by a pass-through: ``.logits`` are the final hidden states.

    Calling the (possibly DDP-wrapped) model itself keeps its forward hooks; only the head is skipped."""
    lm = causal_lm(model)
    head = lm.get_output_embeddings()
    lm.set_output_embeddings(_PassHidden())
    try:
        yield head
    finally:
        lm.set_output_embeddings(head)


def _chunk_rows(vocab_size: int) -> int:
    return max(1, CHUNK_BYTES // (4 * vocab_size))


def labelled_hidden(model, inputs: dict, labels: torch.Tensor):
    """(head, hidden states of the labelled positions [N, H], their targets [N], the label mask [B, T-1])."""
    with hidden_states_as_logits(model) as head:
        hidden = model(**{k: inputs[k] for k in MODEL_INPUTS if k in inputs}, use_cache=False).logits
    mask = labels[:, 1:] != IGNORE_INDEX
    return head, hidden[:, :-1][mask], labels[:, 1:][mask], mask


class _LinearCrossEntropySum(torch.autograd.Function):
    """sum_i CE(W h_i, y_i); gradients are computed chunk by chunk in the forward pass (the loss is a
    scalar, so backward only scales them), so no chunk's logits outlive its own step."""

    @staticmethod
    def forward(ctx, hidden, weight, targets):
        total = torch.zeros((), dtype=torch.float32, device=hidden.device)
        grad_hidden = torch.empty_like(hidden) if ctx.needs_input_grad[0] else None
        grad_weight = torch.zeros_like(weight, dtype=torch.float32) if ctx.needs_input_grad[1] else None
        wants_grads = grad_hidden is not None or grad_weight is not None
        step = _chunk_rows(weight.shape[0])
        for start in range(0, hidden.shape[0], step):
            rows, target = hidden[start:start + step], targets[start:start + step]
            logits = (rows @ weight.t()).float()
            log_z = torch.logsumexp(logits, dim=-1)
            total += (log_z - logits.gather(-1, target.unsqueeze(-1)).squeeze(-1)).sum()
            if not wants_grads:
                continue
            grad_logits = torch.exp(logits - log_z.unsqueeze(-1))
            grad_logits[torch.arange(len(target), device=target.device), target] -= 1.0
            if grad_hidden is not None:
                grad_hidden[start:start + step] = (grad_logits.to(weight.dtype) @ weight).to(hidden.dtype)
            if grad_weight is not None:
                grad_weight += grad_logits.t() @ rows.float()
        ctx.save_for_backward(grad_hidden if grad_hidden is not None else torch.empty(0),
                              grad_weight if grad_weight is not None else torch.empty(0))
        ctx.has_grads = (grad_hidden is not None, grad_weight is not None)
        ctx.weight_dtype = weight.dtype
        return total

    @staticmethod
    def backward(ctx, grad_output):
        grad_hidden, grad_weight = ctx.saved_tensors
        has_hidden, has_weight = ctx.has_grads
        return (grad_hidden * grad_output.to(grad_hidden.dtype) if has_hidden else None,
                (grad_weight * grad_output).to(ctx.weight_dtype) if has_weight else None, None)


class _LinearTokenLogps(torch.autograd.Function):
    """log p(y_i | h_i) = (W h_i)[y_i] - logsumexp(W h_i) per row, and the mean logit of each row (no grad);
    backward recomputes each chunk's logits instead of keeping them."""

    @staticmethod
    def forward(ctx, hidden, weight, targets):
        logps = torch.empty(hidden.shape[0], dtype=torch.float32, device=hidden.device)
        mean_logits = torch.empty_like(logps)
        step = _chunk_rows(weight.shape[0])
        for start in range(0, hidden.shape[0], step):
            logits = (hidden[start:start + step] @ weight.t()).float()
            target = targets[start:start + step]
            logps[start:start + step] = logits.gather(-1, target.unsqueeze(-1)).squeeze(-1) - logits.logsumexp(-1)
            mean_logits[start:start + step] = logits.mean(-1)
        ctx.save_for_backward(hidden, weight, targets)
        ctx.mark_non_differentiable(mean_logits)
        return logps, mean_logits

    @staticmethod
    def backward(ctx, grad_logps, _grad_mean):
        hidden, weight, targets = ctx.saved_tensors
        grad_hidden = torch.empty_like(hidden) if ctx.needs_input_grad[0] else None
        grad_weight = torch.zeros_like(weight, dtype=torch.float32) if ctx.needs_input_grad[1] else None
        step = _chunk_rows(weight.shape[0])
        for start in range(0, hidden.shape[0], step):
            rows, target = hidden[start:start + step], targets[start:start + step]
            logits = (rows @ weight.t()).float()
            grad_logits = -torch.softmax(logits, dim=-1)
            grad_logits[torch.arange(len(target), device=target.device), target] += 1.0
            grad_logits *= grad_logps[start:start + step].unsqueeze(-1)
            if grad_hidden is not None:
                grad_hidden[start:start + step] = (grad_logits.to(weight.dtype) @ weight).to(hidden.dtype)
            if grad_weight is not None:
                grad_weight += grad_logits.t() @ rows.float()
        return grad_hidden, grad_weight.to(weight.dtype) if grad_weight is not None else None, None


def labelled_lm_loss(model, inputs: dict, num_items_in_batch=None) -> torch.Tensor:
    """The causal-LM loss of ``inputs["labels"]``, as the model's own loss computes it: summed token
    cross-entropy over ``num_items_in_batch`` when given (gradient accumulation), else the mean."""
    labels = inputs["labels"]
    head, hidden, targets, _ = labelled_hidden(model, inputs, labels)
    total = _LinearCrossEntropySum.apply(hidden, head.weight, targets)
    if num_items_in_batch is None:
        return total / max(len(targets), 1) if len(targets) else total * 0.0
    if torch.is_tensor(num_items_in_batch):
        num_items_in_batch = num_items_in_batch.to(total.device)
    return total / num_items_in_batch


def labelled_token_logps(model, input_ids, attention_mask, labels):
    """``(token_logps [B, T-1], mask [B, T-1], mean logit per row over its labelled tokens [B])``: the
    log-probabilities of the labelled tokens (0 elsewhere), as ``log_softmax(logits)`` would give them."""
    inputs = {"input_ids": input_ids, "attention_mask": attention_mask}
    head, hidden, targets, mask = labelled_hidden(model, inputs, labels)
    logps, mean_logits = _LinearTokenLogps.apply(hidden, head.weight, targets)
    token_logps = torch.zeros(mask.shape, dtype=logps.dtype, device=logps.device).masked_scatter(mask, logps)
    row_mean = torch.zeros(mask.shape, dtype=mean_logits.dtype, device=mask.device).masked_scatter(mask, mean_logits)
    return token_logps, mask, row_mean.sum(-1) / mask.sum(-1).clamp(min=1)
