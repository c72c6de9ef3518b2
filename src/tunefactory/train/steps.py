"""Steps every stage recipe shares, named so the recipes read top to bottom."""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING

from ..config.finetuning_args import ADAPTER_METHODS
from ..config.parser import save_run_config
from ..config.stages import get_stage
from ..data.collators import build_collator
from ..data.multimodal import MediaContext
from ..data.pipeline import get_dataset
from ..data.template import get_template
from ..model.loader import is_zero3_enabled
from ..model.tokenizer import load_media as load_model_media
from ..model.tokenizer import load_tokenizer
from .callbacks import LogCallback, LossGuard, StopOnSignal, restore_signal_handlers
from .outputs import write_model_card
from .padding_free import use_padding_free
from .pissa import SavePissaStart, save_converted_adapter

if TYPE_CHECKING:
    from ..config.run_config import RunConfig

logger = logging.getLogger(__name__)


class DatasetSaved(Exception):
    """The run was asked to write `tokenized_path` first: it stops there, as in LLaMA-Factory."""


def load_tokenizer_and_template(config: RunConfig):
    tokenizer = load_tokenizer(config.model)
    template = get_template(tokenizer, config.data, config.model.model_name_or_path)
    return tokenizer, template


def load_media(config: RunConfig, template) -> MediaContext | None:
    """The media plugin and image processor when the template's family has one: rows with images then train."""
    return load_model_media(config.model, template)


def save_image_processor(trainer, media: MediaContext | None) -> None:
    """Beside the weights and tokenizer, so the folder loads (and trains again) with its images as this run did."""
    if media is not None and trainer.is_world_process_zero():
        media.save(trainer.args.output_dir)


def load_data(config: RunConfig, template, tokenizer, media: MediaContext | None = None):
    # The main process processes (and caches) the data first; the others then read its cache.
    with config.training.main_process_first(desc="dataset processing"):
        module = get_dataset(config, template, tokenizer, media)
    if module.saved_to:
        raise DatasetSaved(module.saved_to)
    return module


def padding_free(config: RunConfig, model, media: MediaContext | None = None, reference_model=None) -> bool:
    """Whether the training batches are concatenated rows without padding (``padding_free``, where exact)."""
    data = config.data
    packs_by_default = get_stage(config.finetuning.stage).packs_by_default
    packing = data.neat_packing or (packs_by_default if data.packing is None else data.packing)
    return use_padding_free(model, data.padding_free and config.training.do_train, packing=bool(packing),
                            media=media is not None, reference_model=reference_model is not None,
                            sharded=is_zero3_enabled())


def make_collator(config: RunConfig, tokenizer, model, *, for_generation: bool = False,
                  media: MediaContext | None = None, padding_free: bool = False):
    """The collator for the stage's example format (for_generation: the prompts its evaluation generates from;
    padding_free: training rows concatenated, see `padding_free`)."""
    import torch

    stage = get_stage(config.finetuning.stage)
    return build_collator(
        stage.examples_for(is_eval=True, predict_with_generate=True) if for_generation else stage.examples,
        tokenizer,
        pad_to_multiple_of=8 if torch.cuda.is_available() and config.training.do_train else None,
        ignore_pad_token_for_loss=config.data.ignore_pad_token_for_loss,
        attn_implementation=getattr(model.config, "_attn_implementation", None) or "sdpa",
        compute_dtype=next(model.parameters()).dtype,
        media=media,
        padding_free=padding_free and not for_generation,
    )


def callbacks(config: RunConfig) -> list:
    from transformers import EarlyStoppingCallback

    stage = get_stage(config.finetuning.stage)
    found = [LogCallback(config.training.output_dir, extra_keys=("padding_fraction", *stage.log_keys))]
    if not stage.zero_loss_is_normal:
        found.append(LossGuard())
    if config.finetuning.pissa_init and config.finetuning.pissa_convert:
        found.append(SavePissaStart(config.training.output_dir))
    if config.finetuning.early_stopping_steps:
        found.append(EarlyStoppingCallback(early_stopping_patience=config.finetuning.early_stopping_steps))
    found.append(StopOnSignal())  # last: it raises in on_save/on_train_end, which skips the callbacks after it
    return found


SWANLAB_SETTINGS = {"swanlab_project": "SWANLAB_PROJECT", "swanlab_workspace": "SWANLAB_WORKSPACE",
                    "swanlab_mode": "SWANLAB_MODE", "swanlab_api_key": "SWANLAB_API_KEY",
                    "swanlab_logdir": "SWANLAB_LOG_DIR"}


