"""Unsloth (``use_unsloth``, a CUDA GPU and ``pip install unsloth``): the model a run trains is loaded, and its
LoRA adapter created, through Unsloth's ``FastLanguageModel``, which patches Unsloth's own Triton kernels (attention,
RoPE, MLP and LoRA) and its offloaded activation checkpointing into the transformers model. The settings passed are
the ones LLaMA-Factory passes (max sequence length, dtype, 4-bit loading, full fine-tuning, the device, RoPE scaling;
the adapter's rank, targets, alpha, dropout, rsLoRA and saved modules).

A model type Unsloth does not support is loaded with transformers instead, with a warning, as in LLaMA-Factory.
Inference (chat, api, export, the reference and reward models) always loads with transformers.
"""

from __future__ import annotations

import logging

from ..errors import ModelError

logger = logging.getLogger(__name__)

LOADED_BY_UNSLOTH = "_tunefactory_unsloth"  # set on a model Unsloth loaded: its adapter is created by Unsloth too


def load_with_unsloth(model_args, path: str, hf_config, dtype, full_finetuning: bool, max_seq_length: int,
                      device: int):
    """The model through ``FastLanguageModel.from_pretrained``, or None (logged) when Unsloth does not support its
    model type."""
    fast_language_model = _fast_language_model()
    try:
        model, _ = fast_language_model.from_pretrained(
            model_name=path, max_seq_length=max_seq_length, dtype=None if dtype == "auto" else dtype,
            load_in_4bit=model_args.quantization_bit == 4, load_in_8bit=model_args.quantization_bit == 8,
            full_finetuning=full_finetuning, token=model_args.hf_hub_token, device_map={"": device},
            rope_scaling=getattr(hf_config, "rope_scaling", None), fix_tokenizer=False,
            trust_remote_code=model_args.trust_remote_code,
            use_gradient_checkpointing=False if model_args.disable_gradient_checkpointing else "unsloth")
    except NotImplementedError as exc:
        logger.warning("use_unsloth: Unsloth does not support %s models (%s); loading it with transformers instead, "
                       "without Unsloth's kernels", getattr(hf_config, "model_type", "these"), exc)
        return None
    setattr(model, LOADED_BY_UNSLOTH, True)
    logger.info("use_unsloth: %s loaded through Unsloth's FastLanguageModel", path)
    return model


def unsloth_lora_adapter(model, finetuning, targets: list[str], modules_to_save: list[str] | None,
                         max_seq_length: int, use_gradient_checkpointing: bool):
    """A new LoRA adapter through ``FastLanguageModel.get_peft_model`` (Unsloth's fast LoRA layers)."""
    import torch

    random_state = int(torch.randint(0, 2**31 - 1, ()).item())  # from the run's seed: Unsloth reseeds torch with it
    return _fast_language_model().get_peft_model(
        model, r=finetuning.lora_rank, target_modules=targets,
        lora_alpha=finetuning.lora_alpha or finetuning.lora_rank * 2, lora_dropout=finetuning.lora_dropout,
        bias="none", use_rslora=finetuning.use_rslora, modules_to_save=modules_to_save,
        use_gradient_checkpointing="unsloth" if use_gradient_checkpointing else False, random_state=random_state,
        max_seq_length=max_seq_length)


def _fast_language_model():
    try:
        from unsloth import FastLanguageModel
    except ImportError as exc:
        raise ModelError("use_unsloth needs the unsloth package: pip install 'tunefactory[unsloth]' (a CUDA GPU "
                         f"too); or set use_unsloth: false ({exc})") from exc
    except (NotImplementedError, RuntimeError) as exc:  # Unsloth refuses to import without a GPU
        raise ModelError(f"use_unsloth needs a CUDA GPU, and Unsloth found none ({exc}); set use_unsloth: false") \
            from exc
    return FastLanguageModel
