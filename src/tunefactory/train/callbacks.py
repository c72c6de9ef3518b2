"""Trainer callbacks that every stage adds.

    LogCallback   writes ``trainer_log.jsonl`` (one JSON line per log, LLaMA-Factory's keys, so its web UI
                  can follow our runs) and logs a one-line progress message
    LossGuard     stops training with a TuneFactoryError when the training loss is NaN/inf, or exactly 0
                  for several logs in a row (every label masked)
    StopOnSignal  on SIGTERM (the web board's Abort, ``kill``, a scheduler's pre-emption) finishes the current
                  step, saves checkpoint-N there and stops with TrainingStopped, so the same command resumes
                  from checkpoint-N; the final model is not written, so the run never looks complete.
                  Trainers with a loop of their own that save no checkpoint on request (PPO) stop without one,
                  also with TrainingStopped. Not under Ray (training runs outside the main thread, where no
                  signal handler can be set). A second SIGTERM is handled the same way: kill -9 to end at once.

Add LogCallback before LossGuard: the Trainer calls callbacks in order, so the bad loss is still
written to ``trainer_log.jsonl`` before LossGuard stops the run. Add StopOnSignal last: it raises in
on_save/on_train_end, which skips the callbacks after it.
"""

from __future__ import annotations

import json
import logging
import math
import os
import signal
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments

from ..errors import TrainingStopped, TuneFactoryError

logger = logging.getLogger(__name__)

TRAINER_LOG = "trainer_log.jsonl"

# LLaMA-Factory's trainer_log.jsonl key -> the Trainer's log key.
LOGGED_METRICS = {
    "loss": "loss",
    "eval_loss": "eval_loss",
    "predict_loss": "predict_loss",
    "reward": "reward",
    "accuracy": "rewards/accuracies",
    "lr": "learning_rate",
    "epoch": "epoch",
}


def format_duration(seconds: float) -> str:
    """``H:MM:SS``, the form LLaMA-Factory writes (``str(timedelta)`` of whole seconds)."""
    return str(timedelta(seconds=int(seconds)))


def latest_logs(state: TrainerState, logs: dict[str, Any] | None) -> dict[str, Any]:
    """The metrics of the log being reported: the Trainer passes them, and also appends them to log_history."""
    if logs is not None:
        return logs
    return state.log_history[-1] if state.log_history else {}


def is_resuming(args: TrainingArguments, state: TrainerState) -> bool:
    # The Trainer restores global_step from the checkpoint before on_train_begin.
    return state.global_step > 0 or bool(getattr(args, "resume_from_checkpoint", None))


def drop_lines_after_step(path: Path, step: int) -> None:
    """Remove lines logged after ``step``: a run resumed from an earlier checkpoint redoes those steps."""
    kept = [line for line in path.read_text(encoding="utf-8").splitlines(keepends=True) if not _is_after(line, step)]
    path.write_text("".join(kept), encoding="utf-8")


def _is_after(line: str, step: int) -> bool:
    try:
        return json.loads(line).get("current_steps", 0) > step
    except (json.JSONDecodeError, AttributeError, TypeError):
        return False  # not ours to judge: keep it


