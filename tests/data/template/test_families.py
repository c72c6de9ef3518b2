"""Golden renders of every registered chat template, written from each family's published format.

The expected strings are not copied from what the code renders: each one was written by hand from the
family's own Hugging Face ``chat_template`` (or model card / reference code), and where a family publishes
none (default, empty, alpaca, falcon) from LLaMA-Factory's convention that the registry follows.
Every render uses ``bos="<s>"`` and ``eos="</s>"`` so their placement is visible.

Where the code deliberately departs from the published format and says so in the template's ``notes``
(Llama 3 without the date header, Vicuna/FastChat spacing, the gpt-oss Harmony subset) the expected
string follows the note. Anything else that differs from the published format is written the published
way and marked ``xfail(strict=True)`` with the reason: fix the template and the mark must go.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from tunefactory.data.template import TEMPLATES

BOS, EOS = "<s>", "</s>"
SYSTEM = "Be brief."


def user(text: str) -> dict:
    return {"role": "user", "content": text}


def assistant(text: str) -> dict:
    return {"role": "assistant", "content": text}


SINGLE = [user("Hi"), assistant("Hello!")]
MULTI = [user("Hi"), assistant("Hello!"), user("How are you?"), assistant("Fine.")]
PROMPT = [user("Hi")]

# case name -> (messages, system, add_generation_prompt)
CONVERSATIONS = {
    "single_turn": (SINGLE, None, True),
    "system": (SINGLE, SYSTEM, True),
    "multi_turn": (MULTI, SYSTEM, True),
    "generation_prompt": (PROMPT, None, True),
    "no_generation_prompt": (PROMPT, None, False),
}


@dataclasses.dataclass(frozen=True)
class Differs:
    """The published format (``expected``) that the code does not render yet, and why."""

    expected: str
    reason: str


# --- default system prompts, written out once ------------------------------------------------------

ALPACA_SYSTEM = (
    "Below is an instruction that describes a task. Write a response that appropriately completes the request.\n\n"
)
VICUNA_SYSTEM = (
    "A chat between a curious user and an artificial intelligence assistant. "
    "The assistant gives helpful, detailed, and polite answers to the user's questions."
)
QWEN_SYSTEM = "You are Qwen, created by Alibaba Cloud. You are a helpful assistant."
SMOLLM2_SYSTEM = "You are a helpful AI assistant named SmolLM, trained by Hugging Face"  # no final period
GPT_OSS_SYSTEM = "You are ChatGPT, a large language model trained by OpenAI."

# --- discrepancies with the published formats (see the module docstring) ----------------------------

MINISTRAL_SYSTEM_LAST = (
    "Mistral's tekken v3 format (Mistral-Nemo-Instruct-2407 chat_template, mistral_common) puts the system "
    "prompt before the LAST user message; the code puts it in the first"
)
DEEPSEEKR1_NO_EMPTY_THOUGHT = (
    "DeepSeek-R1's chat_template writes a plain '<｜Assistant｜>' + answer (thoughts split off); the code adds "
    "an empty '<think>\\n\\n</think>\\n\\n' block to the final answer"
)
GPT_OSS_EMPTY_ANALYSIS = (
    "Harmony (gpt-oss chat_template) writes an analysis message only when there is a thought; the code writes "
    "an empty '<|channel|>analysis<|message|><|end|>' block before the final answer"
)
GPT_OSS_FINAL_CHANNEL = (
    "Harmony writes earlier answers as '<|start|>assistant<|channel|>final<|message|>' + answer; the code "
    "drops '<|channel|>final<|message|>' (renders '<|start|>assistantHello!')"
)


# --- the table -------------------------------------------------------------------------------------

CASES: dict[str, dict[str, str | Differs]] = {
    "default": {
        "single_turn": "Human: Hi</s>\nAssistant:Hello!</s>\n",
        "system": "System: Be brief.</s>\nHuman: Hi</s>\nAssistant:Hello!</s>\n",
        "multi_turn": "System: Be brief.</s>\nHuman: Hi</s>\nAssistant:Hello!</s>\n"
                      "Human: How are you?</s>\nAssistant:Fine.</s>\n",
        "generation_prompt": "Human: Hi</s>\nAssistant:",
        "no_generation_prompt": "Human: Hi</s>\n",
    },
    "empty": {
        "single_turn": "HiHello!",
        "system": "Be brief.HiHello!",
        "multi_turn": "Be brief.HiHello!How are you?Fine.",
        "generation_prompt": "Hi",
        "no_generation_prompt": "Hi",
    },
    "alpaca": {
        "single_turn": ALPACA_SYSTEM + "### Instruction:\nHi\n\n### Response:\nHello!</s>\n\n",
        "system": "Be brief.### Instruction:\nHi\n\n### Response:\nHello!</s>\n\n",
        "multi_turn": "Be brief.### Instruction:\nHi\n\n### Response:\nHello!</s>\n\n"
                      "### Instruction:\nHow are you?\n\n### Response:\nFine.</s>\n\n",
        "generation_prompt": ALPACA_SYSTEM + "### Instruction:\nHi\n\n### Response:\n",
        "no_generation_prompt": ALPACA_SYSTEM + "### Instruction:\nHi\n\n",
    },
    "vicuna": {  # FastChat vicuna_v1.1: sep " ", sep2 "</s>", "ROLE: message"
        "single_turn": VICUNA_SYSTEM + " USER: Hi ASSISTANT: Hello!</s>",
        "system": "Be brief. USER: Hi ASSISTANT: Hello!</s>",
        "multi_turn": "Be brief. USER: Hi ASSISTANT: Hello!</s>USER: How are you? ASSISTANT: Fine.</s>",
        "generation_prompt": VICUNA_SYSTEM + " USER: Hi ASSISTANT:",
        "no_generation_prompt": VICUNA_SYSTEM + " USER: Hi ",
    },
    "llava": {  # LLaVA-1.5 trains with conv_vicuna_v1, the same format
        "single_turn": VICUNA_SYSTEM + " USER: Hi ASSISTANT: Hello!</s>",
        "system": "Be brief. USER: Hi ASSISTANT: Hello!</s>",
        "multi_turn": "Be brief. USER: Hi ASSISTANT: Hello!</s>USER: How are you? ASSISTANT: Fine.</s>",
        "generation_prompt": VICUNA_SYSTEM + " USER: Hi ASSISTANT:",
        "no_generation_prompt": VICUNA_SYSTEM + " USER: Hi ",
    },
    "chatml": {
        "single_turn": "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello!<|im_end|>\n",
        "system": "<|im_start|>system\nBe brief.<|im_end|>\n"
                  "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello!<|im_end|>\n",
        "multi_turn": "<|im_start|>system\nBe brief.<|im_end|>\n"
                      "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello!<|im_end|>\n"
                      "<|im_start|>user\nHow are you?<|im_end|>\n<|im_start|>assistant\nFine.<|im_end|>\n",
        "generation_prompt": "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n",
        "no_generation_prompt": "<|im_start|>user\nHi<|im_end|>\n",
    },
    "qwen": {  # Qwen2.5: a default system prompt when none is given
        "single_turn": "<|im_start|>system\n" + QWEN_SYSTEM + "<|im_end|>\n"
                       "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello!<|im_end|>\n",
        "system": "<|im_start|>system\nBe brief.<|im_end|>\n"
                  "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello!<|im_end|>\n",
        "multi_turn": "<|im_start|>system\nBe brief.<|im_end|>\n"
                      "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello!<|im_end|>\n"
                      "<|im_start|>user\nHow are you?<|im_end|>\n<|im_start|>assistant\nFine.<|im_end|>\n",
        "generation_prompt": "<|im_start|>system\n" + QWEN_SYSTEM + "<|im_end|>\n"
                             "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n",
        "no_generation_prompt": "<|im_start|>system\n" + QWEN_SYSTEM + "<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n",
    },
    "qwen3": {  # the final answer (after the last query) always carries a think block
        "single_turn": "<|im_start|>user\nHi<|im_end|>\n"
                       "<|im_start|>assistant\n<think>\n\n</think>\n\nHello!<|im_end|>\n",
        "system": "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
                  "<|im_start|>assistant\n<think>\n\n</think>\n\nHello!<|im_end|>\n",
        "multi_turn": "<|im_start|>system\nBe brief.<|im_end|>\n"
                      "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello!<|im_end|>\n"
                      "<|im_start|>user\nHow are you?<|im_end|>\n"
                      "<|im_start|>assistant\n<think>\n\n</think>\n\nFine.<|im_end|>\n",
        "generation_prompt": "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n",
        "no_generation_prompt": "<|im_start|>user\nHi<|im_end|>\n",
    },
    "ministral": {  # Mistral-Nemo-Instruct-2407: no spaces around [INST]…[/INST]
        "single_turn": "<s>[INST]Hi[/INST]Hello!</s>",
        "system": "<s>[INST]Be brief.\n\nHi[/INST]Hello!</s>",
        "multi_turn": Differs("<s>[INST]Hi[/INST]Hello!</s>[INST]Be brief.\n\nHow are you?[/INST]Fine.</s>",
                              MINISTRAL_SYSTEM_LAST),
        "generation_prompt": "<s>[INST]Hi[/INST]",
        "no_generation_prompt": "<s>[INST]Hi[/INST]",
    },
    "gemma": {  # no system role: it opens the first user turn, as Gemma 3's template does
        "single_turn": "<s><start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\nHello!<end_of_turn>\n",
        "system": "<s><start_of_turn>user\nBe brief.\n\nHi<end_of_turn>\n"
                  "<start_of_turn>model\nHello!<end_of_turn>\n",
        "multi_turn": "<s><start_of_turn>user\nBe brief.\n\nHi<end_of_turn>\n"
                      "<start_of_turn>model\nHello!<end_of_turn>\n"
                      "<start_of_turn>user\nHow are you?<end_of_turn>\n"
                      "<start_of_turn>model\nFine.<end_of_turn>\n",
        "generation_prompt": "<s><start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\n",
        "no_generation_prompt": "<s><start_of_turn>user\nHi<end_of_turn>\n",
    },
    "gemma3": {
        "single_turn": "<s><start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\nHello!<end_of_turn>\n",
        "system": "<s><start_of_turn>user\nBe brief.\n\nHi<end_of_turn>\n"
                  "<start_of_turn>model\nHello!<end_of_turn>\n",
        "multi_turn": "<s><start_of_turn>user\nBe brief.\n\nHi<end_of_turn>\n"
                      "<start_of_turn>model\nHello!<end_of_turn>\n"
                      "<start_of_turn>user\nHow are you?<end_of_turn>\n"
                      "<start_of_turn>model\nFine.<end_of_turn>\n",
        "generation_prompt": "<s><start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\n",
        "no_generation_prompt": "<s><start_of_turn>user\nHi<end_of_turn>\n",
    },
    "chatglm3": {  # '[gMASK]sop' + '<|role|>\n ' + content, no EOS between turns
        "single_turn": ("[gMASK]sop<|user|>\n Hi<|assistant|>\n Hello!"),
        "system": ("[gMASK]sop<|system|>\n Be brief.<|user|>\n Hi<|assistant|>\n Hello!"),
        "multi_turn": ("[gMASK]sop<|system|>\n Be brief.<|user|>\n Hi<|assistant|>\n Hello!"
                              "<|user|>\n How are you?<|assistant|>\n Fine."),
        "generation_prompt": ("[gMASK]sop<|user|>\n Hi<|assistant|>"),
        "no_generation_prompt": ("[gMASK]sop<|user|>\n Hi"),
    },
    "deepseek": {  # deepseek-llm-7b-chat: 'User: ' + q + '\n\n', 'Assistant: ' + a + eos
        "single_turn": "<s>User: Hi\n\nAssistant: Hello!</s>",
        "system": "<s>Be brief.\n\nUser: Hi\n\nAssistant: Hello!</s>",
        "multi_turn": "<s>Be brief.\n\nUser: Hi\n\nAssistant: Hello!</s>User: How are you?\n\nAssistant: Fine.</s>",
        "generation_prompt": "<s>User: Hi\n\nAssistant:",
        "no_generation_prompt": "<s>User: Hi\n\n",
    },
    "deepseekr1": {
        "single_turn": Differs("<s><｜User｜>Hi<｜Assistant｜>Hello!</s>", DEEPSEEKR1_NO_EMPTY_THOUGHT),
        "system": Differs("<s>Be brief.<｜User｜>Hi<｜Assistant｜>Hello!</s>", DEEPSEEKR1_NO_EMPTY_THOUGHT),
        "multi_turn": Differs("<s>Be brief.<｜User｜>Hi<｜Assistant｜>Hello!</s>"
                              "<｜User｜>How are you?<｜Assistant｜>Fine.</s>", DEEPSEEKR1_NO_EMPTY_THOUGHT),
        "generation_prompt": "<s><｜User｜>Hi<｜Assistant｜><think>\n",
        "no_generation_prompt": "<s><｜User｜>Hi",
    },
    "phi": {  # Phi-3 / Phi-3.5 mini: a render without generation prompt ends with the tokenizer's <|endoftext|>
        "single_turn": "<|user|>\nHi<|end|>\n<|assistant|>\nHello!<|end|>\n<|endoftext|>",
        "system": "<|system|>\nBe brief.<|end|>\n<|user|>\nHi<|end|>\n<|assistant|>\nHello!<|end|>\n<|endoftext|>",
        "multi_turn": "<|system|>\nBe brief.<|end|>\n<|user|>\nHi<|end|>\n<|assistant|>\nHello!<|end|>\n"
                      "<|user|>\nHow are you?<|end|>\n<|assistant|>\nFine.<|end|>\n<|endoftext|>",
        "generation_prompt": "<|user|>\nHi<|end|>\n<|assistant|>\n",
        "no_generation_prompt": "<|user|>\nHi<|end|>\n<|endoftext|>",
    },
    "yi": {  # Yi-1.5-Chat: the system text bare, then ChatML turns
        "single_turn": "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello!<|im_end|>\n",
        "system": "Be brief."
                  "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello!<|im_end|>\n",
        "multi_turn": "Be brief."
                      "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello!<|im_end|>\n"
                      "<|im_start|>user\nHow are you?<|im_end|>\n<|im_start|>assistant\nFine.<|im_end|>\n",
        "generation_prompt": "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n",
        "no_generation_prompt": "<|im_start|>user\nHi<|im_end|>\n",
    },
    "cohere": {
        "single_turn": "<s><|START_OF_TURN_TOKEN|><|USER_TOKEN|>Hi<|END_OF_TURN_TOKEN|>"
                       "<|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>Hello!<|END_OF_TURN_TOKEN|>",
        "system": "<s><|START_OF_TURN_TOKEN|><|SYSTEM_TOKEN|>Be brief.<|END_OF_TURN_TOKEN|>"
                  "<|START_OF_TURN_TOKEN|><|USER_TOKEN|>Hi<|END_OF_TURN_TOKEN|>"
                  "<|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>Hello!<|END_OF_TURN_TOKEN|>",
        "multi_turn": "<s><|START_OF_TURN_TOKEN|><|SYSTEM_TOKEN|>Be brief.<|END_OF_TURN_TOKEN|>"
                      "<|START_OF_TURN_TOKEN|><|USER_TOKEN|>Hi<|END_OF_TURN_TOKEN|>"
                      "<|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>Hello!<|END_OF_TURN_TOKEN|>"
                      "<|START_OF_TURN_TOKEN|><|USER_TOKEN|>How are you?<|END_OF_TURN_TOKEN|>"
                      "<|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>Fine.<|END_OF_TURN_TOKEN|>",
        "generation_prompt": "<s><|START_OF_TURN_TOKEN|><|USER_TOKEN|>Hi<|END_OF_TURN_TOKEN|>"
                             "<|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>",
        "no_generation_prompt": "<s><|START_OF_TURN_TOKEN|><|USER_TOKEN|>Hi<|END_OF_TURN_TOKEN|>",
    },
    "falcon": {  # LLaMA-Factory's convention (no published chat template)
        "single_turn": "User: Hi\nFalcon:Hello!\n",
        "system": "Be brief.User: Hi\nFalcon:Hello!\n",
        "multi_turn": "Be brief.User: Hi\nFalcon:Hello!\nUser: How are you?\nFalcon:Fine.\n",
        "generation_prompt": "User: Hi\nFalcon:",
        "no_generation_prompt": "User: Hi\n",
    },
    "fewshot": {  # LLaMA-Factory's few-shot evaluation format: answers end with a blank line, no markers
        "single_turn": "HiHello!\n\n",
        "system": "Be brief.HiHello!\n\n",
        "multi_turn": "Be brief.HiHello!\n\nHow are you?Fine.\n\n",
        "generation_prompt": "Hi",
        "no_generation_prompt": "Hi",
    },
    "intern2": {  # internlm2_5-7b-chat chat_template: no default system prompt
        "single_turn": "<s><|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello!<|im_end|>\n",
        "system": "<s><|im_start|>system\nBe brief.<|im_end|>\n"
                  "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello!<|im_end|>\n",
        "multi_turn": "<s><|im_start|>system\nBe brief.<|im_end|>\n"
                      "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello!<|im_end|>\n"
                      "<|im_start|>user\nHow are you?<|im_end|>\n<|im_start|>assistant\nFine.<|im_end|>\n",
        "generation_prompt": "<s><|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n",
        "no_generation_prompt": "<s><|im_start|>user\nHi<|im_end|>\n",
    },
    "granite3": {  # Granite 3.0 (3.1+ add a dated default system prompt)
        "single_turn": "<|start_of_role|>user<|end_of_role|>Hi<|end_of_text|>\n"
                       "<|start_of_role|>assistant<|end_of_role|>Hello!<|end_of_text|>\n",
        "system": "<|start_of_role|>system<|end_of_role|>Be brief.<|end_of_text|>\n"
                  "<|start_of_role|>user<|end_of_role|>Hi<|end_of_text|>\n"
                  "<|start_of_role|>assistant<|end_of_role|>Hello!<|end_of_text|>\n",
        "multi_turn": "<|start_of_role|>system<|end_of_role|>Be brief.<|end_of_text|>\n"
                      "<|start_of_role|>user<|end_of_role|>Hi<|end_of_text|>\n"
                      "<|start_of_role|>assistant<|end_of_role|>Hello!<|end_of_text|>\n"
                      "<|start_of_role|>user<|end_of_role|>How are you?<|end_of_text|>\n"
                      "<|start_of_role|>assistant<|end_of_role|>Fine.<|end_of_text|>\n",
        "generation_prompt": "<|start_of_role|>user<|end_of_role|>Hi<|end_of_text|>\n"
                             "<|start_of_role|>assistant<|end_of_role|>",
        "no_generation_prompt": "<|start_of_role|>user<|end_of_role|>Hi<|end_of_text|>\n",
    },
    "zephyr": {  # zephyr-7b-beta: '<|role|>\n' + content + eos, then the template's own newline
        "single_turn": ("<|user|>\nHi</s>\n<|assistant|>\nHello!</s>\n"),
        "system": "<|system|>\nBe brief.</s>\n<|user|>\nHi</s>\n<|assistant|>\nHello!</s>\n",
        "multi_turn": "<|system|>\nBe brief.</s>\n<|user|>\nHi</s>\n<|assistant|>\nHello!</s>\n"
                      "<|user|>\nHow are you?</s>\n<|assistant|>\nFine.</s>\n",
        "generation_prompt": ("<|user|>\nHi</s>\n<|assistant|>\n"),
        "no_generation_prompt": ("<|user|>\nHi</s>\n"),
    },
    "smollm2": {
        "single_turn": ("<|im_start|>system\n" + SMOLLM2_SYSTEM + "<|im_end|>\n"
                               "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello!<|im_end|>\n"),
        "system": "<|im_start|>system\nBe brief.<|im_end|>\n"
                  "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello!<|im_end|>\n",
        "multi_turn": "<|im_start|>system\nBe brief.<|im_end|>\n"
                      "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello!<|im_end|>\n"
                      "<|im_start|>user\nHow are you?<|im_end|>\n<|im_start|>assistant\nFine.<|im_end|>\n",
        "generation_prompt": ("<|im_start|>system\n" + SMOLLM2_SYSTEM + "<|im_end|>\n"
                                     "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"),
        "no_generation_prompt": ("<|im_start|>system\n" + SMOLLM2_SYSTEM + "<|im_end|>\n"
                                        "<|im_start|>user\nHi<|im_end|>\n"),
    },
    "openchat": {  # openchat_3.5: 'GPT4 Correct ' + Role + ': ' + content + '<|end_of_turn|>' (the EOS)
        "single_turn": "<s>GPT4 Correct User: Hi</s>GPT4 Correct Assistant: Hello!</s>",
        "system": ("<s>GPT4 Correct System: Be brief.</s>GPT4 Correct User: Hi</s>"
                          "GPT4 Correct Assistant: Hello!</s>"),
        "multi_turn": ("<s>GPT4 Correct System: Be brief.</s>GPT4 Correct User: Hi</s>"
                              "GPT4 Correct Assistant: Hello!</s>GPT4 Correct User: How are you?</s>"
                              "GPT4 Correct Assistant: Fine.</s>"),
        "generation_prompt": "<s>GPT4 Correct User: Hi</s>GPT4 Correct Assistant:",
        "no_generation_prompt": "<s>GPT4 Correct User: Hi</s>",
    },
    "solar": {  # SOLAR-10.7B-Instruct-v1.0: no separator or EOS after an answer
        "single_turn": "### User:\nHi\n\n### Assistant:\nHello!",
        "system": "### System:\nBe brief.\n\n### User:\nHi\n\n### Assistant:\nHello!",
        "multi_turn": "### System:\nBe brief.\n\n### User:\nHi\n\n### Assistant:\nHello!"
                      "### User:\nHow are you?\n\n### Assistant:\nFine.",
        "generation_prompt": "### User:\nHi\n\n### Assistant:\n",
        "no_generation_prompt": "### User:\nHi\n\n",
    },
    "gpt_oss": {  # Harmony messages, in the subset the notes describe (plain system message, EOS ends answers)
        "single_turn": Differs("<|start|>system<|message|>" + GPT_OSS_SYSTEM + "<|end|>"
                               "<|start|>user<|message|>Hi<|end|>"
                               "<|start|>assistant<|channel|>final<|message|>Hello!</s>", GPT_OSS_EMPTY_ANALYSIS),
        "system": Differs("<|start|>system<|message|>Be brief.<|end|><|start|>user<|message|>Hi<|end|>"
                          "<|start|>assistant<|channel|>final<|message|>Hello!</s>", GPT_OSS_EMPTY_ANALYSIS),
        "multi_turn": Differs("<|start|>system<|message|>Be brief.<|end|><|start|>user<|message|>Hi<|end|>"
                              "<|start|>assistant<|channel|>final<|message|>Hello!</s>"
                              "<|start|>user<|message|>How are you?<|end|>"
                              "<|start|>assistant<|channel|>final<|message|>Fine.</s>",
                              GPT_OSS_EMPTY_ANALYSIS + "; and " + GPT_OSS_FINAL_CHANNEL),
        "generation_prompt": "<|start|>system<|message|>" + GPT_OSS_SYSTEM + "<|end|>"
                             "<|start|>user<|message|>Hi<|end|><|start|>assistant",
        "no_generation_prompt": "<|start|>system<|message|>" + GPT_OSS_SYSTEM + "<|end|>"
                                "<|start|>user<|message|>Hi<|end|>",
    },
}


def _param(values: tuple, expected: str | Differs, case_id: str):
    if isinstance(expected, Differs):
        return pytest.param(*values, expected.expected, id=case_id,
                            marks=pytest.mark.xfail(reason=expected.reason, strict=True))
    return pytest.param(*values, expected, id=case_id)


def _more_goldens() -> dict:
    """Hand-written goldens kept beside this file by vendor (``goldens_*.py``, each a ``CASES`` dict)."""
    import importlib.util
    from pathlib import Path

    found = {}
    for path in sorted(Path(__file__).parent.glob("goldens_*.py")):
        spec = importlib.util.spec_from_file_location(f"tf_template_{path.stem}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        found.update(module.CASES)
    return found


CASES.update(_more_goldens())
OFFICIAL_FIXTURES = {path.stem for path in (Path(__file__).resolve().parents[2] / "fixtures" / "chat_templates")
                     .glob("*.jinja")}


def test_every_template_has_a_golden_or_an_official_fixture():
    """Hand goldens (this file, goldens_*.py) or the model's own chat template (test_official.py)."""
    assert sorted(set(TEMPLATES) - set(CASES) - OFFICIAL_FIXTURES) == []
    assert sorted(set(CASES) - set(TEMPLATES)) == []
    for name, cases in CASES.items():
        assert sorted(cases) == sorted(CONVERSATIONS), name


