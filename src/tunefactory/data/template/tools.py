"""Tool calling in each model family's native format, both ways.

A tool format knows three things:

- how the list of available tools (JSON-schema function specs) is described to the model,
- how an assistant's function calls are written into the conversation,
- how to read function calls back out of generated text (for the API server) — the inverse.

Each Python renderer has a Jinja twin (the ``JINJA_*`` strings) so a tokenizer saved after training
formats tool conversations exactly as training did; the template tests check the two agree.

In canonical examples a ``function`` message holds the calls as JSON — one ``{"name", "arguments"}``
object or a list of them (parallel calls) — optionally preceded by the assistant's own text, which
may also wrap the JSON in ``<tool_call>…</tool_call>`` (LLaMA-Factory's spelling).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Callable

from ...errors import DataError


@dataclass(frozen=True)
class FunctionCall:
    name: str
    arguments: dict[str, Any]

    def to_openai(self, index: int = 0) -> dict[str, Any]:
        return {"id": f"call_{index}", "type": "function",
                "function": {"name": self.name, "arguments": json.dumps(self.arguments, ensure_ascii=False)}}


# --- canonical function messages ----------------------------------------------------------------

def parse_function_message(content: str) -> tuple[str, list[FunctionCall]]:
    """Split a canonical ``function`` message into the assistant's text and its calls."""
    blocks = list(re.finditer(r"<tool_call>(.*?)</tool_call>", content, re.DOTALL))
    if blocks:
        text = re.sub(r"<tool_call>.*?</tool_call>", "", content, flags=re.DOTALL).strip()
        return text, [call for block in blocks for call in _calls_from_json(block.group(1), content)]
    stripped = content.strip()
    for start in [0] + [m.start() for m in re.finditer(r"[\[{]", stripped)]:
        try:  # the calls are the JSON that ends the message; anything before it is text
            value = json.loads(stripped[start:])
        except json.JSONDecodeError:
            continue
        if isinstance(value, (dict, list)):
            return stripped[:start].strip(), _calls_from_value(value, content)
    raise DataError(f"a function-call message must hold JSON {{\"name\", \"arguments\"}} (or a list of them), "
                    f"got {content[:200]!r}")


def _calls_from_json(text: str, content: str) -> list[FunctionCall]:
    try:
        return _calls_from_value(json.loads(text), content)
    except json.JSONDecodeError:
        raise DataError(f"invalid JSON in function-call message: {content[:200]!r}") from None


def _calls_from_value(value: Any, content: str) -> list[FunctionCall]:
    items = value if isinstance(value, list) else [value]
    if not items:
        raise DataError(f"a function-call message holds no calls: {content[:200]!r}")
    calls = []
    for item in items:
        if not isinstance(item, dict) or "name" not in item:
            raise DataError(f"each function call needs a \"name\" (and \"arguments\"), got {content[:200]!r}")
        arguments = item.get("arguments", item.get("parameters", {}))
        if isinstance(arguments, str):  # OpenAI sends arguments as a JSON string
            try:
                arguments = json.loads(arguments)
            except json.JSONDecodeError:
                raise DataError(f"function call arguments are not JSON: {arguments[:200]!r}") from None
        if not isinstance(arguments, dict):
            raise DataError(f"function call arguments must be a JSON object, got {content[:200]!r}")
        calls.append(FunctionCall(item["name"], arguments))
    return calls


def function_message(text: str, calls: list[FunctionCall]) -> str:
    """The canonical ``function`` message for text plus calls (inverse of `parse_function_message`)."""
    payload = [{"name": c.name, "arguments": c.arguments} for c in calls]
    body = json.dumps(payload[0] if len(payload) == 1 else payload, ensure_ascii=False)
    return f"{text}<tool_call>{body}</tool_call>" if text else body


def tool_specs(tools: str | list | None) -> list[dict[str, Any]]:
    """The ``tools`` column as a list of function specs (each unwrapped from OpenAI's ``{"type": "function"}``)."""
    if not tools:
        return []
    if isinstance(tools, str):
        try:
            tools = json.loads(tools)
        except json.JSONDecodeError:
            raise DataError(f"the tools column must be a JSON list of function specs, got {tools[:200]!r}") from None
    if isinstance(tools, dict):
        tools = [tools]
    if not isinstance(tools, list) or not all(isinstance(tool, dict) for tool in tools):
        raise DataError(f"the tools column must be a JSON list of function specs (objects), got {str(tools)[:200]!r}")
    specs = [tool.get("function", tool) if tool.get("type") == "function" else tool for tool in tools]
    for spec in specs:
        if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
            raise DataError(f"every function spec in the tools column needs a \"name\", got {str(spec)[:200]!r}")
    return specs


