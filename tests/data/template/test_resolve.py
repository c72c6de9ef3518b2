"""Choosing a run's template and fixing its tokenizer: added tokens, logs, warnings and saved chat_template."""

from __future__ import annotations

import logging

import pytest
from transformers import AutoTokenizer

from tunefactory.config.data_args import DataArguments
from tunefactory.data.template import TEMPLATES, TokenizerChatTemplate, get_template, to_jinja, to_openai_messages
from tunefactory.errors import ConfigError, DataError
from tunefactory_fixtures.tiny_models import ensure_tiny_model

CHAT = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"},
        {"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"}]
LOGGER = "tunefactory.data.template.resolve"


@pytest.fixture(scope="module")
def llama_without_eot(tiny_model_cache):
    return ensure_tiny_model(tiny_model_cache, arch="llama", size="tiny", drop_tokens=("<|eot_id|>",))


def _tokenizer(path):
    return AutoTokenizer.from_pretrained(path)


def test_llama3_adds_missing_eot_and_ends_every_turn_with_it(llama_without_eot, caplog):
    tokenizer = _tokenizer(llama_without_eot)
    assert "<|eot_id|>" not in tokenizer.get_vocab()
    size = len(tokenizer)
    with caplog.at_level(logging.INFO, logger=LOGGER):
        template = get_template(tokenizer, DataArguments(template="llama3"))
    assert "eos_token '<|end_of_text|>' -> '<|eot_id|>' (new token)" in caplog.text
    assert "pad_token set to the eos_token '<|eot_id|>'" in caplog.text
    eot = tokenizer.convert_tokens_to_ids("<|eot_id|>")
    assert len(tokenizer) == size + 1 and eot == size  # one new id, for the model loader to resize into
    assert tokenizer.eos_token == "<|eot_id|>"
    pairs = template.encode_multiturn(tokenizer, CHAT)
    assert len(pairs) == 2
    for prompt_ids, response_ids in pairs:
        assert response_ids[-1] == eot and response_ids.count(eot) == 1
        assert prompt_ids.count(eot) >= 1  # the user turn is closed with it too
    assert pairs[0][0][0] == tokenizer.bos_token_id
    assert template.stop_token_ids(tokenizer) == [eot, tokenizer.convert_tokens_to_ids("<|eom_id|>")]


def test_ids_decode_back_to_the_rendered_text(tiny_qwen2):
    tokenizer = _tokenizer(tiny_qwen2)
    template = get_template(tokenizer, DataArguments(template="qwen"))
    pairs = template.encode_multiturn(tokenizer, CHAT, system="Be brief.")
    ids = [i for prompt, response in pairs for i in prompt + response]
    assert tokenizer.decode(ids) == template.render(CHAT, "Be brief.", eos=tokenizer.eos_token)
    prompt, response = template.encode_oneturn(tokenizer, CHAT, system="Be brief.")
    assert prompt == pairs[0][0] + pairs[0][1] + pairs[1][0] and response == pairs[1][1]
    assert tokenizer.decode(response) == "4<|im_end|>\n"


def test_qwen_replaces_eos_but_keeps_pad(tiny_qwen2, caplog):
    tokenizer = _tokenizer(tiny_qwen2)
    with caplog.at_level(logging.INFO, logger=LOGGER):
        get_template(tokenizer, DataArguments(template="qwen"))
    assert tokenizer.eos_token == "<|im_end|>" and tokenizer.pad_token == "<|endoftext|>"
    assert "eos_token '<|endoftext|>' -> '<|im_end|>' because" in caplog.text
    assert "(new token)" not in caplog.text  # the tokenizer already had it


def test_stop_words_become_special_tokens(tiny_qwen2, caplog):
    tokenizer = _tokenizer(tiny_qwen2)
    with caplog.at_level(logging.INFO, logger=LOGGER):
        template = get_template(tokenizer, DataArguments(template="chatml"))
    assert "<|im_start|>" in tokenizer.all_special_tokens
    assert tokenizer.convert_tokens_to_ids("<|im_start|>") in template.stop_token_ids(tokenizer)


def test_saved_tokenizer_formats_chats_exactly_as_training(tiny_llama, tmp_path):
    tokenizer = _tokenizer(tiny_llama)
    template = get_template(tokenizer, DataArguments(template="llama3"))
    tokenizer.save_pretrained(tmp_path)
    reloaded = AutoTokenizer.from_pretrained(tmp_path)
    text = reloaded.apply_chat_template(to_openai_messages(CHAT, "Be brief."), tokenize=False)
    assert text == template.render(CHAT, "Be brief.", bos=reloaded.bos_token, eos=reloaded.eos_token)
    assert text.startswith("<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>")