@pytest.mark.parametrize(
    ("name", "case", "expected"),
    [_param((name, case), expected, f"{name}-{case}") for name, cases in CASES.items()
     for case, expected in cases.items()],
)
def test_family_format(name, case, expected):
    messages, system, add_generation_prompt = CONVERSATIONS[case]
    rendered = TEMPLATES[name].render(messages, system, bos=BOS, eos=EOS, add_generation_prompt=add_generation_prompt)
    assert rendered == expected


# --- reasoning ---------------------------------------------------------------------------------------

THOUGHT = "<think>\nreason\n</think>\n\nanswer"
THOUGHT_2 = "<think>\nreason 2\n</think>\n\nFine."
HARMONY_THOUGHT = "<|channel|>analysis<|message|>reason<|end|><|start|>assistant<|channel|>final<|message|>answer"
HARMONY_THOUGHT_2 = "<|channel|>analysis<|message|>reason 2<|end|><|start|>assistant<|channel|>final<|message|>Fine."
QWEN3_NO_THINKING = dataclasses.replace(TEMPLATES["qwen3"], enable_thinking=False)

DEEPSEEKR1_HISTORY = (
    "DeepSeek-R1's chat_template drops a past thought with content.split('</think>')[-1], which keeps the "
    "'\\n\\n' that followed '</think>'; the code also strips those newlines"
)

