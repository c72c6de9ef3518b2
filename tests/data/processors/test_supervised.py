"""Supervised examples: label masking, mask_history, efficient EOS and truncation, on hand-written ids,
then the sft processor on a real (tiny) Qwen2 tokenizer and the pipeline's drop accounting."""

import json
from dataclasses import dataclass

import pytest

from tunefactory.config import parse_dict
from tunefactory.config.data_args import DataArguments
from tunefactory.data.bad_rows import DROP_COLUMN
from tunefactory.data.pipeline import get_dataset
from tunefactory.data.processors import SupervisedProcessor, build_supervised_example, infer_seqlen
from tunefactory.errors import DataError

M = -100  # IGNORE_INDEX
TURNS = [([1, 2, 3], [4, 5]), ([6, 7], [8, 9])]


# --- build_supervised_example -----------------------------------------------------------------------


def test_plain_concatenates_turns_and_masks_prompts():
    assert build_supervised_example(TURNS, 100) == ([1, 2, 3, 4, 5, 6, 7, 8, 9], [M, M, M, 4, 5, M, M, 8, 9])


def test_train_on_prompt_labels_everything():
    input_ids, labels = build_supervised_example(TURNS, 100, train_on_prompt=True)
    assert input_ids == [1, 2, 3, 4, 5, 6, 7, 8, 9]
    assert labels == input_ids


def test_mask_history_labels_only_the_last_answer():
    assert build_supervised_example(TURNS, 100, mask_history=True) == ([1, 2, 3, 4, 5, 6, 7, 8, 9],
                                                                       [M, M, M, M, M, M, M, 8, 9])


def test_mask_history_gives_the_last_turn_first_claim_on_the_budget():
    # last turn first: infer_seqlen(2, 2, 4) = (2, 2) uses the whole budget, the first turn is dropped
    assert infer_seqlen(2, 2, 4) == (2, 2)
    assert build_supervised_example(TURNS, 4, mask_history=True) == ([6, 7, 8, 9], [M, M, 8, 9])
    # cutoff 6: the last turn takes 4, then infer_seqlen(3, 2, 2) = (2, 0) keeps the first prompt's head
    assert infer_seqlen(3, 2, 2) == (2, 0)
    assert build_supervised_example(TURNS, 6, mask_history=True) == ([1, 2, 6, 7, 8, 9], [M, M, M, M, 8, 9])
    # without mask_history the first turn claims first: infer_seqlen(3, 2, 4) = (3, 1)
    assert build_supervised_example(TURNS, 4) == ([1, 2, 3, 4], [M, M, M, 4])


def test_efficient_eos_is_learned_on_the_next_prompt_and_appended_once():
    input_ids, labels = build_supervised_example(TURNS, 100, efficient_eos_id=99)
    assert input_ids == [1, 2, 3, 4, 5, 6, 7, 8, 9, 99]
    assert labels == [M, M, M, 4, 5, 99, M, 8, 9, 99]


def test_efficient_eos_with_mask_history_learns_only_the_final_eos():
    # deliberate difference from LLaMA-Factory: earlier answers are not learned, so neither is their EOS
    input_ids, labels = build_supervised_example(TURNS, 100, mask_history=True, efficient_eos_id=99)
    assert input_ids == [1, 2, 3, 4, 5, 6, 7, 8, 9, 99]
    assert labels == [M, M, M, M, M, M, M, 8, 9, 99]


def test_efficient_eos_counts_against_the_cutoff():
    # the appended EOS reserves one token: infer_seqlen(3, 2, 5 - 1) = (3, 1), then the second turn is cut;
    # the answer [4, 5] lost its end, so no EOS follows it (it would teach stopping mid-answer)
    input_ids, labels = build_supervised_example(TURNS, 5, efficient_eos_id=99)
    assert (input_ids, labels) == ([1, 2, 3, 4], [M, M, M, 4])
    # with room for the whole first answer plus its EOS, the EOS is appended and learned
    input_ids, labels = build_supervised_example(TURNS, 6, efficient_eos_id=99)
    assert (input_ids, labels) == ([1, 2, 3, 4, 5, 99], [M, M, M, 4, 5, 99])
    for cutoff in range(1, 12):
        input_ids, labels = build_supervised_example(TURNS, cutoff, efficient_eos_id=99)
        assert len(input_ids) == len(labels) <= max(cutoff, 1)
        assert input_ids[-1:] != [99] or labels[-1] == 99
        # once the first answer fits whole, its EOS is learned: appended, or as the next prompt's first label
        assert (99 in labels) == (cutoff >= 6)


