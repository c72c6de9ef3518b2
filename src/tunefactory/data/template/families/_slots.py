"""Slot pieces several families share (ChatML, Llama 3 headers, Gemma turns, …)."""

C = "{{content}}"
BOS, EOS = "{{bos_token}}", "{{eos_token}}"

CHATML = dict(system=f"<|im_start|>system\n{C}<|im_end|>\n", user=f"<|im_start|>user\n{C}<|im_end|>\n",
              generation_prompt="<|im_start|>assistant\n", assistant=f"{C}<|im_end|>\n")
QWEN = dict(CHATML, observation=f"<|im_start|>user\n<tool_response>\n{C}\n</tool_response><|im_end|>\n",
            tool_format="qwen", stop_words=("<|im_end|>",), replace_eos=True)
LLAMA3 = dict(prefix=BOS, system=f"<|start_header_id|>system<|end_header_id|>\n\n{C}<|eot_id|>",
              user=f"<|start_header_id|>user<|end_header_id|>\n\n{C}<|eot_id|>",
              generation_prompt="<|start_header_id|>assistant<|end_header_id|>\n\n", assistant=f"{C}<|eot_id|>",
              observation=f"<|start_header_id|>ipython<|end_header_id|>\n\n{C}<|eot_id|>",
              tool_format="llama3", stop_words=("<|eot_id|>", "<|eom_id|>"), replace_eos=True)
GEMMA = dict(prefix=BOS, system=f"{C}\n\n", system_in_user=True, user=f"<start_of_turn>user\n{C}<end_of_turn>\n",
             generation_prompt="<start_of_turn>model\n", assistant=f"{C}<end_of_turn>\n",
             observation=f"<start_of_turn>tool\n{C}<end_of_turn>\n", stop_words=("<end_of_turn>",), replace_eos=True)
GLM = dict(system=f"<|system|>\n{C}", user=f"<|user|>\n{C}", generation_prompt="<|assistant|>", assistant=f"\n{C}",
           function=C, observation=f"<|observation|>\n{C}", tool_format="glm4",
           stop_words=("<|user|>", "<|observation|>"), efficient_eos=True)
DEEPSEEK3 = dict(prefix=BOS, user=f"<｜User｜>{C}", generation_prompt="<｜Assistant｜>")
VICUNA_SYSTEM = ("A chat between a curious user and an artificial intelligence assistant. "
                 "The assistant gives helpful, detailed, and polite answers to the user's questions.")
VICUNA = dict(system=f"{C} ", user=f"USER: {C} ", generation_prompt="ASSISTANT:", assistant=f" {C}{EOS}",
              default_system=VICUNA_SYSTEM)
INTERNLM_SYSTEM = (
    "You are an AI assistant whose name is InternLM (书生·浦语).\n"
    "- InternLM (书生·浦语) is a conversational language model that is developed by Shanghai AI Laboratory "
    "(上海人工智能实验室). It is designed to be helpful, honest, and harmless.\n"
    "- InternLM (书生·浦语) can understand and communicate fluently in the language "
    "chosen by the user such as English and 中文."
)
LF_SPACE_NOTE = "LLaMA-Factory omits the space the official template puts between the header and the answer."
