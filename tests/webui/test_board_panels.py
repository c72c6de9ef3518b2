"""The board's job panels: what a job shows, pushed each time its files change, and only to the page following it."""

from __future__ import annotations

import json
import sys
import time

from tunefactory.webui import app
from tunefactory.webui.jobs import JobStore

WRITER = """
import json, sys, time
from pathlib import Path
out = Path(sys.argv[1])
out.mkdir(parents=True, exist_ok=True)
for step in (1, 2, 3):
    with open(out / "trainer_log.jsonl", "a") as f:
        f.write(json.dumps({"current_steps": step, "total_steps": 3, "loss": 4.0 - step,
                            "percentage": round(step / 3 * 100, 2)}) + "\\n")
    print("step", step, flush=True)
    time.sleep(0.3)
"""


def board_with_fake_training(tmp_path):
    board = app.Board(tmp_path / "saves", tmp_path / "board")
    board.jobs = JobStore(tmp_path / "board" / "jobs",
                          command_for=lambda job: [sys.executable, "-c", WRITER, job.output_dir])
    return board


def test_a_follower_sends_each_change_and_stops_when_the_job_ends(tmp_path):
    board = board_with_fake_training(tmp_path)
    job = board.jobs.start("train", {"stage": "sft", "output_dir": str(tmp_path / "run")})
    updates = list(app._follow(board, ("page", "train"), job.id, "train", 0.0))
    status, progress, log, loss_chart, _, _ = updates[-1]
    assert status == "finished" and "step 3/3 (100%)" in progress and "step 3" in log
    assert "data-series='loss' data-points='3'" in loss_chart
    steps_seen = [u[1].split("data-step='")[1].split("'")[0] for u in updates if "data-step" in u[1]]
    assert steps_seen == sorted(steps_seen) and len(updates) >= 2  # sent as it trained, not only at the end
    assert len(updates) == len({tuple(u[:3]) for u in updates})  # nothing sent twice without a change


def test_following_another_job_ends_the_first_follower(tmp_path):
    board = board_with_fake_training(tmp_path)
    job = board.jobs.start("train", {"stage": "sft", "output_dir": str(tmp_path / "run")})
    first = app._follow(board, ("page", "train"), job.id, "train", 0.0)
    next(first)
    list(app._follow(board, ("page", "train"), None, "train", 0.0))  # the page picks no job
    assert list(first) == []  # the old follower stops at once instead of following to the end
    other_page = app._follow(board, ("other page", "train"), job.id, "train", 0.0)
    assert next(other_page)[0] in ("running", "finished")


def test_results_of_an_evaluation_are_shown(tmp_path):
    (tmp_path / "all_results.json").write_text(json.dumps({"predict_bleu-4": 12.5}))
    assert app._results(str(tmp_path)) == {"predict_bleu-4": 12.5}
    (tmp_path / "all_results.json").unlink()
    (tmp_path / "config.json").write_text("{}")
    assert app._results(str(tmp_path)) == {"files": ["config.json"]}


def test_the_hub_picked_on_the_page_reaches_the_job(tmp_path):
    from tunefactory.webui import form

    values = {**form.defaults(), "_hub": "modelscope"}
    assert form.job_environment(values) == {"USE_MODELSCOPE_HUB": "1"}
    command, _ = form.preview({}, "x.yaml", env=form.job_environment(values))
    assert command == "USE_MODELSCOPE_HUB=1 tunefactory train x.yaml"
    printer = "import os; print('hub', os.environ.get('USE_MODELSCOPE_HUB'))"
    store = JobStore(tmp_path, command_for=lambda job: [sys.executable, "-c", printer])
    job = store.start("train", {"output_dir": "x"}, env=form.job_environment(values))
    deadline = time.monotonic() + 10
    while job.status() == "running" and time.monotonic() < deadline:
        time.sleep(0.02)
    assert "hub 1" in job.log_tail()


def test_start_refuses_what_train_would_refuse_and_starts_nothing(tmp_path, tiny_llama):
    import pytest

    from tunefactory.errors import ConfigError
    from tunefactory.webui import form

    board = board_with_fake_training(tmp_path)
    values = {**form.defaults(), "model_name_or_path": str(tiny_llama), "dataset": ["alpaca_demo"],
              "_compute_type": "fp32", "_output_name": "taken", "template": "llama3"}
    config = form.train_args(values, board.saves_dir)
    taken = tmp_path / "saves" / tiny_llama.name / "lora" / "taken"
    taken.mkdir(parents=True)
    (taken / "notes.txt").write_text("a user's file")
    with pytest.raises(ConfigError, match="is not empty and holds no checkpoint"):
        board.start("train", config, "en")
    assert board.jobs.list() == [] and (taken / "notes.txt").read_text() == "a user's file"


def test_a_login_is_asked_for_only_when_set(monkeypatch):
    import pytest

    from tunefactory.errors import ConfigError

    monkeypatch.delenv("TUNEFACTORY_WEBUI_AUTH", raising=False)
    assert app.login_from_env() is None
    monkeypatch.setenv("TUNEFACTORY_WEBUI_AUTH", "ada:s3cret:with-colon")
    assert app.login_from_env() == ("ada", "s3cret:with-colon")
    monkeypatch.setenv("TUNEFACTORY_WEBUI_AUTH", "ada")
    with pytest.raises(ConfigError, match="user:password"):
        app.login_from_env()
