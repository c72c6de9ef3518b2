"""Checks that span several keys, run once every value has its type.

Each rule is a small function that returns the problems it finds (an empty list when the
config is fine), so all of them are reported together. ``environment_notes`` lists settings
that are valid but impossible on this machine: `validate` shows them, `train` refuses them.
"""

from __future__ import annotations

import json
import re
from importlib.util import find_spec
from pathlib import Path
from typing import Callable

from .finetuning_args import ADAPTER_METHODS, LOW_RANK_OPTIMS, OPTIMIZER_SWITCHES, low_rank_optim
from .run_config import RunConfig
from .stages import STAGES, get_stage

Rule = Callable[[RunConfig], list[str]]
RULES: list[tuple[Rule, tuple[str, ...]]] = []
INFERENCE_COMMANDS = ("chat", "api", "webchat", "export")


def rule(function: Rule | None = None, *, commands: tuple[str, ...] = ("train",)):
    """Register a check; it runs for ``commands`` (training only, unless it says otherwise)."""
    def register(check: Rule) -> Rule:
        RULES.append((check, commands))
        return check
    return register(function) if function is not None else register


def check_rules(config: RunConfig) -> list[str]:
    problems: list[str] = []
    for check, commands in RULES:
        if config.command in commands:
            problems.extend(check(config))
    return problems


@rule(commands=("train", *INFERENCE_COMMANDS, "eval", "predict"))
def model_is_named(c: RunConfig) -> list[str]:
    if not c.model.model_name_or_path:
        return ["model_name_or_path is required: a local model folder or a hub id (e.g. Qwen/Qwen2.5-0.5B-Instruct)"]
    return []


@rule
def stage_settings(c: RunConfig) -> list[str]:
    """Keys that belong to other stages, then the stage's own checks (see `stages.STAGES`)."""
    stage, problems = get_stage(c.finetuning.stage), []
    for other in STAGES.values():
        if other is stage:
            continue
        for key in other.own_keys:
            if _is_set(c, key):
                problems.append(f"{_KEY_LABELS.get(key, key)} only works with stage: {other.name} "
                                f"(this config has stage: {stage.name})")
    if c.data.packing and not stage.can_pack:
        packing_stages = " or ".join(s.name for s in STAGES.values() if s.can_pack)
        problems.append(f"packing only works with stage: {packing_stages} (this config has stage: {stage.name})")
    for check in stage.rules:
        problems.extend(check(c))
    if c.finetuning.pissa_init and stage.reference(c.finetuning):
        problems.append(f"pissa_init does not work with stage: {stage.name} (it needs an unchanged reference model)")
    return problems


_KEY_LABELS = {"ld_alpha": "ld_alpha (LD-DPO)"}


def _is_set(c: RunConfig, key: str) -> bool:
    """The user gave the key a value that does something (its default alone never counts)."""
    for group in (c.training, c.data, c.finetuning):
        if hasattr(group, key):
            return key in c.user_keys and getattr(group, key) not in (None, False)
    raise KeyError(key)


TASK_PATTERN = re.compile(r"([A-Za-z0-9-]+)_([A-Za-z]+)")
LM_EVAL_KEYS = ("tasks", "num_fewshot", "limit", "include_path", "apply_chat_template")


