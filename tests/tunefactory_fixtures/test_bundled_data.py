"""The bundled datasets are ours, generated deterministically, registered, and correct."""

import json
import re
from pathlib import Path

from tunefactory.config import parse_dict
from tunefactory.data.pipeline import get_dataset
from tunefactory_fixtures.bundled_data import POLITE_CLOSINGS, RUDE_CLOSINGS, write_bundled_data

DATA = Path(__file__).resolve().parents[2] / "data"


def load(name):
    return json.loads((DATA / name).read_text(encoding="utf-8"))


def test_committed_data_matches_the_generator(tmp_path):
    written = write_bundled_data(tmp_path)
    assert written
    for path in written:
        committed = DATA / path.relative_to(tmp_path)
        stale = f"{committed} is stale: run python -m tunefactory_fixtures.bundled_data"
        if path.suffix == ".png":  # a PNG's bytes depend on the zlib inside Pillow: what must match is the picture
            assert pixels(committed) == pixels(path), stale
        elif path.suffix == ".flac":  # a FLAC's bytes name the encoder's version: what must match is the sound
            assert samples(committed) == samples(path), stale
        else:
            assert committed.read_bytes() == path.read_bytes(), stale


def pixels(path):
    from PIL import Image

    with Image.open(path) as image:
        return image.mode, image.size, image.tobytes()


def samples(path):
    import soundfile

    data, rate = soundfile.read(str(path), dtype="int16")
    return rate, data.tobytes()


def test_every_registered_dataset_exists_and_is_nonempty():
    info = load("dataset_info.json")
    expected = {"alpaca_demo", "sharegpt_tools", "openai_messages", "preference_pairs", "preference_sharegpt",
                "kto_demo", "pretrain_text", "arith_train", "arith_test", "style_pref_train", "style_pref_test",
                "style_kto_train", "style_kto_test"}
    assert expected <= set(info)
    for name, entry in info.items():
        rows = load(entry["file_name"])
        assert len(rows) > 0, name
    assert info["preference_pairs"]["ranking"] is True
    assert info["kto_demo"]["columns"]["kto_tag"] == "label"
    assert info["sharegpt_tools"]["formatting"] == "sharegpt"


def test_arithmetic_answers_are_right_and_test_is_held_out():
    pattern = re.compile(r"What is (-?\d+) ([+-]) (-?\d+)\?")
    seen = {}
    for split in ("arith_train.json", "arith_test.json"):
        triples = set()
        for row in load(split):
            a, op, b = pattern.fullmatch(row["instruction"]).groups()
            expected = int(a) + int(b) if op == "+" else int(a) - int(b)
            assert row["output"] == str(expected), row
            triples.add((a, op, b))
        seen[split] = triples
    assert len(seen["arith_test.json"]) == 200
    assert not seen["arith_train.json"] & seen["arith_test.json"]


def test_tool_conversations_alternate_turns_and_calls_name_offered_tools():
    for row in load("sharegpt_tools.json"):
        turns = row["conversations"]
        offered = {tool["name"] for tool in json.loads(row["tools"])} if row["tools"] else set()
        for i, turn in enumerate(turns):
            assert turn["from"] in (("human", "observation") if i % 2 == 0 else ("gpt", "function_call"))
            if turn["from"] == "function_call":
                calls = json.loads(turn["value"])
                for call in calls if isinstance(calls, list) else [calls]:
                    assert call["name"] in offered
        assert turns[-1]["from"] == "gpt"


def test_preference_and_kto_rows_have_both_sides():
    for row in load("preference_pairs.json"):
        assert row["chosen"] and row["rejected"] and row["chosen"] != row["rejected"]
    labels = {row["label"] for row in load("kto_demo.json")}
    assert labels == {True, False}


# --- learnable preference data for the rm/dpo/kto/ppo learning checks ------------------------------

def split_closing(text, closings):
    """(answer, closing) when text is an answer, one space and one of closings; fails otherwise."""
    matches = [c for c in closings if text.endswith(" " + c)]
    assert len(matches) == 1, text
    return text[: -len(matches[0]) - 1], matches[0]


def style_prompts(name):
    rows = load(f"{name}.json")
    if name.startswith("style_pref"):
        return {(row["instruction"], row["input"]) for row in rows}
    return {row["messages"][0]["content"] for row in rows}


def test_style_datasets_have_the_promised_sizes_and_registry_entries():
    info = load("dataset_info.json")
    for name, size in [("style_pref_train", 600), ("style_pref_test", 100),
                       ("style_kto_train", 600), ("style_kto_test", 100)]:
        assert len(load(info[name]["file_name"])) == size, name
        assert len(style_prompts(name)) == size, f"{name} repeats a prompt"
    assert info["style_pref_train"] == {**info["preference_pairs"], "file_name": "style_pref_train.json"}
    assert info["style_kto_train"] == {**info["kto_demo"], "file_name": "style_kto_train.json"}


