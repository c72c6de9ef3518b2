"""Load the model a run trains or serves.

    resolve the path (local folder, Hugging Face hub, or ModelScope / Modelers behind their switches)
      -> config: trust_remote_code check, RoPE scaling for a cutoff_len beyond the model's context
      -> weights through the Auto class, in the run's dtype and attention implementation
         (QLoRA: bitsandbytes quantization, GPU only)
      -> embeddings resized when the template added tokens (new rows start at the mean of the old)
      -> training setup: gradient checkpointing, no KV cache, optional float32 layer norms / logits
      -> the fine-tuning method (`adapters.apply_finetuning`): full, freeze or LoRA
      -> a value head for the stages that score (rm, ppo; `value_head.py`)
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..env_flags import env_flag
from ..errors import ModelError
from .adapters import apply_finetuning, count_parameters
from .multimodal import is_multimodal, vision_inputs_require_grads
from .unsloth import LOADED_BY_UNSLOTH, load_with_unsloth
from .value_head import add_value_head

if TYPE_CHECKING:
    from ..config.finetuning_args import FinetuningArguments
    from ..config.model_args import ModelArguments
    from ..config.run_config import RunConfig

logger = logging.getLogger(__name__)

ATTENTION = {"auto": None, "disabled": "eager", "sdpa": "sdpa", "fa2": "flash_attention_2",
             "fa3": "flash_attention_3"}
HUB_SWITCHES = {"USE_MODELSCOPE_HUB": "modelscope", "USE_OPENMIND_HUB": "openmind_hub"}


@dataclass(frozen=True)
class ModelSpec:
    """What loading a model needs from a run's configuration, and nothing more."""

    model: ModelArguments
    finetuning: FinetuningArguments  # the method (full, freeze, LoRA) and its settings
    cutoff_len: int = 2048  # the longest sequence a run feeds (data's cutoff_len), for RoPE scaling
    training_dtype: str = "float32"  # the weights' dtype when training: the run's mixed precision

    @classmethod
    def from_config(cls, config: RunConfig) -> ModelSpec:
        training, finetuning = config.training, config.finetuning
        if getattr(training, "bf16", False) or finetuning.pure_bf16:
            training_dtype = "bfloat16"
        elif getattr(training, "fp16", False):
            training_dtype = "float16"
        else:
            training_dtype = "float32"
        return cls(config.model, finetuning, config.data.cutoff_len, training_dtype)


def load_model(tokenizer, spec: ModelSpec, is_trainable: bool, add_valuehead: bool = False,
               require_value_head: bool = False, device_map: str | dict | None = None):
    """The run's model, ready to train (``is_trainable``) or to generate.

    ``add_valuehead`` wraps it in a `ModelWithValueHead` (stages rm and ppo), taking the head from the
    last adapter, or the model folder, when one is saved there; ``require_value_head`` makes a missing
    head an error (a reward model that scores). ``device_map`` overrides where unquantized weights go
    (export merges on the CPU by default); None lets the loader choose."""
    model_args = spec.model
    path = resolve_model_path(model_args)
    hf_config = load_hf_config(model_args, path)
    apply_rope_scaling(hf_config, model_args.rope_scaling, spec.cutoff_len, is_trainable)
    dtype = compute_dtype(spec, is_trainable)
    model = None
    if model_args.use_unsloth and is_trainable:  # GPU only: validate's machine notes, and so train, refuse it elsewhere
        model = load_with_unsloth(model_args, path, hf_config, dtype, spec.finetuning.finetuning_type == "full",
                                  spec.cutoff_len, _local_device())
    elif model_args.use_unsloth:
        logger.info("use_unsloth applies to training; this model is loaded with transformers")
    if model is None:
        model = _instantiate(model_args, path, hf_config, dtype, is_trainable, device_map)
    resized = resize_embeddings(model, tokenizer)
    if is_trainable:
        prepare_for_training(model, model_args)
    model = apply_finetuning(model, model_args, spec.finetuning, is_trainable, resized_embeddings=resized,
                             max_seq_length=spec.cutoff_len)
    if add_valuehead:
        head_folder = (model_args.adapter_name_or_path or [path])[-1]
        model = add_value_head(model, head_folder, required=require_value_head)
    if not is_trainable:
        model.requires_grad_(False)
        model.eval()
    trainable, total = count_parameters(model)
    if is_trainable:
        logger.info("trainable params: %s of %s (%.4f%%)", f"{trainable:,}", f"{total:,}", 100 * trainable / total)
    else:
        logger.info("params: %s", f"{total:,}")
    return model


