"""Chat templates: each model family's exact conversation format, tool calling, and Jinja export."""

from .core import Template
from .families import TEMPLATES
from .jinja import to_jinja
from .resolve import check_template_args, detect_template, fix_tokenizer, get_template
from .tokenizer_template import TokenizerChatTemplate, to_openai_messages
from .tools import TOOL_FORMATS, FunctionCall, function_message, get_tool_format, parse_function_message

__all__ = [
    "TEMPLATES", "TOOL_FORMATS", "FunctionCall", "Template", "TokenizerChatTemplate", "check_template_args",
    "detect_template", "fix_tokenizer", "function_message", "get_template", "get_tool_format",
    "parse_function_message", "to_jinja", "to_openai_messages",
]
