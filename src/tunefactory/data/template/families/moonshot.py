"""Moonshot AI's Kimi / Moonlight formats."""

from __future__ import annotations

from ..core import Template
from ._slots import C

KIMI = dict(system=f"<|im_system|>system<|im_middle|>{C}<|im_end|>",
            user=f"<|im_user|>user<|im_middle|>{C}<|im_end|>",
            generation_prompt="<|im_assistant|>assistant<|im_middle|>", assistant=f"{C}<|im_end|>",
            stop_words=("<|im_end|>",), replace_eos=True)

TEMPLATES: list[Template] = [
    Template("moonlight", **KIMI, default_system="You are a helpful assistant", family="Moonlight-16B-A3B-Instruct",
             notes=("As Moonlight-16B-A3B-Instruct's template the default system prompt is 'You are a helpful "
                    "assistant' (no period); LLaMA-Factory writes 'You are a helpful assistant provided by "
                    "Moonshot-AI.'.",)),
    Template("kimi_vl", **KIMI, default_system="You are a helpful assistant", multimodal="kimi_vl",
             family="Kimi-VL-A3B (Instruct, Thinking)", notes=(
                 "LLaMA-Factory treats kimi_vl as a reasoning template (an empty ◁think▷◁/think▷ block before "
                 "answers); Kimi-VL's chat template writes answers as given, and so do we.",)),
]
