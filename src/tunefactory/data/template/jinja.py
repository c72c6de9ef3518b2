"""Export a template as a Hugging Face ``chat_template`` (Jinja) that renders exactly like it.

The exported template takes what ``tokenizer.apply_chat_template`` is given: OpenAI-style messages
(``system``/``user``/``assistant`` with ``tool_calls``/``tool``, and our own ``function``/``observation``
roles), ``tools``, ``add_generation_prompt`` and ``enable_thinking``. Its structure mirrors
`Template.segments` step for step, so the two can be compared in tests on every template.
BOS/EOS are written as the tokenizer's literal strings, as training wrote them.
"""

from __future__ import annotations

from ..multimodal import PLUGINS
from .core import CONTENT, Template
from .tools import JINJA_TOOL_MACROS, jinja_string


def _slot(slot: str, content_expr: str, bos: str, eos: str) -> str:
    """A Jinja expression for a slot with ``content_expr`` in place of {{content}}."""
    slot = slot.replace("{{bos_token}}", bos).replace("{{eos_token}}", eos)
    before, _, after = slot.partition(CONTENT)
    parts = [jinja_string(before)] if before else []
    if CONTENT in slot:
        parts.append(f"({content_expr})")
    if after:
        parts.append(jinja_string(after))
    return " ~ ".join(parts) or "''"


def _content_macro(t: Template) -> str:
    """``tf_content``: a message's text; content parts (processors' format) joined, an image part written as the
    family's own image tokens (Qwen2-VL: ``<|vision_start|><|image_pad|><|vision_end|>``, Gemma 3:
    ``<start_of_image>``), an audio part as Qwen2-Audio's ``Audio n: <|audio_bos|><|AUDIO|><|audio_eos|>\n`` (n
    counted over the conversation, in ``tf_media``), which the family's processor then expands."""
    plugin = PLUGINS.get(t.multimodal)
    kinds = {"images": "('image', 'image_url') or 'image' in part",
             "audios": "('audio', 'input_audio', 'audio_url') or 'audio' in part"}
    media = ""
    if plugin is not None:
        before, numbered, after = plugin.template_part.partition("{n}")
        written = jinja_string(before) + (" ~ (tf_media.count | string) ~ " + jinja_string(after) if numbered else "")
        media = ("{%- elif part['type'] in " + kinds[plugin.media] + " -%}"
                 "{%- set tf_media.count = tf_media.count + 1 -%}{{- " + written + " -}}")
    return ("{%- macro tf_content(content) -%}{%- if content is string -%}{{- content -}}"
            "{%- elif content is iterable -%}{%- for part in content -%}"
            "{%- if part['type'] == 'text' -%}{{- part['text'] -}}" + media +
            "{%- endif -%}{%- endfor -%}{%- endif -%}{%- endmacro -%}"
            "{%- set tf_media = namespace(count=0) -%}")