@rule(commands=("eval",))
def evaluation_settings(c: RunConfig) -> list[str]:
    """The benchmark task's shape (builtin) or the harness's tasks (lm_eval), and the output folder; which
    benchmarks, splits and harness tasks exist is checked by `tunefactory.eval` before the model loads."""
    e, problems = c.evaluation, []
    if e.eval_backend == "lm_eval":
        if not e.tasks:
            problems.append("tasks is required with eval_backend: lm_eval: lm-evaluation-harness task names, "
                            "e.g. tasks: arc_easy,hellaswag")
        if e.num_fewshot is not None and e.num_fewshot < 0:
            problems.append(f"num_fewshot must be 0 or more, not {e.num_fewshot}")
        if e.limit is not None and (e.limit <= 0 or (e.limit > 1 and e.limit != int(e.limit))):
            problems.append(f"limit must be a fraction in (0, 1] or a whole number of rows, not {e.limit}")
    else:
        problems += [f"{key} only works with eval_backend: lm_eval (this config has eval_backend: builtin)"
                     for key in LM_EVAL_KEYS if getattr(e, key) not in (None, False)]
        if not e.task:
            problems.append("task is required: <benchmark>_<split>, e.g. mmlu_test, ceval_validation or cmmlu_test "
                            "(or eval_backend: lm_eval with tasks)")
        elif not TASK_PATTERN.fullmatch(e.task):
            problems.append(f"task: {e.task!r} is not <benchmark>_<split>; e.g. mmlu_test, ceval_validation or "
                            "cmmlu_test")
    if e.save_dir and Path(e.save_dir).exists():
        problems.append(f"save_dir: {e.save_dir} already exists (refused: would overwrite its results); "
                        "choose a new folder or remove it")
    if e.n_shot < 0:
        problems.append(f"n_shot must be 0 or more, not {e.n_shot}")
    if e.batch_size < 1:
        problems.append(f"batch_size must be 1 or more, not {e.batch_size}")
    if c.model.infer_backend != "huggingface":
        problems.append(f"infer_backend: {c.model.infer_backend} is for chat/api only; eval scores with huggingface")
    return problems


@rule
def finetuning_method(c: RunConfig) -> list[str]:
    f, m, problems = c.finetuning, c.model, []
    if f.finetuning_type == "oft" and (f.oft_rank != 0) == (f.oft_block_size != 0):
        problems.append(f"finetuning_type: oft takes either oft_rank or oft_block_size, not both and not neither "
                        f"(blocks x block size = a layer's input size); got oft_rank {f.oft_rank} and "
                        f"oft_block_size {f.oft_block_size}: with oft_rank set, set oft_block_size: 0")
    if f.finetuning_type == "oft" and (f.oft_rank < 0 or f.oft_block_size < 0 or not 0 <= f.module_dropout < 1):
        problems.append("oft_rank and oft_block_size must be 0 or more, module_dropout in [0, 1)")
    lora_only = ("use_rslora", "use_dora", "pissa_init")
    if f.finetuning_type != "lora":
        problems += [f"{key} only works with finetuning_type: lora" for key in lora_only if getattr(f, key)]
        if f.loraplus_lr_ratio is not None:
            problems.append("loraplus_lr_ratio only works with finetuning_type: lora")
    if f.finetuning_type not in ADAPTER_METHODS:
        if f.create_new_adapter:
            problems.append("create_new_adapter only works with finetuning_type: lora or oft")
        if m.adapter_name_or_path:
            problems.append("adapter_name_or_path only works with finetuning_type: lora or oft")
    if f.use_llama_pro and f.finetuning_type == "full":
        problems.append("use_llama_pro trains only the expanded blocks: use finetuning_type freeze, lora or oft, "
                        "not full")
    if f.use_llama_pro and f.freeze_trainable_layers < 1:
        problems.append(f"use_llama_pro reads freeze_trainable_layers as the number of expanded blocks: it must be 1 "
                        f"or more, not {f.freeze_trainable_layers}")
    if f.use_dora and f.pissa_init:
        problems.append("use_dora and pissa_init cannot be combined")
    if m.use_unsloth and f.finetuning_type not in ("lora", "full"):
        problems.append(f"use_unsloth trains a LoRA adapter (finetuning_type: lora, QLoRA too) or the whole model "
                        f"(full), not {f.finetuning_type}")
    if m.use_unsloth and f.finetuning_type == "lora" and (f.use_dora or f.pissa_init):
        problems.append("use_unsloth creates plain LoRA or rsLoRA adapters through Unsloth: set use_dora and "
                        "pissa_init to false, or use_unsloth: false")
    if m.use_unsloth_gc and m.disable_gradient_checkpointing:
        problems.append("use_unsloth_gc is a kind of activation checkpointing, which disable_gradient_checkpointing "
                        "turns off: set one")
    return problems


