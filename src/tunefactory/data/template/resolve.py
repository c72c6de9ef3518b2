"""Pick the template a run uses and make the tokenizer fit it.

    get_template(tokenizer, data_args, model_name)
      -> the named template (or the tokenizer's own chat_template, or `empty`), with the run's settings
      -> fix_tokenizer: EOS/pad/stop words added as special tokens, each change logged
      -> warnings for the mismatches that make fine-tunes babble forever
      -> tokenizer.chat_template set to the template's Jinja, so saved tokenizers format like training
"""

from __future__ import annotations

import difflib
import logging
import re
from dataclasses import replace

from ...errors import ConfigError
from .core import Template
from .families import DROPPED, TEMPLATES
from .jinja import to_jinja
from .tokenizer_template import TokenizerChatTemplate
from .tools import TOOL_FORMATS

logger = logging.getLogger(__name__)

AUTO = "auto"  # the tokenizer's own chat_template, whatever it is
PLAIN_TEMPLATES = ("default", "empty", "alpaca", "vicuna", "falcon", "solar", "fewshot")  # usable on base models as-is
CHAT_MODEL_NAME = re.compile(r"(instruct|chat|[-_]it\b|-it-|assistant|rlhf|sft|dpo)", re.IGNORECASE)
SPECIAL_LOOKING = re.compile(r"<\|[^<>|\s]+\|>|<｜[^<>｜]+｜>|<(?:start|end)_of_turn>|<reserved_\d+>|<\|[A-Z_]+\|>")


def check_template_args(data_args) -> None:
    """Config-time checks (before any model loads): names that exist, and settings that fit them."""
    problems = []
    if data_args.template in DROPPED:
        problems.append(f"template: {data_args.template!r} is not available: {DROPPED[data_args.template]}")
    elif data_args.template not in (None, AUTO) and data_args.template not in TEMPLATES:
        close = difflib.get_close_matches(data_args.template, TEMPLATES, n=3)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        problems.append(f"template: unknown template {data_args.template!r}{hint}; "
                        f"available: {', '.join(sorted(TEMPLATES))}")
    if data_args.tool_format is not None and data_args.tool_format not in TOOL_FORMATS:
        problems.append(f"tool_format: unknown tool format {data_args.tool_format!r}; "
                        f"choose one of: {', '.join(TOOL_FORMATS)}")
    template = TEMPLATES.get(data_args.template or "")
    if template is not None and template.efficient_eos and data_args.train_on_prompt:
        problems.append(f"train_on_prompt: the {template.name!r} template learns EOS through the next prompt's "
                        "first label (efficient_eos), which training on prompts would overwrite; turn it off")
    if problems:
        raise ConfigError(problems)


def get_template(tokenizer, data_args, model_name: str | None = None) -> Template:
    """The run's template, with the tokenizer fixed to match it (see the module docstring)."""
    check_template_args(data_args)
    template = _choose_auto(tokenizer) if data_args.template == AUTO else _choose(tokenizer, data_args.template)
    template = replace(
        template,
        tool_format=data_args.tool_format or template.tool_format,
        default_system=template.default_system if data_args.default_system is None else data_args.default_system,
        enable_thinking=data_args.enable_thinking,
        preserve_thinking=data_args.preserve_thinking,
    )
    if data_args.tool_format:
        logger.info("using tool format %r", data_args.tool_format)
    if template.reasoning:
        logger.info("template %r writes a thought block before each final answer (enable_thinking=%s); "
                    "use a `_nothink` template for models that don't reason", template.name, template.enable_thinking)
    for change in fix_tokenizer(tokenizer, template):
        logger.info("tokenizer: %s", change)
    warn_on_mismatch(tokenizer, template, model_name, explicit=data_args.template is not None)
    install_chat_template(tokenizer, template)
    return template


def _choose(tokenizer, name: str | None) -> Template:
    if name is not None:
        return TEMPLATES[name]
    own = getattr(tokenizer, "chat_template", None)
    if isinstance(own, str) and own:
        match = detect_template(tokenizer)
        if match:
            logger.info("no `template` given: the tokenizer's chat_template renders exactly like our %r template, "
                        "which is used", match)
            return TEMPLATES[match]
        logger.warning("no `template` given: training with the tokenizer's own chat_template. Set `template:` to "
                       "name the format explicitly (`tunefactory template --list`)")
        return TokenizerChatTemplate("tokenizer", chat_template=own)
    logger.warning("no `template` given and the tokenizer has no chat_template: using `empty` (raw text, no turn "
                   "markers). Set `template:` for chat data")
    return TEMPLATES["empty"]


def _choose_auto(tokenizer) -> Template:
    """`template: auto`: train on the tokenizer's own chat_template, cut into turns by incremental rendering.

    The tokenizer keeps its chat_template (so saved checkpoints render exactly what training saw); when
    it renders like a registered template, that template's stop words and tool format are borrowed.
    """
    own = getattr(tokenizer, "chat_template", None)
    if not isinstance(own, str) or not own:
        raise ConfigError(["template: `auto` uses the tokenizer's own chat_template, and this tokenizer has none; "
                           "name a template (`tunefactory template --list`)"])
    match = detect_template(tokenizer)
    if match is None:
        logger.info("template auto: training with the tokenizer's own chat_template")
        return TokenizerChatTemplate("auto", chat_template=own)
    named = TEMPLATES[match]
    logger.info("template auto: the tokenizer's chat_template renders like our %r template; training with the "
                "tokenizer's own Jinja and %r's stop words and tool format", match, match)
    return TokenizerChatTemplate("auto", chat_template=own, stop_words=named.stop_words,
                                 tool_format=named.tool_format, family=f"the tokenizer's own (like {match!r})")


