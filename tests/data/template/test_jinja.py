"""Every template's exported chat_template renders exactly like the template itself.

Rendered through a real tokenizer's ``apply_chat_template`` (what vLLM, TGI and transformers users
call on a saved checkpoint), on single-turn, multi-turn, with/without system, generation prompt,
tools (single, parallel, text + calls, multi-step) and thinking conversations.
"""

from __future__ import annotations

import dataclasses
import json

import pytest
from transformers import AutoTokenizer

from tunefactory.data.template import TEMPLATES, to_jinja, to_openai_messages

TOOLS = [{"name": "get_weather", "description": "Weather for a city",
          "parameters": {"type": "object",
                         "properties": {"city": {"type": "string", "description": "City name"},
                                        "unit": {"type": "string", "enum": ["c", "f"]},
                                        "days": {"type": "array", "items": {"type": "integer"}}},
                         "required": ["city"]}},
         {"name": "search", "description": "Web search 🔎", "parameters": {"type": "object", "properties": {}}}]
CALL = '{"name": "get_weather", "arguments": {"city": "Paris"}}'
PARALLEL = ('[{"name": "get_weather", "arguments": {"city": "Paris"}}, '
            '{"name": "get_weather", "arguments": {"city": "Rome", "unit": "c"}}]')
TEXT_AND_CALL = f"Checking.<tool_call>{CALL}</tool_call>"
U, A = "user", "assistant"

CONVERSATIONS = {
    "single": ([{"role": U, "content": "Hi"}, {"role": A, "content": "Hello!"}], None, None),
    "system": ([{"role": U, "content": "Hi"}, {"role": A, "content": "Hello!"}], "Be brief.", None),
    "multi": ([{"role": U, "content": "Hi"}, {"role": A, "content": "Hello!"},
               {"role": U, "content": "What's 2+2?"}, {"role": A, "content": "It's 4."}], "Be brief.", None),
    "open": ([{"role": U, "content": "Hi"}, {"role": A, "content": "Hello!"}, {"role": U, "content": "Bye"}],
             None, None),
    "quotes": ([{"role": U, "content": "Say 'hi' \\ \"there\"\n{{ x }}"}, {"role": A, "content": "'hi'"}],
               "It's {% raw %}", None),
    "tools": ([{"role": U, "content": "Weather in Paris?"}, {"role": "function", "content": CALL},
               {"role": "observation", "content": '{"temp": 21}'}, {"role": A, "content": "It is 21C."}],
              None, TOOLS),
    "parallel": ([{"role": U, "content": "Paris and Rome?"}, {"role": "function", "content": PARALLEL},
                  {"role": "observation", "content": '["21", "25"]'}, {"role": A, "content": "21 and 25."}],
                 "Use tools.", TOOLS),
    "text_and_call": ([{"role": U, "content": "Paris?"}, {"role": "function", "content": TEXT_AND_CALL},
                       {"role": "observation", "content": "21"}, {"role": A, "content": "21."}], None, TOOLS),
    "multistep": ([{"role": U, "content": "Compare"}, {"role": "function", "content": CALL},
                   {"role": "observation", "content": "21"},
                   {"role": "function", "content": '{"name": "search", "arguments": {}}'},
                   {"role": "observation", "content": "none"}, {"role": A, "content": "Done."}], None, TOOLS),
    "thinking": ([{"role": U, "content": "Hi"}, {"role": A, "content": "<think>\nsay hi\n</think>\n\nHello!"},
                  {"role": U, "content": "2+2?"}, {"role": A, "content": "<think>\nadd\n</think>\n\n4"}],
                 None, None),
    "no_thought": ([{"role": U, "content": "2+2?"}, {"role": A, "content": "4"}], None, None),
}


@pytest.fixture(scope="module")
def tokenizer(tiny_llama):
    return AutoTokenizer.from_pretrained(tiny_llama)


def _cases():
    for name, template in TEMPLATES.items():
        for case, (messages, _, _) in CONVERSATIONS.items():
            if template.tool_format == "glm4" and case == "parallel":
                continue  # GLM-4's format has no parallel calls (tested in test_tools)
            if template.tools.text_separator is None and case == "text_and_call":
                continue  # nor text beside calls for some families (tested in test_tools)
            for generation in ([True, False] if messages[-1]["role"] == U else [False]):
                yield pytest.param(name, case, generation, id=f"{name}-{case}-{'gen' if generation else 'nogen'}")