def load_other_model(tokenizer, spec: ModelSpec, path: str, adapters: list[str] | str | None,
                     quantization_bit: int | None, add_valuehead: bool = False):
    """A frozen second model for the run (a reference or reward model): ``path`` with ``adapters``
    merged in, loaded like the run's own model but never trained."""
    if isinstance(adapters, str):
        adapters = [a.strip() for a in adapters.split(",") if a.strip()]
    other = ModelSpec(
        model=dataclasses.replace(spec.model, model_name_or_path=path, adapter_name_or_path=adapters or None,
                                  quantization_bit=quantization_bit),
        finetuning=dataclasses.replace(spec.finetuning, finetuning_type="lora" if adapters else "full"),
        cutoff_len=spec.cutoff_len, training_dtype=spec.training_dtype,
    )
    return load_model(tokenizer, other, is_trainable=False, add_valuehead=add_valuehead,
                      require_value_head=add_valuehead)


def set_generation_defaults(model, template, tokenizer) -> None:
    """Saved models stop where the template ends a turn, wherever they are loaded."""
    generation_config = getattr(model, "generation_config", None)
    if generation_config is not None:
        generation_config.eos_token_id = template.stop_token_ids(tokenizer)
        generation_config.pad_token_id = tokenizer.pad_token_id


def resolve_model_path(model_args) -> str:
    """A local folder as is; a hub id from ModelScope or Modelers when their switch is set (as in
    LLaMA-Factory); otherwise the id goes to the Hugging Face hub through transformers."""
    path = model_args.model_name_or_path
    if os.path.isdir(path):
        return path
    for switch, package in HUB_SWITCHES.items():
        if env_flag(switch):
            try:
                module = __import__(package, fromlist=["snapshot_download"])
            except ImportError as exc:
                raise ModelError(f"{switch} is set, so {path!r} is fetched with the {package} package: "
                                 f"pip install {package}") from exc
            token = model_args.ms_hub_token if package == "modelscope" else model_args.om_hub_token
            return module.snapshot_download(path, revision=model_args.model_revision, cache_dir=model_args.cache_dir,
                                            token=token)
    return path


def load_hf_config(model_args, path: str):
    from transformers import AutoConfig

    try:
        return AutoConfig.from_pretrained(path, trust_remote_code=model_args.trust_remote_code,
                                          cache_dir=model_args.cache_dir, revision=model_args.model_revision,
                                          token=model_args.hf_hub_token)
    except ValueError as exc:
        if "trust_remote_code" in str(exc):
            raise ModelError(f"{path!r} ships its own modelling code, which runs only with trust_remote_code: true; "
                             "set it if you trust the model's authors") from exc
        raise ModelError(f"cannot read the model config of {path!r}: {exc}") from exc
    except OSError as exc:
        raise ModelError(f"cannot load a model from {path!r}: {exc}") from exc


def apply_rope_scaling(hf_config, rope_type: str | None, cutoff_len: int, is_trainable: bool) -> None:
    """Stretch RoPE so training or inference reaches ``cutoff_len`` beyond the model's context."""
    if rope_type is None:
        return
    params = getattr(hf_config, "rope_parameters", None)
    context = getattr(hf_config, "max_position_embeddings", None)
    if params is None or not context:
        logger.warning("rope_scaling is ignored: this model does not use RoPE parameters transformers can scale")
        return
    if is_trainable and cutoff_len <= context:
        logger.warning("rope_scaling: cutoff_len %d fits the model's context (%d); scaling is not applied",
                       cutoff_len, context)
        return
    factor = float(math.ceil(cutoff_len / context)) if cutoff_len > context else 2.0
    scaled = {**params, "rope_type": rope_type, "factor": factor}
    if rope_type in ("yarn", "llama3"):
        scaled["original_max_position_embeddings"] = context
    if rope_type == "llama3":
        scaled.update(low_freq_factor=params.get("low_freq_factor", 1.0),
                      high_freq_factor=params.get("high_freq_factor", 4.0))
    hf_config.rope_parameters = scaled
    hf_config.max_position_embeddings = int(context * factor)
    logger.info("rope_scaling: %s x%g (context %d -> %d)", rope_type, factor, context, int(context * factor))


