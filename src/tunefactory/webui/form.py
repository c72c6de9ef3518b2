"""The board's widgets, declared once, and how their values become a config.

Every widget is a `Field`: the config key it sets (or a board-only name starting with "_"), the kind of widget,
its default (LLaMA Board's), the tab and accordion it sits in. The page (`app.py`) builds its components from
these declarations, and the functions below turn the values back into the YAML a job runs, so what the preview
shows is exactly what is launched. Nothing here imports gradio, so it is tested on its own.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from ..config.stages import STAGE_NAMES, STAGES, get_stage
from ..errors import ConfigError


@dataclass(frozen=True)
class Field:
    key: str  # config key, or "_name" for a board-only widget that several keys derive from
    kind: str  # text | number | int | check | choice | multi | json
    default: Any
    tab: str  # top | train | eval | chat | export
    section: str = ""  # the accordion it sits in ("" = always visible)
    choices: tuple = ()


# The models offered by name (a custom path is always possible): name -> (hub id, template).
KNOWN_MODELS = {
    "Llama-3.1-8B-Instruct": ("meta-llama/Llama-3.1-8B-Instruct", "llama3"),
    "Llama-3.2-3B-Instruct": ("meta-llama/Llama-3.2-3B-Instruct", "llama3"),
    "Qwen2.5-7B-Instruct": ("Qwen/Qwen2.5-7B-Instruct", "qwen"),
    "Qwen3-8B": ("Qwen/Qwen3-8B", "qwen3"),
    "Qwen3-4B-Instruct-2507": ("Qwen/Qwen3-4B-Instruct-2507", "qwen3_nothink"),
    "Mistral-7B-Instruct-v0.3": ("mistralai/Mistral-7B-Instruct-v0.3", "mistral"),
    "gemma-2-9b-it": ("google/gemma-2-9b-it", "gemma"),
    "gemma-3-4b-it": ("google/gemma-3-4b-it", "gemma3"),
    "glm-4-9b-chat": ("THUDM/glm-4-9b-chat", "glm4"),
    "DeepSeek-R1-Distill-Qwen-7B": ("deepseek-ai/DeepSeek-R1-Distill-Qwen-7B", "deepseekr1"),
    "Phi-4": ("microsoft/phi-4", "phi4"),
}
CUSTOM_MODEL = "Custom"
# The hub models and datasets come from: LLaMA-Factory's switches, set in the job's environment.
HUB_SWITCHES = {"huggingface": {}, "modelscope": {"USE_MODELSCOPE_HUB": "1"}, "openmind": {"USE_OPENMIND_HUB": "1"}}
FINETUNING_TYPES = ("lora", "freeze", "full", "oft")
BOOSTERS = ("auto", "flashattn2", "liger_kernel", "unsloth")
COMPUTE_TYPES = ("bf16", "fp16", "fp32", "pure_bf16")
REPORT_TARGETS = ("none", "all", "wandb", "mlflow", "neptune", "tensorboard", "swanlab")
SCHEDULERS = ("linear", "cosine", "cosine_with_restarts", "polynomial", "constant", "constant_with_warmup",
              "inverse_sqrt", "reduce_lr_on_plateau", "cosine_with_min_lr", "warmup_stable_decay")
DEEPSPEED_STAGES = ("none", "2", "3")

FIELDS: tuple[Field, ...] = (
    # --- the top bar, shared by every tab ---
    Field("_model_name", "choice", CUSTOM_MODEL, "top", choices=(CUSTOM_MODEL, *KNOWN_MODELS)),
    Field("model_name_or_path", "text", "", "top"),
    Field("_hub", "choice", "huggingface", "top", choices=tuple(HUB_SWITCHES)),
    Field("finetuning_type", "choice", "lora", "top", choices=FINETUNING_TYPES),
    Field("_checkpoints", "multi", (), "top"),
    Field("quantization_bit", "choice", "none", "top", choices=("none", "8", "4")),
    Field("quantization_method", "choice", "bnb", "top", choices=("bnb", "hqq", "eetq")),
    Field("template", "choice", "default", "top"),
    Field("rope_scaling", "choice", "none", "top", choices=("none", "linear", "dynamic", "yarn", "llama3")),
    Field("_booster", "choice", "auto", "top", choices=BOOSTERS),
    # --- train: the main settings ---
    Field("stage", "choice", "sft", "train", choices=STAGE_NAMES),
    Field("dataset_dir", "text", "data", "train"),
    Field("dataset", "multi", (), "train"),
    Field("learning_rate", "text", "5e-5", "train"),
    Field("num_train_epochs", "text", "3.0", "train"),
    Field("max_grad_norm", "text", "1.0", "train"),
    Field("max_samples", "text", "100000", "train"),
    Field("_compute_type", "choice", "bf16", "train", choices=COMPUTE_TYPES),
    Field("cutoff_len", "int", 2048, "train"),
    Field("per_device_train_batch_size", "int", 2, "train"),
    Field("gradient_accumulation_steps", "int", 8, "train"),
    Field("val_size", "number", 0.0, "train"),
    Field("lr_scheduler_type", "choice", "cosine", "train", choices=SCHEDULERS),
    Field("_output_name", "text", "", "train"),
    Field("_ds_stage", "choice", "none", "train", choices=DEEPSPEED_STAGES),
    Field("_ds_offload", "check", False, "train"),
    # --- train: extra arguments ---
    Field("logging_steps", "int", 5, "train", "extra"),
    Field("save_steps", "int", 100, "train", "extra"),
    Field("warmup_steps", "int", 0, "train", "extra"),
    Field("neftune_noise_alpha", "number", 0.0, "train", "extra"),
    Field("packing", "check", False, "train", "extra"),
    Field("neat_packing", "check", False, "train", "extra"),
    Field("train_on_prompt", "check", False, "train", "extra"),
    Field("mask_history", "check", False, "train", "extra"),
    Field("resize_vocab", "check", False, "train", "extra"),
    Field("use_llama_pro", "check", False, "train", "extra"),
    Field("enable_thinking", "check", True, "train", "extra"),
    Field("report_to", "multi", ("none",), "train", "extra", choices=REPORT_TARGETS),
    Field("use_muon", "check", False, "train", "extra"),
    Field("use_adam_mini", "check", False, "train", "extra"),
    Field("use_dft_loss", "check", False, "train", "extra"),
    Field("use_eaft_loss", "check", False, "train", "extra"),
    Field("use_asft_loss", "check", False, "train", "extra"),
    Field("_extra_args", "json", '{"optim": "adamw_torch"}', "train", "extra"),
    # --- train: freeze ---
    Field("freeze_trainable_layers", "int", 2, "train", "freeze"),
    Field("freeze_trainable_modules", "text", "all", "train", "freeze"),
    Field("freeze_extra_modules", "text", "", "train", "freeze"),
    # --- train: LoRA ---
    Field("lora_rank", "int", 8, "train", "lora"),
    Field("lora_alpha", "int", 16, "train", "lora"),
    Field("lora_dropout", "number", 0.0, "train", "lora"),
    Field("loraplus_lr_ratio", "number", 0.0, "train", "lora"),
    Field("create_new_adapter", "check", False, "train", "lora"),
    Field("use_rslora", "check", False, "train", "lora"),
    Field("use_dora", "check", False, "train", "lora"),
    Field("_use_pissa", "check", False, "train", "lora"),
    Field("lora_target", "text", "", "train", "lora"),
    Field("additional_target", "text", "", "train", "lora"),
    # --- train: RLHF ---
    Field("pref_beta", "number", 0.1, "train", "rlhf"),
    Field("pref_ftx", "number", 0.0, "train", "rlhf"),
    Field("pref_loss", "choice", "sigmoid", "train", "rlhf", choices=("sigmoid", "hinge", "ipo", "kto_pair", "orpo",
                                                                      "simpo")),
    Field("reward_model", "text", "", "train", "rlhf"),
    Field("reward_funcs", "text", "accuracy", "train", "rlhf"),
    Field("ppo_score_norm", "check", False, "train", "rlhf"),
    Field("ppo_whiten_rewards", "check", False, "train", "rlhf"),
    # --- train: multimodal ---
    Field("freeze_vision_tower", "check", True, "train", "multimodal"),
    Field("freeze_multi_modal_projector", "check", True, "train", "multimodal"),
    Field("freeze_language_model", "check", False, "train", "multimodal"),
    Field("image_max_pixels", "text", "768*768", "train", "multimodal"),
    Field("image_min_pixels", "text", "32*32", "train", "multimodal"),
    Field("video_max_pixels", "text", "256*256", "train", "multimodal"),
    Field("video_min_pixels", "text", "16*16", "train", "multimodal"),
    # --- train: memory-saving optimizers ---
    Field("use_galore", "check", False, "train", "galore"),
    Field("galore_rank", "int", 16, "train", "galore"),
    Field("galore_update_interval", "int", 200, "train", "galore"),
    Field("galore_scale", "number", 2.0, "train", "galore"),
    Field("galore_target", "text", "all", "train", "galore"),
    Field("use_apollo", "check", False, "train", "apollo"),
    Field("apollo_rank", "int", 16, "train", "apollo"),
    Field("apollo_update_interval", "int", 200, "train", "apollo"),
    Field("apollo_scale", "number", 32.0, "train", "apollo"),
    Field("apollo_target", "text", "all", "train", "apollo"),
    Field("use_badam", "check", False, "train", "badam"),
    Field("badam_mode", "choice", "layer", "train", "badam", choices=("layer", "ratio")),
    Field("badam_switch_mode", "choice", "ascending", "train", "badam",
          choices=("ascending", "descending", "random", "fixed")),
    Field("badam_switch_interval", "int", 50, "train", "badam"),
    Field("badam_update_ratio", "number", 0.05, "train", "badam"),
    # --- train: SwanLab ---
    Field("use_swanlab", "check", False, "train", "swanlab"),
    Field("swanlab_project", "text", "llamafactory", "train", "swanlab"),
    Field("swanlab_run_name", "text", "", "train", "swanlab"),
    Field("swanlab_workspace", "text", "", "train", "swanlab"),
    Field("swanlab_api_key", "text", "", "train", "swanlab"),
    Field("swanlab_mode", "choice", "cloud", "train", "swanlab", choices=("cloud", "local")),
    # --- evaluate & predict ---
    Field("_eval_dataset_dir", "text", "data", "eval"),
    Field("_eval_dataset", "multi", (), "eval"),
    Field("_eval_cutoff_len", "int", 1024, "eval"),
    Field("_eval_max_samples", "text", "100000", "eval"),
    Field("per_device_eval_batch_size", "int", 2, "eval"),
    Field("_predict", "check", True, "eval"),
    Field("max_new_tokens", "int", 512, "eval"),
    Field("top_p", "number", 0.7, "eval"),
    Field("temperature", "number", 0.95, "eval"),
    Field("_eval_output_name", "text", "", "eval"),
    # --- chat ---
    Field("infer_backend", "choice", "huggingface", "chat", choices=("huggingface", "vllm")),
    Field("infer_dtype", "choice", "auto", "chat", choices=("auto", "float16", "bfloat16", "float32")),
    Field("_chat_extra_args", "json", "{}", "chat"),
    # --- export ---
    Field("export_size", "int", 5, "export"),
    Field("export_quantization_bit", "choice", "none", "export", choices=("none", "8", "4", "3", "2")),
    Field("export_quantization_dataset", "text", "data/c4_demo.jsonl", "export"),
    Field("export_device", "choice", "cpu", "export", choices=("cpu", "auto")),
    Field("export_legacy_format", "check", False, "export"),
    Field("export_dir", "text", "", "export"),
    Field("export_hub_model_id", "text", "", "export"),
)
FIELD_BY_KEY = {f.key: f for f in FIELDS}
# Accordions whose keys are written whenever they apply (the rest only when changed from the default).
OWNED_SECTIONS = ("freeze", "lora", "oft", "galore", "apollo", "badam", "swanlab")


def _learns_preferences(stage) -> bool:
    return (stage.ranked_data and not stage.value_head) or stage.kto_tags


# RLHF accordion key -> the stages that read it, told by their entries in the stage table (not by their names)
RLHF_KEY_APPLIES = {
    "reward_model": lambda stage: stage.reward_model,
    "ppo_score_norm": lambda stage: stage.reward_model,
    "ppo_whiten_rewards": lambda stage: stage.reward_model,
    "pref_beta": _learns_preferences,
    "pref_ftx": _learns_preferences,
    "pref_loss": lambda stage: stage.ranked_data and not stage.value_head,
    "reward_funcs": lambda stage: "reward_funcs" in stage.own_keys,
}
MAIN_EXTRA_KEYS = ("logging_steps", "save_steps", "warmup_steps")  # in an accordion, but always written


def fields(tab: str, section: str | None = None) -> list[Field]:
    return [f for f in FIELDS if f.tab == tab and (section is None or f.section == section)]


def defaults() -> dict[str, Any]:
    return {f.key: f.default for f in FIELDS}


# --- values -> config ---------------------------------------------------------------------------------------------

def model_args(values: dict[str, Any]) -> dict[str, Any]:
    """The top bar's keys: model (with its checkpoints), finetuning type, quantization, template, booster."""
    ft = values["finetuning_type"]
    config: dict[str, Any] = {"model_name_or_path": values["model_name_or_path"].strip()}
    checkpoints = [c for c in values.get("_checkpoints") or () if c]
    if checkpoints and ft in ("lora", "oft"):
        config["adapter_name_or_path"] = ",".join(checkpoints)
    elif checkpoints:  # full/freeze: the checkpoint is a whole model
        config["model_name_or_path"] = checkpoints[0]
    if values["quantization_bit"] != "none":
        config["quantization_bit"] = int(values["quantization_bit"])
        config["quantization_method"] = values["quantization_method"]
    config["template"] = values["template"]
    if values["rope_scaling"] != "none":
        config["rope_scaling"] = values["rope_scaling"]
    config.update(_booster_keys(values["_booster"]))
    config["finetuning_type"] = ft
    return config


