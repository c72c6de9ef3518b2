"""The registered templates, by LLaMA-Factory's names, each in its family's published chat format.

Where LLaMA-Factory's rendering differs from the family's own chat template we follow the family
and say so in ``notes`` (listed in docs/templates.md).
"""

from __future__ import annotations

from .core import Template

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

_TEMPLATES = [
    Template("default", system=f"System: {C}{EOS}\n", user=f"Human: {C}{EOS}\n", generation_prompt="Assistant:",
             assistant=f"{C}{EOS}\n", family="any base model (a plain Human/Assistant dialogue)"),
    Template("empty", assistant=C, family="raw text, no formatting at all"),
    Template("alpaca", user=f"### Instruction:\n{C}\n\n", generation_prompt="### Response:\n",
             assistant=f"{C}{EOS}\n\n", family="Stanford Alpaca instruction format",
             default_system=("Below is an instruction that describes a task. "
                             "Write a response that appropriately completes the request.\n\n")),
    Template("vicuna", **VICUNA, family="Vicuna v1.1 / FastChat",
             notes=("The system prompt is followed by a space and the answer follows `ASSISTANT:` after a space, "
                    "as in FastChat; LLaMA-Factory writes neither space.",)),
    Template("llava", **VICUNA, multimodal="llava", family="LLaVA-1.5 (Vicuna format with <image>)"),
    Template("chatml", **CHATML, observation=f"<|im_start|>tool\n{C}<|im_end|>\n",
             stop_words=("<|im_end|>", "<|im_start|>"), replace_eos=True, family="generic ChatML models"),
    Template("qwen", **QWEN, default_system="You are Qwen, created by Alibaba Cloud. You are a helpful assistant.",
             family="Qwen1.5, Qwen2, Qwen2.5 (and their Coder/Math variants)"),
    Template("qwen3", **QWEN, reasoning=True, family="Qwen3 (hybrid thinking)"),
    Template("qwen3_nothink", **QWEN, family="Qwen3 Instruct-2507 and other Qwen3 models used without thinking"),
    Template("qwen2_vl", **QWEN, default_system="You are a helpful assistant.", multimodal="qwen2_vl",
             family="Qwen2-VL, Qwen2.5-VL"),
    Template("llama2", user=f"{BOS}[INST] {C} [/INST]", assistant=f" {C} {EOS}",
             system=f"<<SYS>>\n{C}\n<</SYS>>\n\n", system_in_user=True, family="Llama 2 chat",
             notes=("Answers are written ` answer </s>` (spaces on both sides) as in Meta's template; "
                    "LLaMA-Factory writes `answer</s>`.",)),
    Template("llama3", **LLAMA3, family="Llama 3, 3.1, 3.2, 3.3 Instruct",
             notes=("Without tools no `Cutting Knowledge Date` header is written (Llama 3.0 format); with tools "
                    "the 3.1 JSON tool prompt (`Environment: ipython`, tools before the system text, as with "
                    "`tools_in_user_message=false`) uses the fixed date 26 Jul 2024, the official template's default, "
                    "so renders are reproducible (LLaMA-Factory uses today's date).",)),
    Template("llama4", prefix=BOS, system=f"<|header_start|>system<|header_end|>\n\n{C}<|eot|>",
             user=f"<|header_start|>user<|header_end|>\n\n{C}<|eot|>",
             generation_prompt="<|header_start|>assistant<|header_end|>\n\n", assistant=f"{C}<|eot|>",
             observation=f"<|header_start|>ipython<|header_end|>\n\n{C}<|eot|>", tool_format="llama3",
             stop_words=("<|eot|>", "<|eom|>"), replace_eos=True, multimodal="llama4", family="Llama 4"),
    Template("mistral", prefix=BOS, user=f"[INST] {C}[/INST]", assistant=f" {C}{EOS}",
             function=f"[TOOL_CALLS] {C}{EOS}", system=f"{C}\n\n", system_in_user=True,
             observation=f'[TOOL_RESULTS] {{"content": {C}}}[/TOOL_RESULTS]', tool_format="mistral",
             family="Mistral 7B Instruct v0.1-v0.3, Mixtral (tokenizer v1-v3)",
             notes=("The system prompt opens the first user message; Mistral's v0.3 template puts it (and the "
                    "tool list) before the last user message instead, which would change earlier turns' ids.",)),
    Template("ministral", prefix=BOS, user=f"[INST]{C}[/INST]", assistant=f"{C}{EOS}",
             function=f"[TOOL_CALLS]{C}{EOS}", system=f"{C}\n\n", system_in_user=True,
             observation=f'[TOOL_RESULTS]{{"content": {C}}}[/TOOL_RESULTS]', tool_format="mistral",
             family="Ministral, Mistral NeMo, Mistral Small (tekken tokenizer)"),
    Template("gemma", **GEMMA, family="Gemma, Gemma 2"),
    Template("gemma3", **GEMMA, multimodal="gemma3", family="Gemma 3"),
    Template("chatglm3", **dict(GLM, prefix="[gMASK]sop", system=f"<|system|>\n {C}", user=f"<|user|>\n {C}",
                                assistant=f"\n {C}", observation=f"<|observation|>\n {C}"), family="ChatGLM3",
             notes=("Each role tag is followed by a newline and a space, as in ChatGLM3's template; "
                    "LLaMA-Factory omits the space.",)),
    Template("glm4", **dict(GLM, prefix="[gMASK]<sop>"), family="GLM-4-9B-Chat, GLM-4-0414"),
    Template("deepseek", prefix=BOS, system=f"{C}\n\n", user=f"User: {C}\n\n", generation_prompt="Assistant:",
             assistant=f" {C}{EOS}", family="DeepSeek LLM / MoE chat (v1)", notes=(LF_SPACE_NOTE,)),
    Template("deepseek3", **DEEPSEEK3, family="DeepSeek-V2.5, V3"),
    Template("deepseekr1", **DEEPSEEK3, reasoning=True, family="DeepSeek-R1 and its distilled models"),
    Template("phi", system=f"<|system|>\n{C}<|end|>\n", user=f"<|user|>\n{C}<|end|>\n",
             generation_prompt="<|assistant|>\n", assistant=f"{C}<|end|>\n", stop_words=("<|end|>",),
             replace_eos=True, family="Phi-3, Phi-3.5"),
    Template("phi4", system=f"<|im_start|>system<|im_sep|>{C}<|im_end|>",
             user=f"<|im_start|>user<|im_sep|>{C}<|im_end|>",
             generation_prompt="<|im_start|>assistant<|im_sep|>", assistant=f"{C}<|im_end|>",
             stop_words=("<|im_end|>",), replace_eos=True, family="Phi-4"),
    Template("yi", **CHATML, stop_words=("<|im_end|>",), family="Yi, Yi-1.5 chat"),
    Template("baichuan2", user=f"<reserved_106>{C}", generation_prompt="<reserved_107>", assistant=C,
             efficient_eos=True, family="Baichuan2 chat"),
    Template("cohere", prefix=BOS, system=f"<|START_OF_TURN_TOKEN|><|SYSTEM_TOKEN|>{C}<|END_OF_TURN_TOKEN|>",
             user=f"<|START_OF_TURN_TOKEN|><|USER_TOKEN|>{C}<|END_OF_TURN_TOKEN|>",
             generation_prompt="<|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>", assistant=f"{C}<|END_OF_TURN_TOKEN|>",
             stop_words=("<|END_OF_TURN_TOKEN|>",), replace_eos=True, family="Command R, Command R+, Aya"),
    Template("falcon", user=f"User: {C}\n", generation_prompt="Falcon:", assistant=f"{C}\n", efficient_eos=True,
             family="Falcon instruct"),
    Template("fewshot", assistant=f"{C}\n\n", efficient_eos=True,
             family="few-shot benchmark prompts for base models (`tunefactory eval`)"),
    Template("intern2", **dict(CHATML, prefix=BOS), default_system=INTERNLM_SYSTEM, stop_words=("<|im_end|>",),
             family="InternLM2, InternLM2.5"),
    Template("granite3", system=f"<|start_of_role|>system<|end_of_role|>{C}<|end_of_text|>\n",
             user=f"<|start_of_role|>user<|end_of_role|>{C}<|end_of_text|>\n",
             generation_prompt="<|start_of_role|>assistant<|end_of_role|>", assistant=f"{C}<|end_of_text|>\n",
             observation=f"<|start_of_role|>tool_response<|end_of_role|>{C}<|end_of_text|>\n",
             family="IBM Granite 3.0-3.3 instruct",
             notes=("Tool results use Granite's `tool_response` role; LLaMA-Factory writes them as user turns.",)),
    Template("zephyr", system=f"<|system|>\n{C}{EOS}\n", user=f"<|user|>\n{C}{EOS}\n",
             generation_prompt="<|assistant|>\n", assistant=f"{C}{EOS}\n",
             family="Zephyr",
             notes=("Every turn ends `</s>` plus a newline, as Zephyr's template renders; "
                    "LLaMA-Factory drops the newlines and adds a default system prompt Zephyr does not have.",)),
    Template("smollm2", **CHATML,
             default_system="You are a helpful AI assistant named SmolLM, trained by Hugging Face",
             stop_words=("<|im_end|>",), family="SmolLM2 instruct",
             notes=("The default system prompt has no final period, as in SmolLM2's template.",)),
    Template("olmo", prefix=EOS, system=f"<|system|>\n{C}\n", user=f"<|user|>\n{C}\n",
             generation_prompt="<|assistant|>\n",
             assistant=f"{C}{EOS}\n", family="OLMo, OLMo 2 instruct (Tulu format)",
             notes=("User turns end with a newline and answers with EOS plus a newline, as in the Tulu/OLMo "
                    "template; LLaMA-Factory writes `<|user|>\\nhi<|assistant|>\\n`.",)),
    Template("openchat", prefix=BOS, system=f"GPT4 Correct System: {C}{EOS}", user=f"GPT4 Correct User: {C}{EOS}",
             generation_prompt="GPT4 Correct Assistant:", assistant=f" {C}{EOS}", family="OpenChat 3.5",
             notes=(LF_SPACE_NOTE, "A system prompt is written `GPT4 Correct System: ...<|end_of_turn|>` as "
                    "OpenChat's template does; LLaMA-Factory writes it bare."),),
    Template("solar", system=f"### System:\n{C}\n\n", user=f"### User:\n{C}\n\n", generation_prompt="### Assistant:\n",
             assistant=C, efficient_eos=True, family="SOLAR-10.7B-Instruct"),
    Template("gpt_oss", system=f"<|start|>system<|message|>{C}<|end|>", user=f"<|start|>user<|message|>{C}<|end|>",
             generation_prompt="<|start|>assistant", assistant=f"{C}{EOS}", reasoning=True,
             thought_words=("<|channel|>analysis<|message|>", "<|end|><|start|>assistant"),
             answer_header="<|channel|>final<|message|>",
             stop_words=("<|return|>", "<|call|>"),
             default_system="You are ChatGPT, a large language model trained by OpenAI.", family="gpt-oss",
             notes=("A subset of OpenAI's Harmony format: no developer message, reasoning-effort line or "
                    "commentary channel; every answer ends with EOS (`<|return|>`).",)),
]

