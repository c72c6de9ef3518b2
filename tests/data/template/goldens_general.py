"""Hand goldens for general, Tencent, ByteDance, Yi and community templates without an official-template fixture.

Written by hand from each family's format (model card, reference code, or LLaMA-Factory's definition where the model
publishes no chat template), with the conversations of test_families.py: BOS ``<s>``, EOS ``</s>``, the system prompt
"Be brief.", and the same five cases. Reasoning templates give the final answer an empty thought block.
"""

from __future__ import annotations

IM_USER = "<|im_start|>user\nHi<|im_end|>\n"
IM_HELLO = "<|im_start|>assistant\nHello!<|im_end|>\n"
IM_FINE = "<|im_start|>user\nHow are you?<|im_end|>\n<|im_start|>assistant\nFine.<|im_end|>\n"
IM_PROMPT = "<|im_start|>assistant\n"


def im_system(text: str) -> str:
    return f"<|im_start|>system\n{text}<|im_end|>\n"


GERMAN_SYSTEM = "Du bist ein freundlicher und hilfsbereiter KI-Assistent."
SEED_CODER_SYSTEM = (
    "You are an AI programming assistant, utilizing the Seed-Coder model, developed by ByteDance Seed, and you only "
    "answer questions related to computer science. For politically sensitive questions, security and privacy issues, "
    "and other non-computer science questions, you will refuse to answer.\n\n"
)
XUANYUAN_SYSTEM = (
    "以下是用户和人工智能助手之间的对话。用户以Human开头，人工智能助手以Assistant开头，会对人类提出的问题给出有帮助、"
    "高质量、详细和礼貌的回答，并且总是拒绝参与与不道德、不安全、有争议、政治敏感等相关的话题、问题和指示。\n"
)
YI_VL_SYSTEM = (
    "This is a chat between an inquisitive human and an AI assistant. Assume the role of the AI assistant. Read all "
    "the images carefully, and respond to the human's questions with informative, helpful, detailed and polite "
    "answers. 这是一个好奇的人类和一个人工智能助手之间的对话。假设你扮演这个AI助手的角色。仔细阅读所有的图像，"
    "并对人类的问题做出信息丰富、有帮助、详细的和礼貌的回答。\n\n"
)
AEVA_SYSTEM = (
    "You are an AI assistant named Aeva created by Zongzhi Lou. "
    "Your answer should be friendly, unbiased, faithful, informative and detailed."
)

HY_BOS, HY_USER, HY_ASSISTANT = "<｜hy_begin▁of▁sentence｜>", "<｜hy_User｜>", "<｜hy_Assistant｜>"
HY_SYS, HY_EOS, HY_USER_END = "<｜hy_place▁holder▁no▁3｜>", "<｜hy_place▁holder▁no▁2｜>", "<｜hy_place▁holder▁no▁8｜>"
THINK = "<think>\n\n</think>\n\n"  # the empty thought block of the default thought words

# Hy-MT2-7B (Hunyuan-MT layout): each user turn opens with the BOS; the system text is in the first one
HUNYUAN_7B = {
    "single_turn": "<s>Hi<|extra_0|>Hello!<|eos|>",
    "system": "<s>Be brief.<|extra_4|>Hi<|extra_0|>Hello!<|eos|>",
    "multi_turn": "<s>Be brief.<|extra_4|>Hi<|extra_0|>Hello!<|eos|><s>How are you?<|extra_0|>Fine.<|eos|>",
    "generation_prompt": "<s>Hi<|extra_0|>",
    "no_generation_prompt": "<s>Hi<|extra_0|>",
}
HY_7B_EOS = {case: text.replace("<|eos|>", "</s>") for case, text in HUNYUAN_7B.items()}  # answers end with EOS
HY_DENSE = {  # HY-MT1.5-1.8B: the hy_ special tokens, answers end with the tokenizer's EOS
    "single_turn": f"<s>{HY_USER}Hi{HY_ASSISTANT}Hello!</s>",
    "system": f"<s>Be brief.{HY_SYS}{HY_USER}Hi{HY_ASSISTANT}Hello!</s>",
    "multi_turn": f"<s>Be brief.{HY_SYS}{HY_USER}Hi{HY_ASSISTANT}Hello!</s>"
                  f"{HY_USER}How are you?{HY_ASSISTANT}Fine.</s>",
    "generation_prompt": f"<s>{HY_USER}Hi{HY_ASSISTANT}",
    "no_generation_prompt": f"<s>{HY_USER}Hi",
}