def compute_dtype(spec: ModelSpec, is_trainable: bool):
    """The dtype weights load in: the run's mixed precision when training, ``infer_dtype`` otherwise."""
    import torch

    if is_trainable:
        return getattr(torch, spec.training_dtype)
    wanted = spec.model.infer_dtype
    if wanted == "auto":
        return "auto"
    dtype = getattr(torch, wanted)
    if dtype == torch.bfloat16 and torch.cuda.is_available() and not torch.cuda.is_bf16_supported():
        logger.warning("infer_dtype: bfloat16 is not supported by this GPU; using float16")
        return torch.float16
    if dtype == torch.float16 and not torch.cuda.is_available():
        logger.warning("infer_dtype: float16 is slow or unsupported on the CPU; using float32")
        return torch.float32
    return dtype


def quantization_config(model_args):
    """bitsandbytes 4/8-bit quantization for QLoRA (CUDA only); None for unquantized loading."""
    if model_args.quantization_bit is None:
        return None
    if model_args.quantization_method != "bnb":
        raise ModelError(f"quantization_method: {model_args.quantization_method} quantizes on the fly only through "
                         "its own exported checkpoints: point model_name_or_path at a GPTQ/AWQ model instead")
    import torch

    if not torch.cuda.is_available():
        raise ModelError("quantization_bit (QLoRA with bitsandbytes) needs a CUDA GPU; none was found. "
                         "Train LoRA without quantization_bit on this machine")
    try:
        import bitsandbytes  # noqa: F401
    except ImportError as exc:
        raise ModelError("quantization_bit needs bitsandbytes: pip install 'tunefactory[bitsandbytes]'") from exc
    from transformers import BitsAndBytesConfig

    if model_args.quantization_bit == 8:
        return BitsAndBytesConfig(load_in_8bit=True)
    compute = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    # ZeRO-3 partitions the packed 4-bit weights too: they must be stored in the other weights' dtype
    storage = {"bnb_4bit_quant_storage": compute} if is_zero3_enabled() else {}
    return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type=model_args.quantization_type,
                              bnb_4bit_use_double_quant=model_args.double_quantization,
                              bnb_4bit_compute_dtype=compute, **storage)


def _instantiate(model_args, path: str, hf_config, dtype, is_trainable: bool, device_map=None):
    from transformers import AutoModelForCausalLM, AutoModelForImageTextToText, AutoModelForMultimodalLM

    # a vision-language model holds its language model inside, with the vision tower beside it; an audio-language
    # one (Qwen2-Audio) its audio tower, and only the multimodal auto class knows it
    auto_class = AutoModelForCausalLM
    if is_multimodal(hf_config):
        has_vision = getattr(hf_config, "vision_config", None) is not None
        auto_class = AutoModelForImageTextToText if has_vision else AutoModelForMultimodalLM

    attention = ATTENTION[model_args.flash_attn]
    if model_args.train_from_scratch:
        return auto_class.from_config(hf_config, dtype=dtype if dtype != "auto" else None,
                                      attn_implementation=attention, trust_remote_code=model_args.trust_remote_code)
    # low_cpu_mem_usage needs no passing: transformers 5 always loads weights without a second host copy
    kwargs = {"config": hf_config, "dtype": dtype, "attn_implementation": attention,
              "trust_remote_code": model_args.trust_remote_code,
              "cache_dir": model_args.cache_dir, "revision": model_args.model_revision,
              "token": model_args.hf_hub_token}
    quantization = quantization_config(model_args)
    if is_zero3_enabled():
        # DeepSpeed ZeRO-3 places (partitions) every weight itself; transformers refuses any device_map then
        if quantization is not None:
            kwargs["quantization_config"] = quantization
    elif quantization is not None:
        on_all_gpus = not is_trainable and model_args.quantization_device_map == "auto"
        kwargs.update(quantization_config=quantization, device_map="auto" if on_all_gpus else {"": _local_device()})
    elif device_map is not None:
        kwargs["device_map"] = device_map
    elif not is_trainable and _has_cuda():
        kwargs["device_map"] = "auto"  # inference: spread a large model over the GPUs (and CPU) it needs
    try:
        return auto_class.from_pretrained(path, **kwargs)
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot load model weights from {path!r}: {exc}") from exc


