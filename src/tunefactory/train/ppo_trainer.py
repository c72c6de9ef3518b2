"""PPO for language models (stage: ppo), on top of `transformers.Trainer`.

One PPO step:

    rollout   the policy samples answers for ``per_device_train_batch_size x gradient_accumulation_steps
              x ppo_buffer_size`` prompts; the reward model scores each whole conversation
    evaluate  log-probabilities (policy, reference) and values of every answer token, without grad
    rewards   per token: -kl_coef * (log p - log p_ref); the last token also gets the score
    advantage generalised advantage estimation (gamma 1, lambda 0.95), whitened
    optimise  ``ppo_epochs`` passes over the buffer in mini-batches: clipped policy loss
              + 0.1 x clipped value loss; one optimizer step per ``gradient_accumulation_steps`` mini-batches
    adapt     the KL coefficient moves toward ``ppo_target`` (adaptive KL control)

The constants (initial KL coefficient 0.2, clip ranges 0.2, value coefficient 0.1, horizon 10000)
are the PPO defaults LLaMA-Factory runs with (those of TRL's original PPOTrainer).
The Trainer supplies the optimizer, schedule, callbacks (``trainer_log.jsonl``), state and saving.
"""

from __future__ import annotations

import json
import logging
import math
import time
import urllib.request
from dataclasses import dataclass

import torch
from transformers import Trainer
from transformers.trainer_utils import TrainOutput

from ..errors import ConfigError, TuneFactoryError
from ..model.value_head import ModelWithValueHead, ValueHead, last_token_scores
from .pair_trainers import load_value_head_checkpoint, reference_model, save_value_head_model

logger = logging.getLogger(__name__)

INIT_KL_COEF, KL_HORIZON = 0.2, 10000
CLIP_RANGE, CLIP_RANGE_VALUE, VALUE_COEF = 0.2, 0.2, 0.1
GAMMA, LAMBDA = 1.0, 0.95


# --- scoring --------------------------------------------------------------------------------------------------------


def right_pad(rows: list[list[int]], pad_id: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(row) for row in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, : len(row)] = torch.tensor(row, dtype=torch.long)
        mask[i, : len(row)] = 1
    return ids.to(device), mask.to(device)


class RewardModelScorer:
    """reward_model_type: full. A separate reward model (a stage-rm output folder) scores each text."""

    def __init__(self, model: ModelWithValueHead, pad_id: int):
        self.model, self.pad_id = model, pad_id

    @torch.no_grad()
    def __call__(self, sequences: list[list[int]]) -> torch.Tensor:
        device = next(self.model.parameters()).device
        ids, mask = right_pad(sequences, self.pad_id, device)
        _, values = self.model(input_ids=ids, attention_mask=mask, return_logits=False)
        return last_token_scores(values, mask).float().cpu()


class RewardAdapterScorer:
    """reward_model_type: lora. The reward adapter sits on the policy's own base model as a second
    adapter ("reward"), with its value head beside it: no second copy of the base weights."""

    ADAPTER = "reward"

    def __init__(self, policy: ModelWithValueHead, adapter_path: str, head_state: dict, pad_id: int):
        peft_model = policy.pretrained_model
        peft_model.load_adapter(adapter_path, adapter_name=self.ADAPTER, is_trainable=False)
        peft_model.set_adapter("default")
        self.policy, self.pad_id = policy, pad_id
        self.head = ValueHead(policy.v_head.summary.in_features).to(next(policy.parameters()).device)
        self.head.load_state_dict({key.removeprefix("v_head."): value for key, value in head_state.items()})
        self.head.requires_grad_(False)

    @torch.no_grad()
    def __call__(self, sequences: list[list[int]]) -> torch.Tensor:
        peft_model = self.policy.pretrained_model
        ids, mask = right_pad(sequences, self.pad_id, next(peft_model.parameters()).device)
        peft_model.set_adapter(self.ADAPTER)
        try:
            hidden = peft_model(input_ids=ids, attention_mask=mask, output_hidden_states=True, use_cache=False,
                                logits_to_keep=1).hidden_states[-1]
        finally:
            peft_model.set_adapter("default")  # also makes the policy adapter trainable again
        return last_token_scores(self.head(hidden), mask).float().cpu()