@rule
def optimizer_switches(c: RunConfig) -> list[str]:
    f, problems = c.finetuning, []
    chosen = [key for key in OPTIMIZER_SWITCHES if getattr(f, key)]
    if len(chosen) > 1:
        problems.append(f"{' and '.join(chosen)} each choose the optimizer: set one")
    for key, package in (("use_galore", "galore_torch"), ("use_apollo", "apollo_torch")):
        if not getattr(f, key):
            continue
        name = key.removeprefix("use_")
        if f.finetuning_type not in ("full", "freeze"):
            problems.append(f"{key} works with finetuning_type: full or freeze (it projects the weights' gradients), "
                            f"not {f.finetuning_type}")
        optim = str(getattr(c.training.optim, "value", c.training.optim))
        if low_rank_optim(f, optim) is None:
            problems.append(f"{key} runs in place of optim: {', '.join(LOW_RANK_OPTIMS[key])}; not {optim}")
        if getattr(f, f"{name}_layerwise") and c.training.gradient_accumulation_steps != 1:
            problems.append(f"{name}_layerwise steps each weight as soon as its gradient is ready: it needs "
                            f"gradient_accumulation_steps: 1, not {c.training.gradient_accumulation_steps}")
        if find_spec(package) is None:
            problems.append(f"{key} needs the {package.replace('_', '-')} package: pip install "
                            "'tunefactory[optimizers]'")
    if f.use_badam:
        if f.finetuning_type != "full":
            problems.append(f"use_badam updates whole decoder layers in turn: use finetuning_type: full, not "
                            f"{f.finetuning_type}")
        if f.badam_mode == "ratio" and not 0 < f.badam_update_ratio <= 1:
            problems.append(f"badam_update_ratio is the share of each weight's entries updated: between 0 and 1, not "
                            f"{f.badam_update_ratio}")
        if f.badam_mode == "ratio" and c.training is not None and c.training.fsdp:
            problems.append("badam_mode: ratio trains in one process only (its sparse gradients are not reduced "
                            "across processes); use badam_mode: layer")
        if f.badam_switch_interval == 0:
            problems.append("badam_switch_interval must be 1 or more steps, or -1 to stay on one block")
        if find_spec("badam") is None:
            problems.append("use_badam needs the badam package: pip install 'tunefactory[optimizers]'")
    if f.use_apollo and f.apollo_scale_front:
        problems.append("apollo_scale_front is not passed on by transformers' APOLLO integration, which TuneFactory "
                        "uses; leave it false")
    usable = ", ".join(name for name, stage in STAGES.items() if stage.trainer_optimizer)
    for key in chosen:
        if not get_stage(f.stage).trainer_optimizer:
            problems.append(f"{key} works with stages {usable}, not {f.stage} (its trainer builds its own optimizer)")
        if c.training.deepspeed:
            problems.append(f"{key} cannot be combined with deepspeed (DeepSpeed builds its own optimizer); use FSDP "
                            "or one process")
    if f.use_adam_mini and find_spec("adam_mini") is None:
        problems.append("use_adam_mini needs the adam-mini package: pip install 'tunefactory[optimizers]'")
    return problems


@rule
def quantization(c: RunConfig) -> list[str]:
    m, f, problems = c.model, c.finetuning, []
    if m.quantization_bit is None:
        return []
    if c.training.do_train and f.finetuning_type != "lora":  # peft has no OFT layers for quantized weights
        problems.append(f"quantization_bit trains only LoRA adapters: use finetuning_type: lora (QLoRA), "
                        f"not {f.finetuning_type!r}")
    if m.quantization_method == "bnb" and m.quantization_bit not in (4, 8):
        problems.append(f"quantization_bit for bitsandbytes must be 4 or 8, not {m.quantization_bit}")
    if f.pissa_init:
        problems.append("pissa_init cannot start from a quantized model; initialise PiSSA on the unquantized model")
    if m.resize_vocab:
        problems.append("resize_vocab cannot resize a quantized model's embeddings")
    if m.adapter_name_or_path and f.create_new_adapter:
        problems.append("create_new_adapter cannot add a second adapter to a quantized model")
    if m.adapter_name_or_path and len(m.adapter_name_or_path) > 1:
        problems.append("a quantized model takes a single adapter; merge the others first (tunefactory export)")
    if c.training.do_train and m.quantization_device_map == "auto":
        problems.append("quantization_device_map: auto is for inference only, not training")
    return problems