def job_environment(values: dict[str, Any]) -> dict[str, str]:
    """What a job needs in its environment besides its YAML: the hub switch."""
    return dict(HUB_SWITCHES[values.get("_hub") or "huggingface"])


def _booster_keys(booster: str) -> dict[str, Any]:
    return {"auto": {}, "flashattn2": {"flash_attn": "fa2"}, "liger_kernel": {"enable_liger_kernel": True},
            "unsloth": {"use_unsloth": True}}[booster]


def train_args(values: dict[str, Any], saves_dir: str | Path = "saves") -> dict[str, Any]:
    """The YAML of a training job, in the order a person would write it."""
    stage = values["stage"]
    config = {"stage": stage, "do_train": True, **model_args(values)}
    config["dataset_dir"] = values["dataset_dir"]
    config["dataset"] = ",".join(values["dataset"])
    config["cutoff_len"] = int(values["cutoff_len"])
    config["learning_rate"] = _number(values, "learning_rate", float)
    config["num_train_epochs"] = _number(values, "num_train_epochs", float)
    config["max_grad_norm"] = _number(values, "max_grad_norm", float)
    config["max_samples"] = _number(values, "max_samples", int)
    config["per_device_train_batch_size"] = int(values["per_device_train_batch_size"])
    config["gradient_accumulation_steps"] = int(values["gradient_accumulation_steps"])
    config["lr_scheduler_type"] = values["lr_scheduler_type"]
    config["logging_steps"] = int(values["logging_steps"])
    config["save_steps"] = int(values["save_steps"])
    config["warmup_steps"] = int(values["warmup_steps"])
    config.update(_compute_type_keys(values["_compute_type"]))
    config["output_dir"] = str(output_dir(saves_dir, values, values["_output_name"]))
    config["plot_loss"] = True
    config["trust_remote_code"] = True
    config["include_num_input_tokens_seen"] = True
    if values["val_size"]:
        config.update(val_size=float(values["val_size"]), eval_strategy="steps", eval_steps=int(values["save_steps"]),
                      per_device_eval_batch_size=int(values["per_device_train_batch_size"]))
    config.update(_changed_optional_keys(values))
    config.update(_deepspeed_keys(values))
    config.update(_json_object(values["_extra_args"], "extra arguments"))
    return config


