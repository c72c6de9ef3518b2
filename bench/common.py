"""Shared by every benchmark: where results go and what is recorded beside the figures.

A benchmark is a plain script `bench/bench_<name>.py` whose `main()` returns a dict of
figures; `write_result` stores it as JSON in bench/results/ with the machine and versions,
so runs can be compared. Benchmarks never assert times.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import time
from importlib import metadata
from pathlib import Path

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def machine() -> dict:
    versions = {}
    for name in ("torch", "transformers", "datasets", "accelerate", "peft", "trl", "tunefactory"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {"platform": platform.platform(), "python": platform.python_version(), "cpus": os.cpu_count(),
            "versions": versions}


def peak_rss_mib() -> float:
    """Peak resident memory of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed(function, repeat: int = 3) -> float:
    """Best wall time of `repeat` calls, in seconds."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - start)
    return best


def write_result(name: str, figures: dict, out_dir: Path = RESULTS_DIR, path: Path | None = None) -> Path:
    """Store the figures with the machine, versions and the load average at the end (other work skews timings),
    in ``out_dir/<name>.json`` or at ``path``."""
    path = path or out_dir / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {"benchmark": name, "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
              "machine": {**machine(), "load_average_after": os.getloadavg()}, "figures": figures}
    path.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return path
