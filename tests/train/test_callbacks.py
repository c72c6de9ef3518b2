"""LogCallback and LossGuard, driven by hand-built Trainer states and by one tiny real Trainer run."""

from __future__ import annotations

import json
import logging
import math

import pytest
import torch
from transformers import Trainer, TrainerControl, TrainerState, TrainingArguments

from tunefactory.errors import TuneFactoryError
from tunefactory.train.callbacks import TRAINER_LOG, LogCallback, LossGuard


class FakeClock:
    def __init__(self, now: float = 1000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def args(tmp_path):
    return TrainingArguments(output_dir=str(tmp_path), use_cpu=True, report_to=[])


def log(callback, args, state, **metrics):
    """What Trainer.log does: append to log_history, then call on_log with the metrics."""
    state.log_history.append({**metrics, "step": state.global_step})
    callback.on_log(args, state, TrainerControl(), logs=dict(metrics))


def read_log(tmp_path) -> list[dict]:
    return [json.loads(line) for line in (tmp_path / TRAINER_LOG).read_text(encoding="utf-8").splitlines()]


def start(callback, args, state):
    callback.on_train_begin(args, state, TrainerControl())


# ---- LogCallback ----------------------------------------------------------------------------------------------


def test_log_lines_have_llamafactory_keys_and_values(tmp_path, args):
    clock = FakeClock()
    callback, state = LogCallback(tmp_path, clock=clock), TrainerState(max_steps=160)
    start(callback, args, state)

    clock.now += 12
    state.global_step = 20
    log(callback, args, state, loss=1.234, grad_norm=0.7, learning_rate=2.9e-3, epoch=0.5)
    clock.now += 12
    state.global_step = 40
    log(callback, args, state, eval_loss=1.1, eval_runtime=0.5, epoch=1.0)

    train_line, eval_line = read_log(tmp_path)
    assert train_line == {
        "current_steps": 20, "total_steps": 160, "loss": 1.234, "lr": 2.9e-3, "epoch": 0.5,
        "percentage": 12.5, "elapsed_time": "0:00:12", "remaining_time": "0:01:24",  # 140 steps at 0.6 s
    }
    assert list(train_line) == ["current_steps", "total_steps", "loss", "lr", "epoch", "percentage",
                                "elapsed_time", "remaining_time"]
    assert eval_line == {
        "current_steps": 40, "total_steps": 160, "eval_loss": 1.1, "epoch": 1.0,
        "percentage": 25.0, "elapsed_time": "0:00:24", "remaining_time": "0:01:12",
    }


def test_log_line_carries_reward_accuracy_and_tokens(tmp_path, args):
    clock = FakeClock()
    callback, state = LogCallback(tmp_path, clock=clock), TrainerState(max_steps=30)
    start(callback, args, state)
    clock.now += 12
    state.global_step, state.num_input_tokens_seen = 10, 4800
    log(callback, args, state, loss=0.5, reward=0.25, **{"rewards/accuracies": 0.75}, learning_rate=1e-5, epoch=0.3)

    (line,) = read_log(tmp_path)
    assert line["percentage"] == 33.33
    assert (line["reward"], line["accuracy"]) == (0.25, 0.75)
    assert (line["throughput"], line["total_tokens"]) == (400.0, 4800)


def test_progress_message_is_logged(tmp_path, args, caplog):
    clock = FakeClock()
    callback, state = LogCallback(tmp_path, clock=clock), TrainerState(max_steps=160)
    start(callback, args, state)
    clock.now += 12
    state.global_step = 20
    with caplog.at_level(logging.INFO, logger="tunefactory.train.callbacks"):
        log(callback, args, state, loss=1.234, learning_rate=2.9e-3, epoch=0.5)
    assert "step 20/160 (12.5%) loss 1.234 lr 2.9e-03 elapsed 0:00:12 remaining 0:01:24" in caplog.messages


def test_only_the_main_process_writes(tmp_path, args):
    callback, state = LogCallback(tmp_path), TrainerState(max_steps=10, is_world_process_zero=False)
    start(callback, args, state)
    state.global_step = 1
    log(callback, args, state, loss=1.0)
    assert not (tmp_path / TRAINER_LOG).exists()


def test_a_fresh_run_replaces_an_old_log(tmp_path, args):
    (tmp_path / TRAINER_LOG).write_text('{"current_steps": 99, "loss": 9.0}\n', encoding="utf-8")
    callback, state = LogCallback(tmp_path), TrainerState(max_steps=10)
    start(callback, args, state)
    state.global_step = 1
    log(callback, args, state, loss=1.0)
    assert [line["current_steps"] for line in read_log(tmp_path)] == [1]


def test_a_resumed_run_appends_and_drops_steps_it_will_redo(tmp_path, args):
    old = [{"current_steps": step, "loss": 2.0} for step in (10, 20, 30)]
    (tmp_path / TRAINER_LOG).write_text("".join(json.dumps(line) + "\n" for line in old), encoding="utf-8")
    callback, state = LogCallback(tmp_path), TrainerState(max_steps=40, global_step=20)  # restored from checkpoint-20
    start(callback, args, state)
    state.global_step = 25
    log(callback, args, state, loss=1.0)
    assert [line["current_steps"] for line in read_log(tmp_path)] == [10, 20, 25]


def test_resume_from_checkpoint_keeps_the_log(tmp_path):
    (tmp_path / TRAINER_LOG).write_text('{"current_steps": 5, "loss": 2.0}\n', encoding="utf-8")
    args = TrainingArguments(output_dir=str(tmp_path), use_cpu=True, report_to=[], resume_from_checkpoint="ckpt")
    callback, state = LogCallback(tmp_path), TrainerState(max_steps=10)
    start(callback, args, state)
    state.global_step = 6
    log(callback, args, state, loss=1.0)
    assert [line["current_steps"] for line in read_log(tmp_path)] == [5, 6]


def test_remaining_time_counts_only_this_sessions_steps(tmp_path, args):
    clock = FakeClock()
    callback, state = LogCallback(tmp_path, clock=clock), TrainerState(max_steps=200, global_step=100)
    start(callback, args, state)
    clock.now += 10
    state.global_step = 110  # 10 steps in 10 s: 90 steps left
    log(callback, args, state, loss=1.0)
    assert read_log(tmp_path)[-1]["remaining_time"] == "0:01:30"


# ---- LossGuard ------------------------------------------------------------------------------------------------


def guard_logs(guard, args, losses, first_step=1):
    state = TrainerState(max_steps=100)
    for step, loss in enumerate(losses, first_step):
        state.global_step = step
        log(guard, args, state, loss=loss, learning_rate=1e-4)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_guard_stops_at_once_on_nan_or_inf(args, bad):
    with pytest.raises(TuneFactoryError, match=rf"training loss became {bad} at step 7: lower learning_rate"):
        guard_logs(LossGuard(), args, [1.0, bad], first_step=6)


def test_guard_stops_after_zero_patience_zeros(args):
    guard = LossGuard(zero_patience=3)
    guard_logs(guard, args, [1.0, 0.0, 0.0])
    with pytest.raises(TuneFactoryError, match=r"exactly 0 for 3 logs in a row \(up to step 4\).*masked \(-100\)"):
        guard_logs(guard, args, [0.0], first_step=4)


def test_guard_zero_count_resets_on_a_nonzero_loss(args):
    guard = LossGuard(zero_patience=3)
    guard_logs(guard, args, [0.0, 0.0, 0.5, 0.0, 0.0])
    assert guard.zeros_in_a_row == 2
    with pytest.raises(TuneFactoryError, match="exactly 0"):
        guard_logs(guard, args, [0.0], first_step=6)


def test_guard_ignores_logs_without_a_training_loss(args):
    state = TrainerState(max_steps=10, global_step=5)
    log(LossGuard(), args, state, eval_loss=math.nan, epoch=1.0)


def test_guard_sees_through_the_nan_filter(args):
    """logging_nan_inf_filter logs a NaN loss as 0.0, but the gradient norm stays NaN."""
    state = TrainerState(max_steps=10, global_step=4)
    with pytest.raises(TuneFactoryError, match=r"became nan at step 4 \(logged as 0 by logging_nan_inf_filter"):
        log(LossGuard(), args, state, loss=0.0, grad_norm=math.nan)


def test_guard_rejects_a_patience_below_one():
    with pytest.raises(ValueError, match="zero_patience"):
        LossGuard(zero_patience=0)


# ---- a real Trainer -------------------------------------------------------------------------------------------


class LineFit(torch.nn.Module):
    """Two parameters fitting y = 2x + 1; from the ``nan_from``-th training forward on the loss is NaN."""

    def __init__(self, nan_from: int):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.tensor(0.5))
        self.bias = torch.nn.Parameter(torch.tensor(0.0))
        self.nan_from, self.forwards = nan_from, 0

    def forward(self, x, y):
        self.forwards += 1
        loss = ((self.weight * x + self.bias - y) ** 2).mean()
        if self.forwards >= self.nan_from:
            loss = loss * float("nan")  # NaN gradients too, as when training really diverges
        return {"loss": loss}


