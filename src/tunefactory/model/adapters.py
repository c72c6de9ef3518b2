"""Fine-tuning methods: which parameters train, and the adapters that hold them.

    full    every parameter trains
    freeze  only the last (or first) N decoder layers train, optionally only some of their modules,
            plus named extra modules (e.g. the embeddings)
    lora    LoRA adapters (peft) on the chosen linear layers; rsLoRA, DoRA and PiSSA initialisation;
            earlier adapters merged first, or the last one resumed as the trainable adapter
    oft     orthogonal fine-tuning adapters (peft's OFT: a block-diagonal orthogonal rotation of each
            chosen linear layer's input), loaded, resumed, merged and exported as LoRA adapters are

Trainable parameters are kept in float32 (the optimizer's master copy) unless ``pure_bf16``, or under DeepSpeed
ZeRO-3, which keeps its own float32 master copy of the partitioned weights.
"""

from __future__ import annotations

import logging
import re

from ..config.finetuning_args import ADAPTER_METHODS
from ..errors import ConfigError, ModelError
from .multimodal import adapter_target_names, freeze_parts, is_multimodal
from .unsloth import LOADED_BY_UNSLOTH, unsloth_lora_adapter

logger = logging.getLogger(__name__)

HEAD_MODULES = {"lm_head", "output_layer", "output", "score", "v_head"}  # never LoRA targets under lora_target: all


def apply_finetuning(model, model_args, finetuning, is_trainable: bool, resized_embeddings: bool = False,
                     max_seq_length: int = 2048):
    method = finetuning.finetuning_type
    if method in ADAPTER_METHODS or model_args.adapter_name_or_path:
        model = _setup_adapter(model, model_args, finetuning, is_trainable, resized_embeddings, max_seq_length)
    elif is_trainable and method == "freeze":
        _setup_freeze(model, finetuning, resized_embeddings)
    elif is_trainable:
        model.requires_grad_(True)
        logger.info("fine-tuning method: full")
    if is_trainable and method not in ADAPTER_METHODS and is_multimodal(model):
        freeze_parts(model, finetuning)
    # BAdam keeps its own float32 copy of the one block it trains (as in LLaMA-Factory, weights stay as loaded)
    if is_trainable and not finetuning.pure_bf16 and not finetuning.use_badam and not _partitioned(model):
        _trainable_to_float32(model)
    return model


def count_parameters(model) -> tuple[int, int]:
    trainable = total = 0
    for param in model.parameters():
        count = param.numel() or getattr(param, "ds_numel", 0)  # a ZeRO-3 partitioned parameter is empty here
        if hasattr(param, "quant_storage") or param.__class__.__name__ == "Params4bit":
            count *= 2  # bitsandbytes packs two 4-bit values per byte
        total += count
        if param.requires_grad:
            trainable += count
    return trainable, total


def decoder_layer_count(model) -> int:
    config = getattr(model.config, "text_config", None) or model.config
    for key in ("num_hidden_layers", "num_layers", "n_layer"):
        if getattr(config, key, None):
            return getattr(config, key)
    raise ModelError("finetuning_type: freeze needs the model's layer count, which its config does not give; "
                     "use lora or full")


def llama_pro_layer_ids(model, expanded: int) -> list[int]:
    """LLaMA Pro: the blocks `tunefactory llama-pro` inserted, the last of every ``layers / expanded`` layers."""
    layers = decoder_layer_count(model)
    if expanded < 1 or layers % expanded:
        raise ConfigError([f"use_llama_pro: freeze_trainable_layers ({expanded}) is the number of expanded blocks and "
                           f"must divide the model's {layers} layers (the expansion added one block per "
                           f"layers / freeze_trainable_layers)"])
    stride = layers // expanded
    return list(range(stride - 1, layers, stride))


