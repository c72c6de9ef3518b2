"""Pieces of the preference trainers: metric averaging, BCO's running mean, rm accuracy, the reference model."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from transformers import AutoModelForCausalLM, EvalPrediction

from tunefactory.train.metrics import pairwise_accuracy
from tunefactory.train.pair_trainers import MetricStore, RunningMean, _StageMetricsMixin, reference_model

# ---------------------------------------------------------------- MetricStore


def test_metric_store_averages_between_pops_and_keeps_train_and_eval_apart():
    store = MetricStore()
    store.add("train", {"rewards/chosen": torch.tensor(1.0), "rewards/accuracies": 0.5})
    store.add("train", {"rewards/chosen": torch.tensor(3.0), "rewards/accuracies": 1.0})
    store.add("eval", {"rewards/chosen": torch.tensor(-2.0)})
    store.add("train", {"rewards/chosen": 2.0})  # a key missing from a step is averaged over the steps that had it

    assert store.pop_means("train") == pytest.approx({"rewards/chosen": 2.0, "rewards/accuracies": 0.75})
    assert store.pop_means("train") == {}  # emptied by the pop
    assert store.pop_means("eval") == pytest.approx({"rewards/chosen": -2.0})  # untouched by the train pop
    assert store.pop_means("eval") == {}

    store.add("train", {"kl": torch.tensor(0.25, dtype=torch.bfloat16)})
    means = store.pop_means("train")
    assert means == {"kl": 0.25} and isinstance(means["kl"], float)


def test_stage_metrics_join_the_train_log_and_the_eval_log_with_a_prefix():
    class Base:
        def log(self, logs, start_time=None):
            self.logged = dict(logs)

    class Logger(_StageMetricsMixin, Base):
        def __init__(self):
            self.metric_store = MetricStore()

    trainer = Logger()
    trainer.metric_store.add("train", {"rewards/margins": 1.0})
    trainer.metric_store.add("train", {"rewards/margins": 2.0})
    trainer.metric_store.add("eval", {"rewards/margins": -1.0})
    trainer.log({"loss": 0.7})
    assert trainer.logged == pytest.approx({"loss": 0.7, "rewards/margins": 1.5})
    trainer.log({"eval_loss": 0.9})
    assert trainer.logged == pytest.approx({"eval_loss": 0.9, "eval_rewards/margins": -1.0})


# ---------------------------------------------------------------- RunningMean


def test_running_mean_is_the_mean_of_every_value_seen():
    generator = torch.Generator().manual_seed(0)
    running = RunningMean()
    seen = []
    for size in (4, 1, 7, 2):
        values = torch.randn(size, generator=generator, dtype=torch.float64) * 3 + 1
        seen.append(values)
        mean = running.update(values)
        assert mean == pytest.approx(torch.cat(seen).mean().item(), rel=1e-12)
        assert running.mean == mean
    assert running.count == 14


def test_running_mean_by_hand():
    running = RunningMean()
    assert running.update(torch.tensor([1.0, 3.0])) == pytest.approx(2.0)
    assert running.update(torch.tensor([8.0])) == pytest.approx(4.0)  # (1 + 3 + 8) / 3
    assert running.update(torch.tensor(0.0)) == pytest.approx(3.0)  # a 0-d tensor counts as one value
    assert running.count == 4


# ---------------------------------------------------------------- pairwise_accuracy


def test_pairwise_accuracy_counts_pairs_with_the_chosen_score_strictly_above():
    scores = np.array([
        [2.0, 1.0],  # right
        [0.0, 3.0],  # wrong
        [1.5, 1.5],  # a tie: wrong
        [-0.5, -2.0],  # right
        [0.1, 0.2],  # wrong
    ])
    prediction = EvalPrediction(predictions=scores, label_ids=np.zeros(5))
    assert pairwise_accuracy(prediction) == {"accuracy": pytest.approx(2 / 5)}
    as_tensor = EvalPrediction(predictions=torch.from_numpy(scores), label_ids=np.zeros(5))
    assert pairwise_accuracy(as_tensor)["accuracy"] == pytest.approx(0.4)
    everything_tied = EvalPrediction(predictions=np.ones((3, 2)), label_ids=np.zeros(3))
    assert pairwise_accuracy(everything_tied) == {"accuracy": 0.0}


# ---------------------------------------------------------------- reference_model


def test_reference_model_yields_the_separate_reference_when_given():
    policy, ref = torch.nn.Linear(2, 2), torch.nn.Linear(2, 2)  # a plain model: no adapter to disable
    with reference_model(policy, ref) as reference:
        assert reference is ref


def test_reference_model_of_a_lora_model_is_the_base_model(tiny_llama):
    from peft import LoraConfig, get_peft_model

    base = AutoModelForCausalLM.from_pretrained(tiny_llama).eval()
    policy = get_peft_model(AutoModelForCausalLM.from_pretrained(tiny_llama),
                            LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], lora_dropout=0.0)).eval()
    lora_b = [p for name, p in policy.named_parameters() if "lora_B" in name]
    assert lora_b
    input_ids = torch.randint(0, base.config.vocab_size, (2, 6), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        base_logits = base(input_ids=input_ids).logits
        for parameter in lora_b:  # a trained adapter: the policy no longer equals the base model
            parameter.normal_(std=0.5)
        assert not torch.allclose(policy(input_ids=input_ids).logits, base_logits)

        with reference_model(policy, None) as reference:
            assert reference is policy  # the same weights, no second copy
            torch.testing.assert_close(reference(input_ids=input_ids).logits, base_logits)
        policy_logits = policy(input_ids=input_ids).logits
        assert not torch.allclose(policy_logits, base_logits)  # adapters are back on after the block

        lora_b[0].add_(1.0)  # perturb a LoRA weight outside the block
        changed = policy(input_ids=input_ids).logits
        assert not torch.allclose(changed, policy_logits)
        with reference_model(policy, None) as reference:  # the reference does not move
            torch.testing.assert_close(reference(input_ids=input_ids).logits, base_logits)

        # an error inside the block still switches the adapters back on
        with pytest.raises(RuntimeError, match="boom"), reference_model(policy, None):
            raise RuntimeError("boom")
        torch.testing.assert_close(policy(input_ids=input_ids).logits, changed)


# ---------------------------------------------------------------- rm scores and the tokenizer's padding side


def test_rm_scores_come_from_the_last_real_token_even_if_the_tokenizer_pads_left(tiny_qwen2, tmp_path):
    import json
    import shutil
    from types import SimpleNamespace

    from tunefactory.data.collators import build_collator
    from tunefactory.model.tokenizer import load_tokenizer
    from tunefactory.model.value_head import last_token_scores

    folder = tmp_path / "left-padding-model"
    shutil.copytree(tiny_qwen2, folder)
    config_file = folder / "tokenizer_config.json"
    tokenizer_config = json.loads(config_file.read_text(encoding="utf-8"))
    tokenizer_config["padding_side"] = "left"  # as some hub tokenizers ship
    config_file.write_text(json.dumps(tokenizer_config), encoding="utf-8")
    model_args = SimpleNamespace(model_name_or_path=str(folder), use_fast_tokenizer=True, split_special_tokens=False,
                                 trust_remote_code=False, cache_dir=None, model_revision="main", hf_hub_token=None,
                                 add_tokens=None, add_special_tokens=None)
    tokenizer = load_tokenizer(model_args)

    collator = build_collator("pairwise", tokenizer)
    features = [{"chosen_input_ids": [5, 6, 7, 8], "chosen_labels": [-100, -100, 7, 8],
                 "rejected_input_ids": [5, 6, 9], "rejected_labels": [-100, -100, 9]}]
    batch = collator(features)
    # what RewardTrainer.pair_scores does, with "values" that are each position's token id
    scores = last_token_scores(batch["input_ids"].float(), batch["attention_mask"])
    assert scores.tolist() == [8.0, 9.0]  # each answer's last token
