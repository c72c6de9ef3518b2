"""Group relative policy optimisation (stage: grpo) on TRL's GRPOTrainer.

For each prompt the policy samples ``num_generations`` completions; the rewards (`rewards.py`) score them, each
completion's advantage is its reward against its group's mean (divided by the group's std with scale_rewards:
group), and the policy gradient with clipped probability ratios (and, with beta > 0, a KL penalty against the
starting model) makes the better completions likelier. TRL does the rollouts, advantages and losses; TuneFactory
gives it the model (full, freeze, LoRA or QLoRA, as every stage loads it), the prompts rendered by the run's
template (ids, so the model sees exactly the training format), the rewards, and the run's training arguments.

    prompts: the datasets' conversations up to the answer, with the generation prompt (`data.prompts`);
             longer than max_prompt_length: skipped and counted; the reference answer becomes `solution`/`answer`
    model -> GRPOTrainer (thin subclass: prompt ids from our template) -> train -> save, trainer_log.jsonl, plots
"""

from __future__ import annotations

import dataclasses
import logging
from typing import TYPE_CHECKING

from trl import GRPOConfig
from trl import GRPOTrainer as TRLGRPOTrainer

from ..data.pipeline import get_canonical_dataset
from ..data.prompts import encode_prompts
from ..model.loader import ModelSpec, load_model, set_generation_defaults
from . import steps
from .outputs import checkpoint_to_resume
from .rewards import build_rewards

if TYPE_CHECKING:
    from ..config.run_config import RunConfig

logger = logging.getLogger(__name__)

# Our keys that are GRPOConfig's own, under the same names
TRL_KEYS = ("num_generations", "max_completion_length", "beta", "loss_type", "epsilon", "epsilon_high",
            "importance_sampling_level", "scale_rewards", "mask_truncated_completions", "num_iterations",
            "sync_ref_model", "ref_model_mixup_alpha", "ref_model_sync_steps", "reward_weights", "use_vllm",
            "vllm_mode", "vllm_gpu_memory_utilization")
# TRL samples rollouts at temperature 1 without top-p/top-k; the chat defaults of the generating group (0.95,
# 0.7, 50) would narrow exploration, so they apply only where the config sets them
SAMPLING_DEFAULTS = {"temperature": 1.0, "top_p": 1.0, "top_k": 0, "repetition_penalty": 1.0}


def run_grpo(config: RunConfig) -> None:
    training = config.training
    resume_from = checkpoint_to_resume(training)
    tokenizer, template = steps.load_tokenizer_and_template(config)
    prompts = load_prompts(config, template, tokenizer)
    model = load_model(tokenizer, ModelSpec.from_config(config), is_trainable=True)
    set_generation_defaults(model, template, tokenizer)  # rollouts stop where the template ends a turn
    rewards = build_rewards(config, tokenizer, template)
    for message in ignored_generation_keys(config):
        logger.warning(message)
    steps.configure_reporting(config)
    trainer = GRPOTrainer(
        model=model, reward_funcs=rewards, args=grpo_arguments(config), train_dataset=prompts,
        processing_class=tokenizer, callbacks=steps.callbacks(config),
    )
    metrics = steps.train_and_save(trainer, config, resume_from)
    steps.finish(trainer, config, metrics)


def load_prompts(config: RunConfig, template, tokenizer):
    """The training prompts as TRL's dataset: ``prompt`` (the rendered text), ``prompt_ids`` (our encoding of it),
    and the reference answer as ``solution`` (TRL's name) and ``answer``."""
    from datasets import Dataset

    with config.training.main_process_first(desc="dataset processing"):
        examples = get_canonical_dataset(config, "stage grpo").train
    rows = encode_prompts(examples, template, tokenizer, config.finetuning.max_prompt_length, "max_prompt_length")
    logger.info("grpo: %d prompts; the first:\n%s", len(rows), rows[0].prompt)
    return Dataset.from_dict({"prompt": [r.prompt for r in rows], "prompt_ids": [r.prompt_ids for r in rows],
                              "solution": [r.label for r in rows], "answer": [r.label for r in rows]})


def grpo_arguments(config: RunConfig) -> GRPOConfig:
    """GRPOConfig from the run's training arguments (every transformers key as the user set it), the grpo keys,
    and the rollout sampling settings."""
    from transformers import TrainingArguments as HFTrainingArguments

    training, finetuning, generating = config.training, config.finetuning, config.generating
    base = {field.name: getattr(training, field.name) for field in dataclasses.fields(HFTrainingArguments)
            if field.init and hasattr(training, field.name)}
    sampling = {key: getattr(generating, key) if key in config.user_keys else default
                for key, default in SAMPLING_DEFAULTS.items()}
    base["remove_unused_columns"] = False  # the rewards read the dataset's columns
    return GRPOConfig(**base, **{key: getattr(finetuning, key) for key in TRL_KEYS}, **sampling,
                      shuffle_dataset=not finetuning.disable_shuffling)


def ignored_generation_keys(config: RunConfig) -> list[str]:
    """Generation keys the config sets that grpo's rollouts do not read, each with what to set instead."""
    g, messages = config.generating, []
    if "do_sample" in config.user_keys and not g.do_sample:
        messages.append("do_sample: false is ignored by stage grpo: its rollouts always sample (a group of identical "
                        "greedy answers has no advantage); a low temperature samples close to greedy")
    for key in ("max_new_tokens", "max_length", "num_beams"):
        if key in config.user_keys:
            messages.append(f"{key} is ignored by stage grpo" + (": max_completion_length sets the rollouts' length"
                                                                  if key != "num_beams" else ": rollouts sample"))
    return messages


class GRPOTrainer(TRLGRPOTrainer):
    """TRL's trainer, generating from the prompt ids our template encoded (TRL would tokenize the prompt text
    again, adding a second BOS on some tokenizers and merging tokens across turn boundaries)."""

    def _tokenize_prompts(self, prompts: list):
        if not hasattr(self, "_ids_by_prompt"):
            dataset = self.train_dataset
            self._ids_by_prompt = dict(zip(dataset["prompt"], dataset["prompt_ids"], strict=True))
        return [list(self._ids_by_prompt[prompt]) for prompt in prompts], None, {}
