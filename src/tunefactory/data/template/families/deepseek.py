"""DeepSeek's formats."""

from __future__ import annotations

from ..core import Template
from ._slots import C, BOS, EOS, DEEPSEEK3, LF_SPACE_NOTE

DEEPSEEKCODER_SYSTEM = (
    "You are an AI programming assistant, utilizing the Deepseek Coder model, developed by Deepseek Company, "
    "and you only answer questions related to computer science. For politically sensitive questions, security "
    "and privacy issues, and other non-computer science questions, you will refuse to answer\n"
)
_R1_NOTES = (
    "DeepSeek-R1's template drops every thought and writes no empty block; we keep the final answer's thought "
    "(or an empty '<think>\\n\\n</think>\\n\\n') so reasoning can be trained.",
    "Its DeepSeek tool-call tokens (<｜tool▁calls▁begin｜>…) have no tool format here yet.",
)

TEMPLATES = [
    Template("deepseek", prefix=BOS, system=f"{C}\n\n", user=f"User: {C}\n\n", generation_prompt="Assistant:",
             assistant=f" {C}{EOS}", family="DeepSeek LLM / MoE chat (v1)", notes=(LF_SPACE_NOTE,)),
    Template("deepseekcoder", prefix=BOS, user=f"### Instruction:\n{C}\n", generation_prompt="### Response:\n",
             assistant=f"{C}\n<|EOT|>\n", default_system=DEEPSEEKCODER_SYSTEM, stop_words=("<|EOT|>",),
             family="DeepSeek-Coder instruct (1.3b, 6.7b, 33b)", notes=(
                 "The official default system prompt has no final period and the generation prompt ends with "
                 "a newline ('### Response:\\n'); LLaMA-Factory adds the period and moves the newline into "
                 "the answer.",)),
    Template("deepseek3", **DEEPSEEK3, family="DeepSeek-V2.5, V3",
             notes=("DeepSeek-V3's tool-call tokens (<｜tool▁calls▁begin｜>…, <｜tool▁outputs▁begin｜>…) have no tool "
                    "format here yet, so tools are described in the ReAct `default` format.",)),
    Template("deepseekr1", **DEEPSEEK3, reasoning=True, generation_opener="<think>\n",
             family="DeepSeek-R1 and its distilled models", notes=_R1_NOTES),
    Template("deepseekr1_0528", prefix=BOS, user=f"<｜User｜>{C}<｜Assistant｜>", reasoning=True,
             family="DeepSeek-R1-0528", notes=(
                 *_R1_NOTES, "Unlike the first R1, every user turn ends with '<｜Assistant｜>' (also without a "
                 "generation prompt) and the prompt has no forced '<think>\\n'.")),
]
