"""Alibaba's Qwen formats (ChatML with Hermes-style tool calls), text and multimodal."""

from __future__ import annotations

from ..core import Template
from ._slots import QWEN

TEMPLATES = [
    Template("qwen", **QWEN, default_system="You are Qwen, created by Alibaba Cloud. You are a helpful assistant.",
             family="Qwen1.5, Qwen2, Qwen2.5 (and their Coder/Math variants)"),
    Template("qwen3", **QWEN, reasoning=True, family="Qwen3 (hybrid thinking)"),
    Template("qwen3_nothink", **QWEN, family="Qwen3 Instruct-2507 and other Qwen3 models used without thinking"),
    Template("qwen2_vl", **QWEN, default_system="You are a helpful assistant.", multimodal="qwen2_vl",
             family="Qwen2-VL, Qwen2.5-VL"),
]
