"""Proximal policy optimisation (stage: ppo): the policy learns from a reward model's scores.

The policy is the run's model with a value head (the critic). Its reward comes from
``reward_model``: a stage-rm output folder (``reward_model_type: full``), a reward LoRA adapter
that shares the policy's base weights (``lora``), or an HTTP scoring endpoint (``api``). The
reference that anchors the KL penalty is chosen as for dpo. See `ppo_trainer.py` for one step.
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING

from ..errors import ConfigError
from ..model.loader import ModelSpec, load_model, load_other_model, set_generation_defaults
from ..model.value_head import VALUE_HEAD_FILE, VALUE_HEAD_LEGACY_FILE, read_value_head
from . import steps
from .outputs import checkpoint_to_resume
from .ppo_trainer import PPOSettings, PPOTrainer, RewardAdapterScorer, RewardAPIScorer, RewardModelScorer, cannot_resume

if TYPE_CHECKING:
    from ..config.run_config import RunConfig

logger = logging.getLogger(__name__)


def run_ppo(config: RunConfig) -> None:
    training = config.training
    resume_from = checkpoint_to_resume(training)
    if resume_from:  # refused before anything loads or is written
        raise ConfigError([cannot_resume(resume_from)])
    tokenizer, template = steps.load_tokenizer_and_template(config)
    data = steps.load_data(config, template, tokenizer)
    model = load_model(tokenizer, ModelSpec.from_config(config), is_trainable=True, add_valuehead=True)
    set_generation_defaults(model.pretrained_model, template, tokenizer)
    ref_model = steps.load_reference(tokenizer, config)
    scorer = load_scorer(tokenizer, config, model)
    collator = steps.make_collator(config, tokenizer, model)  # prompts, left-padded
    steps.configure_reporting(config)
    training.remove_unused_columns = False
    trainer = PPOTrainer(
        model=model, args=training, data_collator=collator, train_dataset=data.train, processing_class=tokenizer,
        callbacks=steps.callbacks(config), ref_model=ref_model, scorer=scorer,
        settings=PPOSettings.from_arguments(config.finetuning),
        generation_kwargs=steps.generation_kwargs(config, template, tokenizer),
        turn_suffix=turn_suffix_after_stop(template, tokenizer),
    )
    metrics = steps.train_and_save(trainer, config, resume_from)
    steps.finish(trainer, config, metrics)


def ppo_problems(config: RunConfig) -> list[str]:
    """What stops a ppo run before anything loads (`validate` reports these too)."""
    from transformers.trainer_utils import get_last_checkpoint

    f, training, problems = config.finetuning, config.training, []
    output = training.output_dir
    resume = training.resume_from_checkpoint or (
        None if training.overwrite_output_dir or not os.path.isdir(output) else get_last_checkpoint(output))
    if resume:
        problems.append(cannot_resume(resume))
    if f.reward_model_type == "lora" and f.reward_model and not _has_value_head(f.reward_model):
        problems.append(_NO_REWARD_HEAD.format(f.reward_model))
    return problems


_NO_REWARD_HEAD = ("reward_model: {} has no " + VALUE_HEAD_FILE + "; with reward_model_type: lora it must be the "
                   "output_dir of a LoRA stage-rm run")


def _has_value_head(folder: str) -> bool:
    return any(os.path.isfile(os.path.join(folder, name)) for name in (VALUE_HEAD_FILE, VALUE_HEAD_LEGACY_FILE))


def load_scorer(tokenizer, config: RunConfig, policy):
    f = config.finetuning
    if f.reward_model_type == "api":
        logger.info("reward: scores from %s", f.reward_model)
        return RewardAPIScorer(f.reward_model, tokenizer)
    if f.reward_model_type == "lora":
        head = read_value_head(f.reward_model)
        if head is None:
            raise ConfigError([_NO_REWARD_HEAD.format(f.reward_model)])
        logger.info("reward: the LoRA adapter %s on the policy's base model", f.reward_model)
        return RewardAdapterScorer(policy, f.reward_model, head, tokenizer.pad_token_id)
    logger.info("reward: the model %s", f.reward_model)
    reward_model = load_other_model(tokenizer, ModelSpec.from_config(config), f.reward_model,
                                    f.reward_model_adapters, f.reward_model_quantization_bit, add_valuehead=True)
    return RewardModelScorer(reward_model.to(config.training.device), tokenizer.pad_token_id)


def turn_suffix_after_stop(template, tokenizer) -> list[int]:
    """The tokens a template puts after an answer's stop token (Qwen: a newline), so PPO answers are
    scored in the form the reward model was trained on."""
    _, answer = template.encode_multiturn(tokenizer, [{"role": "user", "content": "x"},
                                                      {"role": "assistant", "content": "x"}])[-1]
    stops = set(template.stop_token_ids(tokenizer))
    for i, token in enumerate(answer):
        if token in stops:
            return answer[i + 1:]
    return []