def _wrapped(spec: dict[str, Any]) -> dict[str, Any]:
    return {"type": "function", "function": spec}


def _dumps(value: Any, indent: int | None = None) -> str:
    # the same call transformers' Jinja `tojson` filter makes, so Python and Jinja agree byte for byte
    return json.dumps(value, ensure_ascii=False, indent=indent)


# --- the formats --------------------------------------------------------------------------------

@dataclass(frozen=True)
class ToolFormat:
    name: str
    describe: Callable[[list[dict]], str]  # tool specs -> text added to the system message
    write_calls: Callable[[list[FunctionCall]], str]  # calls -> the assistant's text
    read_calls: Callable[[str], list[FunctionCall] | None]  # generated text -> calls, or None if it has none
    jinja_describe: str  # Jinja expression over `tools` (unwrapped specs)
    jinja_calls: str  # Jinja statements writing `calls` (a list of {name, arguments})
    text_separator: str | None = None  # between an assistant's text and its calls; None: the format has none
    system_first: bool = True  # the user's system text comes before the tool description
    joiner: str = ""  # between the system text and the description, when there is system text

    def system_with_tools(self, system: str, tools: list[dict]) -> str:
        if not tools:
            return system
        description = self.describe(tools)
        if not self.system_first:
            return description + system
        return system + self.joiner + description if system else description

    def render_function(self, content: str) -> str:
        text, calls = parse_function_message(content)
        written = self.write_calls(calls)
        if text and self.text_separator is None:
            raise DataError(f"the {self.name} tool format has no place for text beside tool calls (its model family "
                            f"writes calls alone); put the text {text[:80]!r} in its own assistant turn, or use "
                            "a tool_format that has one (qwen, default)")
        return f"{text}{self.text_separator}{written}" if text else written

    def extract(self, generated: str) -> tuple[str, list[FunctionCall]]:
        """Split generated text into (text, calls); calls is empty when the model answered in prose."""
        calls = self.read_calls(generated)
        return (generated, []) if not calls else (_text_before_calls(self.name, generated), calls)


def _text_before_calls(format_name: str, generated: str) -> str:
    marker = {"qwen": "<tool_call>", "mistral": "[TOOL_CALLS]", "default": "Action:"}.get(format_name)
    if marker and marker in generated:
        return generated.split(marker, 1)[0].strip()
    return ""


def _json_calls(text: str, arguments_key: str) -> list[FunctionCall] | None:
    try:
        value = json.loads(text.strip())
    except json.JSONDecodeError:
        return None
    items = value if isinstance(value, list) else [value]
    if not items or not all(isinstance(i, dict) and "name" in i and arguments_key in i for i in items):
        return None
    return [FunctionCall(i["name"], i[arguments_key]) for i in items]


# default: the ReAct-style text LLaMA-Factory's `default` tool format uses
_DEFAULT_INTRO = "You have access to the following tools:\n"
_DEFAULT_OUTRO = (
    "Use the following format if using a tool:\n```\nAction: tool name (one of [{names}])\n"
    "Action Input: the input to the tool, in a JSON format representing the kwargs "
    '(e.g. ```{{"input": "hello world", "num_beams": 5}}```)\n```\n'
)


def _default_describe(tools: list[dict]) -> str:
    text = ""
    for tool in tools:
        params = tool.get("parameters", {})
        required = params.get("required", [])
        args = ""
        for name, param in params.get("properties", {}).items():
            extra = ", required" if name in required else ""
            enum = ", should be one of [{}]".format(", ".join(map(str, param["enum"]))) if param.get("enum") else ""
            items = param.get("items")
            items = ", where each item should be {}".format(items.get("type", "")) if items else ""
            args += f"  - {name} ({param.get('type', '')}{extra}): {param.get('description', '')}{enum}{items}\n"
        text += f"> Tool Name: {tool['name']}\nTool Description: {tool.get('description', '')}\nTool Args:\n{args}\n"
    names = ", ".join(tool["name"] for tool in tools)
    return _DEFAULT_INTRO + text + _DEFAULT_OUTRO.format(names=names)


