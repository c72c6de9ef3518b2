"""The parts of a multimodal model: its vision tower (or audio tower), its projector and its language model.

``freeze_vision_tower``, ``freeze_multi_modal_projector`` and ``freeze_language_model`` change exactly the
parameters of the part they name, and LoRA's ``all`` targets reach only the parts not frozen (the language model
by default), as LLaMA-Factory does. Parts are told by the module names the families use in transformers.
"""

from __future__ import annotations

import logging

logger = logging.getLogger(__name__)

# checked in this order: Qwen2-VL's projector (``visual.merger``) sits inside its vision tower (``visual``).
# Qwen3-VL's deepstack mergers (``visual.deepstack_merger_list``) are projectors too: each maps the hidden states of
# one vision layer into the language model's width, as ``visual.merger`` does for the last (Qwen's own fine-tuning
# scripts and vLLM group them with the merger). LLaMA-Factory counts them in the vision tower instead, so there
# ``freeze_vision_tower``, not ``freeze_multi_modal_projector``, decides whether they train.
PROJECTORS = ("visual.merger", "visual.deepstack_merger_list", "multi_modal_projector", "mm_projector")
# Qwen2-Audio's audio encoder counts as its vision tower, as LLaMA-Factory treats it: freeze_vision_tower freezes it
VISION_TOWERS = ("visual", "vision_tower", "vision_model", "audio_tower")


def is_multimodal(model_or_config) -> bool:
    """A vision-language (or audio-language) model: a media encoder beside its language model."""
    config = getattr(model_or_config, "config", model_or_config)
    return getattr(config, "vision_config", None) is not None or getattr(config, "audio_config", None) is not None


def part_of(name: str) -> str:
    """``projector``, ``vision_tower`` or ``language_model`` for a parameter or module name."""
    dotted = f".{name}."
    if any(f".{p}." in dotted for p in PROJECTORS):
        return "projector"
    if any(f".{t}." in dotted for t in VISION_TOWERS):
        return "vision_tower"
    return "language_model"


def frozen_parts(finetuning) -> set[str]:
    flags = {"vision_tower": finetuning.freeze_vision_tower, "projector": finetuning.freeze_multi_modal_projector,
             "language_model": finetuning.freeze_language_model}
    return {part for part, frozen in flags.items() if frozen}


def freeze_parts(model, finetuning) -> None:
    """Stop the gradients of the frozen parts (after the method chose what trains)."""
    frozen = frozen_parts(finetuning)
    for name, param in model.named_parameters():
        if part_of(name) in frozen:
            param.requires_grad_(False)
    logger.info("multimodal parts frozen: %s", ", ".join(sorted(frozen)) or "none")


def adapter_target_names(model, short_names: list[str], finetuning) -> list[str]:
    """The full names of the modules with these short names in the parts that train (LoRA's targets)."""
    frozen = frozen_parts(finetuning)
    return [name for name, module in model.named_modules()  # linear layers only: "0" is also a layer index
            if name.split(".")[-1] in short_names and "Linear" in type(module).__name__
            and part_of(name) not in frozen]


def vision_inputs_require_grads(model) -> None:
    """Make the vision tower's patch embeddings require gradients, as ``enable_input_require_grads`` does for the
    text embeddings: under reentrant checkpointing, a tower whose patch embedding is frozen otherwise passes no
    gradient to the LoRA adapters in its blocks. transformers 5.25 hooks Qwen2-VL's itself (its vision model's
    ``get_input_embeddings`` is the patch embedding) but not Qwen3-VL's, whose vision model has none."""
    for module in model.modules():
        patch_embed = getattr(module, "patch_embed", None)
        if patch_embed is not None and _input_embeddings(module) is None:
            patch_embed.register_forward_hook(_output_requires_grad)


def _input_embeddings(module):
    try:
        return module.get_input_embeddings()
    except (AttributeError, NotImplementedError):
        return None


def _output_requires_grad(module, inputs, output) -> None:
    output.requires_grad_(True)
