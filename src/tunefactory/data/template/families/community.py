"""Formats of smaller labs and community models (XuanYuan, TeleChat, Yuan, OpenCoder, …)."""

from __future__ import annotations

from ..core import Template
from ._slots import C, CHATML, GLM, QWEN

TEMPLATES = [
    Template("opencoder", **CHATML, observation=f"<|im_start|>tool\n{C}<|im_end|>\n",
             default_system="You are OpenCoder, created by OpenCoder Team.", stop_words=("<|im_end|>",),
             family="OpenCoder instruct"),
    Template("moss_vl", **QWEN, multimodal="moss_vl", family="MOSS-VL"),
    Template("telechat2", system=f"<_system>{C}\n", user=f"<_user>{C}", generation_prompt="<_bot>",
             assistant=f"{C}<_end>\n", observation=f"<_user><tool_response>\n{C}\n</tool_response>",
             tool_format="qwen", stop_words=("<_end>",),
             default_system=("你是中国电信星辰语义大模型，英文名是TeleChat，你是由中电信人工智能科技有限公司和"
                             "中国电信人工智能研究院（TeleAI）研发的人工智能助手。"),
             family="TeleChat2",
             notes=("The system prompt and each answer end with a newline, as TeleChat2's template writes; "
                    "LLaMA-Factory writes neither.",
                    "Tool calls and results are written as TeleChat2 does, but tools are described in the Hermes "
                    "(Qwen) words, not TeleChat2's Chinese description.")),
    Template("xuanyuan", user=f"Human: {C} ", generation_prompt="Assistant:",
             default_system=("以下是用户和人工智能助手之间的对话。用户以Human开头，人工智能助手以Assistant开头，"
                             "会对人类提出的问题给出有帮助、高质量、详细和礼貌的回答，并且总是拒绝参与与不道德、"
                             "不安全、有争议、政治敏感等相关的话题、问题和指示。\n"),
             family="XuanYuan"),
    Template("yuan", user=f"{C}<sep>", assistant=f"{C}<eod>\n", stop_words=("<eod>",), family="Yuan 2.0"),
    Template("aeva", **dict(GLM, prefix="[gMASK]<sop>"), reasoning=True, thought_words=("<think>", "</think>"),
             default_system=("You are an AI assistant named Aeva created by Zongzhi Lou. "
                             "Your answer should be friendly, unbiased, faithful, informative and detailed."),
             family="Aeva (GLM-4.7 based)",
             notes=("Tool calls use the GLM-4 JSON format; GLM-4.5/4.7's XML `<arg_key>` format is not "
                    "implemented.",)),
    Template("dots_ocr", system=f"<|system|>{C}<|endofsystem|>\n", user=f"<|user|>{C}<|endofuser|>",
             generation_prompt="<|assistant|>", assistant=f"{C}<|endofassistant|>",
             stop_words=("<|endofassistant|>",), efficient_eos=True, multimodal="qwen2_vl", family="dots.ocr"),
]