def _default_write(calls: list[FunctionCall]) -> str:
    return "\n".join(f"Action: {c.name}\nAction Input: {_dumps(c.arguments)}" for c in calls)


def _default_read(text: str) -> list[FunctionCall] | None:
    # calls are separated by newlines, and dumped JSON never holds a raw newline, so "Action:" inside
    # an argument string is not taken for the next call
    found = re.findall(r"Action:\s*([\w.-]+)\s*Action Input:\s*(.+?)(?=\n\s*Action:|\s*$)", text, re.DOTALL)
    calls = []
    for name, raw in found:
        try:
            arguments = json.loads(raw.strip().strip("`").strip())
        except json.JSONDecodeError:
            return None
        calls.append(FunctionCall(name, arguments))
    return calls or None


_JINJA_DEFAULT_DESCRIBE = (
    "'" + _DEFAULT_INTRO.replace("\n", "\\n") + "' ~ tf_default_tools(tools) ~ "
    "'Use the following format if using a tool:\\n```\\nAction: tool name (one of [' ~ "
    "tf_tool_names(tools) ~ ']' ~ "
    "')\\nAction Input: the input to the tool, in a JSON format representing the kwargs "
    '(e.g. ```{"input": "hello world", "num_beams": 5}```)\\n```\\n\''
)
_UNWRAP = "{%- set tool = item.function if item.function is defined else item -%}"
_JINJA_DEFAULT_MACRO = (
    "{%- macro tf_tool_names(tools) -%}{%- for item in tools -%}" + _UNWRAP +
    "{{- ', ' if not loop.first else '' -}}{{- tool.name -}}{%- endfor -%}{%- endmacro -%}"
    "{%- macro tf_default_tools(tools) -%}{%- for item in tools -%}" + _UNWRAP +
    "{%- set params = tool.parameters if tool.parameters is defined else {} -%}"
    "{%- set required = params.required if params.required is defined else [] -%}"
    "{{- '> Tool Name: ' ~ tool.name ~ '\\nTool Description: ' ~ "
    "(tool.description if tool.description is defined else '') ~ '\\nTool Args:\\n' -}}"
    "{%- for name, param in (params.properties.items() if params.properties is defined else []) -%}"
    "{{- '  - ' ~ name ~ ' (' ~ (param.type if param.type is defined else '') ~ "
    "(', required' if name in required else '') ~ '): ' ~ (param.description if param.description is defined else '')"
    " ~ ((', should be one of [' ~ (param.enum | join(', ')) ~ ']') if (param.enum is defined and param.enum) else '')"
    " ~ ((', where each item should be ' ~ (param['items'].type if param['items'].type is defined else ''))"
    " if ('items' in param and param['items']) else '') ~ '\\n' -}}"
    "{%- endfor -%}{{- '\\n' -}}{%- endfor -%}{%- endmacro -%}"
)
_JINJA_DEFAULT_CALLS = (
    "{%- for call in calls -%}{{- ('\\n' if not loop.first else '') ~ 'Action: ' ~ call.name ~ "
    "'\\nAction Input: ' ~ tf_args(call.arguments) -}}{%- endfor -%}"
)

# qwen: Hermes-style JSON inside <tool_call> tags (Qwen2/2.5/3, and ChatML models trained on it)
_QWEN_INTRO = (  # joined to a system prompt by a blank line, as in Qwen's templates
    "# Tools\n\nYou may call one or more functions to assist with the user query.\n\n"
    "You are provided with function signatures within <tools></tools> XML tags:\n<tools>"
)
_QWEN_OUTRO = (
    "\n</tools>\n\nFor each function call, return a json object with function name and arguments within "
    '<tool_call></tool_call> XML tags:\n<tool_call>\n{"name": <function-name>, "arguments": <args-json-object>}'
    "\n</tool_call>"
)


def _qwen_describe(tools: list[dict]) -> str:
    return _QWEN_INTRO + "".join("\n" + _dumps(_wrapped(tool)) for tool in tools) + _QWEN_OUTRO


def _qwen_write(calls: list[FunctionCall]) -> str:
    return "\n".join("<tool_call>\n" + _dumps({"name": c.name, "arguments": c.arguments}) + "\n</tool_call>"
                     for c in calls)