def to_jinja(template: Template, bos: str = "", eos: str = "") -> str:
    """The ``chat_template`` string for ``template`` with this tokenizer's BOS/EOS strings."""
    t = template
    tools = t.tools
    described = f"({tools.jinja_describe})"
    joined = f"(tf_system ~ {jinja_string(tools.joiner)} if tf_system else '')"
    describe = f"{joined} ~ {described}" if tools.system_first else f"{described} ~ tf_system"
    opening, closing = (jinja_string(word.strip()) for word in t.thought_words)
    thinking_default = "none" if t.enable_thinking is None else str(t.enable_thinking).lower()
    out = [
        JINJA_TOOL_MACROS,
        "{%- macro tf_calls(calls) -%}" + tools.jinja_calls + "{%- endmacro -%}",
        _content_macro(t),
        f"{{%- set tf_thinking = enable_thinking if enable_thinking is defined else {thinking_default} -%}}",
        "{%- if messages and messages[0]['role'] == 'system' -%}",
        f"{{%- set tf_system = messages[0]['content'] or {jinja_string(t.default_system)} -%}}",
        "{%- set tf_messages = messages[1:] -%}",
        f"{{%- else -%}}{{%- set tf_system = {jinja_string(t.default_system)} -%}}",
        "{%- set tf_messages = messages -%}{%- endif -%}",
        f"{{%- if tools -%}}{{%- set tf_system = {describe} -%}}{{%- endif -%}}",
        "{%- set ns = namespace(last_user=-1) -%}",
        "{%- for message in tf_messages -%}{%- if message['role'] == 'user' -%}"
        "{%- set ns.last_user = loop.index0 -%}{%- endif -%}{%- endfor -%}",
        "{{- " + _slot(t.prefix + CONTENT, "''", bos, eos) + " -}}",
    ]
    if not t.system_in_user:
        out.append("{%- if tf_system -%}{{- " + _slot(t.system, "tf_system", bos, eos) + " -}}{%- endif -%}")
    out += [
        "{%- for message in tf_messages -%}",
        "{%- set content = tf_content(message['content']) -%}",
    ]
    if t.system_in_user:
        out.append("{%- if loop.first and tf_system -%}{%- set content = "
                   + _slot(t.system, "tf_system", bos, eos) + " ~ content -%}{%- endif -%}")
    prompt_roles = "['user', 'tool', 'observation']"
    out += [
        "{%- if message['role'] == 'user' -%}{{- " + _slot(t.user, "content", bos, eos) + " -}}",
        "{%- elif message['role'] in ['tool', 'observation'] -%}{{- "
        + _slot(t.observation_slot, "content", bos, eos) + " -}}",
        "{%- else -%}",
        _thought_block(t, opening, closing),
        "{%- if message.tool_calls is defined and message.tool_calls -%}",
        "{%- set calls = message.tool_calls | map(attribute='function') | list -%}",
        _calls_body(tools.text_separator),
        "{{- " + _slot(t.function_slot, "thought ~ body", bos, eos) + " -}}",
        "{%- else -%}{{- " + _slot(t.assistant, "thought ~ content", bos, eos) + " -}}{%- endif -%}",
        "{%- endif -%}",
        f"{{%- if message['role'] in {prompt_roles} and (loop.last and add_generation_prompt "
        f"or not loop.last and loop.nextitem['role'] not in {prompt_roles}) -%}}",
        "{{- " + _slot(t.generation_prompt + CONTENT, "''", bos, eos) + " -}}",
    ]
    opener = ("{%- if loop.last -%}{{- " + _slot(t.generation_opener + CONTENT, "''", bos, eos) + " -}}{%- endif -%}"
              if t.generation_opener else "")
    if t.reasoning:
        out.append("{%- if tf_thinking is false and loop.index0 >= loop.length - 2 -%}{{- "
                   + jinja_string(t.empty_thought) + " -}}" + ("{%- else -%}" + opener if opener else "")
                   + "{%- endif -%}")
    elif opener:
        out.append(opener)
    out += ["{%- endif -%}"]
    if t.end_of_conversation:
        out.append(f"{{%- if loop.last and not (message['role'] in {prompt_roles} and add_generation_prompt) -%}}"
                   "{{- " + _slot(t.end_of_conversation + CONTENT, "''", bos, eos) + " -}}{%- endif -%}")
    out += ["{%- endfor -%}"]
    return "".join(out)


def _calls_body(separator: str | None) -> str:
    if separator is None:  # like the family's own template, which writes calls alone
        return "{%- set body = tf_calls(calls) -%}"
    return "{%- set body = (content ~ " + jinja_string(separator) + " if content else '') ~ tf_calls(calls) -%}"


def _thought_block(t: Template, opening: str, closing: str) -> str:
    """Jinja statements setting ``thought`` and ``content`` for a response-side message."""
    if not t.reasoning:
        return "{%- set thought = '' -%}"
    words = [jinja_string(word) for word in t.thought_words]
    return "".join([
        "{%- if message.reasoning_content is defined and message.reasoning_content -%}",
        f"{{%- set content = {words[0]} ~ message.reasoning_content ~ {words[1]} ~ content -%}}",
        "{%- endif -%}",
        "{%- if tf_thinking is false or (loop.index0 < ns.last_user and not "
        + str(t.preserve_thinking).lower() + ") -%}",
        f"{{%- if {closing} in content -%}}{{%- set content = content.split({closing})[-1].lstrip('\\n') -%}}"
        "{%- endif -%}{%- endif -%}",
        f"{{%- if loop.last and tf_thinking is not false and not ({opening} in content or {closing} in content) -%}}",
        f"{{%- set content = {jinja_string(t.empty_thought)} ~ content -%}}{{%- endif -%}}",
        f"{{%- if {closing} in content -%}}",
        f"{{%- set thought = {words[0]} ~ content.split({closing})[0].split({opening})[-1].strip('\\n')"
        f" ~ {words[1]} -%}}",
        f"{{%- set content = content.split({closing})[-1].lstrip('\\n') -%}}",
        "{%- else -%}{%- set thought = '' -%}{%- endif -%}",
        _answer_header(t.answer_header),
    ])


def _answer_header(header: str) -> str:
    if not header:
        return ""
    quoted = jinja_string(header)
    return (f"{{%- if content.startswith({quoted}) -%}}{{%- set content = content[{len(header)}:] -%}}{{%- endif -%}}"
            f"{{%- set content = {quoted} ~ content -%}}")