# (template, messages, expected); ``preserve_thinking`` and ``enable_thinking`` are set per test below
THINKING_CASES = {
    "qwen3-thought": (
        TEMPLATES["qwen3"], [user("Hi"), assistant(THOUGHT)],
        "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n<think>\nreason\n</think>\n\nanswer<|im_end|>\n",
    ),
    "qwen3-earlier_thought_dropped": (
        TEMPLATES["qwen3"], [user("Hi"), assistant(THOUGHT), user("How are you?"), assistant(THOUGHT_2)],
        "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nanswer<|im_end|>\n"
        "<|im_start|>user\nHow are you?<|im_end|>\n"
        "<|im_start|>assistant\n<think>\nreason 2\n</think>\n\nFine.<|im_end|>\n",
    ),
    "qwen3-preserve_thinking": (
        dataclasses.replace(TEMPLATES["qwen3"], preserve_thinking=True),
        [user("Hi"), assistant(THOUGHT), user("How are you?"), assistant(THOUGHT_2)],
        "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n<think>\nreason\n</think>\n\nanswer<|im_end|>\n"
        "<|im_start|>user\nHow are you?<|im_end|>\n"
        "<|im_start|>assistant\n<think>\nreason 2\n</think>\n\nFine.<|im_end|>\n",
    ),
    "qwen3-no_thinking": (  # enable_thinking=False: the empty block before the answer
        QWEN3_NO_THINKING, [user("Hi"), assistant("Hello!")],
        "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\nHello!<|im_end|>\n",
    ),
    "qwen3-no_thinking_multi_turn": (
        QWEN3_NO_THINKING, [user("Hi"), assistant("Hello!"), user("How are you?"), assistant("Fine.")],
        "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello!<|im_end|>\n"
        "<|im_start|>user\nHow are you?<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\nFine.<|im_end|>\n",
    ),
    "qwen3-no_thinking_generation_prompt": (
        QWEN3_NO_THINKING, [user("Hi")],
        "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n",
    ),
    "deepseekr1-thought": (
        TEMPLATES["deepseekr1"], [user("Hi"), assistant(THOUGHT)],
        "<s><｜User｜>Hi<｜Assistant｜><think>\nreason\n</think>\n\nanswer</s>",
    ),
    "deepseekr1-earlier_thought_dropped": (
        TEMPLATES["deepseekr1"], [user("Hi"), assistant(THOUGHT), user("How are you?"), assistant(THOUGHT_2)],
        Differs("<s><｜User｜>Hi<｜Assistant｜>\n\nanswer</s>"
                "<｜User｜>How are you?<｜Assistant｜><think>\nreason 2\n</think>\n\nFine.</s>", DEEPSEEKR1_HISTORY),
    ),
    "deepseekr1-preserve_thinking": (
        dataclasses.replace(TEMPLATES["deepseekr1"], preserve_thinking=True),
        [user("Hi"), assistant(THOUGHT), user("How are you?"), assistant(THOUGHT_2)],
        "<s><｜User｜>Hi<｜Assistant｜><think>\nreason\n</think>\n\nanswer</s>"
        "<｜User｜>How are you?<｜Assistant｜><think>\nreason 2\n</think>\n\nFine.</s>",
    ),
    "gpt_oss-thought": (
        TEMPLATES["gpt_oss"], [user("Hi"), assistant(HARMONY_THOUGHT)],
        "<|start|>system<|message|>" + GPT_OSS_SYSTEM + "<|end|><|start|>user<|message|>Hi<|end|>"
        "<|start|>assistant<|channel|>analysis<|message|>reason<|end|>"
        "<|start|>assistant<|channel|>final<|message|>answer</s>",
    ),
    "gpt_oss-earlier_thought_dropped": (
        TEMPLATES["gpt_oss"],
        [user("Hi"), assistant(HARMONY_THOUGHT), user("How are you?"), assistant(HARMONY_THOUGHT_2)],
        ("<|start|>system<|message|>" + GPT_OSS_SYSTEM + "<|end|><|start|>user<|message|>Hi<|end|>"
                "<|start|>assistant<|channel|>final<|message|>answer</s>"
                "<|start|>user<|message|>How are you?<|end|>"
                "<|start|>assistant<|channel|>analysis<|message|>reason 2<|end|>"
                "<|start|>assistant<|channel|>final<|message|>Fine.</s>"),
    ),
    "gpt_oss-preserve_thinking": (
        dataclasses.replace(TEMPLATES["gpt_oss"], preserve_thinking=True),
        [user("Hi"), assistant(HARMONY_THOUGHT), user("How are you?"), assistant(HARMONY_THOUGHT_2)],
        "<|start|>system<|message|>" + GPT_OSS_SYSTEM + "<|end|><|start|>user<|message|>Hi<|end|>"
        "<|start|>assistant<|channel|>analysis<|message|>reason<|end|>"
        "<|start|>assistant<|channel|>final<|message|>answer</s>"
        "<|start|>user<|message|>How are you?<|end|>"
        "<|start|>assistant<|channel|>analysis<|message|>reason 2<|end|>"
        "<|start|>assistant<|channel|>final<|message|>Fine.</s>",
    ),
}