def test_efficient_eos_is_not_placed_on_an_empty_prompt():
    # second turn's prompt gets 0 tokens: no stray EOS label without an input token under it
    turns = [([1], [2]), ([], [3, 4])]
    input_ids, labels = build_supervised_example(turns, 100, efficient_eos_id=99)
    assert input_ids == [1, 2, 3, 4, 99]
    assert labels == [M, 2, 3, 4, 99]


def test_a_prompt_longer_than_the_cutoff_keeps_a_short_response_whole():
    turns = [(list(range(1, 21)), [30, 31])]
    assert infer_seqlen(20, 2, 8) == (6, 2)
    assert build_supervised_example(turns, 8) == ([1, 2, 3, 4, 5, 6, 30, 31], [M] * 6 + [30, 31])


def test_an_empty_response_has_no_label():
    assert build_supervised_example([([1, 2, 3], [])], 10) == ([1, 2, 3], [M, M, M])


def test_a_cutoff_smaller_than_the_first_turn_cuts_it_in_proportion():
    turns = [([1, 2, 3, 4, 5, 6], [7, 8, 9, 10, 11, 12]), ([13], [14])]
    assert build_supervised_example(turns, 4) == ([1, 2, 7, 8], [M, M, 7, 8])


def test_later_turns_are_cut_then_left_out():
    turns = [([1, 2], [3, 4]), ([5, 6], [7, 8]), ([9], [10])]
    # turn 1 whole (4 tokens); turn 2 gets infer_seqlen(2, 2, 2) = (1, 1); turn 3 finds no budget left
    assert build_supervised_example(turns, 6) == ([1, 2, 3, 4, 5, 7], [M, M, 3, 4, M, 7])
    assert build_supervised_example(turns, 4) == ([1, 2, 3, 4], [M, M, 3, 4])
    assert build_supervised_example(turns, 10) == ([1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
                                                   [M, M, 3, 4, M, M, 7, 8, M, 10])


def test_lengths_agree_and_fit_for_every_option_and_cutoff():
    turns = [([1, 2, 3, 4, 5], [6, 7, 8]), ([9, 10], [11, 12, 13, 14]), ([15, 16, 17], [18])]
    for cutoff in range(1, 30):
        for options in ({}, {"train_on_prompt": True}, {"mask_history": True}, {"efficient_eos_id": 99}):
            input_ids, labels = build_supervised_example(turns, cutoff, **options)
            assert len(input_ids) == len(labels) <= cutoff, (cutoff, options)
            # a label is masked, its own input token, or (efficient EOS) the EOS learned on a prompt's first token
            allowed = {M, 99} if "efficient_eos_id" in options else {M}
            pairs = zip(labels, input_ids, strict=True)
            assert all(label in allowed | {token} for label, token in pairs), (cutoff, options)


# --- SupervisedProcessor on the tiny Qwen2 tokenizer ------------------------------------------------


@pytest.fixture
def qwen(tiny_qwen2):
    """A fresh tokenizer per test (get_template changes its EOS) and the qwen template."""
    from transformers import AutoTokenizer

    from tunefactory.data.template import get_template

    tokenizer = AutoTokenizer.from_pretrained(tiny_qwen2)
    template = get_template(tokenizer, DataArguments(template="qwen", cutoff_len=64))
    return template, tokenizer


def enc(tokenizer, text):
    return tokenizer.encode(text, add_special_tokens=False)


def msg(role, content):
    return {"role": role, "content": content}


def example(prompt, response, system="", tools=""):
    return {"_prompt": prompt, "_response": response, "_system": system, "_tools": tools, "_images": None,
            "_videos": None, "_audios": None}


def batch_of(*examples):
    return {key: [ex[key] for ex in examples] for key in examples[0]}


TWO_TURNS = example([msg("user", "Hi"), msg("assistant", "Hello!"), msg("user", "How are you?")],
                    [msg("assistant", "Fine.")], system="Be brief.")


def test_qwen_two_turn_conversation_ids_and_labels(qwen):
    template, tokenizer = qwen
    assert tokenizer.convert_tokens_to_ids(["<|im_start|>", "<|im_end|>"]) == [1, 2]
    prompt1 = enc(tokenizer, "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
                             "<|im_start|>assistant\n")
    answer1 = enc(tokenizer, "Hello!<|im_end|>\n")
    prompt2 = enc(tokenizer, "<|im_start|>user\nHow are you?<|im_end|>\n<|im_start|>assistant\n")
    answer2 = enc(tokenizer, "Fine.<|im_end|>\n")
    assert prompt1[0] == 1 and answer1[-2] == 2  # the chat markers are single tokens

    processor = SupervisedProcessor(template, tokenizer, DataArguments(template="qwen", cutoff_len=1024))
    out = processor(batch_of(TWO_TURNS))
    assert out[DROP_COLUMN] == [""]
    assert out["input_ids"] == [prompt1 + answer1 + prompt2 + answer2]
    assert out["labels"] == [[M] * len(prompt1) + answer1 + [M] * len(prompt2) + answer2]


def test_qwen_default_system_and_mask_history(qwen):
    template, tokenizer = qwen
    no_system = example([msg("user", "Hi")], [msg("assistant", "Hello!")])
    prompt = enc(tokenizer, "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful "
                            "assistant.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n")
    answer = enc(tokenizer, "Hello!<|im_end|>\n")
    processor = SupervisedProcessor(template, tokenizer, DataArguments(template="qwen", cutoff_len=1024,
                                                                       mask_history=True))
    out = processor(batch_of(no_system, TWO_TURNS))
    assert out["input_ids"][0] == prompt + answer
    assert out["labels"][0] == [M] * len(prompt) + answer
    answer2 = enc(tokenizer, "Fine.<|im_end|>\n")
    labels = out["labels"][1]
    assert labels[-len(answer2):] == answer2 and set(labels[:-len(answer2)]) == {M}


def test_an_example_whose_answer_is_cut_away_is_dropped_with_a_reason(qwen):
    template, tokenizer = qwen
    long_prompt = example([msg("user", "word " * 200)], [msg("assistant", "Hello!")])
    processor = SupervisedProcessor(template, tokenizer, DataArguments(template="qwen", cutoff_len=8))
    prompt_ids, answer_ids = template.encode_oneturn(tokenizer, long_prompt["_prompt"] + long_prompt["_response"])
    assert infer_seqlen(len(prompt_ids), len(answer_ids), 8)[1] == 0  # the precondition: no answer token fits
    short = example([msg("user", "Hi")], [msg("assistant", "Yo")], system="S")
    two_answers = {**short, "_response": [msg("assistant", "a"), msg("assistant", "b")]}
    out = processor(batch_of(short, long_prompt, two_answers))
    assert out[DROP_COLUMN][0] == ""
    assert out[DROP_COLUMN][1] == "no answer token left to learn from after truncation to cutoff_len=8"
    assert out[DROP_COLUMN][2] == "sft needs exactly one answer per example, this one has 2"
    assert out["input_ids"][1] == out["labels"][1] == []
    assert len(out["input_ids"][0]) == 8 and out["labels"][0][-1] != M


@dataclass
class FixedTemplate:
    """A template stand-in that returns fixed turn ids, to test the processor's own rules."""

    turns: list
    efficient_eos: bool = False
    name: str = "fixed"

    def encode_multiturn(self, tokenizer, messages, system=None, tools=None):
        return self.turns


class EosOnly:
    eos_token_id = 99


def test_efficient_eos_example_with_no_answer_left_is_dropped():
    # infer_seqlen(20, 2, 4 - 1) = (3, 0): nothing of the answer [40, 41] fits
    template = FixedTemplate([(list(range(10, 30)), [40, 41])], efficient_eos=True)
    processor = SupervisedProcessor(template, EosOnly(), DataArguments(cutoff_len=4))
    out = processor(batch_of(example([msg("user", "q")], [msg("assistant", "a")])))
    assert out[DROP_COLUMN] == ["no answer token left to learn from after truncation to cutoff_len=4"]


def test_efficient_eos_processor_uses_the_tokenizer_eos():
    template = FixedTemplate([([1, 2], [3]), ([4], [5])], efficient_eos=True)
    processor = SupervisedProcessor(template, EosOnly(), DataArguments(cutoff_len=100))
    out = processor(batch_of(example([msg("user", "q")], [msg("assistant", "a")])))
    assert out["input_ids"] == [[1, 2, 3, 4, 5, 99]]
    assert out["labels"] == [[M, M, 3, 99, 5, 99]]


def test_media_columns_stop_processing():
    # a dataset with media is refused as a whole (not dropped row by row): text-only training must be chosen
    processor = SupervisedProcessor(FixedTemplate([([1], [2])]), EosOnly(), DataArguments(cutoff_len=100))
    with_image = {**example([msg("user", "q")], [msg("assistant", "a")]), "_images": ["cat.png"]}
    with pytest.raises(DataError, match=r"this dataset has images \('cat.png', ...\): template .* is text-only"):
        processor(batch_of(example([msg("user", "q")], [msg("assistant", "a")]), with_image))


# --- through the pipeline: drops counted in the ProcessReport ---------------------------------------


def write_dataset(tmp_path, rows):
    (tmp_path / "qa.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "dataset_info.json").write_text(json.dumps({"qa": {"file_name": "qa.jsonl"}}))


def sft_config(tmp_path, **overrides):
    return parse_dict({"model_name_or_path": "m", "stage": "sft", "do_train": True, "output_dir": str(tmp_path / "o"),
                       "dataset_dir": str(tmp_path), "dataset": "qa", "template": "qwen", "cutoff_len": 8,
                       "overwrite_cache": True, **overrides})


def test_pipeline_counts_dropped_examples(tmp_path, tiny_qwen2):
    from transformers import AutoTokenizer

    from tunefactory.data.template import get_template

    rows = [{"instruction": f"q{i}", "output": f"a{i}"} for i in range(20)]
    rows[5] = {"instruction": "word " * 200, "output": "a longer answer"}  # its answer cannot fit
    write_dataset(tmp_path, rows)
    config = sft_config(tmp_path, default_system="")
    tokenizer = AutoTokenizer.from_pretrained(tiny_qwen2)
    template = get_template(tokenizer, config.data)
    module = get_dataset(config, template, tokenizer)
    (report,) = module.processing
    assert (report.split, report.kind, report.examples_in, report.examples_kept) == ("train", "supervised", 20, 19)
    reason = "no answer token left to learn from after truncation to cutoff_len=8"
    assert report.dropped == {reason: 1}
    assert report.first_dropped == [(5, reason)]
    assert len(module.train) == report.rows == 19
    assert report.tokens == sum(len(ids) for ids in module.train["input_ids"])
    assert all(len(ids) <= 8 for ids in module.train["input_ids"])


def test_pipeline_stops_when_every_example_is_dropped(tmp_path, tiny_qwen2):
    from transformers import AutoTokenizer

    from tunefactory.data.template import get_template

    # answers of more than cutoff_len / 2 tokens, so a long prompt squeezes them out entirely
    write_dataset(tmp_path, [{"instruction": "word " * 200, "output": "a longer answer"} for _ in range(3)])
    config = sft_config(tmp_path, default_system="")
    tokenizer = AutoTokenizer.from_pretrained(tiny_qwen2)
    template = get_template(tokenizer, config.data)
    with pytest.raises(DataError, match=r"0 of 3 examples encoded .* no example is left to train on; first problems: "
                                        r"example 0: no answer token left"):
        get_dataset(config, template, tokenizer)