def _setup_freeze(model, finetuning, resized_embeddings: bool) -> None:
    layers = decoder_layer_count(model)
    n = finetuning.freeze_trainable_layers
    layer_ids = range(max(0, layers - n), layers) if n > 0 else range(min(-n, layers))
    if finetuning.use_llama_pro:
        layer_ids = llama_pro_layer_ids(model, n)
    layer_modules, other_modules = _module_names(model)
    patterns = []
    for module in finetuning.freeze_trainable_modules:
        if module != "all" and module not in layer_modules:
            raise ConfigError([f"freeze_trainable_modules: {module!r} is not a module of this model's layers; "
                               f"choose from: all, {', '.join(sorted(layer_modules))}"])
        patterns += [f".{i}." + ("" if module == "all" else f"{module}.") for i in layer_ids]
    extra = list(finetuning.freeze_extra_modules or [])
    for module in extra:
        if module not in other_modules:
            raise ConfigError([f"freeze_extra_modules: {module!r} is not a module outside the layers; "
                               f"choose from: {', '.join(sorted(other_modules))}"])
    if resized_embeddings:
        extra += _embedding_module_names(model)
    for name, param in model.named_parameters():
        inside = any(pattern in name for pattern in patterns)
        param.requires_grad_(inside or any(f"{module}." in f"{name}." for module in extra))
    shown = (", ".join(map(str, layer_ids)) if finetuning.use_llama_pro
             else f"{layer_ids.start}-{layer_ids.stop - 1}" if layer_ids else "none")
    logger.info("fine-tuning method: freeze%s (layers %s of %d%s)", " (LLaMA Pro)" if finetuning.use_llama_pro else "",
                shown, layers, f", plus {', '.join(extra)}" if extra else "")


def _module_names(model) -> tuple[set[str], set[str]]:
    """Module names inside the decoder layers (``self_attn``, ``mlp``…) and outside them (``embed_tokens``…)."""
    inside, outside = set(), set()
    for name, _ in model.named_parameters():
        match = re.search(r"\.\d+\.([^.]+)", name)
        if match:
            inside.add(match.group(1))
        else:
            outside.add(name.split(".")[-2])
    return inside, outside


def _embedding_module_names(model) -> list[str]:
    names = {module: name for name, module in model.named_modules()}
    found = []
    for embedding in (model.get_input_embeddings(), model.get_output_embeddings()):
        if embedding is not None and embedding in names:
            found.append(names[embedding].split(".")[-1])
    return found


def all_linear_modules(model) -> list[str]:
    """Every linear layer's short name, except the output heads (``lora_target: all``)."""
    names = set()
    for name, module in model.named_modules():
        short = name.split(".")[-1]
        if short in HEAD_MODULES or any(part in HEAD_MODULES for part in name.split(".")):
            continue
        kind = module.__class__.__name__
        if "Linear" in kind and "Embedding" not in kind:
            names.add(short)
    return sorted(names)


def _setup_adapter(model, model_args, finetuning, is_trainable: bool, resized_embeddings: bool,
                   max_seq_length: int):
    from peft import PeftModel

    adapters = list(model_args.adapter_name_or_path or [])
    quantized = getattr(model, "is_quantized", False)
    resume_last = is_trainable and finetuning.finetuning_type in ADAPTER_METHODS and not finetuning.create_new_adapter \
        and not quantized
    to_merge = adapters[:-1] if resume_last else adapters
    if quantized and len(adapters) > 1:
        raise ModelError("a quantized model takes one adapter; merge the others first (tunefactory export)")
    for path in to_merge:
        model = PeftModel.from_pretrained(model, path, offload_folder=model_args.offload_folder).merge_and_unload()
    if to_merge:
        logger.info("merged %d adapter(s) into the base model: %s", len(to_merge), ", ".join(to_merge))
    if resume_last and adapters:
        model = PeftModel.from_pretrained(model, adapters[-1], is_trainable=True,
                                          offload_folder=model_args.offload_folder)
        logger.info("continuing to train the adapter %s (its weights, not a resumed run: optimizer and schedule "
                    "start fresh; use resume_from_checkpoint to resume a run)", adapters[-1])
        return model
    if not is_trainable:
        return model
    if finetuning.finetuning_type == "oft":
        model = _new_oft_adapter(model, finetuning, resized_embeddings)
        logger.info("fine-tuning method: OFT (%s)", f"{finetuning.oft_rank} blocks" if finetuning.oft_rank
                    else f"block size {finetuning.oft_block_size}")
        return model
    if finetuning.finetuning_type != "lora":
        return model  # adapters merged into a model that then trains fully or frozen
    if getattr(model, LOADED_BY_UNSLOTH, False):
        model = unsloth_lora_adapter(model, finetuning, _adapter_targets(model, finetuning, "lora_target"),
                                     _modules_to_save(model, finetuning, resized_embeddings), max_seq_length,
                                     not model_args.disable_gradient_checkpointing)
    else:
        model = _new_lora_adapter(model, finetuning, resized_embeddings)
    logger.info("fine-tuning method: LoRA (rank %d%s)", finetuning.lora_rank,
                "".join(f", {name}" for name, on in (("rsLoRA", finetuning.use_rslora), ("DoRA", finetuning.use_dora),
                                                      ("PiSSA", finetuning.pissa_init)) if on))
    return model


