"""Hand goldens for the Google, GLM, DeepSeek and Moonshot names whose official template is not in the stored corpora.

Written by hand from each family's format (the model card / LLaMA-Factory's slots where no chat template was
found), with the conversations of test_families.py and BOS "<s>" / EOS "</s>". Where a template's ``notes`` name
a deliberate departure (the reasoning templates' empty thought block on the final answer) the string follows it.
"""

EMPTY_THINK = "<think>\n\n</think>\n\n"


def _gemma4(bos):
    return {
        "single_turn": bos + "<|turn>user\nHi<turn|>\n<|turn>model\nHello!<turn|>\n",
        "system": bos + "<|turn>system\nBe brief.<turn|>\n<|turn>user\nHi<turn|>\n<|turn>model\nHello!<turn|>\n",
        "multi_turn": bos + "<|turn>system\nBe brief.<turn|>\n<|turn>user\nHi<turn|>\n<|turn>model\nHello!<turn|>\n"
                            "<|turn>user\nHow are you?<turn|>\n<|turn>model\nFine.<turn|>\n",
        "generation_prompt": bos + "<|turn>user\nHi<turn|>\n<|turn>model\n<|channel>thought\n<channel|>",
        "no_generation_prompt": bos + "<|turn>user\nHi<turn|>\n",
    }


GLM4 = {  # GLM-4 turns: '<|role|>\n' + content, the answer's newline after '<|assistant|>'
    "single_turn": "[gMASK]<sop><|user|>\nHi<|assistant|>\nHello!",
    "system": "[gMASK]<sop><|system|>\nBe brief.<|user|>\nHi<|assistant|>\nHello!",
    "multi_turn": "[gMASK]<sop><|system|>\nBe brief.<|user|>\nHi<|assistant|>\nHello!"
                  "<|user|>\nHow are you?<|assistant|>\nFine.",
    "generation_prompt": "[gMASK]<sop><|user|>\nHi<|assistant|>",
    "no_generation_prompt": "[gMASK]<sop><|user|>\nHi",
}
GLM_REASONING = {  # GLM-Z1: the final answer opens with its thought block
    "single_turn": "[gMASK]<sop><|user|>\nHi<|assistant|>\n" + EMPTY_THINK + "Hello!",
    "system": "[gMASK]<sop><|system|>\nBe brief.<|user|>\nHi<|assistant|>\n" + EMPTY_THINK + "Hello!",
    "multi_turn": "[gMASK]<sop><|system|>\nBe brief.<|user|>\nHi<|assistant|>\nHello!"
                  "<|user|>\nHow are you?<|assistant|>\n" + EMPTY_THINK + "Fine.",
    "generation_prompt": "[gMASK]<sop><|user|>\nHi<|assistant|>",
    "no_generation_prompt": "[gMASK]<sop><|user|>\nHi",
}


def _kimi(default_system):
    default = "<|im_system|>system<|im_middle|>" + default_system + "<|im_end|>"
    brief = "<|im_system|>system<|im_middle|>Be brief.<|im_end|>"
    hi = "<|im_user|>user<|im_middle|>Hi<|im_end|>"
    header = "<|im_assistant|>assistant<|im_middle|>"
    return {
        "single_turn": default + hi + header + "Hello!<|im_end|>",
        "system": brief + hi + header + "Hello!<|im_end|>",
        "multi_turn": brief + hi + header + "Hello!<|im_end|>"
                      "<|im_user|>user<|im_middle|>How are you?<|im_end|>" + header + "Fine.<|im_end|>",
        "generation_prompt": default + hi + header,
        "no_generation_prompt": default + hi,
    }


CASES = {
    "gemma4n": _gemma4("<s>"),
    "paligemma": {  # prefix-LM: BOS + prompt + '\n', then the answer and EOS
        "single_turn": "<s>Hi\nHello!</s>",
        "system": "<s>Be brief.Hi\nHello!</s>",
        "multi_turn": "<s>Be brief.Hi\nHello!</s>How are you?\nFine.</s>",
        "generation_prompt": "<s>Hi\n",
        "no_generation_prompt": "<s>Hi\n",
    },
    "paligemma_chat": {  # Gemma turns; the system text joins the first user turn with no separator
        "single_turn": "<s><start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\nHello!<end_of_turn>\n",
        "system": "<s><start_of_turn>user\nBe brief.Hi<end_of_turn>\n<start_of_turn>model\nHello!<end_of_turn>\n",
        "multi_turn": "<s><start_of_turn>user\nBe brief.Hi<end_of_turn>\n<start_of_turn>model\nHello!<end_of_turn>\n"
                      "<start_of_turn>user\nHow are you?<end_of_turn>\n<start_of_turn>model\nFine.<end_of_turn>\n",
        "generation_prompt": "<s><start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\n",
        "no_generation_prompt": "<s><start_of_turn>user\nHi<end_of_turn>\n",
    },
    "glm_ocr": GLM4,
    "glmz1": GLM_REASONING,
    "kimi_vl": _kimi("You are a helpful assistant"),
}
