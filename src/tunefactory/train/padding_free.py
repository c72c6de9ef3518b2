"""Padding-free batches (``padding_free``): a batch's rows concatenated into one row, each attending only to itself.

Unpacked sft and pt pad every row to the batch's longest, and the padding runs through every layer: on
alpaca-style data a third or more of the positions. Here the collator concatenates the rows instead
(``input_ids``, ``labels``, ``position_ids`` restarting at 0 for each row, the first label of each row -100
so that no row learns to predict the next one's first token) and attention is kept within each row:

  sdpa                         our ``rows_sdpa`` attention: the rows are laid side by side again for the
                               attention call alone (one causal ``scaled_dot_product_attention``, as the padded
                               batch makes it; one block mask over the whole concatenation would cost the total
                               length squared, and a call per row costs more than it saves on many short rows)
  flash_attention_2/3, kernels the kernels read the row starts from ``position_ids`` (varlen), no mask

The loss and gradients equal the padded batch's (tests/train/test_padding_free.py). It is used only where a
probe forward of two rows, concatenated and one by one, gives the same logits; otherwise, and for eager
attention, sliding-window or soft-capped attention, media, packing and ZeRO-3, batches are padded as before
(``padding_free_blocker`` says why, logged once).
"""

from __future__ import annotations

import logging

import torch
import torch.nn.functional as F

from ..data.collators import FLASH_IMPLEMENTATIONS
from ..model.unsloth import LOADED_BY_UNSLOTH

logger = logging.getLogger(__name__)

ROWS_SDPA = "tunefactory_rows_sdpa"


def rows_sdpa(module, query, key, value, attention_mask, dropout: float = 0.0, scaling: float | None = None,
              is_causal: bool | None = None, **kwargs):
    """transformers' sdpa attention, except for a concatenated batch (one row, no mask, restarting
    ``position_ids``, no cache): there the rows are laid out side by side again for attention only (right-padded,
    so plain causal attention is exact for every real position) and taken back out; the other layers never see
    the padding."""
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    position_ids = kwargs.get("position_ids")
    concatenated = (attention_mask is None and position_ids is not None and query.shape[0] == 1
                    and query.shape[2] == key.shape[2] > 1 and is_causal is not False
                    and getattr(module, "is_causal", True))
    layout = _row_layout(position_ids) if concatenated else None
    if layout is None:
        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout, scaling=scaling,
                                      is_causal=is_causal, **kwargs)
    rows, positions, shape = layout

    def side_by_side(states):  # [1, heads, tokens, dim] -> [rows, heads, longest, dim]
        tokens = states[0].transpose(0, 1)
        padded = tokens.new_zeros((*shape, *tokens.shape[1:]))
        padded[rows, positions] = tokens
        return padded.transpose(1, 2)

    attended = F.scaled_dot_product_attention(side_by_side(query), side_by_side(key), side_by_side(value),
                                              dropout_p=dropout, scale=scaling, is_causal=True,
                                              enable_gqa=key.shape[1] != query.shape[1])
    return attended.transpose(1, 2)[rows, positions][None], None  # [1, tokens, heads, dim], as sdpa returns it


_last_layout: list = [None, None]  # (position_ids, layout): every layer of one forward gets the same tensor


def _row_layout(position_ids: torch.Tensor):
    """(row of each token, its position in the row, (rows, longest)) for a concatenation of at least two rows
    whose positions count 0, 1, 2, ... each; None otherwise. Worked out once per forward, not once per layer
    (the checks read values back from the device)."""
    if _last_layout[0] is position_ids:
        return _last_layout[1]
    positions = position_ids.reshape(-1)
    starts = positions == 0
    layout = None
    if int(starts[0]) == 1 and int(starts.sum()) >= 2:
        previous = torch.cat([positions.new_full((1,), -1), positions[:-1]])
        if bool(((positions == previous + 1) | starts).all()):
            rows = starts.long().cumsum(0) - 1
            layout = rows, positions, (int(rows[-1]) + 1, int(positions.max()) + 1)
    _last_layout[:] = [position_ids, layout]
    return layout


