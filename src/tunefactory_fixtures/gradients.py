"""Models and gradients for tests that compare two ways of computing one loss."""

from __future__ import annotations

import torch


def trainable_model(path, lora: bool = False):
    """The model at ``path`` in float32 and train mode; with ``lora``, a seeded adapter on q/v whose B is not
    zero (so the adapter changes the output and every LoRA weight gets a gradient)."""
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    if lora:
        from peft import LoraConfig, get_peft_model

        model = get_peft_model(model, LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False))
    return model.train()


def pop_gradients(model) -> dict[str, torch.Tensor]:
    """The gradients accumulated so far, by parameter name; the model's are cleared."""
    grads = {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}
    model.zero_grad(set_to_none=True)
    return grads
