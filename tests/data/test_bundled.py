"""The bundled datasets are ours, generated deterministically, registered, and correct."""

import json
import re
from pathlib import Path

from tunefactory.data.bundled import write_bundled_data

DATA = Path(__file__).resolve().parents[2] / "data"


def load(name):
    return json.loads((DATA / name).read_text(encoding="utf-8"))


def test_committed_data_matches_the_generator(tmp_path):
    written = write_bundled_data(tmp_path)
    assert written
    for path in written:
        committed = DATA / path.relative_to(tmp_path)
        assert committed.read_bytes() == path.read_bytes(), f"{committed} is stale: run python -m tunefactory.data.bundled"


def test_every_registered_dataset_exists_and_is_nonempty():
    info = load("dataset_info.json")
    expected = {"alpaca_demo", "sharegpt_tools", "openai_messages", "preference_pairs", "preference_sharegpt",
                "kto_demo", "pretrain_text", "arith_train", "arith_test"}
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
