"""Does each preference stage learn? Measured on held-out pairs of the bundled tone-preference data.

``style_pref_*`` / ``style_kto_*`` pair one correct answer with a polite closing (preferred) and a
rude one. The test split's prompts never occur in training, so the numbers below are held-out:

- rm: pairwise accuracy of the trained reward model vs. the same model with an untrained head;
- dpo / orpo / simpo / kto: how often the policy gives the chosen answer a higher log-probability
  *gain over the untrained model* (the implicit reward) than the rejected one, and how often it
  simply prefers the chosen answer, before and after;
- ppo: the trained reward model's mean score of the policy's sampled answers to held-out prompts,
  before and after.

The measured values are printed (``pytest -s``) and quoted in docs/training.md.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from tunefactory.config import parse_dict
from tunefactory.train.run import run_train

pytestmark = pytest.mark.slow

REPO_ROOT = Path(__file__).resolve().parents[2]
DATA_DIR = REPO_ROOT / "data"


def run(model, output_dir, **overrides) -> Path:
    settings = {"model_name_or_path": str(model), "do_train": True, "finetuning_type": "lora", "lora_target": "all",
                "dataset": "style_pref_train", "dataset_dir": str(DATA_DIR), "template": "qwen", "cutoff_len": 128,
                "max_samples": 400, "per_device_train_batch_size": 8, "num_train_epochs": 1, "learning_rate": 1e-3,
                "logging_steps": 10, "save_strategy": "no", "output_dir": str(output_dir), "report_to": "none",
                "use_cpu": True, "disable_gradient_checkpointing": True, "seed": 0, **overrides}
    run_train(parse_dict(settings, command="train"))
    return Path(output_dir)


def heldout_batch(model_dir, stage="dpo"):
    """The held-out pairs, tokenized by the dpo pipeline and collated into one batch (chosen rows, then rejected)."""
    from tunefactory.data.collators import build_collator
    from tunefactory.data.pipeline import get_dataset
    from tunefactory.data.template import get_template
    from tunefactory.model.tokenizer import load_tokenizer

    config = parse_dict({"model_name_or_path": str(model_dir), "stage": stage, "dataset": "style_pref_test",
                         "dataset_dir": str(DATA_DIR), "template": "qwen", "cutoff_len": 128,
                         "output_dir": "unused", "do_train": True}, command="train")
    tokenizer = load_tokenizer(config.model)
    template = get_template(tokenizer, config.data, str(model_dir))
    rows = list(get_dataset(config, template, tokenizer).train)
    return build_collator("pairwise", tokenizer)(rows), len(rows)


def load_policy(base, output_dir, lora: bool):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    if lora:
        return PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base), output_dir).eval()
    return AutoModelForCausalLM.from_pretrained(output_dir).eval()


@torch.no_grad()
def pair_logps(model, batch) -> tuple[torch.Tensor, torch.Tensor]:
    from tunefactory.train.losses import sequence_logps

    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    logps, _ = sequence_logps(logits, batch["labels"])
    half = logps.shape[0] // 2
    return logps[:half], logps[half:]


def preference_figures(base, output_dir, lora: bool) -> dict:
    from transformers import AutoModelForCausalLM

    batch, pairs = heldout_batch(base)
    ref_chosen, ref_rejected = pair_logps(AutoModelForCausalLM.from_pretrained(base).eval(), batch)
    chosen, rejected = pair_logps(load_policy(base, output_dir, lora), batch)
    return {"pairs": pairs,
            "reward_accuracy_before": 0.0,  # policy == reference: every implicit reward is 0, no pair is won
            "reward_accuracy_after": float(((chosen - ref_chosen) > (rejected - ref_rejected)).float().mean()),
            "prefers_chosen_before": float((ref_chosen > ref_rejected).float().mean()),
            "prefers_chosen_after": float((chosen > rejected).float().mean())}


def report(name, figures):
    print(f"\nlearning check {name}: {json.dumps(figures)}")


@pytest.fixture(scope="module")
def trained_rm(tiny_qwen2, tmp_path_factory):
    return run(tiny_qwen2, tmp_path_factory.mktemp("rm"), stage="rm", eval_dataset="style_pref_test", do_eval=True)


def test_rm_scores_held_out_pairs_far_above_chance(trained_rm, tiny_qwen2):
    from transformers import AutoModelForCausalLM

    from tunefactory.model.value_head import ModelWithValueHead, last_token_scores

    torch.manual_seed(0)
    untrained = ModelWithValueHead(AutoModelForCausalLM.from_pretrained(tiny_qwen2)).eval()
    batch, pairs = heldout_batch(tiny_qwen2, stage="rm")
    with torch.no_grad():
        _, values = untrained(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
    scores = last_token_scores(values, batch["attention_mask"])
    before = float((scores[:pairs] > scores[pairs:]).float().mean())
    after = json.loads((trained_rm / "eval_results.json").read_text())["eval_accuracy"]
    report("rm", {"pairs": pairs, "accuracy_before": before, "accuracy_after": after})
    assert after >= 0.9 and after >= before + 0.25


PREFERENCE_RUNS = {
    "dpo": {"stage": "dpo", "pref_loss": "sigmoid"},
    "orpo": {"stage": "dpo", "pref_loss": "orpo", "learning_rate": 3e-3},
    "simpo": {"stage": "dpo", "pref_loss": "simpo", "learning_rate": 3e-3},
    "kto": {"stage": "kto", "dataset": "style_kto_train"},
}


@pytest.mark.parametrize("name", PREFERENCE_RUNS)
def test_policy_prefers_held_out_chosen_answers_after_training(name, tiny_qwen2, tmp_path):
    output_dir = run(tiny_qwen2, tmp_path / name, **PREFERENCE_RUNS[name])
    figures = preference_figures(tiny_qwen2, output_dir, lora=True)
    report(name, figures)
    assert figures["reward_accuracy_after"] >= 0.85
    # The raw preference moves the right way too, but the polite closings are longer (a lower summed
    # log-probability), which a short run does not fully overcome.
    assert figures["prefers_chosen_after"] > figures["prefers_chosen_before"]


@torch.no_grad()
def mean_heldout_reward(policy, reward_model_dir, base, max_new_tokens: int = 12) -> tuple[float, list[str]]:
    """Sample answers (fixed seed) to the held-out prompts and score them with the trained reward model;
    returns the mean score and the answers."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from tunefactory.data.collators import build_collator
    from tunefactory.data.pipeline import get_dataset
    from tunefactory.data.template import get_template
    from tunefactory.model.tokenizer import load_tokenizer
    from tunefactory.model.value_head import add_value_head
    from tunefactory.train.ppo import turn_suffix_after_stop
    from tunefactory.train.ppo_trainer import RewardModelScorer, cut_at_stop, strip_left_padding

    config = parse_dict({"model_name_or_path": str(base), "stage": "ppo", "dataset": "style_kto_test",
                         "dataset_dir": str(DATA_DIR), "template": "qwen", "cutoff_len": 128, "max_samples": 64,
                         "output_dir": "unused", "do_train": True, "reward_model": str(reward_model_dir)},
                        command="train")
    tokenizer = load_tokenizer(config.model)
    template = get_template(tokenizer, config.data, str(base))
    batch = build_collator("unsupervised", tokenizer)(list(get_dataset(config, template, tokenizer).train))
    stops = template.stop_token_ids(tokenizer)
    torch.manual_seed(0)
    output = policy.generate(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], do_sample=True,
                             temperature=1.0, top_p=1.0, top_k=0, max_new_tokens=max_new_tokens, eos_token_id=stops,
                             pad_token_id=tokenizer.pad_token_id)
    queries = strip_left_padding(batch["input_ids"], batch["attention_mask"])
    answers = [cut_at_stop(row.tolist(), set(stops), tokenizer.pad_token_id)
               for row in output[:, batch["input_ids"].shape[1]:]]
    suffix = turn_suffix_after_stop(template, tokenizer)
    rm = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base), reward_model_dir)
    scorer = RewardModelScorer(add_value_head(rm, str(reward_model_dir), required=True).eval(), tokenizer.pad_token_id)
    scores = scorer([q + a + (suffix if a[-1] in stops else []) for q, a in zip(queries, answers, strict=True)])
    return float(scores.mean()), [tokenizer.decode(a, skip_special_tokens=True) for a in answers]


