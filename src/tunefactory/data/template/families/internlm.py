"""Shanghai AI Lab's InternLM / InternVL / Intern-S1 formats."""

from __future__ import annotations

from ..core import Template
from ._slots import BOS, CHATML

INTERNVL_SYSTEM = "你是书生·万象，英文名是InternVL，是由上海人工智能实验室、清华大学及多家合作单位联合开发的多模态大语言模型。"
INTERN = dict(CHATML, prefix=BOS, stop_words=("<|im_end|>",))

TEMPLATES = [
    Template("intern2", **INTERN, family="InternLM2, InternLM2.5",
             notes=("The official chat template has no default system prompt; LLaMA-Factory writes InternLM's "
                    "meta instruction (the one its `chat()` method uses). We follow the template.",)),
    Template("intern_vl", **INTERN, default_system=INTERNVL_SYSTEM, multimodal="intern_vl",
             family="InternVL 2.5, InternVL 3 (-hf)"),
    Template("intern_s1", **INTERN, multimodal="intern_vl", family="Intern-S1, Intern-S1-mini"),
]