def _changed_optional_keys(values: dict[str, Any]) -> dict[str, Any]:
    """Accordion keys: those of the chosen finetuning type, stage and switches, and any other changed one."""
    stage = get_stage(values["stage"])
    refused_here = {key for s in STAGES.values() for key in s.own_keys} - set(stage.own_keys)
    found: dict[str, Any] = {}
    for f in fields("train"):
        if not f.section or f.key.startswith("_") or f.key in refused_here or f.key in MAIN_EXTRA_KEYS:
            continue
        value = _typed(f, values[f.key])
        changed = f.section in ("extra", "multimodal") and value != _typed(f, f.default)
        if (_section_applies(f, values) or changed) and value != "":
            found[f.key] = value
    if values["finetuning_type"] == "lora" and values["_use_pissa"]:
        found.update(pissa_init=True, pissa_convert=True)
    if stage.reward_model and values["finetuning_type"] != "lora":
        found["reward_model_type"] = "full"  # a LoRA reward model needs a LoRA policy (LLaMA Board's rule)
    if "report_to" in found:
        found["report_to"] = [target for target in found["report_to"] if target != "none"] or "none"
    return found


def _section_applies(f: Field, values: dict[str, Any]) -> bool:
    if f.section == "rlhf":
        return RLHF_KEY_APPLIES[f.key](get_stage(values["stage"]))
    if f.section in ("freeze", "lora"):
        return values["finetuning_type"] == f.section
    if f.section in OWNED_SECTIONS:  # a switch such as use_galore turns its accordion on
        return bool(values[f"use_{f.section}"])
    return False


