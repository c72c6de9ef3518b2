"""Hand goldens for the Meta, Mistral, Microsoft and LLaVA-family names that have no official fixture.

Written from each format (the base model's published chat format, or LLaMA-Factory's where the checkpoint
publishes no chat template), with the conversations of test_families.py, BOS "<s>" and EOS "</s>".
Where a template's notes describe a deliberate choice, the expected string follows the note.
"""

VICUNA_SYSTEM = (
    "A chat between a curious user and an artificial intelligence assistant. "
    "The assistant gives helpful, detailed, and polite answers to the user's questions."
)
LLAMA2_ZH_SYSTEM = "You are a helpful assistant. 你是一个乐于助人的助手。"

VICUNA_CASES = {  # LLaVA's conv_vicuna_v1: "ROLE: message", sep " ", sep2 "</s>"
    "single_turn": VICUNA_SYSTEM + " USER: Hi ASSISTANT: Hello!</s>",
    "system": "Be brief. USER: Hi ASSISTANT: Hello!</s>",
    "multi_turn": "Be brief. USER: Hi ASSISTANT: Hello!</s>USER: How are you? ASSISTANT: Fine.</s>",
    "generation_prompt": VICUNA_SYSTEM + " USER: Hi ASSISTANT:",
    "no_generation_prompt": VICUNA_SYSTEM + " USER: Hi ",
}
LLAMA3_CASES = {  # Meta-Llama-3-Instruct, without the 3.1 date header (notes)
    "single_turn": "<s><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
                   "<|start_header_id|>assistant<|end_header_id|>\n\nHello!<|eot_id|>",
    "system": "<s><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>"
              "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
              "<|start_header_id|>assistant<|end_header_id|>\n\nHello!<|eot_id|>",
    "multi_turn": "<s><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>"
                  "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
                  "<|start_header_id|>assistant<|end_header_id|>\n\nHello!<|eot_id|>"
                  "<|start_header_id|>user<|end_header_id|>\n\nHow are you?<|eot_id|>"
                  "<|start_header_id|>assistant<|end_header_id|>\n\nFine.<|eot_id|>",
    "generation_prompt": "<s><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
                         "<|start_header_id|>assistant<|end_header_id|>\n\n",
    "no_generation_prompt": "<s><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>",
}
MISTRAL_V2_CASES = {  # Mistral-7B-Instruct-v0.2 base: "[INST] q[/INST] a</s>", system in the first turn (notes)
    "single_turn": "<s>[INST] Hi[/INST] Hello!</s>",
    "system": "<s>[INST] Be brief.\n\nHi[/INST] Hello!</s>",
    "multi_turn": "<s>[INST] Be brief.\n\nHi[/INST] Hello!</s>[INST] How are you?[/INST] Fine.</s>",
    "generation_prompt": "<s>[INST] Hi[/INST]",
    "no_generation_prompt": "<s>[INST] Hi[/INST]",
}
YI_CASES = {  # Yi-34B-Chat: ChatML, no default system
    "single_turn": "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello!<|im_end|>\n",
    "system": "<|im_start|>system\nBe brief.<|im_end|>\n"
              "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello!<|im_end|>\n",
    "multi_turn": "<|im_start|>system\nBe brief.<|im_end|>\n"
                  "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello!<|im_end|>\n"
                  "<|im_start|>user\nHow are you?<|im_end|>\n<|im_start|>assistant\nFine.<|im_end|>\n",
    "generation_prompt": "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n",
    "no_generation_prompt": "<|im_start|>user\nHi<|im_end|>\n",
}

CASES = {
    "llama2_zh": {  # Llama 2 chat format with the Chinese-Alpaca-2 default system prompt
        "single_turn": "<s>[INST] <<SYS>>\n" + LLAMA2_ZH_SYSTEM + "\n<</SYS>>\n\nHi [/INST] Hello! </s>",
        "system": "<s>[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHi [/INST] Hello! </s>",
        "multi_turn": "<s>[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHi [/INST] Hello! </s>"
                      "<s>[INST] How are you? [/INST] Fine. </s>",
        "generation_prompt": "<s>[INST] <<SYS>>\n" + LLAMA2_ZH_SYSTEM + "\n<</SYS>>\n\nHi [/INST]",
        "no_generation_prompt": "<s>[INST] <<SYS>>\n" + LLAMA2_ZH_SYSTEM + "\n<</SYS>>\n\nHi [/INST]",
    },
    "mllama": LLAMA3_CASES,
    "llava_next_llama3": LLAMA3_CASES,
    "pixtral": {  # Pixtral-12B: tekken, no spaces; system in the first user turn (notes)
        "single_turn": "<s>[INST]Hi[/INST]Hello!</s>",
        "system": "<s>[INST]Be brief.\n\nHi[/INST]Hello!</s>",
        "multi_turn": "<s>[INST]Be brief.\n\nHi[/INST]Hello!</s>[INST]How are you?[/INST]Fine.</s>",
        "generation_prompt": "<s>[INST]Hi[/INST]",
        "no_generation_prompt": "<s>[INST]Hi[/INST]",
    },
    "llava_next": VICUNA_CASES,
    "llava_next_video": VICUNA_CASES,
    "video_llava": VICUNA_CASES,
    "llava_next_video_mistral": MISTRAL_V2_CASES,
    "llava_next_qwen": {  # Qwen1.5 ChatML with "You are a helpful assistant." by default
        "single_turn": "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
                       "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello!<|im_end|>\n",
        "system": YI_CASES["system"],
        "multi_turn": YI_CASES["multi_turn"],
        "generation_prompt": "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
                             "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n",
        "no_generation_prompt": "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
                                "<|im_start|>user\nHi<|im_end|>\n",
    },
    "llava_next_video_yi": YI_CASES,
}
