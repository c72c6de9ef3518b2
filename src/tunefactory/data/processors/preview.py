"""Show a processed example as the model sees it: ids and text, with the masked labels made visible."""

from __future__ import annotations

from .common import IGNORE_INDEX

SIDES = ("", "chosen_", "rejected_", "kl_")


def describe_example(example: dict, tokenizer) -> str:
    """Input ids and text, label ids and text, for every side the example has (chosen, rejected, kl).

    In the label text each run of ignored labels shows as ``[-100 x N]``, so prompt masking,
    truncation and EOS placement can be checked by eye.
    """
    lines = []
    for side in SIDES:
        input_ids = example.get(f"{side}input_ids")
        if input_ids is None:
            continue
        name = side.rstrip("_") or "example"
        lines += [f"{name} input_ids ({len(input_ids)}):", str(list(input_ids)),
                  f"{name} inputs:", tokenizer.decode(input_ids, skip_special_tokens=False)]
        labels = example.get(f"{side}labels")
        if labels is not None:
            lines += [f"{name} label_ids:", str(list(labels)), f"{name} labels:", label_text(labels, tokenizer)]
    if example.get("position_ids") is not None:
        starts = sum(1 for p in example["position_ids"] if p == 0)
        lines.append(f"packed examples in this row: {starts} (position_ids restart at each)")
    if "kto_tags" in example:
        lines.append(f"kto tag: {'desirable' if example['kto_tags'] else 'undesirable'}")
    return "\n".join(lines)


def label_text(labels: list[int], tokenizer) -> str:
    parts, run = [], []
    masked = 0
    for label in list(labels) + [None]:  # a sentinel flushes the last run
        if label == IGNORE_INDEX:
            if run:
                parts.append(tokenizer.decode(run, skip_special_tokens=False))
                run = []
            masked += 1
            continue
        if masked:
            parts.append(f"[-100 x {masked}]")
            masked = 0
        if label is not None:
            run.append(label)
    if run:
        parts.append(tokenizer.decode(run, skip_special_tokens=False))
    return "".join(parts)