POLITE_WORDS, RUDE_WORDS = ("help", "thanks", "glad", "luck"), ("stop", "silly", "waste", "yourself")


def share_with(words, answers) -> float:
    return sum(any(w in a.lower() for w in words) for a in answers) / len(answers)


@pytest.fixture(scope="module")
def style_chats(tmp_path_factory) -> Path:
    """style_kto_train as plain chats (label dropped): half end politely, half rudely, for an SFT start."""
    folder = tmp_path_factory.mktemp("style_chats")
    shutil.copy(DATA_DIR / "style_kto_train.json", folder)
    entry = json.loads((DATA_DIR / "dataset_info.json").read_text())["style_kto_train"]
    entry["columns"] = {"messages": "messages"}
    (folder / "dataset_info.json").write_text(json.dumps({"style_chats": entry}))
    return folder


def test_ppo_raises_the_reward_models_score_of_held_out_answers(trained_rm, tiny_qwen2, style_chats, tmp_path):
    """sft -> rm -> ppo, as in practice: a random model repeats one token whatever PPO does, so the policy
    starts from an SFT model that writes answers with either closing; PPO should make it politer."""
    from transformers import AutoModelForCausalLM

    sft = run(tiny_qwen2, tmp_path / "sft", stage="sft", dataset="style_chats", dataset_dir=str(style_chats),
              finetuning_type="full", learning_rate=3e-3, num_train_epochs=3, max_samples=600)
    output_dir = run(sft, tmp_path / "ppo", stage="ppo", dataset="style_kto_train", reward_model=str(tiny_qwen2),
                     reward_model_adapters=str(trained_rm), reward_model_type="full", max_samples=600, max_steps=40,
                     max_new_tokens=32, logging_steps=5, learning_rate=3e-3, ppo_score_norm=True,
                     temperature=1.0, top_p=1.0, top_k=0)
    before, answers_before = mean_heldout_reward(AutoModelForCausalLM.from_pretrained(sft).eval(), trained_rm,
                                                 tiny_qwen2, 32)
    after, answers_after = mean_heldout_reward(load_policy(sft, output_dir, lora=True), trained_rm, tiny_qwen2, 32)
    rewards = [entry["reward"] for entry in json.loads((output_dir / "trainer_state.json").read_text())["log_history"]
               if "reward" in entry]
    report("ppo", {"heldout_reward_before": before, "heldout_reward_after": after,
                   "train_reward_first_log": rewards[0], "train_reward_last_log": rewards[-1],
                   "polite_words_before": share_with(POLITE_WORDS, answers_before),
                   "polite_words_after": share_with(POLITE_WORDS, answers_after),
                   "rude_words_before": share_with(RUDE_WORDS, answers_before),
                   "rude_words_after": share_with(RUDE_WORDS, answers_after),
                   "samples_after": answers_after[:3]})
    assert after >= before + 0.5