class LinePoints(torch.utils.data.Dataset):
    def __len__(self):
        return 16

    def __getitem__(self, i):
        return {"x": torch.tensor(i / 16), "y": torch.tensor(2 * i / 16 + 1)}


def train_until_nan(tmp_path, **overrides):
    args = TrainingArguments(output_dir=str(tmp_path), per_device_train_batch_size=2, max_steps=8, logging_steps=1,
                             learning_rate=1e-2, use_cpu=True, report_to=[], save_strategy="no", disable_tqdm=True,
                             **overrides)
    trainer = Trainer(model=LineFit(nan_from=3), args=args, train_dataset=LinePoints(),
                      callbacks=[LogCallback(tmp_path), LossGuard()])
    with pytest.raises(TuneFactoryError) as error:
        trainer.train()
    return str(error.value), read_log(tmp_path)


def test_trainer_stops_on_a_nan_loss(tmp_path):
    message, lines = train_until_nan(tmp_path, logging_nan_inf_filter=False)
    assert message.startswith("training loss became nan at step 3:")
    assert [line["current_steps"] for line in lines] == [1, 2, 3]  # LogCallback ran first: the NaN line is there
    assert math.isnan(lines[-1]["loss"]) and lines[-1]["total_steps"] == 8


def test_trainer_stops_on_a_nan_loss_hidden_by_the_default_filter(tmp_path):
    message, lines = train_until_nan(tmp_path)
    assert message.startswith("training loss became nan at step 3 (logged as 0 by logging_nan_inf_filter")
    assert lines[-1]["loss"] == 0.0
