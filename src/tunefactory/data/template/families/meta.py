"""Meta's Llama formats."""

from __future__ import annotations

from ..core import Template
from ._slots import C, BOS, EOS, LLAMA3

LLAMA2 = dict(user=f"{BOS}[INST] {C} [/INST]", assistant=f" {C} {EOS}", system=f"<<SYS>>\n{C}\n<</SYS>>\n\n",
              system_in_user=True)
LLAMA2_SPACING = ("Answers are written ` answer </s>` (spaces on both sides) as in Meta's template; "
                  "LLaMA-Factory writes `answer</s>`.")
LLAMA3_NO_DATE = ("Without tools no `Cutting Knowledge Date` header is written (Llama 3.0 format); with tools "
                  "the 3.1 JSON tool prompt (`Environment: ipython`, tools before the system text, as with "
                  "`tools_in_user_message=false`) uses the fixed date 26 Jul 2024, the official template's default, "
                  "so renders are reproducible (LLaMA-Factory uses today's date).")

TEMPLATES = [
    Template("llama2", **LLAMA2, family="Llama 2 chat", notes=(LLAMA2_SPACING,)),
    Template("llama2_zh", **LLAMA2, default_system="You are a helpful assistant. 你是一个乐于助人的助手。",
             family="Chinese-LLaMA-2 / Chinese-Alpaca-2 (Llama 2 format, Chinese default system prompt)",
             notes=(LLAMA2_SPACING,)),
    Template("llama3", **LLAMA3, family="Llama 3, 3.1, 3.2, 3.3 Instruct", notes=(LLAMA3_NO_DATE,)),
    Template("llama3_zh", **LLAMA3, default_system="You are a helpful assistant.",
             family="Llama3-Chinese chat models (Llama3-8B-Chinese-Chat: Llama 3 format with a default system prompt)",
             notes=("Llama3-8B-Chinese-Chat's template writes `You are a helpful assistant.` when no system prompt "
                    "is given; LLaMA-Factory's `llama3` template (which it maps the model to) writes none.",)),
    Template("llama4", prefix=BOS, system=f"<|header_start|>system<|header_end|>\n\n{C}<|eot|>",
             user=f"<|header_start|>user<|header_end|>\n\n{C}<|eot|>",
             generation_prompt="<|header_start|>assistant<|header_end|>\n\n", assistant=f"{C}<|eot|>",
             observation=f"<|header_start|>ipython<|header_end|>\n\n{C}<|eot|>", tool_format="llama3",
             stop_words=("<|eot|>", "<|eom|>"), replace_eos=True, multimodal="llama4", family="Llama 4",
             notes=("Tools use the Llama 3.1 JSON prompt in the system message (the `llama3` tool format); Llama 4's "
                    "template puts the tool list in the first user message, wraps calls in "
                    "`<|python_start|><|python_end|>` and JSON-quotes string tool results.",)),
    Template("mllama", **LLAMA3, multimodal="mllama", family="Llama 3.2 Vision Instruct",
             notes=("Written in the Llama 3.0 format like `llama3`: Llama 3.2 Vision's own template adds a system "
                    "block with `Cutting Knowledge Date` and today's date to text-only chats (and none when "
                    "there are images), which LLaMA-Factory does not write either; its tool list goes in the first "
                    "user message, ours in the system message.",)),
]
