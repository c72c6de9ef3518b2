"""Supervised fine-tuning (sft): every turn of a conversation, with loss on the answers only.

    input_ids  <prompt 1> <answer 1> <prompt 2> <answer 2> ...
    labels     -100 ...   <answer 1> -100 ...   <answer 2> ...

``train_on_prompt`` puts the prompts in the labels too; ``mask_history`` keeps only the last
answer in the labels, and gives the last turn first claim on the ``cutoff_len`` budget.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..bad_rows import BadRow
from .common import IGNORE_INDEX, Processor, has_supervised_token, infer_seqlen


def build_supervised_example(turns: list[tuple[list[int], list[int]]], cutoff_len: int, *,
                             train_on_prompt: bool = False, mask_history: bool = False,
                             efficient_eos_id: int | None = None) -> tuple[list[int], list[int]]:
    """``(input_ids, labels)`` from per-turn ``(prompt_ids, response_ids)``, truncated to ``cutoff_len``.

    Turns claim the budget in order (the last turn first with ``mask_history``); each turn splits
    what is left between its prompt and its answer with `infer_seqlen`. With an efficient-EOS
    template the answers carry no EOS: it is learned as the label of the next prompt's first token,
    and appended once at the very end; never after an answer that truncation cut short, which
    would teach the model to stop mid-answer.
    """
    input_ids: list[int] = []
    labels: list[int] = []
    total = 1 if efficient_eos_id is not None else 0
    ordered = list(reversed(turns)) if mask_history else turns
    previous_complete = last_complete = False
    for position, (prompt_ids, response_ids) in enumerate(ordered):
        if total >= cutoff_len:
            break
        prompt_len, response_len = infer_seqlen(len(prompt_ids), len(response_ids), cutoff_len - total)
        complete = 0 < response_len == len(response_ids)
        prompt_ids, response_ids = prompt_ids[:prompt_len], response_ids[:response_len]
        total += prompt_len + response_len
        if train_on_prompt:
            prompt_labels = list(prompt_ids)
        elif efficient_eos_id is not None and previous_complete and not mask_history and prompt_len:
            # the previous answer's EOS: predicted from its last token (never with mask_history, whose
            # earlier answers are not learned)
            prompt_labels = [efficient_eos_id] + [IGNORE_INDEX] * (prompt_len - 1)
        else:
            prompt_labels = [IGNORE_INDEX] * prompt_len
        response_labels = [IGNORE_INDEX] * response_len if mask_history and position else list(response_ids)
        if mask_history:  # built from the last turn backwards
            input_ids = prompt_ids + response_ids + input_ids
            labels = prompt_labels + response_labels + labels
        else:
            input_ids += prompt_ids + response_ids
            labels += prompt_labels + response_labels
        if position == 0 or not mask_history:  # the chronologically last turn kept so far
            last_complete = complete
        previous_complete = complete
    if efficient_eos_id is not None and last_complete:
        input_ids.append(efficient_eos_id)
        labels.append(efficient_eos_id)
    return input_ids, labels


@dataclass
class SupervisedProcessor(Processor):
    output_columns: tuple[str, ...] = ("input_ids", "labels")
    handles_media: bool = True

    def __post_init__(self):
        self.output_columns = (*self.output_columns, *self.media_columns())  # paths, opened when collated

    def encode(self, example):
        if len(example["_response"]) != 1:
            raise BadRow(f"sft needs exactly one answer per example, this one has {len(example['_response'])}")
        messages = example["_prompt"] + example["_response"]
        if self.media is not None:
            messages = self.media.expand(messages, self.media_items(example))
        turns = self.template.encode_multiturn(self.tokenizer, messages, example["_system"], example["_tools"])
        input_ids, labels = build_supervised_example(
            turns, self.cutoff_len, train_on_prompt=self.data_args.train_on_prompt,
            mask_history=self.data_args.mask_history,
            efficient_eos_id=self.eos_id if self.template.efficient_eos else None,
        )
        if not has_supervised_token(labels):
            raise BadRow(f"no answer token left to learn from after truncation to cutoff_len={self.cutoff_len}")
        if self.media is None:
            return {"input_ids": input_ids, "labels": labels}
        self.check_media_kept(messages, input_ids)
        return {"input_ids": input_ids, "labels": labels, self.media.column: self.media_items(example)}
