"""Stage grpo on TRL's GRPOTrainer: our prompt ids go in, and group advantages and each loss_type equal a hand
computation on fixed rewards and log-probabilities, with the settings taken from our config."""

import math
from pathlib import Path

import pytest
import torch

from tunefactory.config import parse_dict
from tunefactory.model.loader import ModelSpec, load_model, set_generation_defaults
from tunefactory.train import grpo, steps
from tunefactory.train.rewards import CheckedReward


FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
FIXED_REWARDS = [1.0, 3.0, 2.0, 2.0]  # two prompts x two completions: one group with a spread, one without


def grpo_config(model, tmp_path, **overrides):
    values = {"model_name_or_path": str(model), "stage": "grpo", "do_train": True, "finetuning_type": "full",
              "template": "llama3", "dataset": "arith_train", "dataset_dir": str(FIXTURES.parents[1] / "data"),
              "max_samples": 8, "reward_funcs": "accuracy", "num_generations": 2, "per_device_train_batch_size": 4,
              "max_completion_length": 4, "output_dir": str(tmp_path / "out"), "report_to": "none", "use_cpu": True,
              "seed": 0, "epsilon": 0.2, "epsilon_high": 0.3, "disable_gradient_checkpointing": True}
    return parse_dict({**values, **overrides}, command="train")


@pytest.fixture(scope="module")
def trainer(tiny_llama, tmp_path_factory):
    config = grpo_config(tiny_llama, tmp_path_factory.mktemp("grpo"))
    tokenizer, template = steps.load_tokenizer_and_template(config)
    prompts = grpo.load_prompts(config, template, tokenizer)
    model = load_model(tokenizer, ModelSpec.from_config(config), is_trainable=True)
    set_generation_defaults(model, template, tokenizer)
    fixed = CheckedReward(lambda completions, **kwargs: FIXED_REWARDS[:len(completions)], "fixed")
    built = grpo.GRPOTrainer(model=model, reward_funcs=[fixed], args=grpo.grpo_arguments(config),
                             train_dataset=prompts, processing_class=tokenizer)
    built.model.train()
    built.current_gradient_accumulation_steps = 1
    built.template, built.config = template, config
    return built


def test_the_settings_reach_trl(trainer):
    assert (trainer.num_generations, trainer.max_completion_length, trainer.loss_type) == (2, 4, "dapo")
    assert (trainer.epsilon_low, trainer.epsilon_high, trainer.beta) == (0.2, 0.3, 0.0)
    assert trainer.ref_model is None  # beta 0: no reference model kept
    # rollouts sample as TRL does unless the config sets the sampling keys
    assert (trainer.temperature, trainer.generation_config.top_p, trainer.generation_config.top_k) == (1.0, 1.0, 0)


def test_rollouts_start_from_our_templates_prompt_ids(trainer):
    tokenizer, template = trainer.processing_class, trainer.template
    row = trainer.train_dataset[0]
    expected = template.encode_prompt(tokenizer, [{"role": "user", "content": "What is 57 + 9?"}])
    assert row["prompt_ids"] == expected and row["solution"] == row["answer"] == "66"
    assert row["prompt"] == tokenizer.decode(expected)
    ids, _, _ = trainer._tokenize_prompts([row["prompt"]])
    assert ids == [expected]


def scored(trainer, scale_rewards):
    trainer.scale_rewards = scale_rewards
    rows = [trainer.train_dataset[0]] * 2 + [trainer.train_dataset[1]] * 2  # as TRL's sampler repeats them
    return trainer._generate_and_score_completions(rows)


def test_group_advantages(trainer):
    std = math.sqrt(2)  # unbiased std of (1, 3); the group (2, 2) has none
    advantages = scored(trainer, "group")["advantages"]
    torch.testing.assert_close(advantages, torch.tensor([-1 / (std + 1e-4), 1 / (std + 1e-4), 0.0, 0.0]))
    batch_std = math.sqrt(2 / 3)  # unbiased std of (1, 3, 2, 2); the mean is still the group's
    advantages = scored(trainer, "batch")["advantages"]
    torch.testing.assert_close(advantages, torch.tensor([-1, 1, 0.0, 0.0]) / (batch_std + 1e-4))
    torch.testing.assert_close(scored(trainer, "none")["advantages"], torch.tensor([-1.0, 1.0, 0.0, 0.0]))
    trainer.scale_rewards = "group"


SHIFT = torch.tensor([[0.0, 0.5, -0.5, 0.1], [0.3, -0.4, 0.0, 0.0], [0.05, -0.25, 0.6, 0.0], [-0.1, 0.0, 0.0, 0.0]])
MASK = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0], [1, 1, 1, 0], [1, 0, 0, 0]])
ADVANTAGES = torch.tensor([1.0, -1.0, 0.5, -0.5])


