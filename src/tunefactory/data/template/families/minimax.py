"""MiniMax's formats."""

from __future__ import annotations

from ..core import Template
from ._slots import C

MINIMAX2_SYSTEM = "You are a helpful assistant. Your name is MiniMax-M2.1 and is built by MiniMax."

TEMPLATES = [
    Template("minimax1", system=f"<beginning_of_sentence>system ai_setting=assistant\n{C}<end_of_sentence>\n",
             user=f"<beginning_of_sentence>user name=user\n{C}<end_of_sentence>\n",
             generation_prompt="<beginning_of_sentence>ai name=assistant\n", assistant=f"{C}<end_of_sentence>\n",
             observation=f"<beginning_of_sentence>tool name=tools\n{C}<end_of_sentence>\n",
             default_system="You are a helpful assistant.", stop_words=("<end_of_sentence>",),
             family="MiniMax-Text-01, MiniMax-M1",
             notes=("MiniMax-M1's tool format is not available; tools use LLaMA-Factory's ReAct style.",)),
    Template("minimax2", prefix="]~!b[", system=f"]~b]system\n{C}[e~[\n", user=f"]~b]user\n{C}[e~[\n",
             generation_prompt="]~b]ai\n", assistant=f"{C}[e~[\n",
             observation=f"]~b]tool\n<response>{C}</response>[e~[\n", default_system=MINIMAX2_SYSTEM,
             stop_words=("[e~[",), reasoning=True, generation_opener="<think>\n", family="MiniMax-M2, MiniMax-M2.1",
             notes=("A final answer without a thought gets an empty thought block (as LLaMA-Factory's reasoning "
                    "templates); MiniMax-M2's template writes the answer alone.",
                    "MiniMax-M2's XML tool-call format is not available; tools use LLaMA-Factory's ReAct style.")),
]
