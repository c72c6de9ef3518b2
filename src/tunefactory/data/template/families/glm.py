"""Zhipu's ChatGLM / GLM formats."""

from __future__ import annotations

from ..core import Template
from ._slots import C, GLM

TEMPLATES = [
    Template("chatglm3", **dict(GLM, prefix="[gMASK]sop", system=f"<|system|>\n {C}", user=f"<|user|>\n {C}",
                                assistant=f"\n {C}", observation=f"<|observation|>\n {C}"), family="ChatGLM3",
             notes=("Each role tag is followed by a newline and a space, as in ChatGLM3's template; "
                    "LLaMA-Factory omits the space.",)),
    Template("glm4", **dict(GLM, prefix="[gMASK]<sop>"), family="GLM-4-9B-Chat, GLM-4-0414"),
]
