"""StopOnSignal: SIGTERM finishes the step, saves checkpoint-N and stops with TrainingStopped naming it."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest
import torch
from transformers import Trainer, TrainerCallback, TrainerControl, TrainerState, TrainingArguments

from tunefactory.errors import TrainingStopped, TuneFactoryError
from tunefactory.train.callbacks import StopOnSignal, restore_signal_handlers


@pytest.fixture
def args(tmp_path):
    return TrainingArguments(output_dir=str(tmp_path), use_cpu=True, report_to=[])


@pytest.fixture
def keep_sigterm_handler():
    """Whatever a test does, the process gets its SIGTERM handler back."""
    previous = signal.getsignal(signal.SIGTERM)
    yield previous
    signal.signal(signal.SIGTERM, previous)


def send_sigterm_to_self(callback: StopOnSignal) -> None:
    os.kill(os.getpid(), signal.SIGTERM)
    deadline = time.monotonic() + 2
    while not callback.requested and time.monotonic() < deadline:  # Python runs the handler at its next check
        time.sleep(0.001)


def test_sigterm_saves_a_checkpoint_at_the_step_end_and_stops(args, keep_sigterm_handler):
    callback, state, control = StopOnSignal(), TrainerState(global_step=6, max_steps=200), TrainerControl()
    callback.on_train_begin(args, state, control)
    callback.on_step_end(args, state, control)
    assert not control.should_save and not control.should_training_stop

    send_sigterm_to_self(callback)  # handled: the test process goes on
    state.global_step = 7
    callback.on_step_end(args, state, control)
    assert control.should_save and control.should_training_stop
    with pytest.raises(TrainingStopped, match="at step 7") as stopped:
        callback.on_save(args, state, control)
    assert os.path.join(args.output_dir, "checkpoint-7") in str(stopped.value)
    assert "resume" in str(stopped.value) and isinstance(stopped.value, TuneFactoryError)
    assert signal.getsignal(signal.SIGTERM) is keep_sigterm_handler


def test_without_a_signal_training_ends_normally_and_the_handler_is_restored(args, keep_sigterm_handler):
    callback, state, control = StopOnSignal(), TrainerState(global_step=3), TrainerControl()
    callback.on_train_begin(args, state, control)
    assert signal.getsignal(signal.SIGTERM) == callback._request_stop
    callback.on_step_end(args, state, control)
    callback.on_save(args, state, control)  # a regular save_steps checkpoint
    callback.on_train_end(args, state, control)
    assert signal.getsignal(signal.SIGTERM) is keep_sigterm_handler
    assert not control.should_training_stop


def test_a_trainer_that_stops_without_saving_still_ends_with_training_stopped(args, keep_sigterm_handler):
    """PPO's own loop honours should_training_stop but saves no checkpoint on request: no final model either."""
    callback, state, control = StopOnSignal(), TrainerState(global_step=4), TrainerControl()
    callback.on_train_begin(args, state, control)
    send_sigterm_to_self(callback)
    callback.on_step_end(args, state, control)
    with pytest.raises(TrainingStopped, match="at step 4 without saving a checkpoint"):
        callback.on_train_end(args, state, control)
    assert signal.getsignal(signal.SIGTERM) is keep_sigterm_handler


def test_outside_the_main_thread_no_handler_is_set(args, keep_sigterm_handler):
    callback = StopOnSignal()
    thread = threading.Thread(target=callback.on_train_begin, args=(args, TrainerState(), TrainerControl()))
    thread.start()
    thread.join()
    assert not callback.installed and signal.getsignal(signal.SIGTERM) is keep_sigterm_handler
    callback.on_train_end(args, TrainerState(), TrainerControl())  # nothing to restore


# ---- with a real Trainer ----------------------------------------------------------------------------------------


class LineFit(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.tensor(0.5))

    def forward(self, x, y):
        return {"loss": ((self.weight * x - y) ** 2).mean()}


class LinePoints(torch.utils.data.Dataset):
    def __len__(self):
        return 16

    def __getitem__(self, i):
        return {"x": torch.tensor(i / 16), "y": torch.tensor(2 * i / 16)}


class SigtermAtStep(TrainerCallback):
    """Sends SIGTERM to this process in the middle of a step, as the web board's Abort would."""

    def __init__(self, step: int):
        self.step = step

    def on_step_begin(self, args, state, control, **kwargs):
        if state.global_step + 1 == self.step:
            os.kill(os.getpid(), signal.SIGTERM)


def test_a_real_trainer_saves_checkpoint_n_and_stops_there(tmp_path, keep_sigterm_handler):
    args = TrainingArguments(output_dir=str(tmp_path), per_device_train_batch_size=2, max_steps=20, logging_steps=1,
                             save_steps=100, learning_rate=1e-2, use_cpu=True, report_to=[], disable_tqdm=True)
    trainer = Trainer(model=LineFit(), args=args, train_dataset=LinePoints(),
                      callbacks=[SigtermAtStep(3), StopOnSignal()])
    with pytest.raises(TrainingStopped, match="at step 3"):
        trainer.train()
    assert trainer.state.global_step == 3
    assert sorted(path.name for path in tmp_path.glob("checkpoint-*")) == ["checkpoint-3"]
    assert (tmp_path / "checkpoint-3" / "trainer_state.json").is_file()
    assert signal.getsignal(signal.SIGTERM) is keep_sigterm_handler


class FailAtStep(TrainerCallback):
    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == 2:
            raise RuntimeError("a bug in training")


def test_after_a_failed_run_sigterm_means_what_it_meant_before(tmp_path, keep_sigterm_handler):
    """StopOnSignal restores the handler only on a clean end; the recipe's train_and_save restores it on errors."""
    args = TrainingArguments(output_dir=str(tmp_path), per_device_train_batch_size=2, max_steps=5, use_cpu=True,
                             report_to=[], disable_tqdm=True, save_strategy="no")
    trainer = Trainer(model=LineFit(), args=args, train_dataset=LinePoints(),
                      callbacks=[FailAtStep(), StopOnSignal()])
    with pytest.raises(RuntimeError, match="a bug"):
        trainer.train()
    assert signal.getsignal(signal.SIGTERM) is not keep_sigterm_handler
    with pytest.raises(RuntimeError, match="a bug"):
        trainer.train()
    restore_signal_handlers(trainer)
    assert signal.getsignal(signal.SIGTERM) is keep_sigterm_handler