def _typed(f: Field, value: Any) -> Any:
    if f.kind == "int":
        return int(value)
    if f.kind == "number":
        return float(value)
    if f.kind == "multi":
        return list(value or ())
    if f.kind == "text":
        return str(value or "").strip()
    return value


def _compute_type_keys(compute_type: str) -> dict[str, Any]:
    return {"bf16": {"bf16": True}, "fp16": {"fp16": True}, "fp32": {},
            "pure_bf16": {"pure_bf16": True}}[compute_type]


def _deepspeed_keys(values: dict[str, Any]) -> dict[str, Any]:
    if values["_ds_stage"] == "none":
        return {}
    offload = "_offload" if values["_ds_offload"] else ""
    return {"deepspeed": f"examples/deepspeed/ds_z{values['_ds_stage']}{offload}_config.json"}


def eval_args(values: dict[str, Any], saves_dir: str | Path = "saves") -> dict[str, Any]:
    """An evaluation (eval loss) or prediction (generated answers + BLEU/ROUGE) job on the top bar's model."""
    config = {"stage": "sft", **model_args(values)}
    config["dataset_dir"] = values["_eval_dataset_dir"]
    config["eval_dataset"] = ",".join(values["_eval_dataset"])
    config["cutoff_len"] = int(values["_eval_cutoff_len"])
    config["max_samples"] = _number(values, "_eval_max_samples", int)
    config["per_device_eval_batch_size"] = int(values["per_device_eval_batch_size"])
    if values["_predict"]:
        config.update(do_predict=True, predict_with_generate=True, max_new_tokens=int(values["max_new_tokens"]),
                      top_p=float(values["top_p"]), temperature=float(values["temperature"]))
    else:
        config["do_eval"] = True
    name = values["_eval_output_name"] or "eval_" + datetime.now().strftime("%Y-%m-%d-%H-%M-%S")
    config["output_dir"] = str(output_dir(saves_dir, values, name))
    config["trust_remote_code"] = True
    return config