def _qwen_read(text: str) -> list[FunctionCall] | None:
    calls = []
    for body in re.findall(r"<tool_call>(.*?)</tool_call>", text, re.DOTALL):
        parsed = _json_calls(body, "arguments")
        if parsed is None:
            return None
        calls.extend(parsed)
    return calls or None


def jinja_string(text: str) -> str:
    """A Jinja string literal for ``text``. Defined here, not in ``jinja.py``, because that module
    imports this one's macros."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n") + "'"


_JINJA_QWEN_DESCRIBE = (
    jinja_string(_QWEN_INTRO) + " ~ tf_wrapped_tools(tools, '\\n', none) ~ " + jinja_string(_QWEN_OUTRO)
)
_JINJA_QWEN_CALLS = (
    "{%- for call in calls -%}{{- ('\\n' if not loop.first else '') ~ '<tool_call>\\n{\"name\": \"' ~ call.name ~ "
    "'\", \"arguments\": ' ~ tf_args(call.arguments) ~ '}\\n</tool_call>' -}}{%- endfor -%}"
)

# llama3: JSON-based tool calling from Meta's Llama 3.1 prompt format (`tools_in_user_message=false`)
LLAMA3_DATE = "26 Jul 2024"  # the official chat template's default `date_string`; fixed so renders are stable
_LLAMA3_INTRO = (
    "Environment: ipython\n"
    f"Cutting Knowledge Date: December 2023\nToday Date: {LLAMA3_DATE}\n\n"
    "You have access to the following functions. To call a function, please respond with JSON for a function call."
    'Respond in the format {"name": function name, "parameters": dictionary of argument name and its value}.'
    "Do not use variables.\n\n"
)


def _llama3_describe(tools: list[dict]) -> str:
    return _LLAMA3_INTRO + "".join(_dumps(_wrapped(tool), indent=4) + "\n\n" for tool in tools)


def _llama3_write(calls: list[FunctionCall]) -> str:
    objects = [{"name": c.name, "parameters": c.arguments} for c in calls]
    return _dumps(objects[0] if len(objects) == 1 else objects)


_JINJA_LLAMA3_DESCRIBE = jinja_string(_LLAMA3_INTRO) + " ~ tf_wrapped_tools(tools, '', 4, '\\n\\n')"
_JINJA_LLAMA3_CALLS = (
    "{%- if calls | length > 1 %}[{% endif -%}{%- for call in calls -%}{{ ', ' if not loop.first else '' }}"
    '{"name": "{{ call.name }}", "parameters": {{ tf_args(call.arguments) }}}{%- endfor -%}'
    "{%- if calls | length > 1 %}]{% endif -%}"
)

# mistral: [AVAILABLE_TOOLS] … [/AVAILABLE_TOOLS] and [TOOL_CALLS] [...] (Mistral tokenizer v3)


def _mistral_describe(tools: list[dict]) -> str:
    return "[AVAILABLE_TOOLS] " + _dumps([_wrapped(tool) for tool in tools]) + "[/AVAILABLE_TOOLS]"


def _mistral_write(calls: list[FunctionCall]) -> str:
    # the family's function slot writes the [TOOL_CALLS] marker (with or without a space: v3 vs tekken)
    return _dumps([{"name": c.name, "arguments": c.arguments} for c in calls])


def _mistral_read(text: str) -> list[FunctionCall] | None:
    return _json_calls(text.split("[TOOL_CALLS]", 1)[1] if "[TOOL_CALLS]" in text else text, "arguments")


_JINJA_MISTRAL_DESCRIBE = "'[AVAILABLE_TOOLS] [' ~ tf_wrapped_tools(tools, ', ', none) ~ ']' ~ '[/AVAILABLE_TOOLS]'"
_JINJA_MISTRAL_CALLS = (
    "[{%- for call in calls -%}{{ ', ' if not loop.first else '' }}"
    '{"name": "{{ call.name }}", "arguments": {{ tf_args(call.arguments) }}}{%- endfor -%}]'
)

# glm4: function name on one line, JSON arguments on the next (ChatGLM3 / GLM-4)
_GLM4_INTRO = (
    "你是一个名为 ChatGLM 的人工智能助手。你是基于智谱 AI 公司训练的语言模型 GLM-4 模型开发的，"
    "你的任务是针对用户的问题和要求提供适当的答复和支持。\n\n# 可用工具"
)
_GLM4_TOOL_OUTRO = "\n在调用上述函数时，请使用 Json 格式表示调用的参数。"


def _glm4_describe(tools: list[dict]) -> str:
    return _GLM4_INTRO + "".join(
        f"\n\n## {tool['name']}\n\n{_dumps(tool, indent=4)}{_GLM4_TOOL_OUTRO}" for tool in tools)


def _glm4_write(calls: list[FunctionCall]) -> str:
    if len(calls) > 1:
        raise DataError("the glm4 tool format has no parallel calls: split them into separate assistant turns")
    return f"{calls[0].name}\n{_dumps(calls[0].arguments)}"


def _glm4_read(text: str) -> list[FunctionCall] | None:
    name, _, rest = text.strip().partition("\n")
    if not rest or not re.fullmatch(r"[\w.-]+", name.strip()):
        return None
    try:
        arguments = json.loads(rest.strip())
    except json.JSONDecodeError:
        return None
    return [FunctionCall(name.strip(), arguments)] if isinstance(arguments, dict) else None


_JINJA_GLM4_DESCRIBE = (
    jinja_string(_GLM4_INTRO) + " ~ tf_glm4_tools(tools)"
)
_JINJA_GLM4_MACRO = (
    "{%- macro tf_glm4_tools(tools) -%}{%- for item in tools -%}" + _UNWRAP +
    "{{- '\\n\\n## ' ~ tool.name ~ '\\n\\n' ~ (tool | tojson(indent=4)) ~ " + jinja_string(_GLM4_TOOL_OUTRO) + " -}}"
    "{%- endfor -%}{%- endmacro -%}"
)
_JINJA_GLM4_CALLS = "{%- for call in calls -%}{{- call.name ~ '\\n' ~ tf_args(call.arguments) -}}{%- endfor -%}"

# shared Jinja helper: each tool wrapped as {"type": "function", "function": …}, JSON-dumped
JINJA_WRAPPED_TOOLS_MACRO = (
    "{%- macro tf_wrapped_tools(tools, sep, indent, suffix='') -%}{%- for item in tools -%}" + _UNWRAP +
    "{{ sep if (sep != ', ' or not loop.first) else '' }}"
    "{{ {'type': 'function', 'function': tool} | tojson(indent=indent) }}{{ suffix }}"
    "{%- endfor -%}{%- endmacro -%}"
)

TOOL_FORMATS: dict[str, ToolFormat] = {
    fmt.name: fmt
    for fmt in (
        ToolFormat("default", _default_describe, _default_write, _default_read,
                   _JINJA_DEFAULT_DESCRIBE, _JINJA_DEFAULT_CALLS, text_separator="\n"),
        ToolFormat("qwen", _qwen_describe, _qwen_write, _qwen_read,
                   _JINJA_QWEN_DESCRIBE, _JINJA_QWEN_CALLS, text_separator="\n", joiner="\n\n"),
        ToolFormat("llama3", _llama3_describe, _llama3_write, lambda text: _json_calls(text, "parameters"),
                   _JINJA_LLAMA3_DESCRIBE, _JINJA_LLAMA3_CALLS, system_first=False),
        ToolFormat("mistral", _mistral_describe, _mistral_write, _mistral_read,
                   _JINJA_MISTRAL_DESCRIBE, _JINJA_MISTRAL_CALLS),
        ToolFormat("glm4", _glm4_describe, _glm4_write, _glm4_read,
                   _JINJA_GLM4_DESCRIBE, _JINJA_GLM4_CALLS),
    )
}

JINJA_ARGS_MACRO = (  # OpenAI clients send arguments as a JSON string, others as an object
    "{%- macro tf_args(arguments) -%}{{ arguments if arguments is string else arguments | tojson }}{%- endmacro -%}"
)
JINJA_TOOL_MACROS = JINJA_ARGS_MACRO + JINJA_WRAPPED_TOOLS_MACRO + _JINJA_DEFAULT_MACRO + _JINJA_GLM4_MACRO


def get_tool_format(name: str) -> ToolFormat:
    if name not in TOOL_FORMATS:
        raise DataError(f"unknown tool_format {name!r}; choose one of: {', '.join(TOOL_FORMATS)}")
    return TOOL_FORMATS[name]
