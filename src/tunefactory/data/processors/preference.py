"""Preference data: pairs for rm/dpo/orpo/simpo, and labelled single answers for kto.

Pairwise rows hold the prompt once per side: ``chosen_*`` and ``rejected_*`` both start with the
same prompt ids, and the budget is shared so the longer answer decides how much prompt is kept.
KTO rows hold the example (``input_ids``/``labels`` and ``kto_tags``: desirable or not) and a
mismatched pair (``kl_*``: this prompt with the previous row's answer) for KTO's KL estimate.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..bad_rows import BadRow
from .common import IGNORE_INDEX, Processor, infer_seqlen

MISMATCHED_RESPONSE = "_mismatched_response"  # KTO: the answer paired with this prompt for the KL estimate


def prompt_and_answers(template, tokenizer, example: dict, answers: list[dict], cutoff_len: int,
                       efficient_eos: bool) -> tuple[list[int], list[list[int]]]:
    """The prompt ids and each answer's ids, truncated together to fit ``cutoff_len``."""
    prompt_ids, answer_ids = [], []
    for answer in answers:
        prompt_ids, ids = template.encode_oneturn(tokenizer, example["_prompt"] + [answer], example["_system"],
                                                  example["_tools"])
        answer_ids.append(ids + [tokenizer.eos_token_id] if efficient_eos else ids)
    prompt_len, answer_len = infer_seqlen(len(prompt_ids), max(map(len, answer_ids)), cutoff_len)
    return prompt_ids[:prompt_len], [ids[:answer_len] for ids in answer_ids]


def prompt_masked(prompt_ids: list[int], answer_ids: list[int]) -> tuple[list[int], list[int]]:
    return prompt_ids + answer_ids, [IGNORE_INDEX] * len(prompt_ids) + answer_ids


@dataclass
class PairwiseProcessor(Processor):
    output_columns: tuple[str, ...] = ("chosen_input_ids", "chosen_labels", "rejected_input_ids", "rejected_labels")
    handles_media: bool = True  # rm and dpo (their recipes pass the media context)

    def __post_init__(self):
        self.output_columns = (*self.output_columns, *self.media_columns())  # paths, opened when collated

    def encode(self, example):
        if len(example["_response"]) != 2:
            raise BadRow("a preference pair needs a chosen and a rejected answer, this one has "
                         f"{len(example['_response'])}")
        example = self.with_media(example)
        prompt_ids, (chosen_ids, rejected_ids) = prompt_and_answers(
            self.template, self.tokenizer, example, example["_response"], self.cutoff_len, self.template.efficient_eos)
        if not chosen_ids or not rejected_ids:
            raise BadRow(f"no answer token left after truncation to cutoff_len={self.cutoff_len}")
        chosen_input_ids, chosen_labels = prompt_masked(prompt_ids, chosen_ids)
        rejected_input_ids, rejected_labels = prompt_masked(prompt_ids, rejected_ids)
        row = {"chosen_input_ids": chosen_input_ids, "chosen_labels": chosen_labels,
               "rejected_input_ids": rejected_input_ids, "rejected_labels": rejected_labels}
        if self.media is None:
            return row
        self.check_media_kept(example["_prompt"], prompt_ids)
        return {**row, self.media.column: self.media_items(example)}


def kto_answer(response: list[dict]) -> tuple[dict, bool]:
    """The converter stores a KTO answer as ``[answer, empty]`` (desirable) or ``[empty, answer]``."""
    desirable = bool(response[0]["content"])
    return (response[0] if desirable else response[1]), desirable


@dataclass
class FeedbackProcessor(Processor):
    output_columns: tuple[str, ...] = ("input_ids", "labels", "kl_input_ids", "kl_labels", "kto_tags")
    handles_media: bool = True  # the KL row is this prompt with another answer: the same images

    def __post_init__(self):
        self.output_columns = (*self.output_columns, *self.media_columns())  # paths, opened when collated

    def __call__(self, batch):
        # The mismatched answer comes from the previous row of the batch (the first row takes the last).
        responses = list(batch["_response"])
        return super().__call__({**batch, MISMATCHED_RESPONSE: responses[-1:] + responses[:-1]})

    def encode(self, example):
        if len(example["_response"]) != 2:
            raise BadRow("a KTO example needs one answer and its desirable/undesirable label")
        example = self.with_media(example)
        answer, desirable = kto_answer(example["_response"])
        mismatched, _ = kto_answer(example[MISMATCHED_RESPONSE])
        efficient_eos = self.template.efficient_eos
        prompt_ids, (answer_ids,) = prompt_and_answers(self.template, self.tokenizer, example, [answer],
                                                       self.cutoff_len, efficient_eos)
        kl_prompt_ids, (kl_answer_ids,) = prompt_and_answers(self.template, self.tokenizer, example, [mismatched],
                                                             self.cutoff_len, efficient_eos)
        if not answer_ids:
            raise BadRow(f"no answer token left after truncation to cutoff_len={self.cutoff_len}")
        input_ids, labels = prompt_masked(prompt_ids, answer_ids)
        kl_input_ids, kl_labels = prompt_masked(kl_prompt_ids, kl_answer_ids)
        row = {"input_ids": input_ids, "labels": labels, "kl_input_ids": kl_input_ids, "kl_labels": kl_labels,
               "kto_tags": desirable}
        if self.media is None:
            return row
        self.check_media_kept(example["_prompt"], prompt_ids, kl_prompt_ids)
        return {**row, self.media.column: self.media_items(example)}


@dataclass
class UnsupervisedProcessor(Processor):
    """Prompts to generate from (predict, ppo): ``input_ids`` is the prompt with the assistant header,
    ``labels`` the reference answer's ids (empty when there is none), kept to score the generations."""

    output_columns: tuple[str, ...] = ("input_ids", "labels")

    def encode(self, example):
        response = example["_response"]
        if len(response) != 1:  # no reference answer: the prompt alone
            prompt_ids = self.template.encode_prompt(self.tokenizer, example["_prompt"], example["_system"],
                                                     example["_tools"])
            return {"input_ids": prompt_ids[: self.cutoff_len], "labels": []}
        prompt_ids, answer_ids = self.template.encode_oneturn(self.tokenizer, example["_prompt"] + response,
                                                              example["_system"], example["_tools"])
        if self.template.efficient_eos:
            answer_ids = answer_ids + [self.eos_id]
        prompt_len, answer_len = infer_seqlen(len(prompt_ids), len(answer_ids), self.cutoff_len)
        return {"input_ids": prompt_ids[:prompt_len], "labels": answer_ids[:answer_len]}
