"""Every template against its model's published chat template, rendered by transformers.

Each fixture in tests/fixtures/chat_templates/ is a model's own ``chat_template`` (from its tokenizer
config, copied byte for byte), named after our template and headed by a comment saying where it came
from, the model's BOS/EOS strings, extra render arguments, and the conversation kinds where we knowingly
differ (``differs KIND: reason``, a strict xfail: fix the template and the mark must go) or that the
family's template cannot express (``n/a KIND: reason``, skipped):

    {#- tunefactory fixture
    source: Qwen/Qwen3-0.6B tokenizer_config.json (via ggml-org/llama.cpp models/templates/Qwen-Qwen3-0.6B.jinja)
    bos:
    eos: <|im_end|>
    kwargs: {"date_string": "26 Jul 2024"}
    differs tools: the official template ...
    -#}

Our side renders with the same BOS and with the EOS our tokenizer fix would install (the first stop word
for ``replace_eos`` templates), exactly as training writes the text.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tunefactory.data.template import TEMPLATES, to_openai_messages

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "chat_templates"
HEADER = re.compile(r"\A\{#- tunefactory fixture\n(?P<body>.*?)\n-#\}\n", re.S)

SYSTEM = "Be brief."
WEATHER_TOOL = {"name": "get_weather", "description": "Current weather for a city",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}
THOUGHT = "The user greets me."


def user(text):
    return {"role": "user", "content": text}


def assistant(text):
    return {"role": "assistant", "content": text}


TOOL_CHAT = [user("What's the weather in Paris?"),
             {"role": "function", "content": '{"name": "get_weather", "arguments": {"city": "Paris"}}'},
             {"role": "observation", "content": '{"temperature_c": 21}'},
             assistant("It is 21 °C in Paris.")]


@dataclass(frozen=True)
class Conversation:
    messages: list
    system: str | None = None
    tools: list | None = None
    add_generation_prompt: bool = False
    enable_thinking: bool | None = None  # None: the template's default
    reasoning_only: bool = False  # only for templates that write thought blocks
    thought: str | None = None  # the final answer's thought (as reasoning_content for the official side)


KINDS = {
    "single_turn": Conversation([user("Hi"), assistant("Hello!")]),
    "system": Conversation([user("Hi"), assistant("Hello!")], SYSTEM),
    "multi_turn": Conversation([user("Hi"), assistant("Hello!"), user("How are you?"), assistant("Fine.")], SYSTEM),
    "generation_prompt": Conversation([user("Hi")], add_generation_prompt=True),
    "system_generation_prompt": Conversation([user("Hi"), assistant("Hello!"), user("How are you?")], SYSTEM,
                                             add_generation_prompt=True),
    "tools": Conversation(TOOL_CHAT, SYSTEM, [WEATHER_TOOL]),
    "thinking": Conversation([user("Hi"), assistant("Hello!")], reasoning_only=True, thought=THOUGHT),
    "thinking_off": Conversation([user("Hi"), assistant("Hello!")], enable_thinking=False, reasoning_only=True),
    "thinking_off_prompt": Conversation([user("Hi")], add_generation_prompt=True, enable_thinking=False,
                                        reasoning_only=True),
}


@dataclass
class Fixture:
    name: str
    jinja: str
    source: str
    bos: str = ""
    eos: str = ""
    kwargs: dict = field(default_factory=dict)
    differs: dict = field(default_factory=dict)
    not_applicable: dict = field(default_factory=dict)


def load_fixture(path: Path) -> Fixture:
    text = path.read_text(encoding="utf-8")
    header = HEADER.match(text)
    assert header, f"{path.name}: the file must start with the '{{#- tunefactory fixture' header"
    fixture = Fixture(path.stem, text, source="")
    for line in header["body"].splitlines():
        key, _, value = line.partition(":")
        key, value = key.strip(), value.strip()
        if key.startswith("differs "):
            fixture.differs[key.removeprefix("differs ")] = value
        elif key.startswith("n/a "):
            fixture.not_applicable[key.removeprefix("n/a ")] = value
        elif key == "kwargs":
            fixture.kwargs = json.loads(value)
        elif key in ("source", "bos", "eos"):
            setattr(fixture, key, value)
        else:
            raise AssertionError(f"{path.name}: unknown header key {key!r}")
    assert fixture.source, f"{path.name}: name the fixture's source"
    for kind in (*fixture.differs, *fixture.not_applicable):
        assert kind in KINDS, f"{path.name}: unknown conversation kind {kind!r}; kinds: {', '.join(KINDS)}"
    return fixture


ALL_FIXTURES = {path.stem: load_fixture(path) for path in sorted(FIXTURES.glob("*.jinja"))}


def official_render(fixture: Fixture, conversation: Conversation) -> str:
    from transformers.utils.chat_template_utils import render_jinja_template

    chat = to_openai_messages(conversation.messages, conversation.system)
    if conversation.thought is not None:
        chat[-1] = {**chat[-1], "reasoning_content": conversation.thought, "thinking": conversation.thought}
    kwargs = dict(fixture.kwargs)
    if conversation.enable_thinking is not None:
        kwargs["enable_thinking"] = conversation.enable_thinking
    tools = [{"type": "function", "function": spec} for spec in conversation.tools] if conversation.tools else None
    rendered, _ = render_jinja_template([chat], tools=tools, chat_template=fixture.jinja,
                                        add_generation_prompt=conversation.add_generation_prompt,
                                        bos_token=fixture.bos, eos_token=fixture.eos, **kwargs)
    return rendered[0]


def our_render(fixture: Fixture, conversation: Conversation) -> str:
    template = TEMPLATES[fixture.name]
    if conversation.enable_thinking is not None:
        from dataclasses import replace

        template = replace(template, enable_thinking=conversation.enable_thinking)
    eos = template.stop_words[0] if template.replace_eos and template.stop_words else fixture.eos
    messages = list(conversation.messages)
    if conversation.thought is not None:
        opening, closing = template.thought_words
        messages[-1] = {**messages[-1], "content": opening + conversation.thought + closing + messages[-1]["content"]}
    return template.render(messages, conversation.system, conversation.tools, bos=fixture.bos, eos=eos,
                           add_generation_prompt=conversation.add_generation_prompt)


def _cases():
    for name, fixture in ALL_FIXTURES.items():
        reasoning = name in TEMPLATES and TEMPLATES[name].reasoning
        for kind, conversation in KINDS.items():
            if conversation.reasoning_only and not reasoning:
                continue
            marks = []
            if kind in fixture.not_applicable:
                marks.append(pytest.mark.skip(reason=fixture.not_applicable[kind]))
            elif kind in fixture.differs:
                marks.append(pytest.mark.xfail(reason=fixture.differs[kind], strict=True))
            yield pytest.param(name, kind, marks=marks, id=f"{name}-{kind}")


@pytest.mark.parametrize(("name", "kind"), list(_cases()))
def test_matches_official_template(name, kind):
    fixture, conversation = ALL_FIXTURES[name], KINDS[kind]
    assert our_render(fixture, conversation) == official_render(fixture, conversation)


def test_every_fixture_names_a_registered_template():
    assert sorted(set(ALL_FIXTURES) - set(TEMPLATES)) == []


@pytest.mark.parametrize("name", [name for name, fixture in ALL_FIXTURES.items() if fixture.differs])
def test_known_differences_are_documented(name):
    """A template that knowingly differs from its official rendering says so to users (its notes)."""
    assert TEMPLATES[name].notes, f"{name}: the fixture lists differences; document them in the template's notes"
