"""Merge adapters into their base model and write one folder that loads without TuneFactory.

    check the export keys (export_dir, quantization, a reward model's head) before loading anything
      -> tokenizer and template (the template fixes EOS/pad/stop tokens and installs its chat_template)
      -> the model with every adapter in adapter_name_or_path merged, on export_device
         (with export_quantization_bit: GPTQ-quantized instead, `quantize.py`)
      -> weights cast to infer_dtype; the generation config stops at the template's stop tokens
      -> write weights (export_size GB shards; .bin with export_legacy_format), config, generation
         config, tokenizer, value head and Ollama Modelfile; push to export_hub_model_id when set
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from ..config.stages import get_stage
from ..data.template import get_template
from ..errors import ConfigError, ModelError
from ..model.loader import ModelSpec, load_hf_config, load_model, resolve_model_path, set_generation_defaults
from ..model.seeding import seed_everything
from ..model.tokenizer import load_media, load_tokenizer
from ..model.value_head import VALUE_HEAD_FILE, VALUE_HEAD_LEGACY_FILE
from .ollama import write_modelfile
from .quantize import gptq_problems, load_quantized_model

if TYPE_CHECKING:
    from ..config.run_config import RunConfig

logger = logging.getLogger(__name__)

SAFE_INDEX, LEGACY_INDEX = "model.safetensors.index.json", "pytorch_model.bin.index.json"


def export_model(config: RunConfig) -> Path:
    """Write the merged model to ``export_dir`` and return that folder (see the module docstring)."""
    check_export_args(config)
    seed_everything(config.training.seed if config.training is not None else None)
    model_args = config.model
    export_dir = Path(model_args.export_dir)
    tokenizer = load_tokenizer(model_args)
    template = get_template(tokenizer, config.data, model_args.model_name_or_path)
    if model_args.export_quantization_bit is not None:
        model = load_quantized_model(tokenizer, config)
    else:
        model = load_merged_model(tokenizer, config)
    set_generation_defaults(model, template, tokenizer)
    save_weights(model, export_dir, f"{model_args.export_size}GB", legacy=model_args.export_legacy_format)
    save_tokenizer(tokenizer, export_dir)
    save_image_processor(template, model_args, export_dir)
    copy_value_head(value_head_folder(model_args), export_dir)
    write_modelfile(template, tokenizer, export_dir)
    if model_args.export_hub_model_id:
        push_to_hub(export_dir, model_args.export_hub_model_id, model_args.hf_hub_token)
    logger.info("exported model written to %s", export_dir.resolve())
    return export_dir


def check_export_args(config: RunConfig) -> None:
    """Every problem with the export keys at once, before any weights load."""
    problems = export_problems(config)
    if problems:
        raise ConfigError(problems)


def export_problems(config: RunConfig) -> list[str]:
    """What stops an export (`validate --command export` reports these too)."""
    m, problems = config.model, []
    if not m.export_dir:
        problems.append("export_dir is required: the folder the merged model is written to")
    elif os.path.isfile(m.export_dir):
        problems.append(f"export_dir {m.export_dir} is a file; name a folder")
    elif os.path.isdir(m.export_dir) and os.listdir(m.export_dir):
        entries = sorted(os.listdir(m.export_dir))
        problems.append(f"export_dir {m.export_dir} is not empty ({len(entries)} entries, e.g. {entries[0]}); "
                        "export never overwrites files: choose a new folder, or delete this one first")
    if m.export_size < 1:
        problems.append(f"export_size is the largest weight file in GB: a whole number of at least 1, "
                        f"not {m.export_size}")
    if m.quantization_bit is not None:
        problems.append("quantization_bit: a quantized model cannot be merged and saved; export from the "
                        "unquantized base model (drop quantization_bit, the QLoRA adapter merges into it)")
    if m.export_quantization_bit is not None:
        problems += gptq_problems(m)
    folder = value_head_folder(m)
    if get_stage(config.finetuning.stage).scores and folder is not None and _value_head_file(folder) is None:
        problems.append(f"stage: rm exports a reward model, but {folder} has no {VALUE_HEAD_FILE} (or "
                        f"{VALUE_HEAD_LEGACY_FILE}); point adapter_name_or_path (or model_name_or_path) at the "
                        "output_dir of a stage: rm run")
    return problems


def load_merged_model(tokenizer, config: RunConfig):
    """The base model with every adapter merged, in ``infer_dtype`` (``auto``: the checkpoint's dtype)."""
    import torch

    model_args = config.model
    hf_config = load_hf_config(model_args, resolve_model_path(model_args))
    if model_args.adapter_name_or_path and getattr(hf_config, "quantization_config", None):
        raise ModelError(f"{model_args.model_name_or_path} is a quantized checkpoint: adapters cannot be merged "
                         "into it; merge them into the unquantized base model instead")
    device_map = {"": "cpu"} if model_args.export_device == "cpu" else None
    model = load_model(tokenizer, ModelSpec.from_config(config), is_trainable=False, device_map=device_map)
    if model_args.infer_dtype != "auto":
        # cast after merging: the loader may have merged in float32 (float16 on a CPU), the file gets what was asked
        model = model.to(getattr(torch, model_args.infer_dtype))
    logger.info("weights are written in %s", str(model.dtype).removeprefix("torch."))
    return model


def save_weights(model, export_dir: Path, max_shard_size: str, legacy: bool = False) -> None:
    """Config, generation config and weights in shards of at most ``max_shard_size``.

    transformers 5 writes safetensors only; ``legacy`` converts the shards to PyTorch ``.bin`` files
    afterwards, so the tensors (tied weights dropped, original names restored) are exactly transformers'."""
    export_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(export_dir, max_shard_size=max_shard_size)
    if legacy:
        _safetensors_to_bin(export_dir)


def _safetensors_to_bin(folder: Path) -> None:
    import torch
    from safetensors.torch import load_file

    renamed = {}
    for shard in sorted(folder.glob("model*.safetensors")):
        name = "pytorch_model" + shard.name.removeprefix("model").removesuffix(".safetensors") + ".bin"
        torch.save(load_file(shard), folder / name)
        shard.unlink()
        renamed[shard.name] = name
    index = folder / SAFE_INDEX
    if index.is_file():
        content = json.loads(index.read_text(encoding="utf-8"))
        content["weight_map"] = {key: renamed[file] for key, file in content["weight_map"].items()}
        (folder / LEGACY_INDEX).write_text(json.dumps(content, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        index.unlink()


def save_image_processor(template, model_args, export_dir: Path) -> None:
    """A multimodal family's image processor (and processor settings) beside the weights, so the folder takes images
    in plain transformers."""
    media = load_media(model_args, template)
    if media is not None:
        media.save(export_dir)


def save_tokenizer(tokenizer, export_dir: Path) -> None:
    """The tokenizer as the template fixed it, with its chat_template; padded on the left, for generation."""
    tokenizer.padding_side = "left"
    tokenizer.init_kwargs["padding_side"] = "left"
    tokenizer.save_pretrained(export_dir)


def value_head_folder(model_args) -> str | None:
    """Where a reward model keeps its value head: the last adapter, else the model folder (None: a hub id)."""
    folder = (model_args.adapter_name_or_path or [model_args.model_name_or_path])[-1]
    return folder if folder and os.path.isdir(folder) else None


def _value_head_file(folder: str) -> str | None:
    for name in (VALUE_HEAD_FILE, VALUE_HEAD_LEGACY_FILE):
        if os.path.isfile(os.path.join(folder, name)):
            return name
    return None


def copy_value_head(folder: str | None, export_dir: Path) -> None:
    """A reward model keeps its head beside the merged weights (any stage: a head is never dropped silently)."""
    name = _value_head_file(folder) if folder else None
    if name is not None:
        shutil.copyfile(os.path.join(folder, name), export_dir / name)
        logger.info("copied the value head %s from %s", name, folder)


def push_to_hub(export_dir: Path, repo_id: str, token: str | None) -> None:
    """Upload the folder as written (weights, tokenizer, Modelfile, value head) to a Hugging Face repository."""
    from huggingface_hub import HfApi

    try:
        api = HfApi(token=token)
        api.create_repo(repo_id, exist_ok=True)
        api.upload_folder(repo_id=repo_id, folder_path=str(export_dir))
    except Exception as exc:  # noqa: BLE001 - offline, auth or network: the local export is complete either way
        raise ModelError(f"export_hub_model_id: pushing to {repo_id} failed ({exc}); the export in {export_dir} is "
                         f"complete: upload it later with `hf upload {repo_id} {export_dir}`") from exc
    logger.info("pushed %s to https://huggingface.co/%s", export_dir, repo_id)
