"""Zhipu's ChatGLM / GLM formats."""

from __future__ import annotations

from ..core import Template
from ._slots import C, GLM

GLM4 = dict(GLM, prefix="[gMASK]<sop>")
# GLM-4.5 / 4.6: every answer opens with a (possibly empty) '<think>…</think>' block and a newline
GLM4_MOE = dict(GLM4, reasoning=True, thought_words=("<think>", "</think>\n"))
_GLM_MOE_NOTES = (
    "GLM-4.5's template gives every past answer an empty '<think></think>' block; we drop past thoughts "
    "entirely (no per-turn empty block in the core), so multi-turn history differs.",
    "With thinking off the template appends '/nothink' to user messages, which we do not write.",
    "Its XML tool calls (<tool_call>name<arg_key>…) have no tool format here yet; we use glm4's.",
)

TEMPLATES = [
    Template("chatglm3", **dict(GLM, prefix="[gMASK]sop", system=f"<|system|>\n {C}", user=f"<|user|>\n {C}",
                                assistant=f"\n {C}", observation=f"<|observation|>\n {C}"), family="ChatGLM3",
             notes=("Each role tag is followed by a newline and a space, as in ChatGLM3's template; "
                    "LLaMA-Factory omits the space.",)),
    Template("glm4", **GLM4, family="GLM-4-9B-Chat"),
    Template("glm4_0414", **GLM4, family="GLM-4-0414 chat (GLM-4-9B-0414, GLM-4-32B-0414)",
             notes=("With tools, GLM-4-0414's template writes the tool list in its own '<|system|>' block (without "
                    "the ChatGLM introduction) before the system prompt's block; we write the glm4 tool format "
                    "(GLM-4-9B-chat's: the introduction and tools after the system text, one block).",)),
    Template("glmz1", **GLM4, reasoning=True, family="GLM-Z1-0414 (reasoning)"),
    Template("glm4_moe", **GLM4_MOE, family="GLM-4.5, GLM-4.5-Air, GLM-4.6", notes=_GLM_MOE_NOTES),
    Template("glm4_5v", **GLM4_MOE, generation_opener="\n", multimodal="glm4v", family="GLM-4.5V",
             notes=_GLM_MOE_NOTES),
    Template("glm4v", **dict(GLM4, stop_words=("<|user|>", "<|observation|>", "</answer>")), generation_opener="\n",
             multimodal="glm4v", family="GLM-4.1V-Thinking",
             notes=("LLaMA-Factory treats glm4v as a reasoning template and adds an empty thought block; GLM-4.1V's "
                    "template writes each answer as given, so we do too (keep '<think>…</think><answer>…</answer>' "
                    "in the answer text).",)),
    Template("glm_ocr", **GLM4, multimodal="glm4v", family="GLM-OCR"),
    Template("glm4_7", **dict(GLM4, system=f"<|system|>{C}", user=f"<|user|>{C}",
                              generation_prompt="<|assistant|></think>", assistant=C),
             family="GLM-4.7, GLM-4.7-Flash (non-thinking mode)", notes=(
            "We write GLM-4.7's non-thinking turns (its template with enable_thinking=false: the assistant header ends "
            "'</think>'); its thinking turns (header '<think>') need a per-turn header the core lacks.",
            "Its XML tool calls (<tool_call>name<arg_key>…) have no tool format here yet; we use glm4's.")),
]
