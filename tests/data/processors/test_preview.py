"""The preview of a processed example: ids, text, and label runs of -100 made visible."""

import pytest

from tunefactory.data.processors import describe_example
from tunefactory.data.processors.preview import label_text

M = -100


@pytest.fixture(scope="module")
def tokenizer(tiny_qwen2):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_qwen2)


def enc(tokenizer, text):
    return tokenizer.encode(text, add_special_tokens=False)


def test_label_text_shows_masked_runs(tokenizer):
    answer = enc(tokenizer, "Hello!<|im_end|>")
    assert tokenizer.decode(answer, skip_special_tokens=False) == "Hello!<|im_end|>"
    assert label_text([M, M, M] + answer, tokenizer) == "[-100 x 3]Hello!<|im_end|>"
    first, second = enc(tokenizer, "Yes"), enc(tokenizer, "No")
    assert label_text([M] + first + [M, M] + second + [M] * 4, tokenizer) == "[-100 x 1]Yes[-100 x 2]No[-100 x 4]"
    assert label_text(answer, tokenizer) == "Hello!<|im_end|>"
    assert label_text([M] * 5, tokenizer) == "[-100 x 5]"
    assert label_text([], tokenizer) == ""


def test_describe_supervised_example(tokenizer):
    prompt, answer = enc(tokenizer, "<|im_start|>user\nHi<|im_end|>\n"), enc(tokenizer, "Hello!")
    text = describe_example({"input_ids": prompt + answer, "labels": [M] * len(prompt) + answer}, tokenizer)
    assert text.splitlines() == [
        f"example input_ids ({len(prompt) + len(answer)}):", str(prompt + answer),
        "example inputs:", "<|im_start|>user", "Hi<|im_end|>", "Hello!",  # the decoded text spans 3 lines
        "example label_ids:", str([M] * len(prompt) + answer),
        "example labels:", f"[-100 x {len(prompt)}]Hello!",
    ]


def test_describe_pairwise_example_shows_both_sides(tokenizer):
    prompt, chosen, rejected = enc(tokenizer, "Q: "), enc(tokenizer, "good"), enc(tokenizer, "bad")
    example = {"chosen_input_ids": prompt + chosen, "chosen_labels": [M] * len(prompt) + chosen,
               "rejected_input_ids": prompt + rejected, "rejected_labels": [M] * len(prompt) + rejected}
    text = describe_example(example, tokenizer)
    lines = text.splitlines()
    assert "example input_ids" not in text
    assert lines[:4] == [f"chosen input_ids ({len(prompt + chosen)}):", str(prompt + chosen), "chosen inputs:",
                         "Q: good"]
    assert f"chosen labels:\n[-100 x {len(prompt)}]good" in text
    assert f"rejected input_ids ({len(prompt + rejected)}):\n{prompt + rejected}\nrejected inputs:\nQ: bad" in text
    assert f"rejected labels:\n[-100 x {len(prompt)}]bad" in text
    assert text.index("chosen") < text.index("rejected")


def test_describe_packed_and_kto_rows(tokenizer):
    ids = enc(tokenizer, "ab cd ef")
    packed = {"input_ids": ids + ids, "labels": [M] + ids[1:] + [M] + ids[1:],
              "position_ids": list(range(len(ids))) * 2}
    assert describe_example(packed, tokenizer).endswith("packed examples in this row: 2 (position_ids restart at each)")
    kto = {"input_ids": ids, "labels": ids, "kl_input_ids": ids, "kl_labels": [M] * len(ids), "kto_tags": False}
    text = describe_example(kto, tokenizer)
    assert f"kl labels:\n[-100 x {len(ids)}]" in text
    assert text.endswith("kto tag: undesirable")