class RewardAPIScorer:
    """reward_model_type: api. POSTs ``{"model": "model", "messages": [text, ...]}`` to the URL and reads
    ``{"scores": [float, ...]}`` back: the scoring endpoint LLaMA-Factory's API serves."""

    def __init__(self, url: str, tokenizer, timeout: float = 60.0):
        self.url, self.tokenizer, self.timeout = url, tokenizer, timeout

    def __call__(self, sequences: list[list[int]]) -> torch.Tensor:
        texts = [self.tokenizer.decode(row, skip_special_tokens=False) for row in sequences]
        request = urllib.request.Request(self.url, data=json.dumps({"model": "model", "messages": texts}).encode(),
                                         headers={"Content-Type": "application/json"}, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                scores = json.loads(response.read())["scores"]
        except (OSError, ValueError, KeyError) as error:
            raise TuneFactoryError(f"reward_model {self.url} did not answer with scores: {error}; it must accept POST "
                                   '{"model": ..., "messages": [text, ...]} and return {"scores": [...]}') from error
        if len(scores) != len(texts):
            raise TuneFactoryError(f"reward_model {self.url} returned {len(scores)} scores for {len(texts)} texts")
        return torch.tensor(scores, dtype=torch.float32)


# --- the arithmetic of one PPO step -------------------------------------------------------------------------------


def masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return (values * mask).sum() / mask.sum().clamp(min=1)


def masked_whiten(values: torch.Tensor, mask: torch.Tensor, shift_mean: bool = True) -> torch.Tensor:
    """Zero mean, unit variance over the masked entries (the sample variance, with Bessel's correction, as TRL)."""
    mean = masked_mean(values, mask)
    count = mask.sum()
    variance = masked_mean((values - mean) ** 2, mask) * count / (count - 1).clamp(min=1)
    whitened = (values - mean) * torch.rsqrt(variance + 1e-8)
    return whitened if shift_mean else whitened + mean


def token_rewards(scores: torch.Tensor, logps: torch.Tensor, ref_logps: torch.Tensor, mask: torch.Tensor,
                  kl_coef: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-token rewards: the KL penalty everywhere, plus the score on each answer's last token."""
    kl = (logps - ref_logps) * mask
    rewards = -kl_coef * kl
    last = mask.long().sum(-1) - 1
    rewards[torch.arange(len(scores)), last] += scores.to(rewards.dtype)
    return rewards * mask, kl


def advantages_and_returns(values: torch.Tensor, rewards: torch.Tensor, mask: torch.Tensor,
                           gamma: float = GAMMA, lam: float = LAMBDA) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalised advantage estimation over answer tokens (rows are right-padded)."""
    values, rewards = values * mask, rewards * mask
    advantages = torch.zeros_like(rewards)
    running = torch.zeros(rewards.shape[0], dtype=rewards.dtype, device=rewards.device)
    for t in reversed(range(rewards.shape[1])):
        next_value = values[:, t + 1] if t + 1 < rewards.shape[1] else torch.zeros_like(running)
        delta = rewards[:, t] + gamma * next_value - values[:, t]
        running = (delta + gamma * lam * running) * mask[:, t]
        advantages[:, t] = running
    returns = advantages + values
    return masked_whiten(advantages, mask) * mask, returns


def ppo_losses(logps, old_logps, values, old_values, advantages, returns, mask) -> tuple[torch.Tensor, dict]:
    ratio = torch.exp(logps - old_logps)
    policy_loss = masked_mean(torch.max(-advantages * ratio,
                                        -advantages * ratio.clamp(1 - CLIP_RANGE, 1 + CLIP_RANGE)), mask)
    clipped_values = old_values + (values - old_values).clamp(-CLIP_RANGE_VALUE, CLIP_RANGE_VALUE)
    value_loss = 0.5 * masked_mean(torch.max((values - returns) ** 2, (clipped_values - returns) ** 2), mask)
    stats = {"policy_loss": policy_loss.detach(), "value_loss": value_loss.detach(),
             "clip_fraction": masked_mean((torch.abs(ratio - 1) > CLIP_RANGE).float(), mask)}
    return policy_loss + VALUE_COEF * value_loss, stats


class AdaptiveKLController:
    """Moves the KL coefficient so the measured KL approaches ``target`` (Ziegler et al., 2019)."""

    def __init__(self, init_kl_coef: float, target: float, horizon: int = KL_HORIZON):
        self.value, self.target, self.horizon = init_kl_coef, target, horizon

    def update(self, current_kl: float, n_steps: int) -> None:
        error = min(max(current_kl / self.target - 1, -0.2), 0.2)
        self.value *= 1 + error * n_steps / self.horizon


class RunningMoments:
    """Mean and standard deviation of every score seen so far (``ppo_score_norm``)."""

    def __init__(self):
        self.count, self.mean, self.var = 0, 0.0, 1.0

    def update(self, values: torch.Tensor) -> None:
        n, batch_mean, batch_var = values.numel(), float(values.mean()), float(values.var(unbiased=False))
        total = self.count + n
        delta = batch_mean - self.mean
        self.var = (self.var * self.count + batch_var * n + delta ** 2 * self.count * n / total) / total
        self.mean += delta * n / total
        self.count = total

    @property
    def std(self) -> float:
        return math.sqrt(self.var * self.count / max(self.count - 1, 1))


# --- rollouts -------------------------------------------------------------------------------------------------------


@dataclass
class Rollout:
    """One buffer of experience: queries, answers and everything computed about them."""

    queries: list[list[int]]
    responses: list[list[int]]
    scores: torch.Tensor
    input_ids: torch.Tensor | None = None
    attention_mask: torch.Tensor | None = None
    answer_mask: torch.Tensor | None = None  # [n, T-1]: positions whose next token is an answer token
    logps: torch.Tensor | None = None
    ref_logps: torch.Tensor | None = None
    values: torch.Tensor | None = None


def strip_left_padding(ids: torch.Tensor, mask: torch.Tensor) -> list[list[int]]:
    return [row[row_mask.bool()].tolist() for row, row_mask in zip(ids, mask, strict=True)]


def cut_at_stop(tokens: list[int], stop_ids: set[int], pad_id: int) -> list[int]:
    """The answer up to and including its first stop token; padding after it dropped. Never empty."""
    for i, token in enumerate(tokens):
        if token in stop_ids:
            return tokens[: i + 1]
    while tokens and tokens[-1] == pad_id and pad_id not in stop_ids:
        tokens = tokens[:-1]
    return tokens or [next(iter(stop_ids))]


def token_logps_and_values(model, input_ids, attention_mask, with_values: bool):
    """log p of every next token ([n, T-1]) and, for value-head models, the value before it."""
    if with_values:
        logits, values = model(input_ids=input_ids, attention_mask=attention_mask)
        values = values[:, :-1]
    else:
        logits, values = model(input_ids=input_ids, attention_mask=attention_mask, use_cache=False).logits, None
    logps = torch.gather(logits[:, :-1].float().log_softmax(-1), -1, input_ids[:, 1:].unsqueeze(-1)).squeeze(-1)
    return logps, values


def cannot_resume(checkpoint: str) -> str:
    return (f"stage: ppo cannot resume a run ({checkpoint}), as in LLaMA-Factory; continue from its saved adapter "
            "with adapter_name_or_path, or start a new output_dir")


# --- the trainer ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PPOSettings:
    """The settings one PPO step reads (LLaMA-Factory's ``ppo_*`` keys)."""

    buffer_size: int = 1  # ppo_buffer_size: mini-batches collected per step
    epochs: int = 4  # ppo_epochs: optimisation passes over each rollout
    score_norm: bool = False  # ppo_score_norm
    whiten_rewards: bool = False  # ppo_whiten_rewards
    target_kl: float = 6.0  # ppo_target: what the adaptive KL controller aims for

    @classmethod
    def from_arguments(cls, finetuning) -> PPOSettings:
        f = finetuning
        return cls(buffer_size=f.ppo_buffer_size, epochs=f.ppo_epochs, score_norm=f.ppo_score_norm,
                   whiten_rewards=f.ppo_whiten_rewards, target_kl=f.ppo_target)


class PPOTrainer(Trainer):
    def __init__(self, *args, ref_model=None, scorer=None, settings: PPOSettings, generation_kwargs=None,
                 turn_suffix: list[int] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.ref_model = ref_model.to(self.args.device) if ref_model is not None else None
        self.scorer = scorer
        self.settings = settings
        self.generation_kwargs = dict(generation_kwargs or {})
        self.turn_suffix = list(turn_suffix or [])
        stop = self.generation_kwargs.get("eos_token_id")
        self.stop_ids = set(stop if isinstance(stop, list) else [stop])
        self.kl_controller = AdaptiveKLController(INIT_KL_COEF, settings.target_kl)
        self.score_moments = RunningMoments()

    # The policy is a ModelWithValueHead: saved as model/adapter + value_head.safetensors.
    def _save(self, output_dir: str | None = None, state_dict=None) -> None:
        save_value_head_model(self, output_dir or self.args.output_dir)

    def _load_from_checkpoint(self, resume_from_checkpoint: str, model=None) -> None:
        load_value_head_checkpoint(self, resume_from_checkpoint)

    def train(self, resume_from_checkpoint=None, **kwargs) -> TrainOutput:
        if resume_from_checkpoint:
            raise ConfigError([cannot_resume(resume_from_checkpoint)])
        args, settings = self.args, self.settings
        loader = self.get_train_dataloader()
        batches_per_step = args.gradient_accumulation_steps * settings.buffer_size
        max_steps = args.max_steps if args.max_steps > 0 else \
            max(1, math.ceil(args.num_train_epochs * len(loader) / batches_per_step))
        self.create_optimizer_and_scheduler(num_training_steps=max_steps)
        self.model, self.optimizer, self.lr_scheduler = self.accelerator.prepare(self.model, self.optimizer,
                                                                                 self.lr_scheduler)
        self.state.max_steps, self.state.global_step = max_steps, 0
        self.state.logging_steps, self.state.save_steps = args.logging_steps, args.save_steps
        self.state.is_local_process_zero = self.is_local_process_zero()
        self.state.is_world_process_zero = self.is_world_process_zero()
        logger.info("PPO: %d steps of %d prompts (%d mini-batches of %d), %d epochs over each buffer", max_steps,
                    batches_per_step * args.per_device_train_batch_size, batches_per_step,
                    args.per_device_train_batch_size, settings.epochs)
        self.control = self.callback_handler.on_train_begin(args, self.state, self.control)
        start, batches, window, history = time.time(), _cycle(loader), [], []
        for step in range(1, max_steps + 1):
            rollout = self.collect_rollout([next(batches) for _ in range(batches_per_step)])
            stats = self.optimise(rollout)
            self.lr_scheduler.step()
            self.kl_controller.update(stats["kl"], len(rollout.queries))
            self.state.global_step = step
            self.state.epoch = step * batches_per_step / len(loader)
            window.append(stats)
            history.append(stats)
            self.control = self.callback_handler.on_step_end(args, self.state, self.control)
            if step % max(args.logging_steps, 1) == 0 or step == max_steps:
                self.log(_window_means(window) | {"learning_rate": self.lr_scheduler.get_last_lr()[0],
                                                  "kl_coef": self.kl_controller.value})
                window = []
            if args.save_strategy == "steps" and args.save_steps and step % args.save_steps == 0 and step < max_steps:
                self.save_model(f"{args.output_dir}/checkpoint-{step}")
            if self.control.should_training_stop:
                break
        self.control = self.callback_handler.on_train_end(args, self.state, self.control)
        runtime = time.time() - start
        means = _window_means(history)
        metrics = {"train_runtime": round(runtime, 4), "train_steps_per_second": round(step / runtime, 3),
                   "train_loss": means["loss"], "train_reward": means["reward"], "epoch": self.state.epoch}
        return TrainOutput(step, means["loss"], metrics)

    # --- rollout: generate, score, evaluate ---------------------------------------------------------------------

    @torch.no_grad()
    def collect_rollout(self, batches: list[dict]) -> Rollout:
        policy: ModelWithValueHead = self.accelerator.unwrap_model(self.model)
        policy.eval()
        queries, responses = [], []
        for batch in batches:
            ids, mask = batch["input_ids"].to(self.args.device), batch["attention_mask"].to(self.args.device)
            output = policy.pretrained_model.generate(input_ids=ids, attention_mask=mask, use_cache=True,
                                                      **self.generation_kwargs)
            queries += strip_left_padding(ids, mask)
            responses += [cut_at_stop(row.tolist(), self.stop_ids, self.processing_class.pad_token_id)
                          for row in output[:, ids.shape[1]:]]
        scores = self.scorer([q + self.completed(r) for q, r in zip(queries, responses, strict=True)])
        rollout = Rollout(queries, responses, scores)
        rollout.input_ids, rollout.attention_mask = right_pad([q + r for q, r in zip(queries, responses, strict=True)],
                                                              self.processing_class.pad_token_id, self.args.device)
        rollout.answer_mask = torch.zeros_like(rollout.input_ids[:, 1:], dtype=torch.float32)
        for i, (q, r) in enumerate(zip(queries, responses, strict=True)):
            rollout.answer_mask[i, len(q) - 1: len(q) - 1 + len(r)] = 1
        mini = self.args.per_device_train_batch_size
        logps, values, ref_logps = [], [], []
        for rows in _chunks(len(queries), mini):
            ids, mask = rollout.input_ids[rows], rollout.attention_mask[rows]
            lp, v = token_logps_and_values(policy, ids, mask, with_values=True)
            with reference_model(policy.pretrained_model, self.ref_model) as reference:
                ref_lp, _ = token_logps_and_values(reference, ids, mask, with_values=False)
            logps.append(lp), values.append(v.float()), ref_logps.append(ref_lp)
        rollout.logps, rollout.values, rollout.ref_logps = torch.cat(logps), torch.cat(values), torch.cat(ref_logps)
        policy.train()
        return rollout

    def completed(self, response: list[int]) -> list[int]:
        """Score the answer as the reward model saw answers in training: with the rest of the turn's
        ending after the stop token (e.g. Qwen's newline after <|im_end|>)."""
        return response + self.turn_suffix if response and response[-1] in self.stop_ids else response

    def normalised_scores(self, scores: torch.Tensor) -> torch.Tensor:
        if not self.settings.score_norm:
            return scores
        self.score_moments.update(scores)
        return (scores - self.score_moments.mean) / (self.score_moments.std + 1e-8)

    # --- optimisation -------------------------------------------------------------------------------------------

    def optimise(self, rollout: Rollout) -> dict:
        args, settings = self.args, self.settings
        mask = _align_right(rollout.answer_mask)
        logps, ref_logps, old_values = (_align_right(t, rollout.answer_mask) for t in
                                        (rollout.logps, rollout.ref_logps, rollout.values))
        rewards, kl = token_rewards(self.normalised_scores(rollout.scores).to(mask.device), logps, ref_logps, mask,
                                    self.kl_controller.value)
        if settings.whiten_rewards:
            rewards = masked_whiten(rewards, mask, shift_mean=False) * mask
        advantages, returns = advantages_and_returns(old_values, rewards, mask)
        n, mini = len(rollout.queries), args.per_device_train_batch_size
        step_stats = []
        for _ in range(settings.epochs):
            order = torch.randperm(n)
            for i, rows in enumerate(_chunks(n, mini, order)):
                with self.accelerator.accumulate(self.model):
                    new_logps, new_values = token_logps_and_values(self.model, rollout.input_ids[rows],
                                                                   rollout.attention_mask[rows], with_values=True)
                    answer, width = rollout.answer_mask[rows], mask.shape[1]  # the buffer's longest answer
                    loss, stats = ppo_losses(_align_right(new_logps, answer, width), logps[rows],
                                             _align_right(new_values.float(), answer, width), old_values[rows],
                                             advantages[rows], returns[rows], mask[rows])
                    self.accelerator.backward(loss / args.gradient_accumulation_steps)
                    if (i + 1) % args.gradient_accumulation_steps == 0 or (i + 1) * mini >= n:
                        if args.max_grad_norm:
                            self.accelerator.clip_grad_norm_(self.model.parameters(), args.max_grad_norm)
                        self.optimizer.step()
                        self.optimizer.zero_grad()
                step_stats.append({"loss": float(loss.detach()), **{k: float(v) for k, v in stats.items()}})
        return {key: sum(s[key] for s in step_stats) / len(step_stats) for key in step_stats[0]} | {
            "reward": float(rollout.scores.mean()),
            "kl": float(kl.sum(-1).mean()),
            "response_length": float(mask.sum(-1).mean()),
        }


def _align_right(values: torch.Tensor, answer_mask: torch.Tensor | None = None, width: int | None = None) -> torch.Tensor:
    """Move each row's answer positions to the front: [n, T-1] -> [n, width], zero-padded.

    ``width`` defaults to the longest answer; called with one argument it aligns the mask itself."""
    answer_mask = values if answer_mask is None else answer_mask
    lengths = answer_mask.sum(-1).long()
    width = int(lengths.max()) if width is None else width
    out = torch.zeros((values.shape[0], width), dtype=values.dtype, device=values.device)
    for i, row_mask in enumerate(answer_mask.bool()):
        out[i, : lengths[i]] = values[i][row_mask]
    return out


def _chunks(n: int, size: int, order: torch.Tensor | None = None) -> list[torch.Tensor]:
    order = torch.arange(n) if order is None else order
    return [order[i: i + size] for i in range(0, n, size)]


def _cycle(loader):
    while True:
        yield from loader


def _window_means(window: list[dict]) -> dict:
    return {key: sum(stats[key] for stats in window) / len(window) for key in window[0]}
