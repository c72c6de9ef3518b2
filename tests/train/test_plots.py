"""smooth() and plot_loss() on hand-written numbers and a hand-written trainer_state.json."""

from __future__ import annotations

import json
import logging
import math
import sys

import pytest

from tunefactory.errors import TuneFactoryError
from tunefactory.train.plots import default_smoothing_weight, metric_curve, plot_loss, smooth

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def test_smooth_by_hand():
    assert smooth([1.0, 3.0, 5.0], weight=0.5) == [1.0, 2.0, 3.5]  # 0.5*1+0.5*3, then 0.5*2+0.5*5


def test_smooth_keeps_the_first_value_and_the_length():
    values = [4.0, 1.0, 7.0, 2.0, 2.0]
    smoothed = smooth(values)
    assert smoothed[0] == 4.0 and len(smoothed) == len(values)
    assert smooth([]) == []


def test_default_weight_is_a_sigmoid_of_the_point_count():
    assert default_smoothing_weight(0) == 0.0
    assert default_smoothing_weight(10) == pytest.approx(1.8 * (1 / (1 + math.exp(-0.5)) - 0.5))  # ~0.2204
    assert default_smoothing_weight(1000) == pytest.approx(0.9)
    values = [3.0, 1.0]
    weight = default_smoothing_weight(2)
    assert smooth(values) == [3.0, pytest.approx(weight * 3.0 + (1 - weight) * 1.0)]


def test_smooth_rejects_a_weight_outside_zero_one():
    with pytest.raises(ValueError, match="smoothing weight"):
        smooth([1.0, 2.0], weight=1.5)


def write_state(tmp_path, log_history):
    (tmp_path / "trainer_state.json").write_text(json.dumps({"global_step": 30, "log_history": log_history}))


TRAIN_LOGS = [{"loss": 2.0 - 0.1 * step, "learning_rate": 1e-4, "epoch": step / 30, "step": step}
              for step in range(1, 31)]
EVAL_LOGS = [{"eval_loss": 1.9, "epoch": 0.5, "step": 15}, {"eval_loss": 1.5, "epoch": 1.0, "step": 30}]
SUMMARY = [{"train_loss": 0.5, "train_runtime": 3.2, "epoch": 1.0, "step": 30}]


def assert_png(path):
    data = path.read_bytes()
    assert len(data) > len(PNG_SIGNATURE) and data.startswith(PNG_SIGNATURE)


def test_plot_loss_writes_llamafactory_named_pngs(tmp_path):
    write_state(tmp_path, TRAIN_LOGS + EVAL_LOGS + SUMMARY)
    written = plot_loss(tmp_path)
    assert written == [tmp_path / "training_loss.png", tmp_path / "training_eval_loss.png"]
    for path in written:
        assert_png(path)


def test_plot_loss_skips_a_key_without_data(tmp_path, caplog):
    write_state(tmp_path, TRAIN_LOGS + SUMMARY)
    with caplog.at_level(logging.WARNING, logger="tunefactory.train.plots"):
        written = plot_loss(tmp_path)
    assert written == [tmp_path / "training_loss.png"]
    assert_png(written[0])
    assert not (tmp_path / "training_eval_loss.png").exists()
    assert any("no eval_loss" in message for message in caplog.messages)


def test_metric_curve_leaves_out_non_finite_values():
    logs = [{"loss": 1.0, "step": 1}, {"loss": math.nan, "step": 2}, {"loss": 0.5, "step": 3}, {"step": 4}]
    assert metric_curve(logs, "loss") == ([1, 3], [1.0, 0.5])


def test_plot_loss_without_a_trainer_state(tmp_path):
    with pytest.raises(TuneFactoryError, match="no trainer_state.json"):
        plot_loss(tmp_path)


def test_plot_loss_without_matplotlib_says_what_to_install(tmp_path, monkeypatch):
    write_state(tmp_path, TRAIN_LOGS)
    for module in ("matplotlib", "matplotlib.figure", "matplotlib.backends", "matplotlib.backends.backend_agg"):
        monkeypatch.setitem(sys.modules, module, None)  # a None entry makes the import fail
    with pytest.raises(TuneFactoryError, match=r"pip install 'tunefactory\[plot\]'"):
        plot_loss(tmp_path)