def chat_args(values: dict[str, Any]) -> dict[str, Any]:
    config = {**model_args(values), "infer_backend": values["infer_backend"], "infer_dtype": values["infer_dtype"],
              "trust_remote_code": True}
    config.update(_json_object(values["_chat_extra_args"], "chat extra arguments"))
    return config


def export_args(values: dict[str, Any]) -> dict[str, Any]:
    config = {**model_args(values), "export_dir": values["export_dir"].strip(),
              "export_size": int(values["export_size"]), "export_device": values["export_device"],
              "export_legacy_format": bool(values["export_legacy_format"]), "trust_remote_code": True}
    if values["export_quantization_bit"] != "none":
        config["export_quantization_bit"] = int(values["export_quantization_bit"])
        config["export_quantization_dataset"] = values["export_quantization_dataset"]
    if values["export_hub_model_id"].strip():
        config["export_hub_model_id"] = values["export_hub_model_id"].strip()
    return config


def _number(values: dict[str, Any], key: str, kind: type) -> Any:
    text = str(values[key]).strip()
    try:
        return kind(float(text)) if kind is int else kind(text)
    except ValueError:
        raise ConfigError([f"{key}: {text!r} is not a number"]) from None


def _json_object(text: str, what: str) -> dict[str, Any]:
    if not (text or "").strip():
        return {}
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError([f"{what}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"]) from None
    if not isinstance(parsed, dict):
        raise ConfigError([f"{what}: expected a JSON object of key: value pairs, got {type(parsed).__name__}"])
    return parsed


# --- folders ------------------------------------------------------------------------------------------------------

def model_folder_name(values: dict[str, Any]) -> str:
    """The run folder's model part: the chosen name, or the path's last part for a custom model."""
    if values["_model_name"] != CUSTOM_MODEL:
        return values["_model_name"]
    return Path(values["model_name_or_path"].rstrip("/\\") or "model").name


def output_dir(saves_dir: str | Path, values: dict[str, Any], name: str) -> Path:
    """``saves/<model>/<finetuning type>/<name>``, LLaMA Board's layout."""
    name = name.strip() or "train_" + datetime.now().strftime("%Y-%m-%d-%H-%M-%S")
    return Path(saves_dir) / model_folder_name(values) / values["finetuning_type"] / name