@pytest.mark.parametrize("name,case,generation", list(_cases()))
def test_exported_jinja_renders_like_template(tokenizer, name, case, generation):
    template = TEMPLATES[name]
    messages, system, tools = CONVERSATIONS[case]
    _assert_same(tokenizer, template, messages, system, tools, generation)


@pytest.mark.parametrize("thinking", [True, False])
@pytest.mark.parametrize("preserve", [True, False])
@pytest.mark.parametrize("name", [n for n, t in TEMPLATES.items() if t.reasoning])
@pytest.mark.parametrize("case", ["thinking", "no_thought", "open", "tools"])
def test_reasoning_settings_survive_export(tokenizer, name, case, thinking, preserve):
    template = dataclasses.replace(TEMPLATES[name], enable_thinking=thinking, preserve_thinking=preserve)
    messages, system, tools = CONVERSATIONS[case]
    _assert_same(tokenizer, template, messages, system, tools, generation=True)


def test_enable_thinking_can_be_passed_at_chat_time(tokenizer):
    """A saved qwen3 tokenizer honours apply_chat_template(..., enable_thinking=False), like Qwen's own."""
    template = TEMPLATES["qwen3"]
    tokenizer = _with_template(tokenizer, template)
    chat = [{"role": U, "content": "Hi"}]
    off = tokenizer.apply_chat_template(chat, tokenize=False, add_generation_prompt=True, enable_thinking=False)
    on = tokenizer.apply_chat_template(chat, tokenize=False, add_generation_prompt=True)
    assert on == "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
    assert off == on + "<think>\n\n</think>\n\n"
    assert off == dataclasses.replace(template, enable_thinking=False).render(chat)


def test_reasoning_content_field_is_read_like_an_inline_thought(tokenizer):
    tokenizer = _with_template(tokenizer, TEMPLATES["qwen3"])
    inline = [{"role": U, "content": "Hi"}, {"role": A, "content": "<think>\nhmm\n</think>\n\nHello"}]
    separate = [{"role": U, "content": "Hi"}, {"role": A, "content": "Hello", "reasoning_content": "hmm"}]
    assert tokenizer.apply_chat_template(separate, tokenize=False) == tokenizer.apply_chat_template(
        inline, tokenize=False)


def test_openai_string_arguments_render_like_objects(tokenizer):
    tokenizer = _with_template(tokenizer, TEMPLATES["qwen"])
    as_object = to_openai_messages(CONVERSATIONS["tools"][0])
    as_string = json.loads(json.dumps(as_object))
    as_string[1]["tool_calls"][0]["function"]["arguments"] = json.dumps({"city": "Paris"})
    assert tokenizer.apply_chat_template(as_string, tools=TOOLS, tokenize=False) == tokenizer.apply_chat_template(
        as_object, tools=TOOLS, tokenize=False)


def test_export_bakes_in_the_tokenizers_bos_and_eos(tokenizer):
    jinja = to_jinja(TEMPLATES["llama2"], "<|begin_of_text|>", "<|end_of_text|>")
    assert "<|begin_of_text|>" in jinja and "<|end_of_text|>" in jinja
    assert "bos_token" not in jinja and "eos_token" not in jinja


def _with_template(tokenizer, template):
    clone = AutoTokenizer.from_pretrained(tokenizer.name_or_path)
    clone.chat_template = to_jinja(template, clone.bos_token or "", clone.eos_token or "")
    return clone


def _assert_same(tokenizer, template, messages, system, tools, generation):
    bos, eos = tokenizer.bos_token or "", tokenizer.eos_token or ""
    ours = template.render(messages, system, json.dumps(tools) if tools else None, bos=bos, eos=eos,
                           add_generation_prompt=generation)
    tokenizer.chat_template = to_jinja(template, bos, eos)
    theirs = tokenizer.apply_chat_template(to_openai_messages(messages, system), tools=tools, tokenize=False,
                                           add_generation_prompt=generation)
    assert theirs == ours
