"""A causal LM with a scalar value head: the reward model (stage rm) and the PPO policy's critic.

The head is one linear layer from the last hidden state to a score per token. Its weights are
saved beside the model or adapter as ``value_head.safetensors`` with the keys
``v_head.summary.weight`` and ``v_head.summary.bias``, the file LLaMA-Factory writes, so reward
models move between the two tools in both directions.
"""

from __future__ import annotations

import logging
import os

import torch
from torch import nn

from ..errors import ModelError

logger = logging.getLogger(__name__)

VALUE_HEAD_FILE = "value_head.safetensors"
VALUE_HEAD_LEGACY_FILE = "value_head.bin"  # what LLaMA-Factory writes with save_safetensors: false


class ValueHead(nn.Module):
    def __init__(self, hidden_size: int):
        super().__init__()
        self.summary = nn.Linear(hidden_size, 1)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        # Scores in float32 whatever the model's dtype: pairwise losses compare small differences.
        return self.summary(hidden_states.to(self.summary.weight.dtype)).squeeze(-1)


class ModelWithValueHead(nn.Module):
    """``forward`` returns ``(logits, values)``; values are ``[batch, seq]`` scores, one per position."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.pretrained_model = model
        hidden_size = _hidden_size(model.config)
        self.v_head = ValueHead(hidden_size).to(device=_device(model), dtype=torch.float32)
        nn.init.normal_(self.v_head.summary.weight, std=1 / (hidden_size + 1) ** 0.5)
        nn.init.zeros_(self.v_head.summary.bias)

    @property
    def config(self):
        return self.pretrained_model.config

    @property
    def generation_config(self):
        return self.pretrained_model.generation_config

    def forward(self, input_ids=None, attention_mask=None, position_ids=None, return_logits: bool = True,
                **kwargs):
        kwargs.pop("labels", None)  # the reward losses are ours, not the LM's
        outputs = self.pretrained_model(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids,
                                        output_hidden_states=True, use_cache=False, return_dict=True,
                                        logits_to_keep=0 if return_logits else 1, **kwargs)
        values = self.v_head(outputs.hidden_states[-1])
        return (outputs.logits if return_logits else None), values

    def generate(self, *args, **kwargs):
        return self.pretrained_model.generate(*args, **kwargs)

    def gradient_checkpointing_enable(self, **kwargs):
        self.pretrained_model.gradient_checkpointing_enable(**kwargs)

    def value_head_state(self) -> dict[str, torch.Tensor]:
        head = self.v_head.state_dict()
        return {f"v_head.{name}": tensor.detach().cpu().contiguous() for name, tensor in head.items()}

    def save_pretrained(self, output_dir: str, **kwargs) -> None:
        """The model (or adapter) as transformers/peft save it, and the head beside it."""
        from safetensors.torch import save_file

        kwargs.pop("state_dict", None)  # the Trainer passes the wrapper's; the inner model knows its own
        if len(getattr(self.pretrained_model, "peft_config", {})) > 1:  # PPO's reward adapter rides along: not ours
            kwargs["selected_adapters"] = [self.pretrained_model.active_adapter]
        self.pretrained_model.save_pretrained(output_dir, **kwargs)
        save_file(self.value_head_state(), os.path.join(output_dir, VALUE_HEAD_FILE), metadata={"format": "pt"})

    def load_value_head(self, state: dict[str, torch.Tensor], source: str) -> None:
        expected = set(self.value_head_state())
        if set(state) != expected:
            raise ModelError(f"{source} does not hold a value head for this model: expected keys "
                             f"{sorted(expected)}, found {sorted(state)}")
        head = {key.removeprefix("v_head."): value for key, value in state.items()}
        if head["summary.weight"].shape != self.v_head.summary.weight.shape:
            raise ModelError(f"{source}: value head of shape {tuple(head['summary.weight'].shape)} does not fit "
                             f"this model (hidden size {self.v_head.summary.weight.shape[-1]})")
        self.v_head.load_state_dict(head)


def read_value_head(folder: str) -> dict[str, torch.Tensor] | None:
    """The value head saved in ``folder`` (ours or LLaMA-Factory's), or None when there is none."""
    safe = os.path.join(folder, VALUE_HEAD_FILE)
    if os.path.isfile(safe):
        from safetensors.torch import load_file

        return load_file(safe, device="cpu")
    legacy = os.path.join(folder, VALUE_HEAD_LEGACY_FILE)
    if os.path.isfile(legacy):
        return torch.load(legacy, map_location="cpu", weights_only=True)
    return None


def add_value_head(model: nn.Module, head_folder: str | None, required: bool) -> ModelWithValueHead:
    """Wrap ``model``; take the head from ``head_folder`` when it has one (a trained reward model,
    or a checkpoint being continued). ``required``: a reward model used for scoring must have one."""
    wrapped = ModelWithValueHead(model)
    state = read_value_head(head_folder) if head_folder and os.path.isdir(head_folder) else None
    if state is not None:
        wrapped.load_value_head(state, head_folder)
        logger.info("value head loaded from %s", head_folder)
    elif required:
        raise ModelError(f"{head_folder} has no {VALUE_HEAD_FILE}: a reward model must come from stage: rm (its "
                         f"output_dir holds the value head beside the model or adapter)")
    return wrapped


def last_token_scores(values: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """The value at each row's last real token, for right-padded rows."""
    last = attention_mask.long().sum(dim=-1) - 1
    return values.gather(dim=-1, index=last.clamp(min=0).unsqueeze(-1)).squeeze(-1)


def _hidden_size(config) -> int:
    for key in ("hidden_size", "n_embd", "d_model"):
        if getattr(config, key, None):
            return int(getattr(config, key))
    text = getattr(config, "text_config", None)
    if text is not None:
        return _hidden_size(text)
    raise ModelError(f"cannot find the hidden size of a {type(config).__name__} to build a value head")


def _device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device