def test_style_test_prompts_are_held_out():
    for kind in ("style_pref", "style_kto"):
        assert not style_prompts(f"{kind}_train") & style_prompts(f"{kind}_test"), kind


def test_style_closings_are_the_only_difference():
    assert POLITE_CLOSINGS and RUDE_CLOSINGS
    assert not set(POLITE_CLOSINGS) & set(RUDE_CLOSINGS)
    for name in ("style_pref_train", "style_pref_test"):
        used = {"chosen": set(), "rejected": set()}
        for row in load(f"{name}.json"):
            assert set(row) == {"instruction", "input", "chosen", "rejected"}
            answer, polite = split_closing(row["chosen"], POLITE_CLOSINGS)
            same_answer, rude = split_closing(row["rejected"], RUDE_CLOSINGS)
            assert answer == same_answer and answer.strip(), row
            used["chosen"].add(polite)
            used["rejected"].add(rude)
        assert used == {"chosen": set(POLITE_CLOSINGS), "rejected": set(RUDE_CLOSINGS)}, name


def test_style_kto_labels_are_balanced_interleaved_and_match_the_closing():
    for name in ("style_kto_train", "style_kto_test"):
        rows = load(f"{name}.json")
        labels = [row["label"] for row in rows]
        assert all(isinstance(label, bool) for label in labels)
        assert labels.count(True) == labels.count(False) == len(rows) // 2
        # interleaved: every consecutive pair holds one of each, so no long run of one label
        assert all(labels[i] != labels[i + 1] for i in range(0, len(labels), 2)), name
        for row in rows:
            assert [m["role"] for m in row["messages"]] == ["user", "assistant"]
            answer, _ = split_closing(row["messages"][1]["content"],
                                      POLITE_CLOSINGS if row["label"] else RUDE_CLOSINGS)
            assert answer.strip()


def test_style_datasets_load_through_the_registry():
    base = {"model_name_or_path": "m", "do_train": True, "output_dir": "out", "dataset_dir": str(DATA)}
    for stage in ("rm", "dpo"):
        module = get_dataset(parse_dict({**base, "stage": stage, "dataset": "style_pref_train",
                                         "eval_dataset": "style_pref_test"}))
        assert (len(module.train), len(module.eval)) == (600, 100)
        first = module.train[0]
        chosen, rejected = (turn["content"] for turn in first["_response"])
        assert split_closing(chosen, POLITE_CLOSINGS)[0] == split_closing(rejected, RUDE_CLOSINGS)[0]
    module = get_dataset(parse_dict({**base, "stage": "kto", "dataset": "style_kto_train",
                                     "eval_dataset": "style_kto_test"}))
    assert (len(module.train), len(module.eval)) == (600, 100)
    assert [r.rows_kept for r in module.reports] == [r.rows_read for r in module.reports]


def test_choice_skill_is_asked_as_eval_asks_and_its_test_is_held_out(tmp_path):
    from tunefactory.eval.benchmarks import Question, load_benchmark
    from tunefactory.eval.evaluator import EVAL_PROMPTS
    from tunefactory_fixtures.benchmarks import write_choice_benchmark
    from tunefactory_fixtures.bundled_data import CHOICE_CATEGORIES, choice_test_questions

    train = load("choice_train.json")
    test = choice_test_questions()
    assert len(train) == 2000 and len(test) == len(set(test)) == 200
    prompts = [row["instruction"] for row in train]
    subject = load_benchmark(str(write_choice_benchmark(tmp_path).parent), "mmlu_test")[0]
    english = EVAL_PROMPTS["en"]
    eval_prompts = [english.subject_line.format(subject=subject.name) + english.ask(q) for q in subject.questions]
    assert not set(prompts) & set(eval_prompts)
    assert [q.answer for q in subject.questions] == [q[-1] for q in test]
    for prompt, row in zip(prompts[:50], train):  # the eval wording, and the right letter
        question = re.fullmatch(r"The following are multiple choice questions \(with answers\) about word "
                                r"categories\.\n\n(Which of these is (.+)\?)\nA\. (\w+)\nB\. (\w+)\nC\. (\w+)\n"
                                r"D\. (\w+)\nAnswer:", prompt)
        text, asked, *options = question.groups()
        assert english.subject_line.format(subject="word categories") + english.ask(
            Question(text, tuple(options), row["output"])) == prompt
        assert options["ABCD".index(row["output"])] in CHOICE_CATEGORIES[asked]
    assert {row["output"] for row in train} == set("ABCD")
