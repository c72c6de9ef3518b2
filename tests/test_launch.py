"""When `tunefactory train` relaunches itself under torchrun, and with which arguments."""

from __future__ import annotations

import sys

import pytest

from tunefactory import launch


@pytest.fixture(autouse=True)
def no_gpus(monkeypatch):
    monkeypatch.setattr(launch, "visible_gpus", lambda: 0)


def test_relaunch_only_when_asked_or_with_several_gpus(monkeypatch):
    assert not launch.should_relaunch({})
    assert launch.should_relaunch({"FORCE_TORCHRUN": "1"})
    assert launch.should_relaunch({"FORCE_TORCHRUN": "true"})
    assert not launch.should_relaunch({"FORCE_TORCHRUN": "0"})
    # already started by torchrun / accelerate launch / deepspeed: train here
    assert not launch.should_relaunch({"FORCE_TORCHRUN": "1", "LOCAL_RANK": "0"})
    assert not launch.should_relaunch({"FORCE_TORCHRUN": "1", "WORLD_SIZE": "2"})
    assert not launch.should_relaunch({"FORCE_TORCHRUN": "1", "USE_RAY": "1"})  # Ray starts its own workers
    monkeypatch.setattr(launch, "visible_gpus", lambda: 2)
    assert launch.should_relaunch({})


def test_torchrun_command_follows_llamafactory_variables():
    command = launch.torchrun_command(["cfg.yaml", "learning_rate=1e-4"], {
        "NNODES": "2", "NODE_RANK": "1", "NPROC_PER_NODE": "4", "MASTER_ADDR": "10.0.0.1", "MASTER_PORT": "29501"})
    assert command == [sys.executable, "-m", "torch.distributed.run", "--nnodes", "2", "--node_rank", "1",
                       "--nproc_per_node", "4", "--master_addr", "10.0.0.1", "--master_port", "29501",
                       "-m", "tunefactory.cli", "train", "cfg.yaml", "learning_rate=1e-4"]
    defaults = launch.torchrun_command(["cfg.yaml"], {})
    assert defaults[defaults.index("--nnodes") + 1] == "1" and defaults[defaults.index("--node_rank") + 1] == "0"
    assert defaults[defaults.index("--nproc_per_node") + 1] == "1"  # no GPU: one process unless NPROC_PER_NODE
    assert defaults[defaults.index("--master_addr") + 1] == "127.0.0.1"
    assert int(defaults[defaults.index("--master_port") + 1]) > 0



def test_the_relaunching_process_passes_sigterm_on_to_torchrun(monkeypatch, tmp_path):
    """The web board's Abort signals `tunefactory train`; under torchrun the workers must hear it."""
    import os
    import signal
    import threading
    import time

    marker = tmp_path / "torchrun-got-sigterm"
    fake_torchrun = ("import pathlib, signal, sys, time\n"
                     f"signal.signal(signal.SIGTERM, lambda *_: (pathlib.Path({str(marker)!r}).touch(), sys.exit(5)))\n"
                     f"pathlib.Path({str(tmp_path / 'ready')!r}).touch()\n"
                     "time.sleep(30)\n")
    monkeypatch.setattr(launch, "torchrun_command", lambda argv: [sys.executable, "-c", fake_torchrun,
                                                                  "--nproc_per_node", "2"])
    ours = signal.getsignal(signal.SIGTERM)

    def abort_when_ready():
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if (tmp_path / "ready").exists() and signal.getsignal(signal.SIGTERM) is not ours:
                os.kill(os.getpid(), signal.SIGTERM)
                return
            time.sleep(0.01)

    threading.Thread(target=abort_when_ready, daemon=True).start()
    assert launch.relaunch_with_torchrun(["cfg.yaml"]) == 5
    assert marker.exists()
    assert signal.getsignal(signal.SIGTERM) is ours
