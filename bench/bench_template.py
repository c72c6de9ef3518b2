"""Template encoding speed: our per-turn encoding vs transformers' apply_chat_template on the same chats.

Both tokenize the bundled `sharegpt_tools` conversations (tools, calls, results) for the tiny Qwen2
tokenizer with the `qwen` template; apply_chat_template gets our exported Jinja, so the texts are equal.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import peak_rss_mib, timed, write_result  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def load_chats(repeat: int = 10) -> list[tuple[list[dict], str, str]]:
    from tunefactory.data.converters import Converter
    from tunefactory.data.registry import parse_entry

    rows = json.loads((ROOT / "data" / "sharegpt_tools.json").read_text(encoding="utf-8"))
    entry = json.loads((ROOT / "data" / "dataset_info.json").read_text(encoding="utf-8"))["sharegpt_tools"]
    converter = Converter(parse_entry("sharegpt_tools", entry), str(ROOT / "data"))
    chats = []
    for row in rows:
        example = converter(row)
        chats.append((example["_prompt"] + example["_response"], example["_system"], example["_tools"]))
    return chats * repeat


def main() -> dict:
    from transformers import AutoTokenizer

    from tunefactory.config.data_args import DataArguments
    from tunefactory.data.template import get_template, to_openai_messages
    from tunefactory_fixtures.tiny_models import ensure_tiny_model

    with tempfile.TemporaryDirectory() as cache:
        tokenizer = AutoTokenizer.from_pretrained(ensure_tiny_model(cache, arch="qwen2", size="tiny"))
    template = get_template(tokenizer, DataArguments(template="qwen"))
    chats = load_chats()
    openai = [(to_openai_messages(m, s), json.loads(t) if t else None) for m, s, t in chats]

    def ours():
        for messages, system, tools in chats:
            template.encode_multiturn(tokenizer, messages, system, tools)

    def theirs():
        for messages, tools in openai:
            tokenizer.apply_chat_template(messages, tools=tools, tokenize=True)

    ours_s, theirs_s = timed(ours), timed(theirs)
    return {"conversations": len(chats), "template": "qwen",
            "tunefactory_encode_multiturn_chats_per_s": round(len(chats) / ours_s),
            "apply_chat_template_chats_per_s": round(len(chats) / theirs_s),
            "ratio": round(theirs_s / ours_s, 2), "peak_rss_mib": round(peak_rss_mib())}


if __name__ == "__main__":
    figures = main()
    print(json.dumps(figures, indent=2))
    print(write_result("template", figures))
