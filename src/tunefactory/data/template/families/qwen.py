"""Alibaba's Qwen formats (ChatML with Hermes-style tool calls), text and multimodal, and Qwen-based Sailor."""

from __future__ import annotations

from ..core import Template
from ._slots import CHATML, QWEN

HELPFUL = "You are a helpful assistant."
THINK_OPENER = "<think>\n"  # these templates open the thought in the generation prompt; the model continues it
EMPTY_THOUGHT_NOTE = ("As {model}'s template the final answer (after the last user message) carries an empty "
                      "'<think>\\n\\n</think>\\n\\n' block and the generation prompt is a bare assistant header; "
                      "LLaMA-Factory writes plain answers.")
QWEN3_5_TOOLS_NOTE = ("Qwen3.5 writes tool calls as XML (<function=...><parameter=...>) after its own tool prompt; "
                      "we write Hermes JSON calls (the qwen tool format).")

TEMPLATES = [
    Template("qwen", **QWEN, default_system="You are Qwen, created by Alibaba Cloud. You are a helpful assistant.",
             family="Qwen1.5, Qwen2, Qwen2.5 (and their Coder/Math variants)"),
    Template("qwen3", **QWEN, reasoning=True, family="Qwen3 (hybrid thinking)"),
    Template("qwen3_nothink", **QWEN, family="Qwen3 Instruct-2507 and other Qwen3 models used without thinking"),
    Template("qwen3_instruct", **QWEN, reasoning=True, family="Qwen3-*-Instruct-2507 (no thinking)",
             notes=(EMPTY_THOUGHT_NOTE.format(model="Qwen3-*-Instruct-2507"),)),
    Template("qwen_thinking", **QWEN, generation_opener=THINK_OPENER, reasoning=True,
             family="Qwen3-*-Thinking-2507 (always thinks)"),
    Template("qwq", **QWEN, generation_opener=THINK_OPENER, family="QwQ-32B",
             notes=("Answers are written as given: the official template also drops the thoughts "
                                       "of answers before the last message; keep them out of history yourself.")),
    Template("qwq_preview", **QWEN, family="QwQ-32B-Preview",
             default_system="You are a helpful and harmless assistant. You are Qwen developed by Alibaba. "
                            "You should think step-by-step."),
    Template("qwen3_5", **QWEN, generation_opener=THINK_OPENER, reasoning=True, multimodal="qwen3_vl",
             family="Qwen3.5 (hybrid thinking)",
             notes=(QWEN3_5_TOOLS_NOTE,)),
    Template("qwen3_5_nothink", **QWEN, reasoning=True, enable_thinking=False, multimodal="qwen3_vl",
             family="Qwen3.5 with thinking off",
             notes=("LLaMA-Factory writes plain answers; as the official template with enable_thinking=false we "
                    "write the empty thought block '<think>\\n\\n</think>\\n\\n' before the final answer and drop "
                    "thoughts.", QWEN3_5_TOOLS_NOTE)),
    Template("qwen3_6", **QWEN, generation_opener=THINK_OPENER, reasoning=True, multimodal="qwen3_vl", family="Qwen3.6",
             notes=(QWEN3_5_TOOLS_NOTE,)),
    Template("qwen2_vl", **QWEN, default_system=HELPFUL, multimodal="qwen2_vl", family="Qwen2-VL, Qwen2.5-VL"),
    Template("qwen3_vl", **QWEN, generation_opener=THINK_OPENER, reasoning=True, multimodal="qwen3_vl",
             family="Qwen3-VL Thinking"),
    Template("qwen3_vl_nothink", **QWEN, multimodal="qwen3_vl", family="Qwen3-VL Instruct"),
    Template("qwen2_audio", **CHATML, default_system=HELPFUL, stop_words=("<|im_end|>",), replace_eos=True,
             multimodal="qwen2_audio", family="Qwen2-Audio"),
    Template("qwen2_omni", **QWEN, default_system=HELPFUL, multimodal="qwen2_omni", family="Qwen2.5-Omni"),
    Template("qwen3_omni", **QWEN, reasoning=True, multimodal="qwen2_omni", family="Qwen3-Omni Thinking",
             notes=("As Qwen3-Omni-Thinking's template the generation prompt is a bare assistant header (Qwen3's "
                    "hybrid format); it does not open '<think>\\n' as the Qwen3 Thinking-2507 templates do.",)),
    Template("qwen3_omni_nothink", **QWEN, reasoning=True, multimodal="qwen2_omni", family="Qwen3-Omni Instruct",
             notes=(EMPTY_THOUGHT_NOTE.format(model="Qwen3-Omni-Instruct"),)),
    Template("sailor", system="<|im_start|>system\n{{content}}<|im_end|>\n",
             user="<|im_start|>question\n{{content}}<|im_end|>\n", generation_prompt="<|im_start|>answer\n",
             assistant="{{content}}<|im_end|>\n", stop_words=("<|im_end|>",), replace_eos=True,
             default_system="You are an AI assistant named Sailor created by Sea AI Lab. "
                            "Your answer should be friendly, unbiased, faithful, informative and detailed.",
             family="Sailor chat (Qwen1.5-based; question/answer roles)"),
]
