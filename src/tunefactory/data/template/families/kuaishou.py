"""Kuaishou's Keye formats."""

from __future__ import annotations

from ..core import Template
from ._slots import QWEN

TEMPLATES: list[Template] = [
    Template("keye_vl", **QWEN, reasoning=True, multimodal="qwen2_vl", family="Kwai Keye-VL"),
]