def is_zero3_enabled() -> bool:
    """Whether this process trains under DeepSpeed ZeRO-3 (set when the TrainingArguments were built)."""
    from transformers.integrations import is_deepspeed_zero3_enabled

    return is_deepspeed_zero3_enabled()


def gathered(params):
    """Under ZeRO-3, a context in which ``params`` are whole (edits on rank 0 are scattered back on exit);
    otherwise a no-op. Partitioned parameters are empty on every rank outside it."""
    if not is_zero3_enabled():
        return contextlib.nullcontext()
    import deepspeed

    return deepspeed.zero.GatheredParameters(list({id(p): p for p in params}.values()), modifier_rank=0)


def _has_cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def _has_accelerator() -> bool:
    import torch

    return torch.accelerator.is_available()


def _local_device() -> int:
    return int(os.environ.get("LOCAL_RANK", "0"))


def resize_embeddings(model, tokenizer) -> bool:
    """Grow the embeddings when the tokenizer has more tokens than the model has rows.

    New rows start at the mean of the existing rows (input and output embeddings), a neutral start
    that does not disturb the other tokens' predictions. Returns whether anything was resized.
    """
    import torch

    weight = model.get_input_embeddings().weight
    old_rows = weight.ds_shape[0] if hasattr(weight, "ds_shape") else weight.shape[0]  # ZeRO-3: full shape
    if len(tokenizer) <= old_rows:
        return False
    model.resize_token_embeddings(len(tokenizer), mean_resizing=False)
    weights = [embedding.weight for embedding in (model.get_input_embeddings(), model.get_output_embeddings())
               if embedding is not None]
    with gathered(weights), torch.no_grad():
        for weight in weights:
            weight[old_rows:] = weight[:old_rows].mean(dim=0, keepdim=True)
    logger.warning("resized the embeddings from %d to %d rows for the tokens the tokenizer gained; the new rows "
                   "start at the mean embedding and are trained", old_rows, len(tokenizer))
    return True


def prepare_for_training(model, model_args) -> None:
    import torch

    model.config.use_cache = False  # a KV cache is useless in training and hides packed sequences from the mask
    if model_args.enable_liger_kernel:  # GPU only: validate's machine notes, and so train, refuse it elsewhere
        from liger_kernel.transformers import _apply_liger_kernel_to_instance

        _apply_liger_kernel_to_instance(model=model)  # the package's own patching, as transformers' Trainer does
        logger.info("enable_liger_kernel: Liger's fused kernels patched into the %s model", model.config.model_type)
    if getattr(model, LOADED_BY_UNSLOTH, False):
        pass  # Unsloth has set up its own offloaded checkpointing (or none, with disable_gradient_checkpointing)
    elif not model_args.disable_gradient_checkpointing and getattr(model, "supports_gradient_checkpointing", False):
        reentrant = {"use_reentrant": model_args.use_reentrant_gc}
        offload = model_args.use_unsloth_gc and _has_accelerator()
        if model_args.use_unsloth_gc and not offload:
            logger.info("use_unsloth_gc: no GPU here, so the activations kept for recomputation already live in host "
                        "memory; plain activation checkpointing")
        elif offload:
            logger.info("use_unsloth_gc: activation checkpointing with the kept activations offloaded to host memory")
        model.activation_checkpointing_enable(activation_checkpointing_kwargs=reentrant, offload=offload)
        model.enable_input_require_grads()  # adapters on a frozen base still need gradients through the inputs
        if is_multimodal(model):
            vision_inputs_require_grads(model)
    if model_args.upcast_layernorm:
        for name, param in model.named_parameters():
            if param.ndim == 1 and "norm" in name:
                param.data = param.data.to(torch.float32)
    if model_args.upcast_lmhead_output:
        head = model.get_output_embeddings()
        if head is not None:
            head.register_forward_hook(lambda module, args, output: output.to(torch.float32))