TEMPLATES: dict[str, Template] = {template.name: template for template in _TEMPLATES}




def templates_markdown() -> str:
    """The registry as the table in docs/templates.md (kept in sync by a test)."""
    rows = ["| template | for | tool format | stop words | notes |", "| --- | --- | --- | --- | --- |"]
    for t in _TEMPLATES:
        flags = [flag for flag, on in (("reasoning", t.reasoning), ("efficient_eos", t.efficient_eos),
                                        ("replace_eos", t.replace_eos), (f"multimodal: {t.multimodal}", t.multimodal))
                 if on]
        stops = ", ".join(f"`{word}`" for word in t.stop_words) or "EOS"
        notes = "; ".join(flags + list(t.notes)).replace("|", "\\|")
        rows.append(f"| `{t.name}` | {t.family} | {t.tool_format} | {stops.replace('|', chr(92) + '|')} | {notes} |")
    return "\n".join(rows) + "\n"


MARKER = "<!-- generated from families.py: edit there, then `make docs` -->\n"

if __name__ == "__main__":  # `make docs`: refresh the table at the end of docs/templates.md
    import sys
    from pathlib import Path

    path = Path(sys.argv[1])
    head = path.read_text(encoding="utf-8").split(MARKER)[0]
    path.write_text(head + MARKER + templates_markdown(), encoding="utf-8")
