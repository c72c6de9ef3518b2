"""dataset_info.json entries in LLaMA-Factory's format become DatasetAttr with its defaults."""

import json

import pytest

from tunefactory.data.registry import get_dataset_attrs, parse_entry
from tunefactory.errors import DataError


def test_defaults_match_llamafactory():
    attr = parse_entry("x", {"file_name": "x.json"})
    assert (attr.load_from, attr.path, attr.formatting, attr.ranking, attr.split) == ("file", "x.json", "alpaca", False, "train")
    assert (attr.prompt, attr.query, attr.response, attr.messages) == ("instruction", "input", "output", "conversations")
    assert (attr.role_tag, attr.content_tag, attr.user_tag, attr.assistant_tag) == ("from", "value", "human", "gpt")
    assert (attr.observation_tag, attr.function_tag, attr.system_tag) == ("observation", "function_call", "system")
    assert attr.system is None and attr.tools is None and attr.kto_tag is None


def test_every_entry_key_is_read():
    entry = {
        "hf_hub_url": "org/data", "formatting": "sharegpt", "ranking": True, "subset": "en", "split": "test",
        "folder": "sub", "num_samples": 50,
        "columns": {"messages": "msgs", "system": "sys", "tools": "fns", "images": "imgs", "videos": "vids",
                    "audios": "auds", "chosen": "good", "rejected": "bad"},
        "tags": {"role_tag": "r", "content_tag": "c", "user_tag": "u", "assistant_tag": "a", "observation_tag": "o",
                 "function_tag": "f", "system_tag": "s"},
    }
    attr = parse_entry("x", entry)
    assert (attr.load_from, attr.path, attr.subset, attr.split, attr.folder, attr.num_samples) == (
        "hf_hub", "org/data", "en", "test", "sub", 50)
    assert (attr.messages, attr.system, attr.tools, attr.images, attr.videos, attr.audios) == (
        "msgs", "sys", "fns", "imgs", "vids", "auds")
    assert (attr.chosen, attr.rejected, attr.ranking) == ("good", "bad", True)
    assert (attr.role_tag, attr.content_tag, attr.user_tag, attr.assistant_tag, attr.observation_tag,
            attr.function_tag, attr.system_tag) == ("r", "c", "u", "a", "o", "f", "s")
    assert attr.explicit_columns == set(entry["columns"])


@pytest.mark.parametrize(("entry", "load_from", "path"), [
    ({"script_url": "my_script"}, "script", "my_script"),
    ({"cloud_file_name": "s3://b/x.json"}, "cloud_file", "s3://b/x.json"),
    ({"ms_hub_url": "ms/x"}, "ms_hub", "ms/x"),
    ({"om_hub_url": "om/x"}, "om_hub", "om/x"),
    ({"hf_hub_url": "hf/x", "ms_hub_url": "ms/x", "file_name": "x.json"}, "hf_hub", "hf/x"),
])
def test_source_choice(entry, load_from, path):
    attr = parse_entry("x", entry)
    assert (attr.load_from, attr.path) == (load_from, path)


def test_hub_switch_env(monkeypatch):
    monkeypatch.setenv("USE_MODELSCOPE_HUB", "1")
    attr = parse_entry("x", {"hf_hub_url": "hf/x", "ms_hub_url": "ms/x"})
    assert (attr.load_from, attr.path) == ("ms_hub", "ms/x")


def test_openai_formatting_defaults_to_role_content_tags():
    attr = parse_entry("x", {"file_name": "x.json", "formatting": "openai"})
    assert (attr.messages, attr.role_tag, attr.content_tag, attr.user_tag, attr.observation_tag) == (
        "messages", "role", "content", "user", "tool")


def test_unknown_name_lists_available(tmp_path):
    (tmp_path / "dataset_info.json").write_text(json.dumps({"b": {"file_name": "b.json"}, "a": {"file_name": "a.json"}}))
    with pytest.raises(DataError, match=r"dataset 'c' is not in .*available: a, b"):
        get_dataset_attrs(["a", "c"], tmp_path)


@pytest.mark.parametrize(("entry", "message"), [
    ({"formatting": "alpaca"}, "names no source"),
    ({"file_name": "x", "formatting": "chatml"}, "formatting 'chatml' is not one of"),
    ({"file_name": "x", "num_samples": -3}, "num_samples must be a positive integer"),
    ({"file_name": "x", "ranking": True}, "needs columns.chosen and columns.rejected"),
    ({"file_name": "x", "columns": ["a"]}, "columns must be an object"),
])
def test_bad_entries(entry, message):
    with pytest.raises(DataError, match=message):
        parse_entry("x", entry)


def test_missing_or_broken_registry_file(tmp_path):
    with pytest.raises(DataError, match="no dataset_info.json in dataset_dir"):
        get_dataset_attrs(["a"], tmp_path)
    (tmp_path / "dataset_info.json").write_text('{\n  "a": {"file_name": "a.json"},\n}\n')
    with pytest.raises(DataError, match="dataset_info.json: line 3, column 1: invalid JSON"):
        get_dataset_attrs(["a"], tmp_path)


def test_unknown_entry_key_is_warned_about(caplog):
    parse_entry("x", {"file_name": "x.json", "colums": {"prompt": "q"}})
    assert "unknown key 'colums'" in caplog.text