def loss_inputs(trainer):
    batch = scored(trainer, "group")
    batch["completion_mask"] = MASK
    input_ids = torch.cat([batch["prompt_ids"], batch["completion_ids"]], dim=1)
    attention_mask = torch.cat([batch["prompt_mask"], MASK], dim=1)
    with torch.no_grad():
        logps = trainer._get_per_token_logps_and_entropies(trainer.model, input_ids, attention_mask, 4)[0]
    batch.update(advantages=ADVANTAGES, old_per_token_logps=logps + SHIFT, num_items_in_batch=MASK.sum())
    return batch, logps


def hand_token_losses(low=0.2, high=0.3, sequence=False):
    ratio_log = -SHIFT  # log(p / p_old): the new log-probs are the model's, the old ones were shifted
    if sequence:  # GSPO: one ratio per sequence, the masked mean of the token log-ratios
        ratio_log = ((ratio_log * MASK).sum(-1, keepdim=True) / MASK.sum(-1, keepdim=True)).expand_as(SHIFT)
    ratio = ratio_log.exp()
    a = ADVANTAGES[:, None]
    return -torch.minimum(ratio * a, ratio.clamp(1 - low, 1 + high) * a)


@pytest.mark.parametrize("loss_type", ["grpo", "bnpo", "dr_grpo", "dapo"])
def test_each_loss_type_aggregates_the_clipped_token_losses_as_its_paper_says(trainer, loss_type):
    trainer.loss_type = loss_type
    batch, _ = loss_inputs(trainer)
    token = hand_token_losses() * MASK
    expected = {"grpo": (token.sum(-1) / MASK.sum(-1)).mean(),  # per sequence, then over sequences
                "bnpo": token.sum() / MASK.sum(),  # over the batch's tokens
                "dr_grpo": token.sum() / (4 * 4),  # a constant: rows x max_completion_length
                "dapo": token.sum() / MASK.sum()}[loss_type]  # the generation batch's tokens (here: this batch)
    try:
        torch.testing.assert_close(trainer._compute_loss(trainer.model, batch), expected, atol=1e-5, rtol=1e-5)
    finally:
        trainer.loss_type = "dapo"


def test_sequence_level_ratios_and_the_kl_penalty(trainer):
    trainer.loss_type, trainer.importance_sampling_level = "grpo", "sequence"
    batch, logps = loss_inputs(trainer)
    try:
        expected = ((hand_token_losses(sequence=True) * MASK).sum(-1) / MASK.sum(-1)).mean()
        torch.testing.assert_close(trainer._compute_loss(trainer.model, batch), expected, atol=1e-5, rtol=1e-5)
        trainer.importance_sampling_level, trainer.beta = "token", 0.1
        reference = logps - 0.2  # k3 estimator of KL(policy || reference), times the ratio (bias correction)
        batch["ref_per_token_logps"] = reference
        kl = (reference - logps).exp() - (reference - logps) - 1
        token = (hand_token_losses() + 0.1 * kl * (-SHIFT).exp()) * MASK
        expected = (token.sum(-1) / MASK.sum(-1)).mean()
        torch.testing.assert_close(trainer._compute_loss(trainer.model, batch), expected, atol=1e-5, rtol=1e-5)
    finally:
        trainer.loss_type, trainer.importance_sampling_level, trainer.beta = "dapo", "token", 0.0


def test_prompts_over_max_prompt_length_are_skipped(tiny_llama, tmp_path, caplog):
    config = grpo_config(tiny_llama, tmp_path, max_samples=None, dataset="alpaca_demo", max_prompt_length=30)
    tokenizer, template = steps.load_tokenizer_and_template(config)
    with caplog.at_level("WARNING"):
        prompts = grpo.load_prompts(config, template, tokenizer)
    assert 0 < len(prompts) < 300 and max(len(ids) for ids in prompts["prompt_ids"]) <= 30
    assert f"{300 - len(prompts)} of 300 rows skipped: their prompt is longer than max_prompt_length=30" in caplog.text


def test_generation_keys_grpo_does_not_read_are_named(tiny_llama, tmp_path):
    config = grpo_config(tiny_llama, tmp_path, do_sample=False, max_new_tokens=64, temperature=0.5)
    messages = grpo.ignored_generation_keys(config)
    assert len(messages) == 2
    assert messages[0].startswith("do_sample: false is ignored by stage grpo")
    assert messages[1] == "max_new_tokens is ignored by stage grpo: max_completion_length sets the rollouts' length"
    assert grpo.grpo_arguments(config).temperature == 0.5  # a sampling key the config sets is used
    assert grpo.ignored_generation_keys(grpo_config(tiny_llama, tmp_path)) == []
