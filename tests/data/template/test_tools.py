"""Tool calling formats: exact written forms, write/read round trips, templates and the bundled tool data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tunefactory.data.converters import FUNCTION, Converter
from tunefactory.data.registry import parse_entry, read_registry
from tunefactory.data.template import TEMPLATES
from tunefactory.data.template.tools import (
    LLAMA3_DATE,
    TOOL_FORMATS,
    FunctionCall,
    function_message,
    get_tool_format,
    parse_function_message,
    tool_specs,
)
from tunefactory.errors import DataError

DATA_DIR = Path(__file__).resolve().parents[3] / "data"
FORMAT_NAMES = ("default", "qwen", "llama3", "mistral", "glm4")

WEATHER = FunctionCall("get_weather", {"city": "Paris"})
CONVERT = FunctionCall("unit_convert", {"value": 18, "from_unit": "celsius", "to_unit": "fahrenheit"})
WEATHER_JSON = '{"name": "get_weather", "arguments": {"city": "Paris"}}'

WEATHER_SPEC = {
    "name": "get_weather",
    "description": "Get the current weather for a city.",
    "parameters": {"type": "object", "properties": {
        "city": {"type": "string", "description": "Name of the city."},
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"], "description": "Temperature unit."},
    }, "required": ["city"]},
}
CONVERT_SPEC = {
    "name": "unit_convert",
    "description": "Convert a quantity from one unit to another.",
    "parameters": {"type": "object", "properties": {
        "value": {"type": "number", "description": "The quantity."},
        "from_unit": {"type": "string", "description": "Unit of the value."},
        "to_unit": {"type": "string", "description": "Unit to convert to."},
    }, "required": ["value", "from_unit", "to_unit"]},
}
SPECS = [WEATHER_SPEC, CONVERT_SPEC]

CASES = {
    "single": [WEATHER],
    "parallel": [WEATHER, CONVERT],
    "nested": [FunctionCall("book_trip", {
        "traveller": {"name": "Ada", "age": 36, "tags": ["vip", {"level": 2}]},
        "legs": [{"from": "PAR", "to": "OSL", "stops": []}, {"from": "OSL", "to": "PAR", "stops": ["CPH"]}],
        "flexible": True, "budget": None, "ratio": 0.25,
    })],
    "unicode": [FunctionCall("get_weather", {"city": "北京", "note": "Zürich — café ☕ 😀"})],
    "quotes": [FunctionCall("search", {"query": 'He said "hi" and \'bye\'', "path": "C:\\temp\\{x}", "nl": "a\nb"})],
    "no_arguments": [FunctionCall("get_time", {})],
}


def user(text):
    return {"role": "user", "content": text}


def function(content):
    return {"role": "function", "content": content}


def observation(text):
    return {"role": "observation", "content": text}


def assistant(text):
    return {"role": "assistant", "content": text}


# --- 1. round trips ------------------------------------------------------------------------------

@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("name", FORMAT_NAMES)
def test_write_then_read_round_trips(name, case):
    fmt, calls = get_tool_format(name), CASES[case]
    if name == "glm4" and len(calls) > 1:
        with pytest.raises(DataError, match="glm4 tool format has no parallel calls"):
            fmt.write_calls(calls)
        return
    written = fmt.write_calls(calls)
    assert fmt.read_calls(written) == calls
    assert fmt.extract(written) == ("", calls)


@pytest.mark.parametrize("name", FORMAT_NAMES)
def test_non_ascii_is_written_unescaped(name):
    written = get_tool_format(name).write_calls(CASES["unicode"])
    assert "北京" in written and "Zürich — café ☕ 😀" in written
    assert "\\u" not in written


@pytest.mark.parametrize("template_name", ["mistral", "ministral"])
@pytest.mark.parametrize("case", list(CASES))
def test_mistral_reads_calls_from_the_function_slot(template_name, case):
    template, calls = TEMPLATES[template_name], CASES[case]
    segment = template.segments([user("go"), function(function_message("", calls))], bos="<s>", eos="</s>")[1]
    assert segment.startswith("[TOOL_CALLS]") and segment.endswith("</s>")
    generated = segment.removesuffix("</s>")
    assert template.tools.read_calls(generated) == calls
    assert template.extract_tool_calls(generated) == ("", calls)


@pytest.mark.parametrize("calls", [[WEATHER], [WEATHER, CONVERT], CASES["quotes"]],
                         ids=["single", "parallel", "quotes"])
@pytest.mark.parametrize("text", ["", "Let me check."])
def test_function_message_and_parse_are_inverse(text, calls):
    content = function_message(text, calls)
    assert parse_function_message(content) == (text, calls)
    if not text:
        assert "<tool_call>" not in content  # bare JSON when there is no text


# --- 2. exact written forms ----------------------------------------------------------------------

CONVERT_ARGS = '{"value": 18, "from_unit": "celsius", "to_unit": "fahrenheit"}'
EXACT = {
    "qwen": (
        '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>',
        '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>\n'
        f'<tool_call>\n{{"name": "unit_convert", "arguments": {CONVERT_ARGS}}}\n</tool_call>',
    ),
    "llama3": (
        '{"name": "get_weather", "parameters": {"city": "Paris"}}',
        f'[{{"name": "get_weather", "parameters": {{"city": "Paris"}}}}, '
        f'{{"name": "unit_convert", "parameters": {CONVERT_ARGS}}}]',
    ),
    "mistral": (
        '[{"name": "get_weather", "arguments": {"city": "Paris"}}]',
        f'[{{"name": "get_weather", "arguments": {{"city": "Paris"}}}}, '
        f'{{"name": "unit_convert", "arguments": {CONVERT_ARGS}}}]',
    ),
    "glm4": ('get_weather\n{"city": "Paris"}', None),
    "default": (
        'Action: get_weather\nAction Input: {"city": "Paris"}',
        f'Action: get_weather\nAction Input: {{"city": "Paris"}}\nAction: unit_convert\nAction Input: {CONVERT_ARGS}',
    ),
}


@pytest.mark.parametrize("name", FORMAT_NAMES)
def test_exact_written_forms(name):
    single, parallel = EXACT[name]
    fmt = get_tool_format(name)
    assert fmt.write_calls([WEATHER]) == single
    if parallel is not None:
        assert fmt.write_calls([WEATHER, CONVERT]) == parallel


@pytest.mark.parametrize("name", FORMAT_NAMES)
def test_render_function_writes_the_canonical_message_natively(name):
    assert get_tool_format(name).render_function(WEATHER_JSON) == EXACT[name][0]


# --- 3. assistant text together with tool calls --------------------------------------------------

@pytest.mark.parametrize("content", [
    f"Let me check.<tool_call>{WEATHER_JSON}</tool_call>",
    f"Let me check. {WEATHER_JSON}",
    f"Let me check.\n<tool_call>\n{WEATHER_JSON}\n</tool_call>\n",
    f"Let me check [quickly]. {WEATHER_JSON}",  # a bracket in the text is not the start of the JSON
], ids=["wrapped", "bare", "wrapped_newlines", "bracket_in_text"])
def test_parse_function_message_splits_text_and_calls(content):
    text, calls = parse_function_message(content)
    assert calls == [WEATHER]
    assert text == ("Let me check [quickly]." if "[quickly]" in content else "Let me check.")


def test_parse_function_message_with_text_and_parallel_list():
    content = f"Checking both. [{WEATHER_JSON}, {json.dumps({'name': CONVERT.name, 'arguments': CONVERT.arguments})}]"
    assert parse_function_message(content) == ("Checking both.", [WEATHER, CONVERT])


def test_qwen_renders_text_then_tool_call_in_the_assistant_segment():
    template = TEMPLATES["qwen"]
    for content in (f"Let me check.<tool_call>{WEATHER_JSON}</tool_call>", f"Let me check. {WEATHER_JSON}"):
        segments = template.segments([user("Weather in Paris?"), function(content)], system="S")
        assert segments[1] == f"Let me check.\n<tool_call>\n{WEATHER_JSON}\n</tool_call><|im_end|>\n"
        assert segments[0].endswith("<|im_start|>user\nWeather in Paris?<|im_end|>\n<|im_start|>assistant\n")


def test_qwen_extracts_text_and_calls_from_generated_text():
    generated = f"Let me check.\n<tool_call>\n{WEATHER_JSON}\n</tool_call>"
    assert TEMPLATES["qwen"].extract_tool_calls(generated) == ("Let me check.", [WEATHER])
    parallel = generated + f'\n<tool_call>\n{{"name": "unit_convert", "arguments": {CONVERT_ARGS}}}\n</tool_call>'
    assert TEMPLATES["qwen"].extract_tool_calls(parallel) == ("Let me check.", [WEATHER, CONVERT])


@pytest.mark.parametrize("name", ["qwen", "default", "mistral"])
def test_extract_returns_text_before_the_calls(name):
    fmt = get_tool_format(name)
    marker = "[TOOL_CALLS] " if name == "mistral" else ""
    generated = f"Let me check.\n{marker}{fmt.write_calls([WEATHER, CONVERT])}"
    assert fmt.extract(generated) == ("Let me check.", [WEATHER, CONVERT])


@pytest.mark.parametrize("template_name", ["qwen", "chatml"])  # qwen and default formats; others: see xfails
def test_rendered_text_and_calls_are_recovered_by_extract(template_name):
    """What a template trains the model to write for 'text + call' is what the server can read back."""
    template = TEMPLATES[template_name]
    end = "<|im_end|>\n"
    segment = template.segments([user("Weather in Paris?"), function(f"Let me check. {WEATHER_JSON}")],
                                eos="</s>")[1]
    text, calls = template.extract_tool_calls(segment.removesuffix(end))
    assert calls == [WEATHER]
    assert text == "Let me check."


# --- 4. multi-step trajectories ------------------------------------------------------------------

WEATHER_RESULT = '{"city": "Paris", "temperature": 18, "unit": "celsius"}'
CONVERT_RESULT = '{"value": 64.4, "unit": "fahrenheit"}'
TRAJECTORY = [
    user("How warm is it in Paris, in Fahrenheit?"),
    function(WEATHER_JSON),
    observation(WEATHER_RESULT),
    function(json.dumps({"name": CONVERT.name, "arguments": CONVERT.arguments})),
    observation(CONVERT_RESULT),
    assistant("It is 64.4°F (18°C) in Paris."),
]


def test_qwen_multi_step_trajectory():
    rendered = TEMPLATES["qwen"].render(TRAJECTORY, "S", SPECS, bos="<s>", eos="</s>")
    system = "<|im_start|>system\nS\n\n" + get_tool_format("qwen").describe(SPECS) + "<|im_end|>\n"
    header = "<|im_start|>assistant\n"
    expected = (
        system
        + "<|im_start|>user\nHow warm is it in Paris, in Fahrenheit?<|im_end|>\n" + header
        + f"<tool_call>\n{WEATHER_JSON}\n</tool_call><|im_end|>\n"
        + f"<|im_start|>user\n<tool_response>\n{WEATHER_RESULT}\n</tool_response><|im_end|>\n" + header
        + f'<tool_call>\n{{"name": "unit_convert", "arguments": {CONVERT_ARGS}}}\n</tool_call><|im_end|>\n'
        + f"<|im_start|>user\n<tool_response>\n{CONVERT_RESULT}\n</tool_response><|im_end|>\n" + header
        + "It is 64.4°F (18°C) in Paris.<|im_end|>\n"
    )
    assert rendered == expected
    order = [rendered.index(part) for part in ('"get_weather", "arguments"', WEATHER_RESULT,
                                               '"unit_convert", "arguments"', CONVERT_RESULT, "It is 64.4°F")]
    assert order == sorted(order)


def test_llama3_multi_step_trajectory():
    rendered = TEMPLATES["llama3"].render(TRAJECTORY, "S", SPECS, bos="<s>", eos="</s>")
    header = "<|start_header_id|>assistant<|end_header_id|>\n\n"
    expected = (
        "<s><|start_header_id|>system<|end_header_id|>\n\n" + get_tool_format("llama3").describe(SPECS) + "S<|eot_id|>"
        + "<|start_header_id|>user<|end_header_id|>\n\nHow warm is it in Paris, in Fahrenheit?<|eot_id|>" + header
        + '{"name": "get_weather", "parameters": {"city": "Paris"}}<|eot_id|>'
        + f"<|start_header_id|>ipython<|end_header_id|>\n\n{WEATHER_RESULT}<|eot_id|>" + header
        + f'{{"name": "unit_convert", "parameters": {CONVERT_ARGS}}}<|eot_id|>'
        + f"<|start_header_id|>ipython<|end_header_id|>\n\n{CONVERT_RESULT}<|eot_id|>" + header
        + "It is 64.4°F (18°C) in Paris.<|eot_id|>"
    )
    assert rendered == expected
    assert rendered.count("<|start_header_id|>ipython<|end_header_id|>") == 2


@pytest.mark.parametrize("template_name", ["qwen", "llama3"])
def test_trajectory_segments_extract_each_call(template_name):
    template = TEMPLATES[template_name]
    end = "<|im_end|>\n" if template_name == "qwen" else "<|eot_id|>"
    segments = template.segments(TRAJECTORY, "S", SPECS)
    assert len(segments) == len(TRAJECTORY)
    assert template.extract_tool_calls(segments[1].removesuffix(end)) == ("", [WEATHER])
    assert template.extract_tool_calls(segments[3].removesuffix(end)) == ("", [CONVERT])
    answer = segments[5].removesuffix(end)
    assert template.extract_tool_calls(answer) == (answer, [])


# --- 5. prose and malformed output ---------------------------------------------------------------

PROSE = [
    "The weather in Paris is sunny.",
    "Paris\nIt is sunny and 18 degrees.",
    "Use {curly} braces and [brackets] freely.",
    "",
]


@pytest.mark.parametrize("prose", PROSE)
@pytest.mark.parametrize("name", FORMAT_NAMES)
def test_extract_on_prose_returns_no_calls(name, prose):
    assert get_tool_format(name).extract(prose) == (prose, [])


@pytest.mark.parametrize("generated", [
    '<tool_call>\n{"name": "get_weather", "arguments": {"city": }\n</tool_call>',
    '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}\n</tool_call>',  # unbalanced
    '<tool_call>\n{"arguments": {"city": "Paris"}}\n</tool_call>',  # no name
    '<tool_call>\n{"name": "get_weather"}\n</tool_call>',  # no arguments
    f'<tool_call>\n{WEATHER_JSON}\n</tool_call>\n<tool_call>\nnot json\n</tool_call>',
    f'<tool_call>\n{WEATHER_JSON}\n',  # never closed
])
def test_qwen_malformed_tool_call_gives_no_calls(generated):
    assert TEMPLATES["qwen"].extract_tool_calls(generated) == (generated, [])


@pytest.mark.parametrize("name", ["llama3", "mistral"])
def test_json_formats_reject_calls_with_the_wrong_keys(name):
    other_key = "arguments" if name == "llama3" else "parameters"
    generated = json.dumps({"name": "get_weather", other_key: {"city": "Paris"}})
    assert get_tool_format(name).extract(generated) == (generated, [])
    assert get_tool_format(name).read_calls("[]") is None


@pytest.mark.parametrize("action_input", [
    '```{"city": "Paris"}```',
    '`{"city": "Paris"}`',
    '```\n{"city": "Paris"}\n```',
    ' {"city": "Paris"}  ',
])
def test_default_reads_json_in_backticks(action_input):
    fmt = get_tool_format("default")
    assert fmt.read_calls(f"Action: get_weather\nAction Input: {action_input}") == [WEATHER]
    generated = f"I will look it up.\nAction: get_weather\nAction Input: {action_input}"
    assert fmt.extract(generated) == ("I will look it up.", [WEATHER])


def test_default_with_invalid_action_input_gives_no_calls():
    generated = "Action: get_weather\nAction Input: the city of Paris"
    assert get_tool_format("default").extract(generated) == (generated, [])


def test_glm4_reads_only_a_name_line_followed_by_a_json_object():
    fmt = get_tool_format("glm4")
    assert fmt.read_calls('get_weather\n{"city": "Paris"}\n') == [WEATHER]
    assert fmt.read_calls('get weather\n{"city": "Paris"}') is None  # a name has no spaces
    assert fmt.read_calls('get_weather\n["Paris"]') is None  # arguments must be an object
    assert fmt.read_calls('get_weather {"city": "Paris"}') is None


# --- 6. errors and OpenAI-style arguments --------------------------------------------------------

def test_function_message_that_is_not_json_names_the_content():
    with pytest.raises(DataError, match="call the weather tool for Paris"):
        parse_function_message("call the weather tool for Paris")
    with pytest.raises(DataError, match="must hold JSON"):
        TEMPLATES["qwen"].render([user("hi"), function("call the weather tool for Paris")])


def test_invalid_json_inside_tool_call_tags():
    with pytest.raises(DataError, match="invalid JSON in function-call message"):
        parse_function_message('Sure.<tool_call>{"name": "get_weather", "arguments": }</tool_call>')


@pytest.mark.parametrize("content", [
    '{"arguments": {"city": "Paris"}}',
    f'[{WEATHER_JSON}, {{"arguments": {{}}}}]',
    '["get_weather"]',
])
def test_call_without_a_name(content):
    with pytest.raises(DataError, match='needs a "name"'):
        parse_function_message(content)


def test_tools_column_that_is_not_json():
    with pytest.raises(DataError, match="tools column must be a JSON list") as error:
        tool_specs("get_weather(city)")
    assert "get_weather(city)" in str(error.value)
    with pytest.raises(DataError, match="tools column"):
        TEMPLATES["llama3"].render([user("hi"), assistant("hello")], tools="get_weather(city)")


def test_unknown_tool_format_lists_the_valid_ones():
    with pytest.raises(DataError, match="unknown tool_format 'nope'") as error:
        get_tool_format("nope")
    for name in FORMAT_NAMES:
        assert name in str(error.value)
    assert set(TOOL_FORMATS) == set(FORMAT_NAMES)


def test_openai_string_arguments_are_parsed():
    content = json.dumps({"name": "get_weather", "arguments": json.dumps({"city": "Paris"})})
    assert content == '{"name": "get_weather", "arguments": "{\\"city\\": \\"Paris\\"}"}'
    assert parse_function_message(content) == ("", [WEATHER])
    rendered = TEMPLATES["qwen"].segments([user("hi"), function(content)])[1]
    assert rendered == f"<tool_call>\n{WEATHER_JSON}\n</tool_call><|im_end|>\n"
    with pytest.raises(DataError, match="arguments are not JSON"):
        parse_function_message('{"name": "get_weather", "arguments": "city=Paris"}')


def test_parameters_key_is_accepted_and_missing_arguments_mean_none():
    assert parse_function_message('{"name": "get_weather", "parameters": {"city": "Paris"}}') == ("", [WEATHER])
    assert parse_function_message('{"name": "get_time"}') == ("", [FunctionCall("get_time", {})])


def test_function_call_to_openai():
    assert CASES["unicode"][0].to_openai(3) == {
        "id": "call_3", "type": "function",
        "function": {"name": "get_weather", "arguments": '{"city": "北京", "note": "Zürich — café ☕ 😀"}'},
    }


# --- 7. describing the tools ---------------------------------------------------------------------

def test_qwen_describes_each_wrapped_spec_on_its_own_line():
    description = get_tool_format("qwen").describe(SPECS)
    inside = description.split("<tools>\n", 1)[1].split("\n</tools>", 1)[0]
    lines = inside.split("\n")
    assert [json.loads(line) for line in lines] == [{"type": "function", "function": spec} for spec in SPECS]
    assert lines[0] == json.dumps({"type": "function", "function": WEATHER_SPEC}, ensure_ascii=False)
    assert description.startswith("# Tools\n")
    assert get_tool_format("qwen").system_with_tools("S", SPECS) == "S\n\n" + description  # a blank line between
    assert get_tool_format("qwen").system_with_tools("", SPECS) == description  # and none without system text
    assert description.endswith('<tool_call>\n{"name": <function-name>, "arguments": <args-json-object>}\n</tool_call>')


@pytest.mark.parametrize("name", FORMAT_NAMES)
def test_wrapped_specs_describe_like_unwrapped_ones(name):
    fmt = get_tool_format(name)
    wrapped = [{"type": "function", "function": spec} for spec in SPECS]
    assert tool_specs(json.dumps(wrapped)) == SPECS
    assert tool_specs(wrapped) == SPECS
    assert tool_specs({"type": "function", "function": WEATHER_SPEC}) == [WEATHER_SPEC]
    assert fmt.describe(tool_specs(json.dumps(wrapped))) == fmt.describe(tool_specs(SPECS))
    assert "get_weather" in fmt.describe(SPECS) and "unit_convert" in fmt.describe(SPECS)


@pytest.mark.parametrize("template_name", ["qwen", "llama3", "mistral", "glm4", "default"])
def test_templates_render_wrapped_and_unwrapped_tools_alike(template_name):
    template = TEMPLATES[template_name]
    messages = [user("hi"), function(WEATHER_JSON)]
    wrapped = json.dumps([{"type": "function", "function": spec} for spec in SPECS])
    assert template.render(messages, "S", wrapped) == template.render(messages, "S", json.dumps(SPECS))
    assert template.render(messages, "S", SPECS) == template.render(messages, "S", json.dumps(SPECS))


def test_llama3_puts_the_description_before_the_system_text():
    fmt = get_tool_format("llama3")
    assert fmt.system_first is False and LLAMA3_DATE == "26 Jul 2024"
    system = fmt.system_with_tools("Be brief.", SPECS)
    assert system == fmt.describe(SPECS) + "Be brief."
    assert system.startswith("Environment: ipython\nCutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n")
    for spec in SPECS:
        block = json.dumps({"type": "function", "function": spec}, indent=4, ensure_ascii=False) + "\n\n"
        assert block in system
    assert system.index('"name": "get_weather"') < system.index('"name": "unit_convert"') < system.index("Be brief.")


@pytest.mark.parametrize("name", ["default", "qwen", "mistral", "glm4"])
def test_other_formats_put_the_system_text_first(name):
    fmt = get_tool_format(name)
    assert fmt.system_with_tools("Be brief.", SPECS) == "Be brief." + fmt.joiner + fmt.describe(SPECS)


@pytest.mark.parametrize("name", FORMAT_NAMES)
def test_no_tools_leaves_the_system_text_alone(name):
    fmt = get_tool_format(name)
    assert fmt.system_with_tools("Be brief.", []) == "Be brief."
    assert fmt.system_with_tools("Be brief.", tool_specs("")) == "Be brief."
    assert fmt.system_with_tools("Be brief.", tool_specs(None)) == "Be brief."


def test_mistral_default_and_glm4_descriptions():
    mistral = get_tool_format("mistral").describe(SPECS)
    assert mistral.startswith("[AVAILABLE_TOOLS] ") and mistral.endswith("[/AVAILABLE_TOOLS]")
    listed = json.loads(mistral.removeprefix("[AVAILABLE_TOOLS] ").removesuffix("[/AVAILABLE_TOOLS]"))
    assert listed == [{"type": "function", "function": spec} for spec in SPECS]

    default = get_tool_format("default").describe(SPECS)
    assert "> Tool Name: get_weather\nTool Description: Get the current weather for a city.\n" in default
    assert "  - city (string, required): Name of the city.\n" in default
    assert "  - unit (string): Temperature unit., should be one of [celsius, fahrenheit]\n" in default
    assert "Action: tool name (one of [get_weather, unit_convert])" in default

    glm4 = get_tool_format("glm4").describe(SPECS)
    for spec in SPECS:
        assert f"\n\n## {spec['name']}\n\n{json.dumps(spec, indent=4, ensure_ascii=False)}\n" in glm4


# --- bundled tool data through the converter and the templates -----------------------------------

END_MARKERS = {"qwen": "<|im_end|>\n", "llama3": "<|eot_id|>"}
TOOL_MARKERS = {"qwen": "<tools>\n", "llama3": f"Today Date: {LLAMA3_DATE}"}  # only written when there are tools


def _converted(dataset: str):
    attr = parse_entry(dataset, read_registry(DATA_DIR)[dataset])
    rows = json.loads((DATA_DIR / attr.path).read_text(encoding="utf-8"))
    convert = Converter(attr, str(DATA_DIR))
    return attr, rows, [convert(row) for row in rows]


@pytest.mark.parametrize("template_name", ["qwen", "llama3"])
def test_bundled_sharegpt_tools_render_and_calls_are_recoverable(template_name):
    template, end = TEMPLATES[template_name], END_MARKERS[template_name]
    attr, rows, examples = _converted("sharegpt_tools")
    assert len(examples) == len(rows) > 0
    expected_calls = sum(1 for row in rows for m in row["conversations"] if m["from"] == "function_call")
    checked = parallel = 0
    for index, example in enumerate(examples):
        messages = example["_prompt"] + example["_response"]
        has_calls = any(m["role"] == FUNCTION for m in messages)
        assert example["_tools"] or not has_calls, f"row {index}: calls without tools"
        segments = template.segments(messages, example["_system"], example["_tools"], bos="<s>", eos="</s>")
        assert len(segments) == len(messages)
        rendered = "".join(segments)
        assert example["_system"] in rendered
        assert (TOOL_MARKERS[template_name] in rendered) == bool(example["_tools"]), f"row {index}"
        for spec in tool_specs(example["_tools"]):
            assert f'"name": "{spec["name"]}"' in rendered
        for message, segment in zip(messages, segments, strict=True):
            if message["role"] != FUNCTION:
                assert message["content"] in segment, f"row {index}"
                if message["role"] == "assistant":
                    answer = segment.removesuffix(end)
                    assert template.extract_tool_calls(answer) == (answer, []), f"row {index}"
                continue
            assert segment.endswith(end), f"row {index}: {segment!r}"
            text, calls = parse_function_message(message["content"])
            assert calls, f"row {index}: no calls in {message['content']!r}"
            assert template.extract_tool_calls(segment.removesuffix(end)) == (text, calls), f"row {index}"
            checked += 1
            parallel += len(calls) > 1
    assert checked == expected_calls
    assert parallel > 0  # the data exercises parallel calls too


@pytest.mark.parametrize("template_name", ["qwen", "llama3"])
def test_bundled_openai_messages_render_and_answers_are_not_calls(template_name):
    template, end = TEMPLATES[template_name], END_MARKERS[template_name]
    attr, rows, examples = _converted("openai_messages")
    assert len(examples) == len(rows) > 0
    for index, example in enumerate(examples):
        messages = example["_prompt"] + example["_response"]
        segments = template.segments(messages, example["_system"], example["_tools"], bos="<s>", eos="</s>")
        assert len(segments) == len(messages)
        for message, segment in zip(messages, segments, strict=True):
            assert message["content"] in segment, f"row {index}"
            if message["role"] == FUNCTION:
                text, calls = parse_function_message(message["content"])
                assert template.extract_tool_calls(segment.removesuffix(end)) == (text, calls), f"row {index}"
            elif message["role"] == "assistant":
                answer = segment.removesuffix(end)
                assert template.extract_tool_calls(answer) == (answer, []), f"row {index}"


# --- edge cases found while testing (each was a bug) ----------------------------------------------


def test_parse_function_message_reads_every_tool_call_block():
    content = get_tool_format("qwen").write_calls([WEATHER, CONVERT])
    assert parse_function_message(content) == ("", [WEATHER, CONVERT])


@pytest.mark.parametrize("tools", ["5", '"get_weather"', '["get_weather"]'])
def test_tools_column_with_the_wrong_shape_is_a_data_error(tools):
    with pytest.raises(DataError):
        TEMPLATES["qwen"].render([user("hi"), assistant("hello")], tools=tools)


@pytest.mark.parametrize("name", FORMAT_NAMES)
def test_function_message_without_calls_is_a_data_error(name):
    with pytest.raises(DataError):
        get_tool_format(name).render_function("[]")


def test_default_round_trips_arguments_mentioning_action():
    fmt = get_tool_format("default")
    calls = [FunctionCall("note", {"text": "Action: none needed"})]
    assert fmt.read_calls(fmt.write_calls(calls)) == calls


@pytest.mark.parametrize("template_name", ["llama3", "mistral", "glm4"])
def test_text_beside_calls_is_refused_where_the_family_format_has_no_place_for_it(template_name):
    """Meta's, Mistral's and GLM's own templates write tool calls alone, so the text would be lost at inference."""
    template = TEMPLATES[template_name]
    with pytest.raises(DataError, match="no place for text beside tool calls"):
        template.segments([user("Weather in Paris?"), function(f"Let me check. {WEATHER_JSON}")], eos="</s>")
