"""Mistral AI's formats ([INST] turns; tokenizer v1-v3 and tekken)."""

from __future__ import annotations

from ..core import Template
from ._slots import C, BOS, EOS

TEMPLATES = [
    Template("mistral", prefix=BOS, user=f"[INST] {C}[/INST]", assistant=f" {C}{EOS}",
             function=f"[TOOL_CALLS] {C}{EOS}", system=f"{C}\n\n", system_in_user=True,
             observation=f'[TOOL_RESULTS] {{"content": {C}}}[/TOOL_RESULTS]', tool_format="mistral",
             family="Mistral 7B Instruct v0.1-v0.3, Mixtral (tokenizer v1-v3)",
             notes=("The system prompt opens the first user message; Mistral's v0.3 template puts it (and the "
                    "tool list) before the last user message instead, which would change earlier turns' ids.",)),
    Template("ministral", prefix=BOS, user=f"[INST]{C}[/INST]", assistant=f"{C}{EOS}",
             function=f"[TOOL_CALLS]{C}{EOS}", system=f"{C}\n\n", system_in_user=True,
             observation=f'[TOOL_RESULTS]{{"content": {C}}}[/TOOL_RESULTS]', tool_format="mistral",
             family="Ministral, Mistral NeMo, Mistral Small (tekken tokenizer)"),
]