PROBES = [
    [{"role": "user", "content": "Hi there"}, {"role": "assistant", "content": "Hello! How can I help?"}],
    [{"role": "user", "content": "What is 2+2?"}, {"role": "assistant", "content": "4"},
     {"role": "user", "content": "And 3+3?"}, {"role": "assistant", "content": "6"}],
]


def detect_template(tokenizer) -> str | None:
    """The registered template whose rendering equals the tokenizer's chat_template on probe chats, if any.

    Probes the tokenizer's template refuses (Gemma's raises on a system message) are left out.
    """
    from .tokenizer_template import to_openai_messages

    bos, eos = tokenizer.bos_token or "", tokenizer.eos_token or ""
    theirs = []
    for probe in PROBES:
        for system in (None, "Be brief."):
            try:
                text = tokenizer.apply_chat_template(to_openai_messages(probe, system), tokenize=False)
            except Exception:  # noqa: BLE001 - a template that refuses this kind of chat
                continue
            theirs.append((probe, system, text))
    if not theirs:
        return None
    text_first = sorted(TEMPLATES.items(), key=lambda item: item[1].multimodal is not None)  # stable otherwise
    for name, template in text_first:
        if name == "empty":
            continue
        try:
            if all(template.render(probe, system, bos=bos, eos=eos) == text for probe, system, text in theirs):
                return name
        except Exception:  # noqa: BLE001 - any template error means "not this one"
            continue
    return None


def fix_tokenizer(tokenizer, template: Template) -> list[str]:
    """Make EOS, pad and the stop words exist as special tokens; return what changed (new ids need resizing)."""
    changes = []
    stop_words = list(template.stop_words)
    if template.replace_eos and stop_words:
        eos = stop_words.pop(0)
        if tokenizer.eos_token != eos:
            old = tokenizer.eos_token
            added = tokenizer.add_special_tokens({"eos_token": eos})
            changes.append(f"eos_token {old!r} -> {eos!r}" + (" (new token)" if added else "")
                           + f" because the {template.name!r} template ends turns with it")
    if tokenizer.eos_token_id is None:
        added = tokenizer.add_special_tokens({"eos_token": "<|endoftext|>"})
        changes.append("added eos_token '<|endoftext|>'" + (" (new token)" if added else ""))
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
        changes.append(f"pad_token set to the eos_token {tokenizer.eos_token!r}")
    vocab = tokenizer.get_vocab()
    missing = [word for word in stop_words if word not in vocab]
    if stop_words:
        tokenizer.add_special_tokens({"additional_special_tokens": stop_words}, replace_extra_special_tokens=False)
    if missing:
        changes.append(f"added stop word(s) {', '.join(missing)} as new special tokens")
    return changes


def warn_on_mismatch(tokenizer, template: Template, model_name: str | None, explicit: bool) -> None:
    """Warn about the template/model pairings that make fine-tuned models generate endlessly."""
    vocab = tokenizer.get_vocab()
    literal = "".join(filter(None, (template.prefix, template.system, template.user, template.generation_prompt,
                                    template.assistant, template.function, template.observation)))
    unknown = sorted({token for token in SPECIAL_LOOKING.findall(literal) if token not in vocab})
    if unknown:
        logger.warning("template %r writes %s, which this tokenizer does not know as single tokens: they will be "
                       "split into ordinary pieces. Is %r the right template for this model?",
                       template.name, ", ".join(unknown), template.name)
    if not explicit or isinstance(template, TokenizerChatTemplate):
        return
    ships_template = bool(getattr(tokenizer, "chat_template", None))
    looks_chat = ships_template or bool(model_name and CHAT_MODEL_NAME.search(model_name))
    if template.name in PLAIN_TEMPLATES and looks_chat:
        suggestion = detect_template(tokenizer) if ships_template else None
        logger.warning("template %r on what looks like a chat model: it was trained to end turns with its own "
                       "tokens, and fine-tuning it on another format is the top cause of endless generation.%s",
                       template.name, f" Its own format is our {suggestion!r} template." if suggestion else
                       " Use the model family's template.")
    elif template.name not in PLAIN_TEMPLATES and not looks_chat and model_name:
        logger.warning("template %r on what looks like a base model (%s): its turn tokens are untrained, so it needs "
                       "enough data to learn to stop at %r", template.name, model_name,
                       template.stop_words[0] if template.stop_words else tokenizer.eos_token)


def install_chat_template(tokenizer, template: Template) -> None:
    """Give the tokenizer this template's Jinja, so saved checkpoints chat the way they were trained."""
    if isinstance(template, TokenizerChatTemplate):
        return
    jinja = to_jinja(template, tokenizer.bos_token or "", tokenizer.eos_token or "")
    if getattr(tokenizer, "chat_template", None) not in (None, jinja):
        logger.info("replacing the tokenizer's chat_template with the %r template's, so saved checkpoints format "
                    "chats exactly as training did", template.name)
    tokenizer.chat_template = jinja
