"""Training, evaluation and export jobs that outlive the web page and the web server.

A job is a folder, ``<root>/<job_id>/``:

    job.json             what was started: kind, label, output_dir, creation time, the command and its cwd
    training_args.yaml   the config (``export_args.yaml`` for an export): ``tunefactory train <it>`` reruns it by hand
    output.log           the command's stdout and stderr (a file: nothing blocks when nobody reads it)
    runner.json          pid and start time of the runner, and of the command once it started
    abort                written when an abort is requested
    exit.json            the command's return code, written when it ends

``JobStore.start`` launches ``python -m tunefactory.webui.job_runner <job_dir>`` in a session of its own; the
runner starts the command, waits for it and writes exit.json. So a job goes on when the page is closed or the
server stops, and a new server finds every job again with ``JobStore(root).list()``.

Status, from the files alone: exit.json -> aborted (abort requested), finished (return code 0) or failed;
no exit.json and the runner alive -> running; otherwise lost (the runner was killed, e.g. the machine restarted).
Nothing here imports gradio.
"""

from __future__ import annotations

import json
import os
import secrets
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

# job kind -> tunefactory subcommand (an evaluation is a `train` config with do_eval/do_predict)
JOB_KINDS = {"train": "train", "eval": "train", "export": "export"}
JOB_FILE = "job.json"
RUNNER_FILE = "runner.json"
EXIT_FILE = "exit.json"
ABORT_FILE = "abort"
LOG_FILE = "output.log"
RUNNER_START_TIMEOUT = 10.0  # seconds start() waits for the runner to record its pid


class UnknownJob(KeyError):
    """No job folder with that id (or an unreadable job.json)."""

    def __str__(self) -> str:  # KeyError would show the message quoted
        return str(self.args[0])


@dataclass
class Job:
    id: str
    kind: str
    label: str
    output_dir: str
    created: float
    job_dir: Path

    @property
    def config_path(self) -> Path:
        return self.job_dir / ("export_args.yaml" if self.kind == "export" else "training_args.yaml")

    @property
    def log_path(self) -> Path:
        return self.job_dir / LOG_FILE

    @property
    def argv(self) -> list[str]:
        return [sys.executable, "-m", "tunefactory", JOB_KINDS[self.kind], str(self.config_path)]

    def command_line(self) -> str:
        """The command a user would type to run this job in a terminal."""
        return shlex.join(["tunefactory", JOB_KINDS[self.kind], str(self.config_path)])

    @property
    def returncode(self) -> int | None:
        ended = read_json(self.job_dir / EXIT_FILE)
        return None if ended is None else ended.get("returncode")

    @property
    def abort_requested(self) -> bool:
        return (self.job_dir / ABORT_FILE).exists()

    def status(self) -> str:
        """running | finished | failed | aborted | lost (see the module docstring)."""
        ended = read_json(self.job_dir / EXIT_FILE)
        if ended is not None:
            if self.abort_requested:
                return "aborted"
            return "finished" if ended.get("returncode") == 0 else "failed"
        runner = read_json(self.job_dir / RUNNER_FILE) or {}
        if runner.get("pid") and is_same_process(runner["pid"], runner.get("start_time")):
            return "running"
        return "lost"

    def log_tail(self, max_bytes: int = 20000) -> str:
        """The end of output.log, from the first whole line within its last ``max_bytes``."""
        try:
            with self.log_path.open("rb") as log:
                size = log.seek(0, os.SEEK_END)
                log.seek(max(size - max_bytes, 0))
                tail = log.read()
        except FileNotFoundError:
            return ""
        if size > max_bytes and b"\n" in tail:
            tail = tail[tail.index(b"\n") + 1:]
        return tail.decode("utf-8", errors="replace")

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "label": self.label, "output_dir": self.output_dir,
                "created": self.created}

    @classmethod
    def load(cls, job_dir: Path) -> Job | None:
        """The job recorded in ``job_dir/job.json``, or None when there is no readable one."""
        record = read_json(job_dir / JOB_FILE)
        try:
            return cls(id=record["id"], kind=record["kind"], label=record["label"], output_dir=record["output_dir"],
                       created=float(record["created"]), job_dir=job_dir)
        except (TypeError, KeyError, ValueError):
            return None