class LogCallback(TrainerCallback):
    """Writes ``<output_dir>/trainer_log.jsonl`` and a progress message at every log, on the main process only."""

    def __init__(self, output_dir: str | Path, clock: Callable[[], float] = time.monotonic,
                 extra_keys: tuple[str, ...] = ()):
        """``extra_keys``: more metrics to write after LLaMA-Factory's, by name or by prefix ending in "/"."""
        self.log_path = Path(output_dir) / TRAINER_LOG
        self.clock = clock
        self.extra_keys = extra_keys
        self.start_time: float | None = None
        self.start_step = 0
        self.start_tokens = 0

    def on_train_begin(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs):
        if not state.is_world_process_zero:
            return
        self._start_timing(state)
        if not self.log_path.exists():
            return
        if is_resuming(args, state):
            if state.global_step > 0:
                drop_lines_after_step(self.log_path, state.global_step)
        else:
            logger.info("starting a fresh %s (the old one belonged to an earlier run)", self.log_path)
            self.log_path.unlink()

    def on_log(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, logs=None, **kwargs):
        if not state.is_world_process_zero:
            return
        if self.start_time is None:  # evaluate/predict without training: time from the first log
            self._start_timing(state)
        record = self.build_record(state, latest_logs(state, logs))
        self._append(record)
        logger.info(progress_message(record))

    def build_record(self, state: TrainerState, metrics: dict[str, Any]) -> dict[str, Any]:
        """One trainer_log.jsonl line: LLaMA-Factory's keys in its order, None values left out."""
        elapsed = self.clock() - self.start_time
        current, total = state.global_step, state.max_steps
        record = {"current_steps": current, "total_steps": total}
        record.update({key: metrics.get(source) for key, source in LOGGED_METRICS.items()})
        record.update({key: value for key, value in metrics.items() if key not in record and any(
            key == extra or (extra.endswith("/") and key.startswith(extra)) for extra in self.extra_keys)})
        record["percentage"] = round(current / total * 100, 2) if total else 100
        record["elapsed_time"] = format_duration(elapsed)
        record["remaining_time"] = format_duration(self._remaining_seconds(current, total, elapsed))
        if state.num_input_tokens_seen:
            if elapsed > 0:
                # Tokens of this session only: a resumed state also counts the tokens seen before.
                record["throughput"] = round((state.num_input_tokens_seen - self.start_tokens) / elapsed, 2)
            record["total_tokens"] = state.num_input_tokens_seen
        return {key: value for key, value in record.items() if value is not None}

    def _start_timing(self, state: TrainerState) -> None:
        self.start_time = self.clock()
        self.start_step = state.global_step
        self.start_tokens = state.num_input_tokens_seen or 0

    def _remaining_seconds(self, current: int, total: int, elapsed: float) -> float:
        # Speed from the steps done since this session began, so a resumed run is not counted as instant.
        steps_done = current - self.start_step
        if steps_done <= 0 or total <= current:
            return 0.0
        return (total - current) * elapsed / steps_done

    def _append(self, record: dict[str, Any]) -> None:
        # Written synchronously: one short line per log, and readers (the web UI, tests) see it at once.
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")


def progress_message(record: dict[str, Any]) -> str:
    """``step 20/160 (12.5%) loss 1.234 lr 2.9e-03 elapsed 0:00:12 remaining 0:01:24``."""
    parts = [f"step {record['current_steps']}/{record['total_steps']} ({record['percentage']:g}%)"]
    for key in ("loss", "eval_loss", "predict_loss"):
        if key in record:
            parts.append(f"{key} {record[key]:.4g}")
    if "lr" in record:
        parts.append(f"lr {record['lr']:.1e}")
    parts.append(f"elapsed {record['elapsed_time']} remaining {record['remaining_time']}")
    return " ".join(parts)


class LossGuard(TrainerCallback):
    """Stops training when the logged training loss is NaN/inf, or exactly 0 for ``zero_patience`` logs in a row.

    Every process raises: the logged loss is averaged across processes, so all of them see the same value.
    """

    def __init__(self, zero_patience: int = 3):
        if zero_patience < 1:
            raise ValueError(f"zero_patience must be at least 1, got {zero_patience}")
        self.zero_patience = zero_patience
        self.zeros_in_a_row = 0

    def on_train_begin(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs):
        self.zeros_in_a_row = 0

    def on_log(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, logs=None, **kwargs):
        metrics = latest_logs(state, logs)
        loss = metrics.get("loss")
        if loss is None:  # an eval/predict log, or the end-of-training summary
            return
        if not math.isfinite(loss):
            raise TuneFactoryError(diverged_message(str(loss), state.global_step))
        if loss == 0.0 and not _is_finite_or_absent(metrics.get("grad_norm")):
            # logging_nan_inf_filter (on by default) logs NaN/inf losses as 0; NaN gradients give it away.
            raise TuneFactoryError(diverged_message("nan", state.global_step, filtered=True))
        self.zeros_in_a_row = self.zeros_in_a_row + 1 if loss == 0.0 else 0
        if self.zeros_in_a_row >= self.zero_patience:
            raise TuneFactoryError(zero_loss_message(self.zeros_in_a_row, state.global_step))


