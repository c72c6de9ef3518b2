"""IBM's Granite formats."""

from __future__ import annotations

from ..core import Template
from ._slots import C

TEMPLATES = [
    Template("granite3", system=f"<|start_of_role|>system<|end_of_role|>{C}<|end_of_text|>\n",
             user=f"<|start_of_role|>user<|end_of_role|>{C}<|end_of_text|>\n",
             generation_prompt="<|start_of_role|>assistant<|end_of_role|>", assistant=f"{C}<|end_of_text|>\n",
             observation=f"<|start_of_role|>tool_response<|end_of_role|>{C}<|end_of_text|>\n",
             family="IBM Granite 3.0-3.3 instruct",
             notes=("Tool results use Granite's `tool_response` role; LLaMA-Factory writes them as user turns.",)),
]
