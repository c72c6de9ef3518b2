"""Reward modelling (stage: rm).

A causal LM with a value head learns to score the chosen answer of each pair above the rejected
one. The head is saved beside the model or adapter (``value_head.safetensors``) for ppo and the
API; evaluation reports pairwise accuracy, and ``do_predict`` writes each pair's two scores to
``generated_predictions.jsonl``.
"""

from __future__ import annotations

import json
import logging
import os
from typing import TYPE_CHECKING

from ..model.loader import ModelSpec, load_model
from . import steps
from .metrics import pairwise_accuracy
from .optimizers import configure_optimizer
from .outputs import checkpoint_to_resume
from .pair_trainers import RewardTrainer

if TYPE_CHECKING:
    from ..config.run_config import RunConfig

logger = logging.getLogger(__name__)


def run_rm(config: RunConfig) -> None:
    training = config.training
    resume_from = checkpoint_to_resume(training)
    tokenizer, template = steps.load_tokenizer_and_template(config)
    media = steps.load_media(config, template)  # images, for a multimodal family's template (else None)
    data = steps.load_data(config, template, tokenizer, media)
    model = load_model(tokenizer, ModelSpec.from_config(config), is_trainable=training.do_train, add_valuehead=True,
                       require_value_head=not training.do_train)
    collator = steps.make_collator(config, tokenizer, model, media=media)
    steps.configure_reporting(config)
    training.remove_unused_columns = False  # the collator reads chosen_*/rejected_* itself
    trainer = RewardTrainer(
        model=model, args=training, data_collator=collator, train_dataset=data.train, eval_dataset=data.eval,
        processing_class=tokenizer, compute_metrics=pairwise_accuracy, callbacks=steps.callbacks(config),
        optimizer_cls_and_kwargs=configure_optimizer(config.finetuning, training, model),
    )
    metrics = {}
    if training.do_train:
        metrics.update(steps.train_and_save(trainer, config, resume_from))
        steps.save_image_processor(trainer, media)
    if training.do_eval:
        metrics.update(steps.evaluate(trainer))
    if training.do_predict:
        metrics.update(_predict(trainer, data.eval, config))
    steps.finish(trainer, config, metrics)


def _predict(trainer, dataset, config: RunConfig) -> dict:
    if isinstance(dataset, dict):
        name, dataset = next(iter(dataset.items()))
        logger.warning("do_predict writes scores for one evaluation set: %r", name)
    output = trainer.predict(dataset, metric_key_prefix="predict")
    trainer.log_metrics("predict", output.metrics)
    trainer.save_metrics("predict", output.metrics)
    if trainer.is_world_process_zero():
        path = os.path.join(config.training.output_dir, "generated_predictions.jsonl")
        with open(path, "w", encoding="utf-8") as file:
            for chosen, rejected in output.predictions.tolist():
                file.write(json.dumps({"chosen": chosen, "rejected": rejected}) + "\n")
        logger.info("scores of %d pairs written to %s", len(output.predictions), path)
    return output.metrics