def _adapter_targets(model, finetuning, key: str) -> list[str]:
    """The module names ``key`` (lora_target, oft_target) names, ``all`` being every linear layer but the heads;
    with use_llama_pro, the full names of those modules inside the expanded blocks only."""
    targets = list(getattr(finetuning, key))
    if targets == ["all"]:
        targets = all_linear_modules(model)
    missing = [t for t in targets if not any(name.split(".")[-1] == t for name, _ in model.named_modules())]
    if missing:
        raise ConfigError([f"{key}: {', '.join(missing)} not found in this model; its linear layers are: "
                           f"{', '.join(all_linear_modules(model))} (or use {key}: all)"])
    if is_multimodal(model):  # only in the parts that train: the language model unless told otherwise
        return adapter_target_names(model, targets, finetuning)
    if finetuning.use_llama_pro:
        blocks = [f".{i}." for i in llama_pro_layer_ids(model, finetuning.freeze_trainable_layers)]
        return [name for name, _ in model.named_modules()
                if name.split(".")[-1] in targets and any(block in name for block in blocks)]
    return targets


def _modules_to_save(model, finetuning, resized_embeddings: bool) -> list[str] | None:
    modules_to_save = list(finetuning.additional_target or [])
    if resized_embeddings:
        modules_to_save += [m for m in _embedding_module_names(model) if m not in modules_to_save]
    return modules_to_save or None


def _new_oft_adapter(model, finetuning, resized_embeddings: bool):
    from peft import OFTConfig, TaskType, get_peft_model

    oft_config = OFTConfig(
        task_type=TaskType.CAUSAL_LM,
        r=finetuning.oft_rank,
        oft_block_size=finetuning.oft_block_size,
        module_dropout=finetuning.module_dropout,
        target_modules=_adapter_targets(model, finetuning, "oft_target"),
        modules_to_save=_modules_to_save(model, finetuning, resized_embeddings),
    )
    return get_peft_model(model, oft_config)


def _new_lora_adapter(model, finetuning, resized_embeddings: bool):
    from peft import LoraConfig, TaskType, get_peft_model

    targets = _adapter_targets(model, finetuning, "lora_target")
    modules_to_save = _modules_to_save(model, finetuning, resized_embeddings)
    init = True
    if finetuning.pissa_init:
        init = "pissa" if finetuning.pissa_iter == -1 else f"pissa_niter_{finetuning.pissa_iter}"
    lora_config = LoraConfig(
        task_type=TaskType.CAUSAL_LM,
        r=finetuning.lora_rank,
        lora_alpha=finetuning.lora_alpha or finetuning.lora_rank * 2,
        lora_dropout=finetuning.lora_dropout,
        target_modules=targets,
        modules_to_save=modules_to_save,
        use_rslora=finetuning.use_rslora,
        use_dora=finetuning.use_dora,
        init_lora_weights=init,
    )
    return get_peft_model(model, lora_config)


def _partitioned(model) -> bool:
    """DeepSpeed ZeRO-3 has partitioned the weights: it keeps the float32 master copy itself, and the
    partitions must keep the dtype they were created in."""
    return any(hasattr(param, "ds_id") for param in model.parameters())


def _trainable_to_float32(model) -> None:
    import torch

    for param in model.parameters():
        if param.requires_grad and param.dtype != torch.float32:
            param.data = param.data.to(torch.float32)
