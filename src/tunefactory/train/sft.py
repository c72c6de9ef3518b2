"""Supervised fine-tuning (stage: sft).

Supports full, freeze and LoRA (rsLoRA, DoRA, PiSSA; QLoRA on a GPU) training, packing and neat
packing, evaluation (loss, and token accuracy with ``compute_accuracy``) and prediction by
generation (``predict_with_generate``: ``generated_predictions.jsonl`` with BLEU-4 and ROUGE).
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING

from ..model.loader import ModelSpec, load_model, set_generation_defaults
from . import steps
from .labelled_head import use_labelled_head
from .metrics import TextSimilarity, TokenAccuracy, logits_to_token_ids, save_predictions
from .optimizers import configure_optimizer
from .outputs import checkpoint_to_resume
from .sft_losses import SftLoss
from .trainer import GenerationTrainer

if TYPE_CHECKING:
    from ..config.run_config import RunConfig

logger = logging.getLogger(__name__)


def run_sft(config: RunConfig) -> None:
    training = config.training
    resume_from = checkpoint_to_resume(training)
    tokenizer, template = steps.load_tokenizer_and_template(config)
    media = steps.load_media(config, template)  # images, for a multimodal family's template (else None)
    data = steps.load_data(config, template, tokenizer, media)
    model = load_model(tokenizer, ModelSpec.from_config(config), is_trainable=training.do_train)
    set_generation_defaults(model, template, tokenizer)
    sft_loss = SftLoss.from_arguments(config.finetuning)
    ref_model = steps.load_reference(tokenizer, config) if sft_loss and training.do_train else None
    padding_free = steps.padding_free(config, model, media, ref_model)
    collator = steps.make_collator(config, tokenizer, model, media=media, padding_free=padding_free)
    prompt_collator = steps.make_collator(config, tokenizer, model, for_generation=True)
    compute_metrics, reduce_logits = _metrics(config, tokenizer)
    steps.configure_reporting(config)
    training.remove_unused_columns = False  # the collator reads position_ids and labels itself
    trainer = GenerationTrainer(
        model=model, args=training, data_collator=collator, train_dataset=data.train, eval_dataset=data.eval,
        processing_class=tokenizer, compute_metrics=compute_metrics, preprocess_logits_for_metrics=reduce_logits,
        callbacks=steps.callbacks(config), generation_collator=prompt_collator,
        stop_token_ids=template.stop_token_ids(tokenizer),
        labelled_head=use_labelled_head(model, config.model.lm_head_on_labels_only and training.do_train),
        sft_loss=sft_loss, ref_model=ref_model,
        optimizer_cls_and_kwargs=configure_optimizer(config.finetuning, training, model),
    )
    gen_kwargs = steps.generation_kwargs(config, template, tokenizer)
    metrics = {}
    if training.do_train:
        metrics.update(steps.train_and_save(trainer, config, resume_from))
        steps.save_image_processor(trainer, media)
    if training.do_eval:
        metrics.update(_evaluate(trainer, gen_kwargs if training.predict_with_generate else {}))
    if training.do_predict:
        metrics.update(_predict(trainer, data.eval, tokenizer, gen_kwargs, config))
    steps.finish(trainer, config, metrics)


def _metrics(config: RunConfig, tokenizer):
    if config.training.predict_with_generate:
        return TextSimilarity(tokenizer), None
    if config.finetuning.compute_accuracy:
        return TokenAccuracy(), logits_to_token_ids
    return None, None


def _evaluate(trainer, gen_kwargs: dict) -> dict:
    metrics = trainer.evaluate(metric_key_prefix="eval", **gen_kwargs)
    trainer.log_metrics("eval", metrics)
    trainer.save_metrics("eval", metrics)
    return metrics


def _real_ids(ids) -> list[int]:
    return [int(i) for i in ids if i != -100]  # the Trainer pads batches of different lengths with -100


def _predict(trainer, dataset, tokenizer, gen_kwargs: dict, config: RunConfig) -> dict:
    if isinstance(dataset, dict):  # eval_on_each_dataset: predict the first set, say so
        name, dataset = next(iter(dataset.items()))
        logger.warning("do_predict writes predictions for one evaluation set: %r", name)
    output = trainer.predict(dataset, metric_key_prefix="predict", **gen_kwargs)
    trainer.log_metrics("predict", output.metrics)
    trainer.save_metrics("predict", output.metrics)
    if trainer.is_world_process_zero():
        skip = config.generating.skip_special_tokens
        path = os.path.join(config.training.output_dir, "generated_predictions.jsonl")
        save_predictions(
            path,
            [tokenizer.decode(row["input_ids"], skip_special_tokens=False) for row in dataset],
            [tokenizer.decode(_real_ids(ids), skip_special_tokens=skip) for ids in output.predictions],
            [tokenizer.decode(_real_ids(ids), skip_special_tokens=skip) for ids in output.label_ids],
        )
        logger.info("predictions written to %s", path)
    return output.metrics