def test_config_settings_reach_the_template(tiny_qwen2):
    tokenizer = _tokenizer(tiny_qwen2)
    args = DataArguments(template="qwen3", default_system="Sys", tool_format="llama3", enable_thinking=False,
                         preserve_thinking=True)
    template = get_template(tokenizer, args)
    assert (template.default_system, template.tool_format) == ("Sys", "llama3")
    assert (template.enable_thinking, template.preserve_thinking) == (False, True)
    assert TEMPLATES["qwen3"].enable_thinking is True  # the registry entry is never mutated
    assert template.render(CHAT[:1]).endswith("<|im_start|>assistant\n<think>\n\n</think>\n\n")


def test_unknown_template_lists_names_and_suggests():
    with pytest.raises(ConfigError) as error:
        get_template(None, DataArguments(template="qwen2.5"))
    message = str(error.value)
    assert "unknown template 'qwen2.5'" in message and "did you mean" in message and "qwen3_nothink" in message


def test_efficient_eos_rejects_train_on_prompt():
    with pytest.raises(ConfigError, match="train_on_prompt"):
        get_template(None, DataArguments(template="glm4", train_on_prompt=True))


def test_no_template_and_no_chat_template_falls_back_to_empty(tiny_llama, caplog):
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        template = get_template(_tokenizer(tiny_llama), DataArguments())
    assert template.name == "empty" and "using `empty`" in caplog.text


def test_no_template_recognises_a_known_chat_template(tiny_llama, caplog):
    tokenizer = _tokenizer(tiny_llama)
    tokenizer.chat_template = to_jinja(TEMPLATES["llama3"], tokenizer.bos_token, tokenizer.eos_token)
    with caplog.at_level(logging.INFO, logger=LOGGER):
        template = get_template(tokenizer, DataArguments())
    assert template.name == "llama3" and "renders exactly like our 'llama3' template" in caplog.text


def test_no_template_trains_with_the_tokenizers_own_chat_template(tiny_qwen2):
    tokenizer = _tokenizer(tiny_qwen2)
    own = ("{% for m in messages %}{{ '[' + m['role'] + ']: ' + m['content'] + '\\n' }}{% endfor %}"
           "{% if add_generation_prompt %}{{ '[assistant]: ' }}{% endif %}")
    tokenizer.chat_template = own
    template = get_template(tokenizer, DataArguments())
    assert isinstance(template, TokenizerChatTemplate)
    assert tokenizer.chat_template == own  # left as the model shipped it
    segments = template.segments(CHAT, "Be brief.")
    assert segments == ["[system]: Be brief.\n[user]: Hi\n[assistant]: ", "Hello!\n",
                        "[user]: 2+2?\n[assistant]: ", "4\n"]
    pairs = template.encode_multiturn(tokenizer, CHAT)
    assert tokenizer.decode(pairs[1][1]) == "4\n"


def test_tokenizer_template_that_rewrites_history_is_refused(tiny_qwen2):
    tokenizer = _tokenizer(tiny_qwen2)
    tokenizer.chat_template = to_jinja(TEMPLATES["qwen3"])  # drops earlier thoughts, like Qwen3's own
    template = get_template(tokenizer, DataArguments(template="auto"))
    assert isinstance(template, TokenizerChatTemplate)
    thinking = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "<think>\nx\n</think>\n\nHey"},
                {"role": "user", "content": "Bye"}, {"role": "assistant", "content": "Bye"}]
    with pytest.raises(DataError, match="rewrites earlier turns"):
        template.encode_multiturn(tokenizer, thinking)


def test_no_template_recognises_a_reasoning_template(tiny_qwen2):
    tokenizer = _tokenizer(tiny_qwen2)
    tokenizer.chat_template = to_jinja(TEMPLATES["qwen3"])
    assert get_template(tokenizer, DataArguments()).name == "qwen3"


def test_default_template_on_a_chat_model_warns_with_its_format(tiny_llama, caplog):
    tokenizer = _tokenizer(tiny_llama)
    tokenizer.chat_template = to_jinja(TEMPLATES["llama3"], tokenizer.bos_token, tokenizer.eos_token)
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        get_template(tokenizer, DataArguments(template="default"), "meta-llama/Llama-3.1-8B-Instruct")
    assert "on what looks like a chat model" in caplog.text and "our 'llama3' template" in caplog.text


def test_chat_template_on_a_base_model_warns(tiny_llama, caplog):
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        get_template(_tokenizer(tiny_llama), DataArguments(template="llama3"), "meta-llama/Llama-3.1-8B")
    assert "looks like a base model" in caplog.text and "'<|eot_id|>'" in caplog.text


def test_template_tokens_the_tokenizer_lacks_are_reported(tiny_qwen2, caplog):
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        get_template(_tokenizer(tiny_qwen2), DataArguments(template="llama3"))
    assert "<|start_header_id|>" in caplog.text and "Is 'llama3' the right template" in caplog.text


def test_matching_tokenizer_gets_no_token_warning(tiny_qwen2, caplog):
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        get_template(_tokenizer(tiny_qwen2), DataArguments(template="qwen"))
    assert "right template" not in caplog.text
