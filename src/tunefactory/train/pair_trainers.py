"""Trainers for the stages that learn from judged answers: rm, dpo (with orpo/simpo/ipo/hinge/kto_pair) and kto.

Each is a `transformers.Trainer` whose ``compute_loss`` runs the policy (and the reference) over a
batch from `PairwiseCollator` or `KTOCollator` and applies a formula from `losses.py`. The
Trainer keeps doing everything else: optimisation, schedules, checkpoints, logging, distribution.
Stage metrics (``rewards/accuracies`` …) are averaged over the steps between two logs and land in
``trainer_log.jsonl`` beside the loss.
"""

from __future__ import annotations

import contextlib
import os
from collections import defaultdict

import torch
from transformers import Trainer

from ..config.stages import REFERENCE_FREE_LOSSES
from ..model.value_head import ModelWithValueHead, last_token_scores
from . import losses
from .labelled_head import fused_head_blocker, labelled_token_logps
from .optimizers import SparseGradientNorm
from .padding import PaddingMeter


class MetricStore:
    """Per-step metrics, averaged and emptied at every log (one store for training, one for evaluation)."""

    def __init__(self):
        self._values: dict[str, dict[str, list[float]]] = {"train": defaultdict(list), "eval": defaultdict(list)}

    def add(self, split: str, metrics: dict[str, torch.Tensor | float]) -> None:
        for key, value in metrics.items():
            self._values[split][key].append(float(value))

    def pop_means(self, split: str) -> dict[str, float]:
        values, self._values[split] = self._values[split], defaultdict(list)
        return {key: sum(v) / len(v) for key, v in values.items() if v}


class RunningMean:
    """The mean of every value seen so far: BCO's reward baseline."""

    def __init__(self):
        self.count, self.mean = 0, 0.0

    def update(self, values: torch.Tensor) -> float:
        total = self.count + values.numel()
        self.mean += (float(values.sum()) - self.mean * values.numel()) / total
        self.count = total
        return self.mean


EVAL_PREFIX = "eval_"  # `Trainer.evaluate` names every metric it logs with its metric_key_prefix, "eval"


def _log_split(logs: dict[str, float]) -> str | None:
    """Whose stored metrics a log carries: an evaluation's (its metrics are named ``eval_…``), the training loop's
    (its step log reports the running ``loss``), or none (the end-of-training summary: train_loss, train_runtime…)."""
    if any(key.startswith(EVAL_PREFIX) for key in logs):
        return "eval"
    if "loss" in logs:
        return "train"
    return None


class _StageMetricsMixin:
    """Merge the stage's stored metrics into each log; evaluation logs get the ``eval_`` prefix."""

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        split = _log_split(logs)
        if split is not None:
            prefix = EVAL_PREFIX if split == "eval" else ""
            logs.update({f"{prefix}{key}": value for key, value in self.metric_store.pop_means(split).items()})
        super().log(logs, start_time)


class _LossOnlyEvaluation:
    """Evaluation reports the loss and the stage metrics (stored by compute_loss), no predictions."""

    def prediction_step(self, model, inputs, prediction_loss_only, ignore_keys=None):
        inputs = self._prepare_inputs(inputs)
        with torch.no_grad():
            loss = self.compute_loss(model, inputs)
        return loss.detach(), None, None