class JobStore:
    """The jobs under ``root``, one folder each.

    ``command_for(job)`` gives the command a new job runs (default: ``job.argv``); tests pass a fake one.
    """

    def __init__(self, root: str | Path, command_for: Callable[[Job], list[str]] | None = None):
        self.root = Path(root).resolve()
        self.command_for = command_for or (lambda job: job.argv)
        self._runners: list[subprocess.Popen] = []  # polled now and then, so ended runners leave no zombies

    def start(self, kind: str, config: dict, label: str = "", env: dict[str, str] | None = None) -> Job:
        """Write the config and job.json, launch the runner and return once it has recorded its pid.

        ``env``: variables the command gets on top of the server's (e.g. USE_MODELSCOPE_HUB=1 for the hub picked)."""
        if kind not in JOB_KINDS:
            raise ValueError(f"unknown job kind {kind!r}; choose one of {', '.join(JOB_KINDS)}")
        output_dir = config.get("export_dir" if kind == "export" else "output_dir") or ""
        job = self._new_job(kind, label, str(output_dir))
        job.config_path.write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True), encoding="utf-8")
        write_json_atomically(job.job_dir / JOB_FILE,
                              {**job.to_json(), "argv": self.command_for(job), "cwd": os.getcwd(),
                               "env": dict(env or {})})
        runner = subprocess.Popen(
            [sys.executable, "-m", "tunefactory.webui.job_runner", str(job.job_dir)], start_new_session=True,
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, close_fds=True)
        self._runners.append(runner)
        self._wait_for_runner(job, runner)
        return job

    def list(self) -> list[Job]:
        """Every readable job, newest first."""
        self._reap_runners()
        if not self.root.is_dir():
            return []
        jobs = [Job.load(entry) for entry in self.root.iterdir() if entry.is_dir()]
        return sorted((job for job in jobs if job is not None), key=lambda job: (job.created, job.id), reverse=True)

    def get(self, job_id: str) -> Job:
        self._reap_runners()
        job = None
        if job_id and Path(job_id).name == job_id and job_id not in (".", ".."):  # an id, never a path
            job = Job.load(self.root / job_id)
        if job is None:
            raise UnknownJob(f"no job {job_id!r} in {self.root}")
        return job

    def abort(self, job_id: str, force: bool = False) -> None:
        """Ask a running job to stop: SIGTERM to its command (training saves a checkpoint, then stops).

        ``force`` sends SIGKILL instead, for a command that does not stop. Nothing happens for a job not running.
        """
        job = self.get(job_id)
        if job.status() != "running":
            return
        (job.job_dir / ABORT_FILE).write_text(f"{time.time()}\n", encoding="utf-8")
        runner = read_json(job.job_dir / RUNNER_FILE) or {}
        child = runner.get("child_pid")
        if child and is_same_process(child, runner.get("child_start_time")):
            send_signal(child, signal.SIGKILL if force else signal.SIGTERM)
        else:  # the command has not started yet: the runner sees the abort file and never starts it
            send_signal(runner["pid"], signal.SIGTERM)

    def _new_job(self, kind: str, label: str, output_dir: str) -> Job:
        self.root.mkdir(parents=True, exist_ok=True)
        while True:
            created = time.time()
            job_id = f"{time.strftime('%Y%m%d-%H%M%S', time.localtime(created))}-{secrets.token_hex(2)}"
            try:
                (self.root / job_id).mkdir()
            except FileExistsError:  # the same second and the same random suffix: draw again
                continue
            return Job(job_id, kind, label, output_dir, created, self.root / job_id)

    def _wait_for_runner(self, job: Job, runner: subprocess.Popen) -> None:
        # Until the runner records its pid the job would read as lost.
        deadline = time.monotonic() + RUNNER_START_TIMEOUT
        while not (job.job_dir / RUNNER_FILE).exists() and runner.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)

    def _reap_runners(self) -> None:
        self._runners = [runner for runner in self._runners if runner.poll() is None]


def send_signal(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except ProcessLookupError:  # it ended meanwhile
        pass


def process_start_time(pid: int) -> int | None:
    """When the process started (field 22 of /proc/<pid>/stat, in clock ticks after boot); None when it is gone
    or a zombie. With the pid it names one process: a pid reused after a restart has another start time."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2:].split()  # the command name in parentheses may hold spaces
    return None if fields[0] == "Z" else int(fields[19])


def is_same_process(pid: int, start_time: int | None) -> bool:
    """Whether the process ``pid`` that started at ``start_time`` still runs."""
    if not Path("/proc/self/stat").exists():  # not Linux: no start time to compare, trust the pid
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    return start_time is not None and process_start_time(pid) == start_time


def read_json(path: Path) -> dict | None:
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def write_json_atomically(path: Path, record: dict) -> None:
    """Readers polling the file see the old content or the new, never half of it."""
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    os.replace(temporary, path)
