"""01.AI's Yi formats."""

from __future__ import annotations

from ..core import Template
from ._slots import C, CHATML

TEMPLATES = [
    Template("yi", **dict(CHATML, system=C), stop_words=("<|im_end|>",), family="Yi-1.5 chat",
             notes=("The system prompt is written bare before the first turn, as Yi-1.5's chat template does; "
                    "LLaMA-Factory wraps it in a ChatML system turn (that is `yi_legacy`).",)),
    Template("yi_legacy", **CHATML, stop_words=("<|im_end|>",), replace_eos=True,
             family="Yi-6B/34B-Chat (before Yi-1.5): plain ChatML"),
    Template("yi_vl", user=f"### Human: {C}\n", generation_prompt="### Assistant:", assistant=f"{C}\n",
             default_system=("This is a chat between an inquisitive human and an AI assistant. "
                             "Assume the role of the AI assistant. Read all the images carefully, "
                             "and respond to the human's questions with informative, helpful, detailed and polite "
                             "answers. 这是一个好奇的人类和一个人工智能助手之间的对话。假设你扮演这个AI助手的角色。"
                             "仔细阅读所有的图像，并对人类的问题做出信息丰富、有帮助、详细的和礼貌的回答。\n\n"),
             stop_words=("###",), efficient_eos=True, multimodal="llava", family="Yi-VL"),
]