@pytest.mark.parametrize(
    ("template", "messages", "expected"),
    [_param((template, messages), expected, case_id)
     for case_id, (template, messages, expected) in THINKING_CASES.items()],
)
def test_thinking(template, messages, expected):
    assert template.render(messages, bos=BOS, eos=EOS) == expected


# --- tools ---------------------------------------------------------------------------------------------

TOOL = {
    "name": "get_weather",
    "description": "Get the current weather in a city.",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string", "description": "The city name."}},
        "required": ["city"],
    },
}
TOOLS = json.dumps([TOOL])
TOOL_CONVERSATION = [
    user("What's the weather in Paris?"),
    {"role": "function", "content": '{"name": "get_weather", "arguments": {"city": "Paris"}}'},
    {"role": "observation", "content": '{"temperature": 22}'},
    assistant("It is 22 degrees."),
]

# the tool descriptions, written out once
DEFAULT_TOOL_PROMPT = (  # LLaMA-Factory's ReAct-style `default` tool format
    "You have access to the following tools:\n"
    "> Tool Name: get_weather\n"
    "Tool Description: Get the current weather in a city.\n"
    "Tool Args:\n"
    "  - city (string, required): The city name.\n"
    "\n"
    "Use the following format if using a tool:\n"
    "```\n"
    "Action: tool name (one of [get_weather])\n"
    'Action Input: the input to the tool, in a JSON format representing the kwargs (e.g. ```{"input": "hello world", '
    '"num_beams": 5}```)\n'
    "```\n"
)
WRAPPED_TOOL_JSON = (
    '{"type": "function", "function": {"name": "get_weather", "description": "Get the current weather in a city.", '
    '"parameters": {"type": "object", "properties": {"city": {"type": "string", "description": "The city name."}}, '
    '"required": ["city"]}}}'
)
QWEN_TOOL_PROMPT = (  # Qwen2.5 / Qwen3 chat_template
    "# Tools\n\nYou may call one or more functions to assist with the user query.\n\n"
    "You are provided with function signatures within <tools></tools> XML tags:\n<tools>\n"
    + WRAPPED_TOOL_JSON +
    "\n</tools>\n\nFor each function call, return a json object with function name and arguments within "
    "<tool_call></tool_call> XML tags:\n<tool_call>\n"
    '{"name": <function-name>, "arguments": <args-json-object>}\n</tool_call>'
)
LLAMA3_TOOL_PROMPT = (  # Llama 3.1 chat_template, tools_in_user_message=false, default date_string
    "Environment: ipython\n"
    "Cutting Knowledge Date: December 2023\n"
    "Today Date: 26 Jul 2024\n\n"
    "You have access to the following functions. To call a function, please respond with JSON for a function call."
    'Respond in the format {"name": function name, "parameters": dictionary of argument name and its value}.'
    "Do not use variables.\n\n"
    "{\n"
    '    "type": "function",\n'
    '    "function": {\n'
    '        "name": "get_weather",\n'
    '        "description": "Get the current weather in a city.",\n'
    '        "parameters": {\n'
    '            "type": "object",\n'
    '            "properties": {\n'
    '                "city": {\n'
    '                    "type": "string",\n'
    '                    "description": "The city name."\n'
    "                }\n"
    "            },\n"
    '            "required": [\n'
    '                "city"\n'
    "            ]\n"
    "        }\n"
    "    }\n"
    "}\n\n"
)
GLM4_TOOL_PROMPT = (  # GLM-4-0414 chat_template (GLM-4-9B-Chat writes 智谱AI训练 without 公司)
    "你是一个名为 ChatGLM 的人工智能助手。你是基于智谱 AI 公司训练的语言模型 GLM-4 模型开发的，"
    "你的任务是针对用户的问题和要求提供适当的答复和支持。\n\n# 可用工具\n\n## get_weather\n\n"
    "{\n"
    '    "name": "get_weather",\n'
    '    "description": "Get the current weather in a city.",\n'
    '    "parameters": {\n'
    '        "type": "object",\n'
    '        "properties": {\n'
    '            "city": {\n'
    '                "type": "string",\n'
    '                "description": "The city name."\n'
    "            }\n"
    "        },\n"
    '        "required": [\n'
    '            "city"\n'
    "        ]\n"
    "    }\n"
    "}\n"
    "在调用上述函数时，请使用 Json 格式表示调用的参数。"
)