def register_rows_sdpa() -> None:
    """``rows_sdpa`` under its name, with sdpa's own masks (padded batches still get them)."""
    from transformers import AttentionInterface
    from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, sdpa_mask

    AttentionInterface.register(ROWS_SDPA, rows_sdpa)
    ALL_MASK_ATTENTION_FUNCTIONS.register(ROWS_SDPA, sdpa_mask)


def padding_free_blocker(model, *, packing: bool, media: bool, reference_model: bool, sharded: bool) -> str | None:
    """Why this run's batches cannot be concatenated (None: they can)."""
    from .labelled_head import causal_lm

    lm = causal_lm(model)
    config = lm.config
    implementation = getattr(config, "_attn_implementation", None) or "sdpa"
    if packing:
        return "the rows are packed"
    if media:
        return "the rows carry media"
    if reference_model:
        return "a reference model reads the same batches"
    if sharded:
        return "the weights are sharded (ZeRO-3)"
    if getattr(model, LOADED_BY_UNSLOTH, False) or getattr(lm, LOADED_BY_UNSLOTH, False):
        return "Unsloth patches the attention"
    if implementation not in ("sdpa", ROWS_SDPA, *FLASH_IMPLEMENTATIONS):
        return f"attn_implementation is {implementation} (padding-free needs sdpa or flash-attention)"
    if not getattr(lm, "_supports_attention_backend", False):
        return f"{type(lm).__name__} does not take transformers' attention functions"
    text = config.get_text_config() if hasattr(config, "get_text_config") else config
    if any(kind != "full_attention" for kind in getattr(text, "layer_types", None) or ()):
        return "some layers use sliding-window attention"
    if getattr(text, "sliding_window", None) and getattr(text, "use_sliding_window", True):
        return "the model uses sliding-window attention"
    if getattr(text, "attn_logit_softcapping", None):
        return "the model soft-caps its attention scores"
    return None


def use_padding_free(model, enabled: bool, **blockers) -> bool:
    """Whether this run's batches are concatenated (``padding_free``), logged; with sdpa, the model's attention
    becomes ``rows_sdpa`` (the same as sdpa for every batch that is not concatenated)."""
    if not enabled:
        return False
    blocker = padding_free_blocker(model, **blockers)
    if blocker is None:
        blocker = _probe(model)
    if blocker:
        logger.info("padding_free: padding each batch to its longest row because %s", blocker)
        return False
    logger.info("padding_free: each batch's rows are concatenated without padding, attention kept within rows")
    return True


def _probe(model) -> str | None:
    """Install ``rows_sdpa`` (for sdpa) and check on two short rows that concatenating them changes no logit."""
    from .labelled_head import causal_lm

    lm = causal_lm(model)
    previous = lm.config._attn_implementation
    if previous in ("sdpa", ROWS_SDPA):
        register_rows_sdpa()
        lm.set_attn_implementation(ROWS_SDPA)
    device = next(lm.parameters()).device
    vocab = lm.get_input_embeddings().num_embeddings
    generator = torch.Generator().manual_seed(0)
    first, second = (torch.randint(0, vocab, (1, n), generator=generator).to(device) for n in (3, 5))
    ids = torch.cat([first, second], dim=1)
    positions = torch.tensor([[0, 1, 2, 0, 1, 2, 3, 4]], device=device)
    mask = None if previous in FLASH_IMPLEMENTATIONS else torch.ones_like(ids)
    was_training = lm.training
    lm.eval()
    try:
        with torch.no_grad():
            apart = torch.cat([lm(input_ids=row, use_cache=False).logits for row in (first, second)], dim=1)
            together = lm(input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=False).logits
        tolerance = 1e-4 if apart.dtype == torch.float32 else 3e-2
        same = torch.allclose(apart.float(), together.float(), atol=tolerance, rtol=tolerance)
        reason = None if same else f"{type(lm).__name__} does not keep concatenated rows apart (a probe differed)"
    except Exception as error:  # a model that refuses the probe's inputs keeps its padded batches
        reason = f"the probe forward failed ({type(error).__name__}: {error})"
    finally:
        lm.train(was_training)
    if reason and previous != lm.config._attn_implementation:
        lm.set_attn_implementation(previous)
    return reason
