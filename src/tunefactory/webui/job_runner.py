"""``python -m tunefactory.webui.job_runner <job_dir>``: run one job's command and record how it ended.

`JobStore.start` launches this in a session of its own, so the job outlives the web server. The runner

1. records its pid and start time in runner.json (the start time tells a reused pid apart),
2. starts the command of job.json in the server's working folder, stdout and stderr appended to output.log,
   with PYTHONUNBUFFERED=1 so the log follows the run line by line,
3. records the command's pid in runner.json (an abort signals it there) and forwards SIGTERM/SIGINT it receives,
4. waits, then writes exit.json with the return code (negative: killed by that signal).

An abort requested before the command started (the abort file, or a signal) means it never starts.
It imports only the standard library and `jobs`, so it starts in a fraction of a second.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from .jobs import (
    ABORT_FILE,
    EXIT_FILE,
    JOB_FILE,
    LOG_FILE,
    RUNNER_FILE,
    process_start_time,
    read_json,
    write_json_atomically,
)

FORWARDED_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class SignalForwarder:
    """Passes the signals this process receives to the command; keeps those that arrive before it starts."""

    def __init__(self):
        self.child: subprocess.Popen | None = None
        self.early: list[int] = []

    def install(self) -> None:
        for signum in FORWARDED_SIGNALS:
            signal.signal(signum, self.handle)

    def handle(self, signum, frame) -> None:
        if self.child is None:
            self.early.append(signum)
        else:
            self.child.send_signal(signum)

    def attach(self, child: subprocess.Popen) -> None:
        self.child = child
        for signum in self.early:
            child.send_signal(signum)


def run_job(job_dir: Path) -> int:
    """Run the command of ``job_dir/job.json``; its return code."""
    record = read_json(job_dir / JOB_FILE)
    if record is None:
        print(f"job_runner: no readable {job_dir / JOB_FILE}", file=sys.stderr)
        return 2
    forwarder = SignalForwarder()
    forwarder.install()
    runner = {"pid": os.getpid(), "start_time": process_start_time(os.getpid())}
    write_json_atomically(job_dir / RUNNER_FILE, runner)
    returncode = run_command(job_dir, record, runner, forwarder)
    write_json_atomically(job_dir / EXIT_FILE, {"returncode": returncode, "ended": time.time()})
    return 0


def run_command(job_dir: Path, record: dict, runner: dict, forwarder: SignalForwarder) -> int:
    with (job_dir / LOG_FILE).open("ab") as log:
        if (job_dir / ABORT_FILE).exists() or forwarder.early:
            log.write(b"aborted before the command started\n")
            return -signal.SIGTERM
        try:
            child = subprocess.Popen(record["argv"], cwd=record.get("cwd"), stdin=subprocess.DEVNULL, stdout=log,
                                     stderr=subprocess.STDOUT,
                                     env={**os.environ, **record.get("env", {}), "PYTHONUNBUFFERED": "1"})
        except OSError as exc:  # no such program or working folder: say so where the user looks
            log.write(f"could not start {record['argv']}: {exc}\n".encode())
            return 127
        runner.update(child_pid=child.pid, child_start_time=process_start_time(child.pid))
        write_json_atomically(job_dir / RUNNER_FILE, runner)
        forwarder.attach(child)
        return child.wait()


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m tunefactory.webui.job_runner <job_dir>", file=sys.stderr)
        return 2
    return run_job(Path(argv[0]))


if __name__ == "__main__":
    raise SystemExit(main())