MISTRAL_TOOLS_PLACEMENT = (
    "Mistral v0.3's chat_template (and mistral_common) writes '[AVAILABLE_TOOLS] [...][/AVAILABLE_TOOLS]' BEFORE "
    "'[INST]' of the last user message; the code puts it inside [INST] followed by '\\n\\n'"
)

# (template, system, expected)
TOOL_CASES = {
    "chatml": (SYSTEM, (
        "<|im_start|>system\nBe brief." + DEFAULT_TOOL_PROMPT + "<|im_end|>\n"
        "<|im_start|>user\nWhat's the weather in Paris?<|im_end|>\n"
        '<|im_start|>assistant\nAction: get_weather\nAction Input: {"city": "Paris"}<|im_end|>\n'
        '<|im_start|>tool\n{"temperature": 22}<|im_end|>\n'
        "<|im_start|>assistant\nIt is 22 degrees.<|im_end|>\n"
    )),
    "qwen": (None, (
        "<|im_start|>system\n" + QWEN_SYSTEM + "\n\n" + QWEN_TOOL_PROMPT + "<|im_end|>\n"
        "<|im_start|>user\nWhat's the weather in Paris?<|im_end|>\n"
        '<|im_start|>assistant\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>'
        "<|im_end|>\n"
        '<|im_start|>user\n<tool_response>\n{"temperature": 22}\n</tool_response><|im_end|>\n'
        "<|im_start|>assistant\nIt is 22 degrees.<|im_end|>\n"
    )),
    "qwen3": (None, ("<|im_start|>system\n" + QWEN_TOOL_PROMPT + "<|im_end|>\n"
        "<|im_start|>user\nWhat's the weather in Paris?<|im_end|>\n"
        '<|im_start|>assistant\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>'
        "<|im_end|>\n"
        '<|im_start|>user\n<tool_response>\n{"temperature": 22}\n</tool_response><|im_end|>\n'
        "<|im_start|>assistant\n<think>\n\n</think>\n\nIt is 22 degrees.<|im_end|>\n")),
    "llama3": (SYSTEM, ("<s><|start_header_id|>system<|end_header_id|>\n\n" + LLAMA3_TOOL_PROMPT + "Be brief.<|eot_id|>"
        "<|start_header_id|>user<|end_header_id|>\n\nWhat's the weather in Paris?<|eot_id|>"
        '<|start_header_id|>assistant<|end_header_id|>\n\n{"name": "get_weather", "parameters": {"city": "Paris"}}'
        "<|eot_id|>"
        '<|start_header_id|>ipython<|end_header_id|>\n\n{"temperature": 22}<|eot_id|>'
        "<|start_header_id|>assistant<|end_header_id|>\n\nIt is 22 degrees.<|eot_id|>")),
    "mistral": (None, Differs(  # without call ids: the canonical format has none
        "<s>[AVAILABLE_TOOLS] [" + WRAPPED_TOOL_JSON + "][/AVAILABLE_TOOLS]"
        "[INST] What's the weather in Paris?[/INST]"
        '[TOOL_CALLS] [{"name": "get_weather", "arguments": {"city": "Paris"}}]</s>'
        '[TOOL_RESULTS] {"content": {"temperature": 22}}[/TOOL_RESULTS]'
        " It is 22 degrees.</s>",
        MISTRAL_TOOLS_PLACEMENT,
    )),
    "glm4": (None, (
        "[gMASK]<sop><|system|>\n" + GLM4_TOOL_PROMPT + "<|user|>\nWhat's the weather in Paris?"
        '<|assistant|>get_weather\n{"city": "Paris"}'
        '<|observation|>\n{"temperature": 22}'
        "<|assistant|>\nIt is 22 degrees."
    )),
}


@pytest.mark.parametrize(
    ("name", "system", "expected"),
    [_param((name, system), expected, name) for name, (system, expected) in TOOL_CASES.items()],
)
def test_tools(name, system, expected):
    rendered = TEMPLATES[name].render(TOOL_CONVERSATION, system, TOOLS, bos=BOS, eos=EOS)
    assert rendered == expected


def test_mistral_tool_turns():
    """The parts of the Mistral tool conversation that do match v0.3: the tool list, the call and the result."""
    rendered = TEMPLATES["mistral"].render(TOOL_CONVERSATION, None, TOOLS, bos=BOS, eos=EOS)
    assert "[AVAILABLE_TOOLS] [" + WRAPPED_TOOL_JSON + "][/AVAILABLE_TOOLS]" in rendered
    assert rendered.endswith(
        "What's the weather in Paris?[/INST]"
        '[TOOL_CALLS] [{"name": "get_weather", "arguments": {"city": "Paris"}}]</s>'
        '[TOOL_RESULTS] {"content": {"temperature": 22}}[/TOOL_RESULTS]'
        " It is 22 degrees.</s>"
    )
