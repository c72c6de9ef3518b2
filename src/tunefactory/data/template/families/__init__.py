"""The registered templates, by LLaMA-Factory's names, each in its family's published chat format.

One module per vendor; each holds a ``TEMPLATES`` list. Where LLaMA-Factory's rendering differs from
the family's own chat template we follow the family and say so in ``notes`` (listed in docs/templates.md,
and checked against the official templates in tests/data/template/test_official.py).
"""

from __future__ import annotations

from ..core import Template
from . import (ant, baidu, bytedance, community, deepseek, general, glm, google, ibm, internlm, kuaishou, liquid, llava,
               meta, microsoft, minimax, mistral, moonshot, openai, openbmb, others, qwen, tencent, xiaomi, yi)

# Order matters only to `detect_template` (first exact match wins): text formats before their
# multimodal twins, which render identically.
_MODULES = (general, qwen, meta, mistral, google, glm, deepseek, microsoft, yi, internlm, ibm, openai, others, llava,
            xiaomi, kuaishou, moonshot, baidu, openbmb, liquid, minimax, ant, tencent, bytedance, community)
_TEMPLATES: list[Template] = [template for module in _MODULES for template in module.TEMPLATES]

TEMPLATES: dict[str, Template] = {}
for _template in _TEMPLATES:
    if _template.name in TEMPLATES:
        raise ValueError(f"template {_template.name!r} is registered twice")
    TEMPLATES[_template.name] = _template

# Names LLaMA-Factory once had and dropped: a clear error naming where to go instead.
DROPPED: dict[str, str] = {
    "baichuan": "Baichuan 1 chat is no longer supported by LLaMA-Factory; its models have no maintained template",
    "baichuan2": "LLaMA-Factory dropped Baichuan2; for Baichuan-M1/M2 (ChatML) use `chatml`",
    "belle": "LLaMA-Factory dropped BELLE; its models are Llama-based: `llama2_zh` or `default`",
    "bluelm": "LLaMA-Factory dropped BlueLM; use `default` for its base models",
    "chatglm2": "LLaMA-Factory dropped ChatGLM2; use `chatglm3` for ChatGLM3 or `glm4` for GLM-4",
    "codegeex2": "LLaMA-Factory dropped CodeGeeX2; use `glm4` for CodeGeeX4",
    "codegeex4": "LLaMA-Factory dropped CodeGeeX4 (a GLM-4 model); use `glm4`",
    "cpm": "LLaMA-Factory dropped MiniCPM 1; use `cpm4` for MiniCPM 4 or `chatml`",
    "cpm3": "LLaMA-Factory dropped MiniCPM 3; it writes ChatML: use `chatml`",
    "orion": "LLaMA-Factory dropped Orion; use `default` for its base models",
    "xverse": "LLaMA-Factory dropped XVERSE; use `default` for its base models",
    "yayi": "LLaMA-Factory dropped YAYI; use `llama2_zh` or `default`",
    "ziya": "LLaMA-Factory dropped Ziya; use `llama2_zh` or `default`",
    "atom": "LLaMA-Factory dropped Atom; use `llama2_zh`",
    "aquila": "LLaMA-Factory dropped Aquila; use `default`",
    "metamath": "LLaMA-Factory dropped MetaMath; use `alpaca`, the format it was trained on",
    "llama3_vl": "not a LLaMA-Factory name; Llama 3.2 Vision uses `mllama`",
}


def templates_markdown() -> str:
    """The registry as the table in docs/templates.md (kept in sync by a test)."""
    rows = ["| template | for | tool format | stop words | notes |", "| --- | --- | --- | --- | --- |"]
    for t in _TEMPLATES:
        flags = [flag for flag, on in (("reasoning", t.reasoning), ("efficient_eos", t.efficient_eos),
                                        ("replace_eos", t.replace_eos), (f"multimodal: {t.multimodal}", t.multimodal))
                 if on]
        stops = ", ".join(f"`{word}`" for word in t.stop_words) or "EOS"
        notes = "; ".join(flags + list(t.notes)).replace("|", "\\|")
        rows.append(f"| `{t.name}` | {t.family} | {t.tool_format} | {stops.replace('|', chr(92) + '|')} | {notes} |")
    return "\n".join(rows) + "\n"


MARKER = "<!-- generated from the template registry (data/template/families/): edit there, then `make docs` -->\n"
