"""LLaMA Pro block expansion: a copy of the model with ``num_expand`` new decoder blocks that start as identities.

After every ``layers / num_expand`` original layers, a copy of the last of them is inserted with its attention
and MLP output projections (``o_proj``, ``down_proj``, weights and biases) set to zero, so the block adds nothing
to the residual stream and the expanded model computes exactly what the original did. Training with
``use_llama_pro: true`` and ``freeze_trainable_layers: num_expand`` then updates only the new blocks
(`model/adapters.py`). This is what LLaMA-Factory's ``scripts/llama_pro.py`` writes, done on the loaded model
so per-layer settings (attention ``layer_idx``, ``layer_types``) follow the new numbering.

    tunefactory llama-pro --model_name_or_path PATH --output_dir DIR --num_expand N
"""

from __future__ import annotations

import copy
import logging
from pathlib import Path

from ..errors import ConfigError, ModelError

logger = logging.getLogger(__name__)

ZEROED = ("o_proj", "down_proj")  # the blocks' outputs into the residual stream


def expand_blocks(model_name_or_path: str, output_dir: str, num_expand: int) -> Path:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out = Path(output_dir)
    if out.exists() and any(out.iterdir()):
        raise ConfigError([f"output_dir: {out} is not empty (refused: it would be overwritten); choose a new folder"])
    model = AutoModelForCausalLM.from_pretrained(model_name_or_path, dtype="auto")
    config = model.config.get_text_config()
    parent, attribute = _decoder_layers(model, config.num_hidden_layers)
    layers = getattr(parent, attribute)
    count = len(layers)
    if num_expand < 1 or count % num_expand:
        raise ConfigError([f"num_expand ({num_expand}) must divide the model's {count} layers"])
    split = count // num_expand
    expanded, types = [], []
    layer_types = getattr(config, "layer_types", None)
    for index, layer in enumerate(layers):
        expanded.append(layer)
        types.append(layer_types[index] if layer_types else None)
        if (index + 1) % split == 0:
            block = copy.deepcopy(layer)
            zeroed = [name for name, _ in block.named_modules() if name.split(".")[-1] in ZEROED]
            if not zeroed:
                raise ModelError(f"LLaMA Pro starts each new block as an identity by zeroing its {' and '.join(ZEROED)} "
                                 f"projections; this model's blocks have neither")
            with torch.no_grad():
                for name, param in block.named_parameters():
                    if any(f"{module}." in f"{name}." for module in zeroed):
                        param.zero_()
            expanded.append(block)
            types.append(layer_types[index] if layer_types else None)
    for index, layer in enumerate(expanded):
        for module in layer.modules():
            if hasattr(module, "layer_idx"):
                module.layer_idx = index  # the KV cache is indexed by layer
    setattr(parent, attribute, torch.nn.ModuleList(expanded))
    config.num_hidden_layers = len(expanded)
    if layer_types:
        config.layer_types = types
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    AutoTokenizer.from_pretrained(model_name_or_path).save_pretrained(out)
    logger.info("expanded %d layers to %d (a new block after every %d) in %s; train it with finetuning_type: freeze, "
                "use_llama_pro: true, freeze_trainable_layers: %d", count, len(expanded), split, out, num_expand)
    return out


def _decoder_layers(model, count: int):
    """(parent module, attribute) of the ModuleList holding the decoder blocks (``num_hidden_layers`` entries)."""
    import torch

    for _, parent in model.named_modules():
        for attribute, module in parent.named_children():
            if isinstance(module, torch.nn.ModuleList) and len(module) == count:
                return parent, attribute
    raise ModelError(f"no list of {count} decoder layers found in {type(model).__name__}")