def list_checkpoints(saves_dir: str | Path, values: dict[str, Any]) -> list[str]:
    """Finished runs under the model's folder for this finetuning type: adapters, or whole models for full/freeze."""
    root = Path(saves_dir) / model_folder_name(values) / values["finetuning_type"]
    if not root.is_dir():
        return []
    marker = "adapter_config.json" if values["finetuning_type"] in ("lora", "oft") else "config.json"
    return sorted(str(run) for run in root.iterdir() if (run / marker).is_file())


def datasets_for_stage(dataset_dir: str | Path, stage: str) -> list[str]:
    """The registry's datasets this stage can train on: ranked ones only for preference stages, and so on."""
    from ..data.registry import parse_entry, read_registry

    spec = get_stage(stage)
    try:
        registry = read_registry(dataset_dir)
    except Exception:  # noqa: BLE001 - a folder without a registry simply offers nothing
        return []
    names = []
    for name, entry in registry.items():
        try:
            attr = parse_entry(name, entry)
        except Exception:  # noqa: BLE001 - a broken entry is reported by the run, not by the list
            continue
        if attr.ranking == spec.ranked_data and (not spec.kto_tags or attr.kto_tag):
            names.append(name)
    return names


def preview(config: dict[str, Any], config_path: str | Path, command: str = "train",
            env: dict[str, str] | None = None) -> tuple[str, str]:
    """(the shell command a job runs, the YAML it reads): what the page shows before Start."""
    variables = "".join(f"{name}={value} " for name, value in (env or {}).items())
    return f"{variables}tunefactory {command} {config_path}", yaml.safe_dump(config, sort_keys=False,
                                                                              allow_unicode=True)


def saves_dir_default() -> str:
    return os.environ.get("TUNEFACTORY_SAVES_DIR", "saves")


# --- config -> values (LLaMA Board's "load arguments") -------------------------------------------------------------

# Keys train_args always writes or derives from other widgets: loading a config does not need them back.
DERIVED_TRAIN_KEYS = ("do_train", "plot_loss", "trust_remote_code", "include_num_input_tokens_seen", "eval_strategy",
                      "eval_steps", "per_device_eval_batch_size", "pissa_convert", "reward_model_type")


def values_from_config(config: dict[str, Any]) -> dict[str, Any]:
    """The Train tab's and top bar's widget values for a saved config; keys no widget shows go to the JSON box."""
    config = dict(config)
    values: dict[str, Any] = {}
    compute = [name for name in ("pure_bf16", "bf16", "fp16") if config.pop(name, False)]
    values["_compute_type"] = compute[0] if compute else "fp32"
    if config.get("dataset"):
        values["dataset"] = [name.strip() for name in str(config.pop("dataset")).split(",") if name.strip()]
    if "adapter_name_or_path" in config:
        values["_checkpoints"] = [p.strip() for p in str(config.pop("adapter_name_or_path")).split(",")]
    if "output_dir" in config:
        values["_output_name"] = Path(str(config.pop("output_dir"))).name
    values.update(_booster_from(config))
    values.update(_deepspeed_from(config.pop("deepspeed", None)))
    values["_use_pissa"] = bool(config.pop("pissa_init", False))
    for key in ("quantization_bit", "rope_scaling"):
        if key in config:
            values[key] = str(config.pop(key))
    extra = {}
    for key, value in config.items():
        f = FIELD_BY_KEY.get(key)
        if f is not None and f.tab in ("top", "train"):
            values[key] = list(value) if f.kind == "multi" and isinstance(value, (list, tuple)) else (
                [value] if f.kind == "multi" else str(value) if f.kind == "text" else value)
        elif key not in DERIVED_TRAIN_KEYS:
            extra[key] = value
    values["_extra_args"] = json.dumps(extra, ensure_ascii=False)
    return values


def _booster_from(config: dict[str, Any]) -> dict[str, Any]:
    if config.pop("use_unsloth", False):
        return {"_booster": "unsloth"}
    if config.pop("enable_liger_kernel", False):
        return {"_booster": "liger_kernel"}
    if config.get("flash_attn") == "fa2":
        config.pop("flash_attn")
        return {"_booster": "flashattn2"}
    return {"_booster": "auto"}


def _deepspeed_from(path: str | None) -> dict[str, Any]:
    if not path:
        return {"_ds_stage": "none", "_ds_offload": False}
    name = Path(str(path)).name
    stage = next((s for s in ("2", "3") if f"z{s}" in name), "none")
    return {"_ds_stage": stage, "_ds_offload": "offload" in name}