def _is_finite_or_absent(value: float | None) -> bool:
    return value is None or math.isfinite(value)


def diverged_message(loss: str, step: int, filtered: bool = False) -> str:
    how = " (logged as 0 by logging_nan_inf_filter; grad_norm is not finite)" if filtered else ""
    return (f"training loss became {loss} at step {step}{how}: lower learning_rate, check the data "
            "(tunefactory data <config> --tokenized), or use fp32 (turn off fp16/bf16)")


def zero_loss_message(count: int, step: int) -> str:
    return (f"the loss is exactly 0 for {count} logs in a row (up to step {step}): usually every label is masked "
            "(-100): check cutoff_len, train_on_prompt/mask_history and the template "
            "(tunefactory data <config> --tokenized shows the labels). With logging_nan_inf_filter on (the default), "
            "NaN/inf losses are also logged as 0: set logging_nan_inf_filter: false to see them")


class StopOnSignal(TrainerCallback):
    """On SIGTERM, save a checkpoint at the end of the current step and stop with TrainingStopped.

    The handler only sets a flag: the step in progress finishes, then the Trainer saves ``checkpoint-N`` (as at a
    ``save_steps`` step) and on_save raises. The previous handler is back once training ends or stops.
    """

    def __init__(self, signum: int = signal.SIGTERM):
        self.signum = signum
        self.requested = False
        self.previous_handler = None
        self.installed = False

    def on_train_begin(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs):
        self.requested = False
        if self.installed:  # train() again after a failed one: keep the handler remembered before it
            return
        if threading.current_thread() is not threading.main_thread():  # signal.signal works in the main thread only
            logger.debug("training outside the main thread: %s stops it at once", signal.Signals(self.signum).name)
            return
        self.previous_handler = signal.signal(self.signum, self._request_stop)
        self.installed = True

    def on_step_end(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs):
        self.requested = any_process_requested(self.requested, args.device)
        if self.requested:
            control.should_save = True
            control.should_training_stop = True

    def on_save(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs):
        if self.requested:
            self.restore_handler()
            raise TrainingStopped(stopped_message(state.global_step, args.output_dir))

    def on_train_end(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs):
        self.restore_handler()
        if self.requested:  # a trainer that stopped without saving what on_step_end asked for (PPO's own loop)
            raise TrainingStopped(stopped_unsaved_message(state.global_step, args.output_dir))

    def restore_handler(self) -> None:
        if self.installed:
            signal.signal(self.signum, self.previous_handler)
            self.installed = False

    def _request_stop(self, signum, frame) -> None:
        self.requested = True
        logger.warning("%s received: stopping after this step, once its checkpoint is saved",
                       signal.Signals(signum).name)


def restore_signal_handlers(trainer) -> None:
    """Give SIGTERM its old meaning back after training failed (StopOnSignal restores it only on a clean end)."""
    for callback in trainer.callback_handler.callbacks:
        if isinstance(callback, StopOnSignal):
            callback.restore_handler()


def any_process_requested(requested: bool, device) -> bool:
    """Whether any process was asked to stop: all of them must save the checkpoint of the same step together."""
    import torch
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return requested
    flag = torch.tensor([int(requested)], device=device)
    dist.all_reduce(flag, op=dist.ReduceOp.MAX)
    return bool(flag.item())


def stopped_message(step: int, output_dir: str) -> str:
    checkpoint = os.path.join(output_dir, f"checkpoint-{step}")
    return (f"training stopped on request at step {step}; {checkpoint} holds the run so far. Run the same command "
            "again to resume from it (TuneFactory resumes from the last checkpoint in output_dir unless "
            "overwrite_output_dir is set)")


def stopped_unsaved_message(step: int, output_dir: str) -> str:
    return (f"training stopped on request at step {step} without saving a checkpoint there; the final model was not "
            f"written. Run the same command again to start over, or to resume from the last checkpoint in "
            f"{output_dir} where the stage can resume")