def configure_reporting(config: RunConfig) -> None:
    """``use_swanlab`` (LLaMA-Factory's switch) becomes transformers' own SwanLab integration."""
    finetuning, training = config.finetuning, config.training
    if not finetuning.use_swanlab:
        return
    for key, variable in SWANLAB_SETTINGS.items():
        value = getattr(finetuning, key)
        if value is not None:
            os.environ[variable] = str(value)
    if finetuning.swanlab_run_name:
        training.run_name = finetuning.swanlab_run_name
    if "swanlab" not in training.report_to:
        training.report_to = [*training.report_to, "swanlab"]
        logger.info("use_swanlab: reporting to SwanLab (project %s)", finetuning.swanlab_project)


def generation_kwargs(config: RunConfig, template, tokenizer) -> dict:
    """generate() settings from the generating arguments, stopping at the template's stop tokens."""
    g = config.generating
    kwargs = {"do_sample": g.do_sample, "num_beams": config.data.eval_num_beams or g.num_beams,
              "max_new_tokens": g.max_new_tokens, "repetition_penalty": g.repetition_penalty,
              "length_penalty": g.length_penalty, "eos_token_id": template.stop_token_ids(tokenizer),
              "pad_token_id": tokenizer.pad_token_id}
    if g.do_sample:
        kwargs.update(temperature=g.temperature, top_p=g.top_p, top_k=g.top_k)
    return kwargs


def load_reference(tokenizer, config: RunConfig):
    """The frozen reference the stage compares its policy with (`Stage.reference`), or None when none
    is loaded: a stage or loss without a reference (orpo, simpo), and LoRA, whose reference is the same model with its
    adapter switched off (no second copy of the weights in memory)."""
    from ..model.loader import ModelSpec, load_other_model

    f, m, spec = config.finetuning, config.model, ModelSpec.from_config(config)
    if not get_stage(f.stage).reference(f):
        if f.ref_model:
            logger.warning("pref_loss: %s needs no reference model; ref_model %s is not loaded", f.pref_loss,
                           f.ref_model)
        return None
    if f.ref_model:
        logger.info("reference model: %s%s", f.ref_model, f" + {f.ref_model_adapters}" if f.ref_model_adapters else "")
        return load_other_model(tokenizer, spec, f.ref_model, f.ref_model_adapters, f.ref_model_quantization_bit)
    if not config.training.do_train:
        logger.info("evaluation only: the reference is the model itself (all rewards 0); set ref_model to compare "
                    "with another model")
        return None
    continues_adapter = f.finetuning_type in ADAPTER_METHODS and m.adapter_name_or_path and not f.create_new_adapter
    if f.finetuning_type in ADAPTER_METHODS and not continues_adapter:
        logger.info("reference model: the base model with the %s adapter switched off",
                    {"lora": "LoRA", "oft": "OFT"}[f.finetuning_type])
        return None
    # The reference is the policy as it starts: a frozen copy (for LoRA continuing an adapter, that
    # adapter merged in; LLaMA-Factory compares with the model *without* it instead, see docs/training.md).
    logger.info("reference model: a frozen copy of the starting model")
    return load_other_model(tokenizer, spec, m.model_name_or_path, m.adapter_name_or_path, m.quantization_bit)


def train_and_save(trainer, config: RunConfig, resume_from: str | None) -> dict:
    """Train, then save the weights (or adapter) and tokenizer, metrics, state, loss plots and card."""
    from .plots import plot_loss

    training = config.training
    if trainer.is_world_process_zero():
        save_run_config(config, training.output_dir)
    try:
        result = trainer.train(resume_from_checkpoint=resume_from)
    finally:  # in a process that goes on after a failed run (a notebook, tests), SIGTERM ends it again
        restore_signal_handlers(trainer)
    trainer.save_model()
    if config.finetuning.pissa_init and config.finetuning.pissa_convert and trainer.is_world_process_zero():
        save_converted_adapter(trainer.accelerator.unwrap_model(trainer.model), training.output_dir)
    elif config.finetuning.pissa_init:
        logger.warning("pissa_init without pissa_convert: the adapter works only on the PiSSA residual of the base "
                       "model; set pissa_convert: true to get an adapter for the original model")
    trainer.log_metrics("train", result.metrics)
    trainer.save_metrics("train", result.metrics)
    trainer.save_state()
    if trainer.is_world_process_zero() and config.finetuning.plot_loss:
        plot_loss(training.output_dir, keys=get_stage(config.finetuning.stage).plot_keys)
    return result.metrics


def evaluate(trainer) -> dict:
    metrics = trainer.evaluate(metric_key_prefix="eval")
    trainer.log_metrics("eval", metrics)
    trainer.save_metrics("eval", metrics)
    return metrics


def finish(trainer, config: RunConfig, metrics: dict) -> None:
    if trainer.is_world_process_zero() and config.training.do_train:
        write_model_card(config, config.training.output_dir, metrics)
    logger.info("outputs are in %s", os.path.abspath(config.training.output_dir))
