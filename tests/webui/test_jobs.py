"""Jobs on disk: started through the real runner with small fake commands, followed, aborted, found again."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path

import pytest
import yaml

from tunefactory.webui.jobs import JOB_KINDS, RUNNER_FILE, Job, JobStore, UnknownJob, read_json

# A command that prints, then sleeps; on SIGTERM it leaves a marker in the job folder and exits 143.
SLEEPER = """
import os, signal, sys, time
def stop(signum, frame):
    open(os.path.join(sys.argv[1], "child-got-sigterm"), "w").close()
    sys.exit(143)
signal.signal(signal.SIGTERM, stop)
print("hello from the job", flush=True)
print("to stderr too", file=sys.stderr, flush=True)
time.sleep(float(sys.argv[2]))
sys.exit(int(sys.argv[3]))
"""


def fake_command(seconds: float = 0.0, returncode: int = 0):
    return lambda job: [sys.executable, "-c", SLEEPER, str(job.job_dir), str(seconds), str(returncode)]


def wait_for(condition, timeout: float = 5.0, what: str = "the condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.02)
    pytest.fail(f"timed out after {timeout} s waiting for {what}")


def wait_until_ended(job: Job, timeout: float = 5.0) -> str:
    return wait_for(lambda: job.status() if job.status() != "running" else None, timeout, f"job {job.id} to end")


def test_a_job_runs_to_the_end_and_keeps_its_output(tmp_path):
    store = JobStore(tmp_path / "jobs", command_for=fake_command(0.3))
    config = {"stage": "sft", "output_dir": "saves/tiny/lora/run1", "learning_rate": 1e-4}
    job = store.start("train", config, label="sft lora saves/tiny/lora/run1")
    assert job.status() == "running" and job.returncode is None
    assert wait_until_ended(job) == "finished"
    assert job.returncode == 0 and not job.abort_requested
    assert "hello from the job" in job.log_tail() and "to stderr too" in job.log_tail()
    assert yaml.safe_load(job.config_path.read_text()) == config
    assert list(yaml.safe_load(job.config_path.read_text())) == ["stage", "output_dir", "learning_rate"]
    assert job.output_dir == "saves/tiny/lora/run1" and job.label == "sft lora saves/tiny/lora/run1"


def test_the_real_command_is_the_tunefactory_cli_on_the_written_config(tmp_path):
    store = JobStore(tmp_path / "jobs", command_for=fake_command())
    job = store.start("export", {"export_dir": "out/merged"})
    assert job.config_path.name == "export_args.yaml" and job.output_dir == "out/merged"
    assert job.argv == [sys.executable, "-m", "tunefactory", "export", str(job.config_path)]
    assert job.command_line() == f"tunefactory export {job.config_path}"
    assert job.config_path.is_absolute()
    eval_job = store.start("eval", {"output_dir": "out/eval"})
    assert eval_job.argv[3] == JOB_KINDS["eval"] == "train" and eval_job.config_path.name == "training_args.yaml"
    with pytest.raises(ValueError, match="unknown job kind 'chat'"):
        store.start("chat", {})


def test_a_failing_command_is_failed_with_its_return_code(tmp_path):
    job = JobStore(tmp_path, command_for=fake_command(0, returncode=3)).start("train", {"output_dir": "x"})
    assert wait_until_ended(job) == "failed"
    assert job.returncode == 3


def test_a_command_that_cannot_start_fails_and_says_why(tmp_path):
    store = JobStore(tmp_path, command_for=lambda job: [str(tmp_path / "no-such-program")])
    job = store.start("train", {})
    assert wait_until_ended(job) == "failed"
    assert job.returncode == 127 and "could not start" in job.log_tail()


def test_abort_sends_sigterm_to_the_command(tmp_path):
    store = JobStore(tmp_path, command_for=fake_command(30))
    job = store.start("train", {"output_dir": "x"})
    wait_for(lambda: "hello from the job" in job.log_tail(), what="the command to start")
    store.abort(job.id)
    assert wait_until_ended(job) == "aborted"
    assert job.abort_requested and job.returncode == 143
    assert (job.job_dir / "child-got-sigterm").exists()
    store.abort(job.id)  # no longer running: nothing happens
    assert job.status() == "aborted"


def test_force_abort_kills_a_command_that_ignores_sigterm(tmp_path):
    stubborn = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('up', flush=True); " \
               "time.sleep(30)"
    store = JobStore(tmp_path, command_for=lambda job: [sys.executable, "-c", stubborn])
    job = store.start("train", {})
    wait_for(lambda: "up" in job.log_tail(), what="the command to start")
    store.abort(job.id)
    time.sleep(0.2)
    assert job.status() == "running"
    store.abort(job.id, force=True)
    assert wait_until_ended(job) == "aborted" and job.returncode == -signal.SIGKILL


def test_a_new_store_on_the_same_folder_finds_the_jobs_as_they_are(tmp_path):
    """A restarted web server re-attaches to running jobs and sees how the others ended."""
    first = JobStore(tmp_path, command_for=fake_command(0))
    done = first.start("train", {"output_dir": "a"})
    wait_until_ended(done)
    running = JobStore(tmp_path, command_for=fake_command(30)).start("train", {"output_dir": "b"})
    restarted = JobStore(tmp_path)
    found = {job.id: job for job in restarted.list()}
    assert set(found) == {done.id, running.id}
    assert found[done.id].status() == "finished" and found[running.id].status() == "running"
    assert found[running.id] == running
    restarted.abort(running.id)
    assert wait_until_ended(restarted.get(running.id)) == "aborted"


def test_a_job_whose_runner_was_killed_is_lost(tmp_path):
    job = JobStore(tmp_path, command_for=fake_command(30)).start("train", {})
    runner = wait_for(lambda: (read_json(job.job_dir / RUNNER_FILE) or {}).get("child_pid") and
                      read_json(job.job_dir / RUNNER_FILE), what="the command to start")
    os.kill(runner["pid"], signal.SIGKILL)
    try:
        assert wait_until_ended(job) == "lost"
        assert job.returncode is None
    finally:
        os.kill(runner["child_pid"], signal.SIGKILL)


def test_jobs_are_listed_newest_first_and_unreadable_folders_are_skipped(tmp_path):
    store = JobStore(tmp_path, command_for=fake_command(0))
    started = [store.start("train", {"output_dir": str(n)}) for n in range(3)]
    (tmp_path / "not-a-job").mkdir()
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "job.json").write_text("{not json")
    (tmp_path / "stray-file.txt").write_text("")
    assert [job.id for job in store.list()] == [job.id for job in reversed(started)]
    assert JobStore(tmp_path / "never-created").list() == []


def test_get_names_the_unknown_job_and_refuses_paths(tmp_path):
    store = JobStore(tmp_path)
    with pytest.raises(UnknownJob, match="no job 'nope'"):
        store.get("nope")
    for sneaky in ("../etc", "..", "", "a/b"):
        with pytest.raises(KeyError):
            store.get(sneaky)


def test_log_tail_starts_at_a_whole_line_and_survives_bad_bytes(tmp_path):
    job = Job("20261206-193012-ab12", "train", "", "out", 0.0, tmp_path)
    assert job.log_tail() == ""
    job.log_path.write_bytes(b"".join(f"line {n}\n".encode() for n in range(1000)) + b"bad \xff byte\n")
    tail = job.log_tail(max_bytes=100)
    assert tail.startswith("line ") and tail.endswith("bad \ufffd byte\n") and len(tail.encode()) <= 100
    assert job.log_tail(max_bytes=10 ** 6).startswith("line 0\n")


def test_ids_sort_by_time(tmp_path):
    job = JobStore(tmp_path, command_for=fake_command(0)).start("train", {})
    stamp, suffix = job.id.rsplit("-", 1)
    assert time.strftime("%Y%m%d-%H%M%S", time.localtime(job.created)) == stamp and len(suffix) == 4
    assert json.loads((job.job_dir / "job.json").read_text())["cwd"] == os.getcwd()
    assert Path(job.job_dir).parent == tmp_path.resolve()
