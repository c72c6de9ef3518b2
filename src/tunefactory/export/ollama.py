"""An Ollama ``Modelfile`` for an exported folder: ``ollama create NAME -f Modelfile`` inside it.

TEMPLATE is the chat template's slots in Ollama's Go-template syntax: the system prompt, then each
user, tool and assistant message, with the assistant header after every user or tool message. It
has no trim markers (``{{-``), which would eat the slots' own newlines. SYSTEM carries the
template's default system prompt and one ``PARAMETER stop`` line names each stop token.

Not written (use the Hugging Face ``chat_template`` through transformers or vLLM for these): tool
calls in assistant messages, and thought blocks the client sends back in earlier answers.
"""

from __future__ import annotations

from pathlib import Path

from ..data.template import TokenizerChatTemplate
from ..data.template.core import CONTENT, Template

MODELFILE = "Modelfile"


def write_modelfile(template: Template, tokenizer, export_dir: Path) -> Path:
    path = Path(export_dir) / MODELFILE
    path.write_text(modelfile(template, tokenizer), encoding="utf-8")
    return path


def modelfile(template: Template, tokenizer) -> str:
    lines = ["# Ollama Modelfile written by `tunefactory export`: `ollama create NAME -f Modelfile` in this folder",
             "", "FROM .", ""]
    if isinstance(template, TokenizerChatTemplate):
        lines += ["# No TEMPLATE: the config names no template, so the model uses its tokenizer's own",
                  "# chat_template, which cannot be translated; write one for the model family by hand.", ""]
    else:
        lines += [f'TEMPLATE """{go_template(template, tokenizer)}"""', ""]
    if template.default_system:
        lines += [f'SYSTEM """{template.default_system}"""', ""]
    lines += [f'PARAMETER stop "{_quoted(word)}"' for word in stop_words(template, tokenizer)]
    return "\n".join(lines) + "\n"


def stop_words(template: Template, tokenizer) -> list[str]:
    """The text of each of the template's stop tokens (the generation config's eos_token_id)."""
    return [tokenizer.decode([token_id]) for token_id in template.stop_token_ids(tokenizer)]


def go_template(template: Template, tokenizer) -> str:
    """The template's conversation format as an Ollama TEMPLATE (see the module docstring)."""
    t = template
    bos, eos = tokenizer.bos_token or "", tokenizer.eos_token or ""
    prefix = t.prefix
    if bos and prefix.startswith("{{bos_token}}") and _adds_bos(tokenizer):
        # the tokenizer writes this BOS itself (so would Ollama's): a literal one would double it
        prefix = prefix.removeprefix("{{bos_token}}")
    thought = t.reasoning and t.enable_thinking is False  # the final prompt ends with an empty thought block
    after_prompt = _fill(t.generation_prompt + CONTENT, "", bos, eos)
    if thought:
        after_prompt += "{{ if $last }}" + _literal(t.empty_thought) + "{{ end }}"
    if t.system_in_user:
        system_part = "{{ $system := .System }}"
        user_content = ('{{ if $system }}' + _fill(t.system, "{{ $system }}", bos, eos)
                        + '{{ $system = "" }}{{ end }}{{ .Content }}')
    else:
        system_part = "{{ if .System }}" + _fill(t.system, "{{ .System }}", bos, eos) + "{{ end }}"
        user_content = "{{ .Content }}"
    loop = "{{ range $i, $_ := .Messages }}{{ $last := eq (len (slice $.Messages $i)) 1 }}" if thought \
        else "{{ range .Messages }}"
    return "".join([
        _fill(prefix + CONTENT, "", bos, eos),
        system_part,
        loop,
        '{{ if eq .Role "user" }}', _fill(t.user, user_content, bos, eos), after_prompt,
        '{{ else if eq .Role "tool" }}', _fill(t.observation_slot, "{{ .Content }}", bos, eos), after_prompt,
        '{{ else if eq .Role "assistant" }}', _fill(t.assistant, "{{ .Content }}", bos, eos),
        "{{ end }}{{ end }}",
    ])


def _fill(slot: str, content: str, bos: str, eos: str) -> str:
    """A slot as Go-template text: its literal parts escaped, ``content`` (an action) where the message goes."""
    text = slot.replace("{{bos_token}}", bos).replace("{{eos_token}}", eos)
    return content.join(_literal(part) for part in text.split(CONTENT))


def _literal(text: str) -> str:
    return text.replace("{{", '{{ "{{" }}')


def _adds_bos(tokenizer) -> bool:
    ids = tokenizer("a", add_special_tokens=True)["input_ids"]
    return bool(ids) and ids[0] == tokenizer.bos_token_id


def _quoted(word: str) -> str:
    return word.replace("\\", "\\\\").replace('"', '\\"')
