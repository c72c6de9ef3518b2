"""Shanghai AI Lab's InternLM / InternVL / Intern-S1 formats."""

from __future__ import annotations

from ..core import Template
from ._slots import BOS, CHATML

INTERN = dict(CHATML, prefix=BOS, stop_words=("<|im_end|>",))

TEMPLATES = [
    Template("intern2", **INTERN, family="InternLM2, InternLM2.5",
             notes=("The official chat template has no default system prompt; LLaMA-Factory writes InternLM's "
                    "meta instruction (the one its `chat()` method uses). We follow the template.",)),
    Template("intern_vl", **INTERN, multimodal="intern_vl",
             family="InternVL 2, InternVL 2.5 (InternLM2-based; InternVL 3 ships the Qwen2.5 format)",
             notes=("The official chat template has no default system prompt; LLaMA-Factory writes InternVL's "
                    "('你是书生·万象…', the one its `chat()` method uses). We follow the template.",)),
    Template("intern_s1", **INTERN, multimodal="intern_vl", family="Intern-S1, Intern-S1-mini"),
]