CASES = {
    "chatml_de": {
        "single_turn": im_system(GERMAN_SYSTEM) + IM_USER + IM_HELLO,
        "system": im_system("Be brief.") + IM_USER + IM_HELLO,
        "multi_turn": im_system("Be brief.") + IM_USER + IM_HELLO + IM_FINE,
        "generation_prompt": im_system(GERMAN_SYSTEM) + IM_USER + IM_PROMPT,
        "no_generation_prompt": im_system(GERMAN_SYSTEM) + IM_USER,
    },
    "falcon_h1": {  # ChatML after the BOS
        "single_turn": "<s>" + IM_USER + IM_HELLO,
        "system": "<s>" + im_system("Be brief.") + IM_USER + IM_HELLO,
        "multi_turn": "<s>" + im_system("Be brief.") + IM_USER + IM_HELLO + IM_FINE,
        "generation_prompt": "<s>" + IM_USER + IM_PROMPT,
        "no_generation_prompt": "<s>" + IM_USER,
    },
    "smollm": {  # SmolLM v1 instruct: plain ChatML, no default system prompt
        "single_turn": IM_USER + IM_HELLO,
        "system": im_system("Be brief.") + IM_USER + IM_HELLO,
        "multi_turn": im_system("Be brief.") + IM_USER + IM_HELLO + IM_FINE,
        "generation_prompt": IM_USER + IM_PROMPT,
        "no_generation_prompt": IM_USER,
    },
    "starchat": {  # StarChat-beta: '<|role|>\n' + content + '<|end|>', each on its own line
        "single_turn": "<|user|>\nHi<|end|>\n<|assistant|>\nHello!<|end|>\n",
        "system": "<|system|>\nBe brief.<|end|>\n<|user|>\nHi<|end|>\n<|assistant|>\nHello!<|end|>\n",
        "multi_turn": "<|system|>\nBe brief.<|end|>\n<|user|>\nHi<|end|>\n<|assistant|>\nHello!<|end|>\n"
                      "<|user|>\nHow are you?<|end|>\n<|assistant|>\nFine.<|end|>\n",
        "generation_prompt": "<|user|>\nHi<|end|>\n<|assistant|>\n",
        "no_generation_prompt": "<|user|>\nHi<|end|>\n",
    },
    "hy_dense_7b": HY_7B_EOS,
    "hy_mt_1_8b": HY_DENSE,
    "hunyuan_small": {
        "single_turn": f"{HY_BOS}{HY_USER}Hi{HY_USER_END}Hello!{HY_EOS}",
        "system": f"{HY_BOS}Be brief.{HY_SYS}{HY_USER}Hi{HY_USER_END}Hello!{HY_EOS}",
        "multi_turn": f"{HY_BOS}Be brief.{HY_SYS}{HY_USER}Hi{HY_USER_END}Hello!{HY_EOS}"
                      f"{HY_USER}How are you?{HY_USER_END}Fine.{HY_EOS}",
        "generation_prompt": f"{HY_BOS}{HY_USER}Hi{HY_USER_END}",
        "no_generation_prompt": f"{HY_BOS}{HY_USER}Hi{HY_USER_END}",
    },
    "hunyuan_instruct": {
        "single_turn": f"<s>{HY_USER}Hi{HY_ASSISTANT}{THINK}Hello!</s>",
        "system": f"<s>Be brief.{HY_SYS}{HY_USER}Hi{HY_ASSISTANT}{THINK}Hello!</s>",
        "multi_turn": f"<s>Be brief.{HY_SYS}{HY_USER}Hi{HY_ASSISTANT}Hello!</s>"
                      f"{HY_USER}How are you?{HY_ASSISTANT}{THINK}Fine.</s>",
        "generation_prompt": f"<s>{HY_USER}Hi{HY_ASSISTANT}",
        "no_generation_prompt": f"<s>{HY_USER}Hi",
    },
    "hy3": {
        "single_turn": f"<s>{HY_USER}Hi{HY_ASSISTANT}<think></think>Hello!<｜hy_eos｜>",
        "system": f"<s>Be brief.{HY_USER}Hi{HY_ASSISTANT}<think></think>Hello!<｜hy_eos｜>",
        "multi_turn": f"<s>Be brief.{HY_USER}Hi{HY_ASSISTANT}Hello!<｜hy_eos｜>"
                      f"{HY_USER}How are you?{HY_ASSISTANT}<think></think>Fine.<｜hy_eos｜>",
        "generation_prompt": f"<s>{HY_USER}Hi{HY_ASSISTANT}",
        "no_generation_prompt": f"<s>{HY_USER}Hi",
    },
    "youtu": {
        "single_turn": f"<s><|User|>Hi<|Assistant|>{THINK}Hello!<|end_of_text|>",
        "system": f"<s>Be brief.<|User|>Hi<|Assistant|>{THINK}Hello!<|end_of_text|>",
        "multi_turn": "<s>Be brief.<|User|>Hi<|Assistant|>Hello!<|end_of_text|>"
                      f"<|User|>How are you?<|Assistant|>{THINK}Fine.<|end_of_text|>",
        "generation_prompt": "<s><|User|>Hi<|Assistant|>",
        "no_generation_prompt": "<s><|User|>Hi",
    },
    "youtu_vl": {
        "single_turn": "<|begin_of_text|>system\nYou are a helpful assistant.<|end_of_text|>\n"
                       "<|begin_of_text|>user\nHi<|end_of_text|>\n<|begin_of_text|>assistant\nHello!<|end_of_text|>\n",
        "system": "<|begin_of_text|>system\nBe brief.<|end_of_text|>\n"
                  "<|begin_of_text|>user\nHi<|end_of_text|>\n<|begin_of_text|>assistant\nHello!<|end_of_text|>\n",
        "multi_turn": "<|begin_of_text|>system\nBe brief.<|end_of_text|>\n"
                      "<|begin_of_text|>user\nHi<|end_of_text|>\n<|begin_of_text|>assistant\nHello!<|end_of_text|>\n"
                      "<|begin_of_text|>user\nHow are you?<|end_of_text|>\n"
                      "<|begin_of_text|>assistant\nFine.<|end_of_text|>\n",
        "generation_prompt": "<|begin_of_text|>system\nYou are a helpful assistant.<|end_of_text|>\n"
                             "<|begin_of_text|>user\nHi<|end_of_text|>\n<|begin_of_text|>assistant\n",
        "no_generation_prompt": "<|begin_of_text|>system\nYou are a helpful assistant.<|end_of_text|>\n"
                                "<|begin_of_text|>user\nHi<|end_of_text|>\n",
    },
    "seed_coder": {  # Seed: '<bos>role\n' + content + '<eos>' per message
        "single_turn": "<s>system\n" + SEED_CODER_SYSTEM + "</s><s>user\nHi</s><s>assistant\nHello!</s>",
        "system": "<s>system\nBe brief.</s><s>user\nHi</s><s>assistant\nHello!</s>",
        "multi_turn": "<s>system\nBe brief.</s><s>user\nHi</s><s>assistant\nHello!</s>"
                      "<s>user\nHow are you?</s><s>assistant\nFine.</s>",
        "generation_prompt": "<s>system\n" + SEED_CODER_SYSTEM + "</s><s>user\nHi</s><s>assistant\n",
        "no_generation_prompt": "<s>system\n" + SEED_CODER_SYSTEM + "</s><s>user\nHi</s>",
    },
    "yi_vl": {
        "single_turn": YI_VL_SYSTEM + "### Human: Hi\n### Assistant:Hello!\n",
        "system": "Be brief.### Human: Hi\n### Assistant:Hello!\n",
        "multi_turn": "Be brief.### Human: Hi\n### Assistant:Hello!\n### Human: How are you?\n### Assistant:Fine.\n",
        "generation_prompt": YI_VL_SYSTEM + "### Human: Hi\n### Assistant:",
        "no_generation_prompt": YI_VL_SYSTEM + "### Human: Hi\n",
    },
    "moss_vl": {  # Qwen2.5-style ChatML without a default system prompt
        "single_turn": IM_USER + IM_HELLO,
        "system": im_system("Be brief.") + IM_USER + IM_HELLO,
        "multi_turn": im_system("Be brief.") + IM_USER + IM_HELLO + IM_FINE,
        "generation_prompt": IM_USER + IM_PROMPT,
        "no_generation_prompt": IM_USER,
    },
    "xuanyuan": {
        "single_turn": XUANYUAN_SYSTEM + "Human: Hi Assistant:Hello!</s>",
        "system": "Be brief.Human: Hi Assistant:Hello!</s>",
        "multi_turn": "Be brief.Human: Hi Assistant:Hello!</s>Human: How are you? Assistant:Fine.</s>",
        "generation_prompt": XUANYUAN_SYSTEM + "Human: Hi Assistant:",
        "no_generation_prompt": XUANYUAN_SYSTEM + "Human: Hi ",
    },
    "yuan": {  # Yuan 2.0: '<sep>' ends the question, '<eod>' the answer
        "single_turn": "Hi<sep>Hello!<eod>\n",
        "system": "Be brief.Hi<sep>Hello!<eod>\n",
        "multi_turn": "Be brief.Hi<sep>Hello!<eod>\nHow are you?<sep>Fine.<eod>\n",
        "generation_prompt": "Hi<sep>",
        "no_generation_prompt": "Hi<sep>",
    },
    "aeva": {  # GLM-4.7 turns after '[gMASK]<sop>'; the final answer carries an empty thought block
        "single_turn": "[gMASK]<sop><|system|>\n" + AEVA_SYSTEM + "<|user|>\nHi<|assistant|>\n<think></think>Hello!",
        "system": "[gMASK]<sop><|system|>\nBe brief.<|user|>\nHi<|assistant|>\n<think></think>Hello!",
        "multi_turn": "[gMASK]<sop><|system|>\nBe brief.<|user|>\nHi<|assistant|>\nHello!"
                      "<|user|>\nHow are you?<|assistant|>\n<think></think>Fine.",
        "generation_prompt": "[gMASK]<sop><|system|>\n" + AEVA_SYSTEM + "<|user|>\nHi<|assistant|>",
        "no_generation_prompt": "[gMASK]<sop><|system|>\n" + AEVA_SYSTEM + "<|user|>\nHi",
    },
    "dots_ocr": {
        "single_turn": "<|user|>Hi<|endofuser|><|assistant|>Hello!<|endofassistant|>",
        "system": "<|system|>Be brief.<|endofsystem|>\n<|user|>Hi<|endofuser|><|assistant|>Hello!<|endofassistant|>",
        "multi_turn": "<|system|>Be brief.<|endofsystem|>\n<|user|>Hi<|endofuser|><|assistant|>Hello!<|endofassistant|>"
                      "<|user|>How are you?<|endofuser|><|assistant|>Fine.<|endofassistant|>",
        "generation_prompt": "<|user|>Hi<|endofuser|><|assistant|>",
        "no_generation_prompt": "<|user|>Hi<|endofuser|>",
    },
}
