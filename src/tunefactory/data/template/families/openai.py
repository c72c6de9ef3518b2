"""OpenAI's open-weight formats (Harmony)."""

from __future__ import annotations

from ..core import Template
from ._slots import C, EOS

TEMPLATES = [
    Template("gpt_oss", system=f"<|start|>system<|message|>{C}<|end|>", user=f"<|start|>user<|message|>{C}<|end|>",
             generation_prompt="<|start|>assistant", assistant=f"{C}{EOS}", reasoning=True,
             thought_words=("<|channel|>analysis<|message|>", "<|end|><|start|>assistant"),
             answer_header="<|channel|>final<|message|>",
             stop_words=("<|return|>", "<|call|>"),
             default_system="You are ChatGPT, a large language model trained by OpenAI.", family="gpt-oss",
             notes=("A subset of OpenAI's Harmony format: no developer message, reasoning-effort line or "
                    "commentary channel; every answer ends with EOS (`<|return|>`).",)),
]
