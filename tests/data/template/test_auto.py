"""`template: auto`: training on the tokenizer's own chat_template, with the official templates of real models.

Each case gives a tiny tokenizer a real model's chat_template (the fixtures of test_official.py) and its
special tokens, then checks that the per-turn ids cut from incremental renders equal the official rendering
(and the named template's ids where that template is exact), and that the tokenizer saved after training
renders exactly the text training used.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from transformers import AutoTokenizer

from tunefactory.config.data_args import DataArguments
from tunefactory.data.template import TokenizerChatTemplate, get_template, to_openai_messages
from tunefactory.errors import ConfigError

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "chat_templates"
SYSTEM = "Be brief."
CHAT = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"},
        {"role": "user", "content": "How are you?"}, {"role": "assistant", "content": "Fine."}]
GEMMA_TOKENS = {"bos_token": "<bos>", "eos_token": "<eos>",
                "additional_special_tokens": ["<start_of_turn>", "<end_of_turn>"]}

# fixture, tiny tokenizer, special tokens to give it, the system prompt (Gemma 2's template refuses one), the
# named template whose ids auto must equal (None: it knowingly differs), the answer segment's expected text
CASES = {
    "qwen2.5": ("qwen.jinja", "tiny_qwen2", {"eos_token": "<|im_end|>"}, SYSTEM, "qwen", "Hello!<|im_end|>\n"),
    "llama3.1": ("extra/llama3_1.jinja", "tiny_llama", {"eos_token": "<|eot_id|>"}, SYSTEM, None,
                 "Hello!<|eot_id|>"),
    "gemma2": ("gemma2.jinja", "tiny_llama", GEMMA_TOKENS, None, "gemma2", "Hello!<end_of_turn>\n"),
}


def official_jinja(name: str) -> str:
    from test_official import HEADER  # the fixture header format, defined once

    return HEADER.sub("", (FIXTURES / name).read_text(encoding="utf-8"))


def tokenizer_with(path, tokens: dict, chat_template: str | None):
    tokenizer = AutoTokenizer.from_pretrained(path)
    tokenizer.add_special_tokens(tokens, replace_extra_special_tokens=False)
    tokenizer.chat_template = chat_template
    return tokenizer


@pytest.mark.parametrize("case", list(CASES))
def test_auto_cuts_turns_from_the_official_template(case, request, tmp_path, caplog):
    fixture, model, tokens, system, named, answer = CASES[case]
    jinja = official_jinja(fixture)
    tokenizer = tokenizer_with(request.getfixturevalue(model), tokens, jinja)
    with caplog.at_level(logging.INFO, logger="tunefactory.data.template.resolve"):
        template = get_template(tokenizer, DataArguments(template="auto"))
    assert isinstance(template, TokenizerChatTemplate) and tokenizer.chat_template == jinja

    pairs = template.encode_multiturn(tokenizer, CHAT, system=system)
    ids = [i for prompt, response in pairs for i in prompt + response]
    official = tokenizer.apply_chat_template(to_openai_messages(CHAT, system), tokenize=False)
    assert tokenizer.decode(ids) == official
    assert ids == tokenizer.encode(official, add_special_tokens=False)
    assert tokenizer.decode(pairs[0][1]) == answer  # the loss covers exactly the answer and its turn end

    if named is not None:
        named_tokenizer = tokenizer_with(request.getfixturevalue(model), tokens, None)
        named_pairs = get_template(named_tokenizer, DataArguments(template=named)).encode_multiturn(
            named_tokenizer, CHAT, system=system)
        assert named_pairs == pairs
        assert "renders like our" in caplog.text  # so auto borrows a named template's stop words

    tokenizer.save_pretrained(tmp_path)
    saved = AutoTokenizer.from_pretrained(tmp_path)
    assert saved.apply_chat_template(to_openai_messages(CHAT, system), tokenize=False) == tokenizer.decode(ids)


def test_auto_needs_a_chat_template(tiny_llama):
    with pytest.raises(ConfigError, match="template: `auto` uses the tokenizer's own chat_template"):
        get_template(AutoTokenizer.from_pretrained(tiny_llama), DataArguments(template="auto"))


def test_dropped_names_point_to_a_living_template():
    with pytest.raises(ConfigError, match="'baichuan2' is not available: LLaMA-Factory dropped Baichuan2"):
        get_template(None, DataArguments(template="baichuan2"))
