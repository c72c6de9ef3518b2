"""Fixtures for the end-to-end tests."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(scope="module", autouse=True)
def one_cpu_thread():
    """Tiny models train faster on one thread, and far faster when other work shares the cores (no thread thrash)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