@rule
def data_settings(c: RunConfig) -> list[str]:
    d, t, problems = c.data, c.training, []
    if c.model.image_do_pan_and_scan and d.template not in (None, "auto", "gemma3"):
        problems.append(f"image_do_pan_and_scan crops images for Gemma 3 (template: gemma3); template {d.template} "
                        "does not take it")
    if d.val_size < 0 or (d.val_size >= 1 and not float(d.val_size).is_integer()):
        problems.append(f"val_size must be a fraction in [0, 1) or a whole number of examples, not {d.val_size}")
    if d.val_size > 1e-6 and not d.dataset:
        problems.append("val_size splits the training data: set dataset too")
    if d.val_size > 1e-6 and d.eval_dataset:
        problems.append("val_size and eval_dataset both define the evaluation data; keep only one")
    if d.interleave_probs is not None:
        if d.mix_strategy == "concat":
            problems.append("interleave_probs needs mix_strategy: interleave_under or interleave_over")
        elif d.dataset and len(d.interleave_probs) != len(d.dataset):
            problems.append(f"interleave_probs has {len(d.interleave_probs)} values for {len(d.dataset)} datasets")
    if d.streaming:
        if 1e-6 < d.val_size < 1:
            problems.append("with streaming, val_size must be a whole number of examples (a fraction needs the length)")
        if d.max_samples is not None:
            problems.append("max_samples does not work with streaming; use max_steps to bound training")
        if t.max_steps is None or t.max_steps <= 0:
            problems.append("streaming datasets have no length: set max_steps")
    if d.streaming and d.tokenized_path:
        problems.append("tokenized_path saves a whole processed dataset; it does not work with streaming")
    if not 0 <= d.max_invalid_fraction <= 1:
        problems.append(f"max_invalid_fraction must be between 0 and 1, not {d.max_invalid_fraction}")
    if d.mask_history and d.train_on_prompt:
        problems.append("mask_history and train_on_prompt cannot be combined")
    if d.cutoff_len <= 0:
        problems.append(f"cutoff_len must be positive, not {d.cutoff_len}")
    if d.neat_packing and d.packing is False:
        problems.append("neat_packing packs examples (without cross-attention); it cannot be combined with "
                        "packing: false")
    if t.do_train and not d.dataset and not d.tokenized_path:
        problems.append("do_train needs training data: set dataset (names from dataset_info.json)")
    wants_eval = t.do_eval or t.do_predict or (t.eval_strategy not in ("no", None) and getattr(t.eval_strategy, "value", t.eval_strategy) != "no")
    if wants_eval and not d.eval_dataset and d.val_size <= 1e-6 and not d.tokenized_path:
        problems.append("evaluation (do_eval, do_predict or eval_strategy) needs eval_dataset or val_size")
    return problems


@rule
def generation_settings(c: RunConfig) -> list[str]:
    problems = []
    if c.training.predict_with_generate and c.finetuning.compute_accuracy:
        problems.append("predict_with_generate and compute_accuracy cannot be combined: accuracy needs the logits "
                        "of one forward pass, generation replaces them")
    if c.model.infer_backend != "huggingface" and c.training.do_train:
        problems.append(f"infer_backend: {c.model.infer_backend} is for chat/api only; training uses huggingface")
    if c.model.infer_backend == "sglang":
        problems.append("infer_backend: sglang is not supported by TuneFactory; use huggingface or vllm")
    return problems


