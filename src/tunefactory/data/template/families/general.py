"""Formats not tied to one vendor: plain dialogues for base models, ChatML, and community chat formats."""

from __future__ import annotations

from ..core import Template
from ._slots import C, BOS, EOS, CHATML, VICUNA, LF_SPACE_NOTE

CHATML_TOOL = f"<|im_start|>tool\n{C}<|im_end|>\n"

TEMPLATES = [
    Template("default", system=f"System: {C}{EOS}\n", user=f"Human: {C}{EOS}\n", generation_prompt="Assistant:",
             assistant=f"{C}{EOS}\n", family="any base model (a plain Human/Assistant dialogue)"),
    Template("empty", assistant=C, family="raw text, no formatting at all"),
    Template("alpaca", user=f"### Instruction:\n{C}\n\n", generation_prompt="### Response:\n",
             assistant=f"{C}{EOS}\n\n", family="Stanford Alpaca instruction format",
             default_system=("Below is an instruction that describes a task. "
                             "Write a response that appropriately completes the request.\n\n")),
    Template("fewshot", assistant=f"{C}\n\n", efficient_eos=True,
             family="few-shot benchmark prompts for base models (`tunefactory eval`)"),
    Template("vicuna", **VICUNA, family="Vicuna v1.1 / FastChat",
             notes=("The system prompt is followed by a space and the answer follows `ASSISTANT:` after a space, "
                    "as in FastChat; LLaMA-Factory writes neither space.",)),
    Template("chatml", **CHATML, observation=f"<|im_start|>tool\n{C}<|im_end|>\n",
             stop_words=("<|im_end|>", "<|im_start|>"), replace_eos=True, family="generic ChatML models"),
    Template("zephyr", system=f"<|system|>\n{C}{EOS}\n", user=f"<|user|>\n{C}{EOS}\n",
             generation_prompt="<|assistant|>\n", assistant=f"{C}{EOS}\n",
             family="Zephyr",
             notes=("Every turn ends `</s>` plus a newline, as Zephyr's template renders; "
                    "LLaMA-Factory drops the newlines and adds a default system prompt Zephyr does not have.",)),
    Template("openchat", prefix=BOS, system=f"GPT4 Correct System: {C}{EOS}", user=f"GPT4 Correct User: {C}{EOS}",
             generation_prompt="GPT4 Correct Assistant:", assistant=f" {C}{EOS}", family="OpenChat 3.5",
             notes=(LF_SPACE_NOTE, "A system prompt is written `GPT4 Correct System: ...<|end_of_turn|>` as "
                    "OpenChat's template does; LLaMA-Factory writes it bare."),),
    Template("solar", system=f"### System:\n{C}\n\n", user=f"### User:\n{C}\n\n", generation_prompt="### Assistant:\n",
             assistant=C, efficient_eos=True, family="SOLAR-10.7B-Instruct"),
    Template("falcon", user=f"User: {C}\n", generation_prompt="Falcon:", assistant=f"{C}\n", efficient_eos=True,
             family="Falcon instruct"),
    Template("olmo", prefix=EOS, system=f"<|system|>\n{C}\n", user=f"<|user|>\n{C}\n",
             generation_prompt="<|assistant|>\n",
             assistant=f"{C}{EOS}\n", family="OLMo, OLMo 2 instruct (Tulu format)",
             notes=("User turns end with a newline and answers with EOS plus a newline, as in the Tulu/OLMo "
                    "template; LLaMA-Factory writes `<|user|>\\nhi<|assistant|>\\n`.",
                    "The final answer also ends with EOS plus a newline, where OLMo 2's template writes no newline "
                    "after the last answer.")),
    Template("smollm2", **CHATML,
             default_system="You are a helpful AI assistant named SmolLM, trained by Hugging Face",
             stop_words=("<|im_end|>",), family="SmolLM2 instruct",
             notes=("The default system prompt has no final period, as in SmolLM2's template.",)),
    Template("chatml_de", **CHATML, observation=CHATML_TOOL,
             default_system="Du bist ein freundlicher und hilfsbereiter KI-Assistent.",
             stop_words=("<|im_end|>", "<|im_start|>"), replace_eos=True,
             family="German ChatML chat models (DiscoLM German, LeoLM chat)"),
    Template("falcon_h1", prefix=BOS, **CHATML, observation=CHATML_TOOL, stop_words=("<|im_end|>", "<|end_of_text|>"),
             family="Falcon-H1 instruct"),
    Template("openchat-3.6", prefix=BOS, system=f"<|start_header_id|>System<|end_header_id|>\n\n{C}<|eot_id|>",
             user=f"<|start_header_id|>GPT4 Correct User<|end_header_id|>\n\n{C}<|eot_id|>",
             generation_prompt="<|start_header_id|>GPT4 Correct Assistant<|end_header_id|>\n\n",
             assistant=f"{C}<|eot_id|>", stop_words=("<|eot_id|>",), replace_eos=True, family="OpenChat 3.6 (Llama 3)",
             notes=("A system prompt is written under a `System` header as OpenChat 3.6 does; LLaMA-Factory writes "
                    "it bare, and ends answers with the base EOS instead of `<|eot_id|>`.",)),
    Template("smollm", **CHATML, stop_words=("<|im_end|>",), family="SmolLM instruct (v1)"),
    Template("starchat", system=f"<|system|>\n{C}<|end|>\n", user=f"<|user|>\n{C}<|end|>\n",
             generation_prompt="<|assistant|>\n", assistant=f"{C}<|end|>\n", stop_words=("<|end|>",),
             replace_eos=True, family="StarChat alpha/beta",
             notes=("The answer follows `<|assistant|>` and a newline, as in StarChat-beta's template; "
                    "LLaMA-Factory writes no newline.",)),
]
