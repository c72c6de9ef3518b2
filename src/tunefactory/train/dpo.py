"""Direct preference optimisation (stage: dpo) and its relatives, picked by ``pref_loss``.

sigmoid (DPO), hinge, ipo and kto_pair compare the policy with a frozen reference (``ref_model``;
by default a copy of the starting model, or for LoRA the same model with its adapter switched off);
orpo and simpo need no reference. ``pref_ftx`` adds the chosen answer's SFT loss.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..model.loader import ModelSpec, load_model, set_generation_defaults
from . import steps
from .labelled_head import use_labelled_head
from .losses import PreferenceLossSettings
from .optimizers import configure_optimizer
from .outputs import checkpoint_to_resume
from .pair_trainers import PreferenceTrainer

if TYPE_CHECKING:
    from ..config.run_config import RunConfig


def run_dpo(config: RunConfig) -> None:
    run_against_reference(config, PreferenceTrainer)


def run_against_reference(config: RunConfig, trainer_class) -> None:
    """The dpo and kto recipe: the policy, its frozen reference (see `steps.load_reference`), train, evaluate."""
    training = config.training
    resume_from = checkpoint_to_resume(training)
    tokenizer, template = steps.load_tokenizer_and_template(config)
    media = steps.load_media(config, template)  # images, for a multimodal family's template (else None)
    data = steps.load_data(config, template, tokenizer, media)
    model = load_model(tokenizer, ModelSpec.from_config(config), is_trainable=training.do_train)
    set_generation_defaults(model, template, tokenizer)
    ref_model = steps.load_reference(tokenizer, config)
    collator = steps.make_collator(config, tokenizer, model, media=media)
    steps.configure_reporting(config)
    training.remove_unused_columns = False  # the collator reads chosen_*/rejected_* (or kl_*, kto_tags) itself
    trainer = trainer_class(
        model=model, args=training, data_collator=collator, train_dataset=data.train, eval_dataset=data.eval,
        processing_class=tokenizer, callbacks=steps.callbacks(config), ref_model=ref_model,
        loss_settings=PreferenceLossSettings.from_arguments(config.finetuning),
        labelled_head=use_labelled_head(model, config.model.lm_head_on_labels_only),
        optimizer_cls_and_kwargs=configure_optimizer(config.finetuning, training, model),
    )
    metrics = {}
    if training.do_train:
        metrics.update(steps.train_and_save(trainer, config, resume_from))
        steps.save_image_processor(trainer, media)
    if training.do_eval:
        metrics.update(steps.evaluate(trainer))
    steps.finish(trainer, config, metrics)