@rule
def precision(c: RunConfig) -> list[str]:
    if c.finetuning.pure_bf16 and c.training.fp16:
        return ["pure_bf16 and fp16 cannot be combined"]
    if c.training.fp8 and c.model.quantization_bit is not None:
        return ["fp8 training cannot be combined with quantization_bit"]
    return []


@rule
def deepspeed_config(c: RunConfig) -> list[str]:
    """The ``deepspeed`` JSON exists, parses, and agrees with the config; checked whether or not the
    deepspeed package is installed, so a config can be checked before it is queued on a GPU machine."""
    setting = c.training.deepspeed
    if not setting:
        return []
    ds, problem = read_deepspeed_config(setting)
    if problem:
        return [problem]
    name = f"deepspeed config {setting}" if isinstance(setting, str) else "the deepspeed mapping"
    t, problems = c.training, []
    zero = ds.get("zero_optimization")
    stage = zero.get("stage", 0) if isinstance(zero, dict) else None
    if not isinstance(zero, dict):
        problems.append(f"{name} needs a zero_optimization section (accelerate refuses a DeepSpeed config without "
                        "one), e.g. \"zero_optimization\": {\"stage\": 0} for plain data parallelism")
    elif stage not in (0, 1, 2, 3) or isinstance(stage, bool):
        problems.append(f"{name}: zero_optimization.stage must be 0, 1, 2 or 3, not {json.dumps(stage)}")
    for ds_key, key in (("train_micro_batch_size_per_gpu", "per_device_train_batch_size"),
                        ("gradient_accumulation_steps", "gradient_accumulation_steps"),
                        ("gradient_clipping", "max_grad_norm")):
        value = ds.get(ds_key, "auto")
        if value != "auto" and value != getattr(t, key):
            problems.append(f"{name} sets {ds_key}: {json.dumps(value)} but the config has {key}: "
                            f"{getattr(t, key)}; set it to \"auto\" (DeepSpeed then takes the config's value) "
                            "or make the two equal")
    per_process = t.per_device_train_batch_size * t.gradient_accumulation_steps
    total = ds.get("train_batch_size", "auto")
    if total != "auto" and (not isinstance(total, int) or total % per_process):
        problems.append(f"{name} sets train_batch_size: {json.dumps(total)}, which is not per_device_train_batch_size "
                        f"x gradient_accumulation_steps ({per_process}) x the number of processes; set it to \"auto\"")
    for precision in ("bf16", "fp16"):
        section = ds.get(precision)
        enabled = section.get("enabled", "auto") if isinstance(section, dict) else "auto"
        wanted = bool(getattr(t, precision) or getattr(t, f"{precision}_full_eval"))
        if enabled != "auto" and bool(enabled) != wanted:
            problems.append(f"{name} sets {precision}.enabled: {json.dumps(enabled)} but the config has {precision}: "
                            f"{str(wanted).lower()}; set it to \"auto\" or make the two agree")
    if stage == 3:
        problems.extend(_zero3_conflicts(c, name))
    return problems


def read_deepspeed_config(setting: dict | str) -> tuple[dict, str | None]:
    """The DeepSpeed settings of a ``deepspeed`` value (a mapping, or a JSON file relative to the working
    folder, as transformers reads it), or the problem that stops them being read."""
    if isinstance(setting, dict):
        return setting, None
    path = Path(setting)
    if not path.is_file():
        return {}, (f"deepspeed: {setting} is not a file (relative paths start from the folder you run from, "
                    f"{Path.cwd()}); TuneFactory's ZeRO configs are in examples/deepspeed/")
    try:
        ds = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        return {}, f"deepspeed: {setting} is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"
    except (OSError, UnicodeDecodeError) as exc:
        return {}, f"deepspeed: cannot read {setting}: {exc}"
    if not isinstance(ds, dict):
        return {}, f"deepspeed: {setting} must hold a JSON object of DeepSpeed settings, not {type(ds).__name__}"
    return ds, None


