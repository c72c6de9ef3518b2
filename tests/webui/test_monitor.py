"""Progress and curves read from a run's trainer_log.jsonl, as the board draws them."""

from __future__ import annotations

import json
import re

import pytest

from tunefactory.webui import monitor


def write_log(folder, records, tail=""):
    text = "".join(json.dumps(r) + "\n" for r in records) + tail
    (folder / monitor.TRAINER_LOG).write_text(text)


def test_progress_is_the_last_whole_line(tmp_path):
    write_log(tmp_path, [
        {"current_steps": 1, "total_steps": 4, "loss": 2.0, "percentage": 25.0, "elapsed_time": "0:00:01",
         "remaining_time": "0:00:03"},
        {"current_steps": 2, "total_steps": 4, "loss": 1.0, "percentage": 50.0, "elapsed_time": "0:00:02",
         "remaining_time": "0:00:02"},
    ], tail='{"current_steps": 3, "to')  # the line being written
    records = monitor.read_log(tmp_path)
    assert [r["current_steps"] for r in records] == [1, 2]
    assert monitor.progress(records).label() == "step 2/4 (50%) · elapsed 0:00:02 · remaining 0:00:02"
    assert monitor.read_log(tmp_path / "absent") == [] and monitor.progress([]) is None


def test_smoothing_is_a_debiased_moving_average():
    assert monitor.smooth([4.0, 2.0], 0.5) == [4.0, pytest.approx((0.5 * 0.5 * 4 + 0.5 * 2) / 0.75)]
    assert monitor.smooth([1.0, 5.0, 3.0], 0.0) == [1.0, 5.0, 3.0]
    with pytest.raises(ValueError, match="smoothing"):
        monitor.smooth([1.0], 1.0)


def test_curves_group_loss_with_eval_loss_and_keep_stage_metrics_apart():
    records = [{"current_steps": 1, "loss": 3.0, "lr": 1e-3}, {"current_steps": 2, "loss": 1.0, "eval_loss": 2.5},
               {"current_steps": 3, "loss": 2.0, "accuracy": 0.75}]
    charts = monitor.curves(records, "dpo", smoothing=0.5)
    series = {(row["series"], row["step"]): row["value"] for row in charts["loss"]}
    assert series[("loss", 2)] == 1.0 and series[("eval loss", 2)] == 2.5
    assert series[("loss (smoothed)", 2)] == pytest.approx(monitor.smooth([3.0, 1.0], 0.5)[1])
    assert charts["accuracy"] == [{"step": 3, "value": 0.75, "series": "reward accuracy"}]
    assert charts["lr"] == [{"step": 1, "value": 1e-3, "series": "learning rate"}]


def test_grpo_curves_include_reward_and_kl():
    names = monitor.curve_names("grpo")
    assert names["reward"] == "reward" and names["kl"] == "KL" and "completions/mean_length" in names
    assert "kl" not in monitor.curve_names("sft")


def test_the_chart_draws_one_line_per_series_through_every_point():
    rows = monitor.curve_rows([{"current_steps": s, "loss": 4.0 - s} for s in (1, 2, 3)], "loss", "loss", 0.5)
    svg = monitor.svg_chart(rows, "Loss")
    assert svg.count("<polyline") == 2 and "data-series='loss (smoothed)'" in svg
    first = re.findall(r" points='([^']*)'", svg)[0].split()
    assert len(first) == 3
    xs = [float(p.split(",")[0]) for p in first]
    ys = [float(p.split(",")[1]) for p in first]
    assert xs == sorted(xs) and ys == sorted(ys)  # steps go right, a falling loss goes down the chart (SVG y grows)
    assert "no points yet" in monitor.svg_chart([], "Loss")


def test_dpo_curves_include_the_reward_margin_its_log_now_carries():
    from tunefactory.config.stages import get_stage

    assert "rewards/margins" in get_stage("dpo").log_keys
    assert monitor.curve_names("dpo")["rewards/margins"] == "reward margin"
