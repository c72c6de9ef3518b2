"""Continued pre-training (stage: pt): learn raw text, every token.

Supports full, freeze and LoRA training, packing (on by default: documents concatenated into
``cutoff_len`` blocks) and evaluation (loss and perplexity). Prediction is refused at config time.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from ..model.loader import ModelSpec, load_model
from . import steps
from .optimizers import configure_optimizer
from .outputs import checkpoint_to_resume
from .trainer import GenerationTrainer

if TYPE_CHECKING:
    from ..config.run_config import RunConfig


def run_pt(config: RunConfig) -> None:
    training = config.training
    resume_from = checkpoint_to_resume(training)
    tokenizer, template = steps.load_tokenizer_and_template(config)
    data = steps.load_data(config, template, tokenizer)
    model = load_model(tokenizer, ModelSpec.from_config(config), is_trainable=training.do_train)
    collator = steps.make_collator(config, tokenizer, model, padding_free=steps.padding_free(config, model))
    steps.configure_reporting(config)
    training.remove_unused_columns = False
    trainer = GenerationTrainer(
        model=model, args=training, data_collator=collator, train_dataset=data.train, eval_dataset=data.eval,
        processing_class=tokenizer, callbacks=steps.callbacks(config),
        optimizer_cls_and_kwargs=configure_optimizer(config.finetuning, training, model),
    )
    metrics = {}
    if training.do_train:
        metrics.update(steps.train_and_save(trainer, config, resume_from))
    if training.do_eval:
        evaluation = trainer.evaluate(metric_key_prefix="eval")
        evaluation["perplexity"] = math.exp(evaluation["eval_loss"]) if evaluation["eval_loss"] < 700 else math.inf
        trainer.log_metrics("eval", evaluation)
        trainer.save_metrics("eval", evaluation)
        metrics.update(evaluation)
    steps.finish(trainer, config, metrics)