def _zero3_conflicts(c: RunConfig, name: str) -> list[str]:
    """What LLaMA-Factory refuses under ZeRO-3, which splits every weight across the processes."""
    m, f, problems = c.model, c.finetuning, []
    if f.pure_bf16:
        problems.append(f"pure_bf16 does not work with ZeRO-3 ({name}): DeepSpeed keeps its own float32 master "
                        "weights; use bf16: true instead")
    if f.pissa_init:
        problems.append(f"pissa_init needs whole weights for its SVD, and ZeRO-3 ({name}) splits them: use ZeRO-2 "
                        "(examples/deepspeed/ds_z2_config.json) or no deepspeed")
    if m.quantization_bit is not None and m.quantization_bit != 4:
        problems.append(f"quantization_bit: {m.quantization_bit} cannot be split by ZeRO-3 ({name}); only 4-bit "
                        "QLoRA can (quantization_bit: 4), or use ZeRO-2")
    if m.use_unsloth:
        problems.append(f"use_unsloth loads the whole model onto one GPU, which ZeRO-3 ({name}) cannot split: use "
                        "ZeRO-2 or no deepspeed")
    adapters = m.adapter_name_or_path or []
    if len(adapters) > 1 or (adapters and f.create_new_adapter):
        problems.append(f"adapter_name_or_path merges adapters into the base weights, which ZeRO-3 ({name}) splits: "
                        "merge them first (tunefactory export) or use ZeRO-2")
    return problems


def _single_process_without_launcher() -> bool:
    """`train` would run in this one process: not under a launcher, and no torchrun relaunch or Ray coming."""
    from ..env_flags import env_flag
    from ..launch import inside_launcher, should_relaunch

    return not (inside_launcher() or env_flag("USE_RAY") or should_relaunch())


def environment_notes(c: RunConfig) -> list[str]:
    """Valid settings that this machine cannot run; `train` refuses them, `validate` reports them."""
    notes = []
    deferred = c.training.deferred_to_runtime if c.training is not None else ()
    if "bf16" in deferred:
        notes.append("bf16: true needs a GPU with bfloat16 support and none was found; "
                     "training here would stop (set bf16: false, or use_cpu: true for bf16 on the CPU)")
    if "deepspeed" in deferred and find_spec("deepspeed") is None:
        notes.append("deepspeed is set but the deepspeed package is not installed: pip install 'tunefactory[deepspeed]'")
    if c.training is not None and c.training.deepspeed and _single_process_without_launcher():
        notes.append("deepspeed trains under a distributed launcher, and this would be one plain process: "
                     "FORCE_TORCHRUN=1 tunefactory train … (or torchrun, or deepspeed --no_local_rank --module "
                     "tunefactory.cli train …; docs/distributed.md)")
    if c.model.quantization_bit is not None and c.model.quantization_method == "bnb" \
            and find_spec("bitsandbytes") is None:
        notes.append("quantization_bit with bitsandbytes needs a CUDA GPU and pip install 'tunefactory[bitsandbytes]'")
    if c.model.infer_backend == "vllm" and find_spec("vllm") is None:
        notes.append("infer_backend: vllm needs a GPU and pip install 'tunefactory[vllm]'")
    if c.model.use_unsloth and find_spec("unsloth") is None:
        notes.append("use_unsloth loads the model through Unsloth, which needs a CUDA GPU and pip install "
                     "'tunefactory[unsloth]' (leave it false here)")
    if c.model.enable_liger_kernel and (find_spec("liger_kernel") is None or find_spec("triton") is None):
        notes.append("enable_liger_kernel patches Triton kernels into the model: it needs a CUDA GPU and pip install "
                     "liger-kernel (leave it false here)")
    if c.model.flash_attn in ("fa2", "fa3") and find_spec("flash_attn") is None:
        notes.append(f"flash_attn: {c.model.flash_attn} needs the flash-attn package and a CUDA GPU")
    if c.finetuning is not None and c.finetuning.use_vllm and find_spec("vllm") is None:
        notes.append("use_vllm: true generates GRPO rollouts with vLLM, which needs a CUDA GPU and pip install "
                     "'tunefactory[vllm]'; without it, rollouts use transformers (use_vllm: false)")
    return notes
