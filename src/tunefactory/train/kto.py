"""Kahneman-Tversky optimisation (stage: kto): single answers labelled desirable or undesirable.

Each answer's log-ratio against the frozen reference is pushed above (desirable, weighted by
``kto_chosen_weight``) or below (undesirable, ``kto_rejected_weight``) a KL baseline estimated from
mismatched prompt/answer rows of the same batch. The reference is chosen as for dpo.
"""

from __future__ import annotations

from ..model.loader import load_model
from . import steps
from .outputs import checkpoint_to_resume
from .pair_trainers import KTOTrainer


def run_kto(config) -> None:
    training = config.training
    resume_from = checkpoint_to_resume(training)
    tokenizer, template = steps.load_tokenizer_and_template(config)
    data = steps.load_data(config, template, tokenizer)
    model = load_model(tokenizer, config, is_trainable=training.do_train)
    steps.set_generation_defaults(model, template, tokenizer)
    ref_model = steps.load_reference(tokenizer, config)
    collator = steps.make_collator("feedback", config, tokenizer, model)
    steps.configure_reporting(config)
    training.remove_unused_columns = False  # the collator reads kl_* and kto_tags itself
    trainer = KTOTrainer(
        model=model, args=training, data_collator=collator, train_dataset=data.train, eval_dataset=data.eval,
        processing_class=tokenizer, callbacks=steps.callbacks(config), ref_model=ref_model,
        finetuning=config.finetuning,
    )
    metrics = {}
    if training.do_train:
        metrics.update(steps.train_and_save(trainer, config, resume_from,
                                            plot_keys=("loss", "rewards/chosen", "eval_loss")))
    if training.do_eval:
        metrics.update(steps.evaluate(trainer))
    steps.finish(trainer, config, metrics)
