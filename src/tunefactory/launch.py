"""Start `tunefactory train` on more than one process, with the field's launchers (LLaMA-Factory's conventions).

- Already inside a launcher (``torchrun``, ``accelerate launch``, ``deepspeed``: ``LOCAL_RANK`` or
  ``WORLD_SIZE`` is set): train in this process; the Trainer joins the process group.
- ``FORCE_TORCHRUN=1``, or more than one GPU visible: relaunch this same command under ``torchrun``
  with ``NNODES``, ``NODE_RANK``, ``NPROC_PER_NODE`` (default: the GPUs visible), ``MASTER_ADDR``
  (default 127.0.0.1) and ``MASTER_PORT`` (default: a free port).
- Otherwise: one process.

``USE_RAY=1`` is handled by the train command itself (Ray Train starts the workers), never torchrun.

A SIGTERM to the relaunching process (the web board's Abort) is passed on to torchrun, which passes it to the
workers: they save a checkpoint and stop, as a single process does (train.callbacks.StopOnSignal).
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys

from .env_flags import env_flag

logger = logging.getLogger(__name__)

LAUNCHER_VARIABLES = ("LOCAL_RANK", "WORLD_SIZE")


def inside_launcher(environ=None) -> bool:
    environ = os.environ if environ is None else environ
    return any(variable in environ for variable in LAUNCHER_VARIABLES)


def visible_gpus() -> int:
    try:
        import torch

        return torch.cuda.device_count() if torch.cuda.is_available() else 0
    except ImportError:  # pragma: no cover - torch is a dependency
        return 0


def should_relaunch(environ=None) -> bool:
    environ = os.environ if environ is None else environ
    if inside_launcher(environ) or env_flag("USE_RAY", environ=environ):
        return False
    return env_flag("FORCE_TORCHRUN", environ=environ) or visible_gpus() > 1


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("", 0))
        return sock.getsockname()[1]


def torchrun_command(argv: list[str], environ=None) -> list[str]:
    """``python -m torch.distributed.run … -m tunefactory.cli train <argv>`` from the launch variables."""
    environ = os.environ if environ is None else environ
    nproc = environ.get("NPROC_PER_NODE") or str(max(visible_gpus(), 1))
    return [sys.executable, "-m", "torch.distributed.run",
            "--nnodes", environ.get("NNODES", "1"), "--node_rank", environ.get("NODE_RANK", "0"),
            "--nproc_per_node", nproc, "--master_addr", environ.get("MASTER_ADDR", "127.0.0.1"),
            "--master_port", environ.get("MASTER_PORT") or str(free_port()),
            "-m", "tunefactory.cli", "train", *argv]


def relaunch_with_torchrun(argv: list[str]) -> int:
    command = torchrun_command(argv)
    logger.info("starting %s process(es) per node with torchrun: %s", command[command.index("--nproc_per_node") + 1],
                " ".join(command[1:]))
    process = subprocess.Popen(command)
    # Without this the relaunching process would die on SIGTERM and leave torchrun and its workers running.
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: process.send_signal(signum))
    try:
        return process.wait()
    finally:
        signal.signal(signal.SIGTERM, previous)