def _split_pairs(values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    half = values.shape[0] // 2
    return values[:half], values[half:]


# --- rm -------------------------------------------------------------------------------------------------------------


TEXT_INPUTS = ("input_ids", "attention_mask", "labels")
KL_PREFIX = "kl_"  # KTO's mismatched rows: their inputs under these names


def media_inputs(inputs: dict, prefix: str = "") -> dict:
    """What a batch holds beside its text: the image inputs its collator made (pixel_values, image_grid_thw …);
    ``prefix`` "kl_": those of KTO's mismatched rows."""
    picked = {}
    for key, value in inputs.items():
        if key == "kto_tags" or not key.startswith(prefix) or (not prefix and key.startswith(KL_PREFIX)):
            continue
        if key[len(prefix):] not in TEXT_INPUTS:
            picked[key[len(prefix):]] = value
    return picked


class RewardTrainer(PaddingMeter, SparseGradientNorm, _StageMetricsMixin, Trainer):
    """Pairwise reward modelling: the score of an answer is the value head at its last token."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.metric_store = MetricStore()
        self.can_return_loss = True

    def pair_scores(self, model, inputs) -> tuple[torch.Tensor, torch.Tensor]:
        _, values = model(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"], return_logits=False,
                          **media_inputs(inputs))
        return _split_pairs(last_token_scores(values, inputs["attention_mask"]))

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        chosen, rejected = self.pair_scores(model, inputs)
        loss = losses.pairwise_reward_loss(chosen, rejected).mean()
        metrics = {"scores/chosen": chosen.detach().mean(), "scores/rejected": rejected.detach().mean()}
        if model.training:  # evaluation's accuracy is exact, over the whole set (metrics.pairwise_accuracy)
            metrics["accuracy"] = (chosen > rejected).float().mean()
        self.metric_store.add("train" if model.training else "eval", metrics)
        return (loss, (chosen, rejected)) if return_outputs else loss

    def prediction_step(self, model, inputs, prediction_loss_only, ignore_keys=None):
        inputs = self._prepare_inputs(inputs)
        with torch.no_grad():
            loss, (chosen, rejected) = self.compute_loss(model, inputs, return_outputs=True)
        if prediction_loss_only:
            return loss.detach(), None, None
        scores = torch.stack((chosen, rejected), dim=-1).detach()
        return loss.detach(), scores, torch.zeros(scores.shape[0], device=scores.device)  # no labels: pairs are ordered

    def _save(self, output_dir: str | None = None, state_dict=None) -> None:
        save_value_head_model(self, output_dir or self.args.output_dir)

    def _load_from_checkpoint(self, resume_from_checkpoint: str, model=None) -> None:
        load_value_head_checkpoint(self, resume_from_checkpoint)


def save_value_head_model(trainer: Trainer, output_dir: str) -> None:
    """The model or adapter, ``value_head.safetensors``, the tokenizer and the training arguments."""
    if not trainer.args.should_save:
        return
    os.makedirs(output_dir, exist_ok=True)
    wrapped: ModelWithValueHead = trainer.accelerator.unwrap_model(trainer.model)
    wrapped.save_pretrained(output_dir)
    if trainer.processing_class is not None:
        trainer.processing_class.save_pretrained(output_dir)
    torch.save(trainer.args, os.path.join(output_dir, "training_args.bin"))


def load_value_head_checkpoint(trainer: Trainer, folder: str) -> None:
    from ..model.value_head import read_value_head

    wrapped: ModelWithValueHead = trainer.accelerator.unwrap_model(trainer.model)
    Trainer._load_from_checkpoint(trainer, folder, model=wrapped.pretrained_model)
    wrapped.load_value_head(read_value_head(folder) or {}, folder)


# --- dpo and its variants -------------------------------------------------------------------------------------------


@contextlib.contextmanager
def reference_model(model, ref_model):
    """The reference: a separate frozen model, or the same LoRA model with its adapters switched off
    (no second copy of the weights in memory)."""
    if ref_model is not None:
        yield ref_model
        return
    if not hasattr(model, "disable_adapter"):  # evaluation only, no adapter to train: the model is its own reference
        yield model
        return
    with model.disable_adapter():
        yield model


def policy_logps(model, input_ids, attention_mask, labels, ld_alpha: float | None = None, labelled_head: bool = False,
                 media: dict | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-row summed log-probabilities of the labelled tokens, their count, and the mean logit over them.
    ``ld_alpha`` (pairs only): LD-DPO's down-weighting of the longer answer's extra tokens.
    ``labelled_head``: project only the labelled positions through the LM head (`labelled_head.py`).
    ``media``: the rows' image inputs (pixel_values …), which the model's own forward takes."""
    if labelled_head and not media:
        per_token, mask, mean_logits = labelled_token_logps(model, input_ids, attention_mask, labels)
    else:
        logits = model(input_ids=input_ids, attention_mask=attention_mask, use_cache=False, **(media or {})).logits
        per_token, mask = losses.token_logps(logits, labels)
        mean_logits = ((logits[:, :-1].detach().float().mean(-1) * mask).sum(-1) / mask.sum(-1).clamp(min=1))
    if ld_alpha is not None:
        logps, counts = losses.length_desensitised(per_token, mask, ld_alpha)
    else:
        logps, counts = losses.summed_logps(per_token, mask)
    return logps, counts, mean_logits


class PreferenceTrainer(PaddingMeter, SparseGradientNorm, _LossOnlyEvaluation, _StageMetricsMixin, Trainer):
    """DPO and its relatives on (chosen, rejected) pairs; ``pref_loss`` picks the formula."""

    def __init__(self, *args, ref_model=None, loss_settings: losses.PreferenceLossSettings,
                 labelled_head: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.metric_store = MetricStore()
        self.loss_settings = loss_settings
        self.labelled_head = labelled_head
        self.loss_type = loss_settings.loss_type
        self.ref_model = ref_model.to(self.args.device) if ref_model is not None else None
        self.bco_baseline = RunningMean()
        self.can_return_loss = True

    def uses_reference(self) -> bool:
        return self.loss_type not in REFERENCE_FREE_LOSSES

    def reference_logps(self, model, inputs) -> torch.Tensor:
        with torch.no_grad(), reference_model(self.accelerator.unwrap_model(model), self.ref_model) as reference:
            logps, _, _ = policy_logps(reference, inputs["input_ids"], inputs["attention_mask"], inputs["labels"],
                                       labelled_head=self._labelled_head_for(reference), media=media_inputs(inputs))
        return logps

    def _labelled_head_for(self, model) -> bool:
        return self.labelled_head and fused_head_blocker(model) is None

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        f = self.loss_settings
        # LD-DPO weights the policy's log-probabilities only; the reference's stay plain (as LLaMA-Factory does).
        logps, counts, mean_logits = policy_logps(model, inputs["input_ids"], inputs["attention_mask"],
                                                  inputs["labels"], ld_alpha=f.ld_alpha,
                                                  labelled_head=self.labelled_head, media=media_inputs(inputs))
        averaged = self.loss_type in losses.AVERAGED_LOSSES
        scored = logps / counts.clamp(min=1) if averaged else logps
        chosen, rejected = _split_pairs(scored)
        chosen_avg = _split_pairs(logps / counts.clamp(min=1))[0]
        metrics = {}
        if self.loss_type == "orpo":
            per_example, odds_ratio = losses.orpo_loss(chosen, rejected, f.beta)
            chosen_rewards, rejected_rewards = f.beta * chosen.detach(), f.beta * rejected.detach()
            metrics.update({"sft_loss": (-chosen).detach().mean(), "odds_ratio_loss": odds_ratio.detach().mean()})
        elif self.loss_type == "simpo":
            per_example = losses.simpo_loss(chosen, rejected, f.beta, f.simpo_gamma)
            chosen_rewards, rejected_rewards = f.beta * chosen.detach(), f.beta * rejected.detach()
        else:
            ref = self.reference_logps(model, inputs)
            ref = ref / counts.clamp(min=1) if averaged else ref
            ref_chosen, ref_rejected = _split_pairs(ref)
            per_example = losses.dpo_loss(self.loss_type, chosen, rejected, ref_chosen, ref_rejected, f.beta,
                                          f.label_smoothing)
            chosen_rewards = f.beta * (chosen - ref_chosen)
            rejected_rewards = f.beta * (rejected - ref_rejected)
        loss = per_example.mean()
        if f.bco_weight > 1e-6:  # refused with orpo/simpo at parse time: BCO needs the reference's rewards
            baseline = self.bco_baseline.update(torch.cat((chosen_rewards, rejected_rewards)).detach())
            bco = losses.bco_loss(chosen_rewards, rejected_rewards, baseline).mean()
            loss = (loss + f.bco_weight * bco) / (1 + f.bco_weight)
        if f.ftx > 1e-6 and self.loss_type != "orpo":  # orpo has its SFT term built in
            loss = loss + f.ftx * (-chosen_avg).mean()
        chosen_rewards, rejected_rewards = chosen_rewards.detach(), rejected_rewards.detach()
        logits_chosen, logits_rejected = _split_pairs(mean_logits)
        metrics.update({
            "rewards/chosen": chosen_rewards.mean(), "rewards/rejected": rejected_rewards.mean(),
            "rewards/accuracies": (chosen_rewards > rejected_rewards).float().mean(),
            "rewards/margins": (chosen_rewards - rejected_rewards).mean(),
            "logps/chosen": chosen.detach().mean(), "logps/rejected": rejected.detach().mean(),
            "logits/chosen": logits_chosen.mean(), "logits/rejected": logits_rejected.mean(),
        })
        self.metric_store.add("train" if model.training else "eval", metrics)
        return (loss, metrics) if return_outputs else loss


# --- kto ------------------------------------------------------------------------------------------------------------


class KTOTrainer(PaddingMeter, SparseGradientNorm, _LossOnlyEvaluation, _StageMetricsMixin, Trainer):
    """KTO on single answers labelled desirable or not; the KL baseline comes from mismatched rows."""

    def __init__(self, *args, ref_model=None, loss_settings: losses.PreferenceLossSettings,
                 labelled_head: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.metric_store = MetricStore()
        self.loss_settings = loss_settings
        self.labelled_head = labelled_head
        self.ref_model = ref_model.to(self.args.device) if ref_model is not None else None
        self.can_return_loss = True

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        f = self.loss_settings
        fused = self.labelled_head
        media, kl_media = media_inputs(inputs), media_inputs(inputs, KL_PREFIX)
        logps, counts, _ = policy_logps(model, inputs["input_ids"], inputs["attention_mask"], inputs["labels"],
                                        labelled_head=fused, media=media)
        kl_rows = (inputs["kl_input_ids"], inputs["kl_attention_mask"], inputs["kl_labels"])
        with torch.no_grad():
            policy_kl, _, _ = policy_logps(model, *kl_rows, labelled_head=fused, media=kl_media)
            with reference_model(self.accelerator.unwrap_model(model), self.ref_model) as reference:
                fused_reference = fused and fused_head_blocker(reference) is None
                ref_logps, _, _ = policy_logps(reference, inputs["input_ids"], inputs["attention_mask"],
                                               inputs["labels"], labelled_head=fused_reference, media=media)
                ref_kl, _, _ = policy_logps(reference, *kl_rows, labelled_head=fused_reference, media=kl_media)
        kl = (policy_kl - ref_kl).mean()
        desirable = inputs["kto_tags"].bool()
        per_example = losses.kto_loss(logps, ref_logps, desirable, kl, f.beta, f.kto_chosen_weight,
                                      f.kto_rejected_weight)
        loss = per_example.mean()
        if f.ftx > 1e-6 and desirable.any():
            loss = loss + f.ftx * (-(logps / counts.clamp(min=1))[desirable]).mean()
        rewards = f.beta * (logps - ref_logps).detach()
        metrics = {"kl": kl.clamp(min=0)}
        if desirable.any():
            metrics.update({"rewards/chosen": rewards[desirable].mean(),
                            "logps/chosen": logps[desirable].detach().mean()})
        if (~desirable).any():
            metrics.update({"rewards/rejected": rewards[~desirable].mean(),
                            "logps/rejected": logps[~desirable].detach().mean()})
        self.metric_store.add("train" if model.training else "eval", metrics)
        return (loss, metrics) if return_outputs else loss
