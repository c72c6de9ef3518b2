"""DeepSeek's formats."""

from __future__ import annotations

from ..core import Template
from ._slots import C, BOS, EOS, DEEPSEEK3, LF_SPACE_NOTE

TEMPLATES = [
    Template("deepseek", prefix=BOS, system=f"{C}\n\n", user=f"User: {C}\n\n", generation_prompt="Assistant:",
             assistant=f" {C}{EOS}", family="DeepSeek LLM / MoE chat (v1)", notes=(LF_SPACE_NOTE,)),
    Template("deepseek3", **DEEPSEEK3, family="DeepSeek-V2.5, V3"),
    Template("deepseekr1", **DEEPSEEK3, reasoning=True, family="DeepSeek-R1 and its distilled models"),
]
