"""Prompts to generate from: canonical examples rendered by the template up to the answer.

Batch prediction (`tunefactory predict`) and online RL (stage: grpo) both turn each example into the ids of its
conversation so far plus the assistant header, and keep the example's own answer as the reference. A prompt longer
than the limit is skipped and counted, never cut: cutting would drop the header the model answers after.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from ..errors import DataError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PromptRow:
    prompt_ids: list[int]
    prompt: str  # the ids decoded with their special tokens: what the model is given
    label: str  # the example's reference answer ("" when it has none)


def encode_prompts(examples, template, tokenizer, max_length: int, limit_name: str = "cutoff_len") -> list[PromptRow]:
    """Each example's prompt ids and reference answer; prompts over ``max_length`` tokens are skipped and logged."""
    rows, too_long = [], []
    for index, example in enumerate(examples):
        if example["_images"] or example["_videos"] or example["_audios"]:
            raise DataError(f"row {index} has images, video or audio: generating from prompts handles text rows "
                            "only for now")
        ids = template.encode_prompt(tokenizer, example["_prompt"], example["_system"] or None,
                                     example["_tools"] or None)
        if len(ids) > max_length:
            too_long.append(index)
            continue
        response = example["_response"]
        rows.append(PromptRow(ids, tokenizer.decode(ids, skip_special_tokens=False),
                              response[0]["content"] if response else ""))
    if too_long:
        logger.warning("%d of %d rows skipped: their prompt is longer than %s=%d tokens (rows %s%s)",
                       len(too_long), len(too_long) + len(rows), limit_name, max_length,
                       ", ".join(map(str, too_long[:10])), " ..." if len(too_long) > 10 else "")
    if not rows:
        raise DataError(f"no prompt to generate from: the data has {len(too_long)} rows and every prompt is longer "
                        f"than {limit_name}={max_length}" if too_long else "no prompt to generate from: the data is "
                        "empty")
    return rows
