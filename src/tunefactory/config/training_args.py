"""Training arguments: transformers' Seq2SeqTrainingArguments plus what LLaMA-Factory configs add.

transformers 5 dropped some keys that LLaMA-Factory YAMLs still carry; ``overwrite_output_dir``
and ``logging_dir`` live on here because TuneFactory gives them meaning (see docs/config.md),
the rest are translated or explained in ``legacy.py``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib.util import find_spec
from typing import Literal

from transformers import Seq2SeqTrainingArguments
from transformers.utils import is_torch_bf16_gpu_available

from .fields import arg


@dataclass
class TrainingArguments(Seq2SeqTrainingArguments):
    overwrite_output_dir: bool = arg(
        False, "Start over in a non-empty output_dir, replacing what is there, instead of resuming from its last "
        "checkpoint (without it, TuneFactory resumes from a checkpoint or refuses to write into a non-empty folder).")
    logging_dir: str | None = arg(
        None, "Folder for TensorBoard event files (default: <output_dir>/runs/<time>).")
    ray_run_name: str | None = arg(None, "Name of the Ray Train run (USE_RAY=1); also names its folder under ray_storage_path.")
    ray_storage_path: str = arg("./saves", "Where Ray Train stores results and checkpoints (USE_RAY=1).")
    ray_storage_filesystem: Literal["s3", "gs", "gcs"] | None = arg(
        None, "Remote filesystem for ray_storage_path, when it is not a local folder.")
    ray_num_workers: int = arg(1, "Number of Ray Train workers (USE_RAY=1).")
    resources_per_worker: dict | str = arg(
        None, "Resources each Ray worker asks for, as a mapping or JSON string.", factory=lambda: {"GPU": 1})
    placement_strategy: Literal["SPREAD", "PACK", "STRICT_SPREAD", "STRICT_PACK"] = arg(
        "PACK", "How Ray places workers on nodes.")
    ray_init_kwargs: dict | str | None = arg(None, "Keyword arguments for ray.init(), as a mapping or JSON string.")
    master_addr: str | None = arg(None, "Address of the rank-0 node for Ray Train's torch backend.")
    master_port: str | None = arg(None, "Port of the rank-0 node for Ray Train's torch backend.")

    enable_torch_profiler: bool = arg(False, "Record torch profiler traces during training.")
    profiler_output_dir: str | None = arg(None, "Where profiler traces go (default: <output_dir>/profiler).")
    profiler_wait_steps: int = arg(1, "Steps each profiler cycle skips before recording.")
    profiler_warmup_steps: int = arg(1, "Steps each profiler cycle traces and discards (warm-up).")
    profiler_active_steps: int = arg(1, "Steps each profiler cycle records.")
    profiler_repeat: int = arg(1, "Number of profiler cycles (0 repeats until training ends).")
    profiler_record_shapes: bool = arg(True, "Record tensor shapes in profiler traces.")
    profiler_profile_memory: bool = arg(True, "Record memory use in profiler traces.")
    profiler_with_stack: bool = arg(True, "Record Python stacks in profiler traces.")
    profile_modules: list[str] | None = arg(None, "Module-name patterns (fnmatch) to time individually.")
    fp8: bool = arg(False, "Train with FP8 mixed precision through accelerate (Hopper-class GPUs).")
    fp8_backend: Literal["auto", "torchao", "te", "msamp"] = arg("auto", "FP8 implementation; auto picks an installed one.")
    fp8_enable_fsdp_float8_all_gather: bool = arg(False, "With FSDP2, all-gather weights in float8 (implies fp8).")

    # Settings that are valid but cannot take effect on this machine (e.g. bf16 without a bf16
    # device): kept as the user wrote them, reported by `validate`, refused by `train`.
    deferred_to_runtime: list[str] = field(default_factory=list, init=False, repr=False)

    def __post_init__(self):
        deferred = {}
        if (self.bf16 or self.bf16_full_eval) and not self.use_cpu and not is_torch_bf16_gpu_available():
            deferred.update(bf16=self.bf16, bf16_full_eval=self.bf16_full_eval)
            self.bf16 = self.bf16_full_eval = False
        if self.deepspeed and (find_spec("deepspeed") is None or not _has_zero_section(self.deepspeed)):
            # transformers reads the file here: without the package it cannot, and a missing or broken file
            # would stop it with a bare JSON or accelerate error; `rules.deepspeed_config` names the file instead
            deferred["deepspeed"] = self.deepspeed
            self.deepspeed = None
        super().__post_init__()
        for key, value in deferred.items():
            setattr(self, key, value)
        self.deferred_to_runtime = sorted(deferred)


def _has_zero_section(value: dict | str) -> bool:
    """Whether transformers and accelerate can take this DeepSpeed config: a JSON object with a
    ``zero_optimization`` mapping, given as a mapping or a file."""
    try:
        if isinstance(value, str):
            with open(value, encoding="utf-8") as file:
                value = json.load(file)
    except (OSError, ValueError):
        return False
    return isinstance(value, dict) and isinstance(value.get("zero_optimization"), dict)
