"""LLaVA-family formats (the LLaVA, LLaVA-NeXT and Video-LLaVA checkpoints on their base models' formats)."""

from __future__ import annotations

from ..core import Template
from ._slots import VICUNA

TEMPLATES = [
    Template("llava", **VICUNA, multimodal="llava", family="LLaVA-1.5 (Vicuna format with <image>)"),
]
