"""Each format converts to the canonical example exactly; bad rows say why."""

import json

import pytest

from tunefactory.data.converters import BadRow, Converter
from tunefactory.data.registry import parse_entry


def convert(entry, row, media_dir="."):
    return Converter(parse_entry("d", {"file_name": "d.json", **entry}), media_dir)(row)


def user(text):
    return {"role": "user", "content": text}


def assistant(text):
    return {"role": "assistant", "content": text}


def test_alpaca_with_input_system_and_history():
    entry = {"columns": {"prompt": "instruction", "query": "input", "response": "output", "system": "system",
                         "history": "history"}}
    row = {"instruction": "Add", "input": "2 and 3", "output": "5", "system": "Be brief.",
           "history": [["Hi", "Hello!"]]}
    example = convert(entry, row)
    assert example["_prompt"] == [user("Hi"), assistant("Hello!"), user("Add\n2 and 3")]
    assert example["_response"] == [assistant("5")]
    assert example["_system"] == "Be brief."
    assert example["_tools"] == "" and example["_images"] is None


def test_alpaca_without_output_is_unsupervised():
    example = convert({"columns": {"prompt": "text"}}, {"text": "Once upon a time"})
    assert example["_prompt"] == [user("Once upon a time")] and example["_response"] == []


def test_alpaca_preference_pair_and_kto_labels():
    pair = convert({"ranking": True, "columns": {"prompt": "q", "chosen": "c", "rejected": "r"}},
                   {"q": "2+2?", "c": "4", "r": "5"})
    assert pair["_response"] == [assistant("4"), assistant("5")]
    kto = {"columns": {"prompt": "q", "response": "a", "kto_tag": "ok"}}
    assert convert(kto, {"q": "2+2?", "a": "4", "ok": True})["_response"] == [assistant("4"), assistant("")]
    assert convert(kto, {"q": "2+2?", "a": "5", "ok": False})["_response"] == [assistant(""), assistant("5")]
    with pytest.raises(BadRow, match="must be true or false"):
        convert(kto, {"q": "2+2?", "a": "5", "ok": "yes"})


SHAREGPT = {"formatting": "sharegpt", "columns": {"messages": "conversations", "system": "system", "tools": "tools"}}


def test_sharegpt_tool_trajectory():
    tools = json.dumps([{"name": "calc", "parameters": {}}])
    row = {"system": "sys", "tools": tools, "conversations": [
        {"from": "human", "value": "What is 6*7?"},
        {"from": "function_call", "value": '{"name": "calc", "arguments": {"e": "6*7"}}'},
        {"from": "observation", "value": "42"},
        {"from": "gpt", "value": "It is 42."},
    ]}
    example = convert(SHAREGPT, row)
    assert [t["role"] for t in example["_prompt"]] == ["user", "function", "observation"]
    assert example["_response"] == [assistant("It is 42.")]
    assert example["_system"] == "sys" and json.loads(example["_tools"])[0]["name"] == "calc"


def test_sharegpt_leading_system_message_becomes_system():
    row = {"conversations": [{"from": "system", "value": "S"}, {"from": "human", "value": "q"}, {"from": "gpt", "value": "a"}]}
    example = convert({"formatting": "sharegpt"}, row)
    assert example["_system"] == "S" and example["_prompt"] == [user("q")]


@pytest.mark.parametrize(("turns", "reason"), [
    ([("gpt", "a"), ("human", "q")], "broken turn order: message 0 is 'assistant'"),
    ([("human", "q"), ("human", "q2")], "broken turn order: message 1 is 'user'"),
    ([("human", "q")], "the last one must be the assistant's answer"),
    ([("human", "q"), ("bot", "a")], "unknown role 'bot'"),
    ([("human", None), ("gpt", "a")], "missing value in column 'value'"),
    ([("human", 5), ("gpt", "a")], "must be text, got int"),
])
def test_sharegpt_bad_rows_say_why(turns, reason):
    row = {"conversations": [{"from": r, "value": v} for r, v in turns]}
    with pytest.raises(BadRow, match=reason.replace("(", r"\(").replace(")", r"\)")):
        convert({"formatting": "sharegpt"}, row)


def test_sharegpt_preference_pair():
    entry = {"formatting": "sharegpt", "ranking": True, "columns": {"messages": "conversations", "chosen": "chosen",
                                                                    "rejected": "rejected"}}
    row = {"conversations": [{"from": "human", "value": "q"}], "chosen": {"from": "gpt", "value": "good"},
           "rejected": {"from": "gpt", "value": "bad"}}
    assert convert(entry, row)["_response"] == [assistant("good"), assistant("bad")]
    row["rejected"] = {"from": "human", "value": "bad"}
    with pytest.raises(BadRow, match="must be an assistant message"):
        convert(entry, row)


def test_openai_messages_with_tool_calls_and_parallel_results():
    row = {"messages": [
        {"role": "system", "content": "S"},
        {"role": "user", "content": "Weather in A and B?"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"type": "function", "function": {"name": "w", "arguments": '{"city": "A"}'}},
            {"type": "function", "function": {"name": "w", "arguments": '{"city": "B"}'}}]},
        {"role": "tool", "content": "sunny"},
        {"role": "tool", "content": "rain"},
        {"role": "assistant", "content": "A sunny, B rain."},
    ]}
    example = convert({"formatting": "openai"}, row)
    assert example["_system"] == "S"
    roles = [t["role"] for t in example["_prompt"]]
    assert roles == ["user", "function", "observation"]
    assert [c["name"] for c in json.loads(example["_prompt"][1]["content"])] == ["w", "w"]
    assert json.loads(example["_prompt"][2]["content"]) == ["sunny", "rain"]
    assert example["_response"] == [assistant("A sunny, B rain.")]


def test_openai_assistant_text_beside_tool_calls_is_kept():
    row = {"messages": [
        {"role": "user", "content": "Weather in A?"},
        {"role": "assistant", "content": "Let me check.", "tool_calls": [
            {"type": "function", "function": {"name": "w", "arguments": '{"city": "A"}'}}]},
        {"role": "tool", "content": "sunny"},
        {"role": "assistant", "content": "Sunny."},
    ]}
    example = convert({"formatting": "openai"}, row)
    assert example["_prompt"][1] == {
        "role": "function", "content": 'Let me check.<tool_call>{"name": "w", "arguments": "{\\"city\\": \\"A\\"}"}</tool_call>'}


def test_media_paths_resolve_against_media_dir(tmp_path):
    (tmp_path / "cat.png").write_bytes(b"png")
    entry = {"columns": {"prompt": "q", "response": "a", "images": "images"}}
    example = convert(entry, {"q": "What?", "a": "A cat.", "images": ["cat.png"]}, media_dir=str(tmp_path))
    assert example["_images"] == [str(tmp_path / "cat.png")]
    with pytest.raises(BadRow, match="image file not found: 'dog.png'"):
        convert(entry, {"q": "What?", "a": "A dog.", "images": ["dog.png"]}, media_dir=str(tmp_path))


def test_tools_column_must_be_json():
    with pytest.raises(BadRow, match="must hold a JSON list of function specs"):
        convert(SHAREGPT, {"tools": "not json", "conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": "a"}]})
