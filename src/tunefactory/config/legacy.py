"""Keys that older configs still use: renamed ones keep working, removed ones are explained.

Most LLaMA-Factory YAMLs were written for transformers 4, whose TrainingArguments had keys
that transformers 5 renamed or dropped (``evaluation_strategy``, ``warmup_ratio``,
``overwrite_output_dir`` …). A renamed key is translated with a warning naming the new key;
a dropped key is ignored with a warning when ignoring it changes nothing that matters, and
rejected with what to do instead when it would.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable


def _same(value: Any) -> Any:
    return value


@dataclass(frozen=True)
class Renamed:
    """``old_key: value`` now means ``new_key: convert(value)``."""

    new_key: str
    old_type: Any = Any
    convert: Callable[[Any], Any] = _same
    why: str = ""


@dataclass(frozen=True)
class Removed:
    """A key with no equivalent. Values equal to ``default`` are harmless; others are errors unless ``harmless``."""

    default: Any
    old_type: Any
    hint: str
    harmless: bool = False
    removed_by: str = "transformers 5"


def _warmup_ratio_as_steps(ratio: float) -> float:
    if not 0 <= ratio < 1:
        raise ValueError(f"warmup_ratio must be in [0, 1), got {ratio}")
    return ratio


RENAMED_KEYS: dict[str, Renamed] = {
    "evaluation_strategy": Renamed("eval_strategy", str, why="renamed in transformers 4.46"),
    "no_cuda": Renamed("use_cpu", bool, why="renamed in transformers 4.34"),
    "per_gpu_train_batch_size": Renamed("per_device_train_batch_size", int),
    "per_gpu_eval_batch_size": Renamed("per_device_eval_batch_size", int),
    "warmup_ratio": Renamed(
        "warmup_steps", float, _warmup_ratio_as_steps,
        why="transformers 5 reads a float warmup_steps in [0, 1) as a fraction of the total steps",
    ),
    "group_by_length": Renamed(
        "train_sampling_strategy", bool, lambda on: "group_by_length" if on else "random",
        why="transformers 5 chooses the sampler with train_sampling_strategy",
    ),
    "adafactor": Renamed("optim", bool, lambda on: "adafactor" if on else None,
                         why="transformers 5 selects Adafactor with optim: adafactor"),
    "include_inputs_for_metrics": Renamed("include_for_metrics", bool, lambda on: ["inputs"] if on else []),
    "push_to_hub_model_id": Renamed("hub_model_id", str),
    "push_to_hub_token": Renamed("hub_token", str),
    "torchdynamo": Renamed("torch_compile_backend", str),
}

# Old LLaMA-Factory key names (still found in shared configs).
RENAMED_KEYS.update({
    "new_special_tokens": Renamed("add_special_tokens", Any, why="renamed in LLaMA-Factory 0.9.3"),
    "image_resolution": Renamed("image_max_pixels", int, why="renamed in LLaMA-Factory 0.9.2; both count pixels"),
    "video_resolution": Renamed("video_max_pixels", int, why="renamed in LLaMA-Factory 0.9.2; both count pixels"),
})

# (key, old value) -> current value, for choices that were renamed.
RENAMED_VALUES: dict[tuple[str, str], str] = {
    ("quantization_method", "bitsandbytes"): "bnb",
}

_KTRANSFORMERS = "KTransformers is not integrated in TuneFactory"

REMOVED_KEYS: dict[str, Removed] = {
    "train_mm_proj_only": Removed(
        False, bool, "LLaMA-Factory dropped it; to train only the projector set freeze_language_model: true "
        "and freeze_multi_modal_projector: false", removed_by="LLaMA-Factory 0.9.5"),
    **{key: Removed(default, object, _KTRANSFORMERS, removed_by="LLaMA-Factory 0.9.5") for key, default in {
        "kt_optimize_rule": None, "cpu_infer": 32, "chunk_size": 8192, "mode": "normal", "kt_maxlen": 4096,
        "kt_use_cuda_graph": True, "kt_mode": "normal", "kt_force_think": False}.items()},
    "save_safetensors": Removed(True, bool, "transformers 5 always saves safetensors; remove the key"),
    "include_tokens_per_second": Removed(
        False, bool, "transformers 5 dropped the tokens-per-second metric; remove the key", harmless=True),
    "half_precision_backend": Removed("auto", str, "transformers 5 always uses torch AMP", harmless=True),
    "fp16_backend": Removed("auto", str, "transformers 5 always uses torch AMP", harmless=True),
    "fp16_opt_level": Removed("O1", str, "Apex AMP is gone from transformers 5; use fp16 or bf16"),
    "use_mps_device": Removed(False, bool, "an available MPS device is used automatically", harmless=True),
    "jit_mode_eval": Removed(False, bool, "transformers 5 dropped TorchScript evaluation", harmless=True),
    "tpu_num_cores": Removed(None, int, "set by the TPU launcher, not the config", harmless=True),
    "tpu_metrics_debug": Removed(False, bool, "use debug: tpu_metrics_debug", harmless=True),
    "past_index": Removed(-1, int, "transformers 5 dropped past_index; no replacement"),
    "ray_scope": Removed("last", str, "only used by Trainer.hyperparameter_search", harmless=True),
    "mp_parameters": Removed("", str, "SageMaker model-parallel parameters are gone", harmless=True),
    "use_legacy_prediction_loop": Removed(False, bool, "transformers 5 has only the current evaluation loop"),
    "fsdp_min_num_params": Removed(0, int, "put min_num_params inside fsdp_config"),
    "fsdp_transformer_layer_cls_to_wrap": Removed(None, str, "put transformer_layer_cls_to_wrap inside fsdp_config"),
}
