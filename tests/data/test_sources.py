"""Reading raw rows: every local file type, line-precise JSON errors, and dispatch to each hub — offline.

Hub clients (datasets' hub loading, ModelScope, Modelers, fsspec) are replaced by fakes that record
what they were asked for; local files go through the real `datasets.load_dataset`.
"""

from __future__ import annotations

import io
import json
import sys
import types
from pathlib import Path

import pyarrow as pa
import pytest
from datasets import Dataset, IterableDataset

from tunefactory.data import sources
from tunefactory.data.registry import get_dataset_attrs, parse_entry
from tunefactory.data.sources import load_rows
from tunefactory.errors import DataError

ROWS = [
    {"instruction": "Say hi", "input": "", "output": "hi", "n": 1},
    {"instruction": "Add", "input": "2 + 3", "output": "5", "n": 2},
    {"instruction": "Naïve 数据", "input": "line one\nline two", "output": "ok, \"quoted\"", "n": 3},
]


@pytest.fixture(autouse=True)
def no_hub_switches(monkeypatch):
    for name in ("USE_MODELSCOPE_HUB", "USE_OPENMIND_HUB"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def load(tmp_path):
    """load_rows for one registry entry, with dataset_dir = tmp_path and a private datasets cache."""

    def run(entry: dict, name: str = "demo", **kwargs):
        kwargs.setdefault("cache_dir", str(tmp_path / ".hf-cache"))
        return load_rows(parse_entry(name, entry), str(tmp_path), **kwargs)

    return run


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
    return path


# --- local files of every type ---------------------------------------------------------------------------
def test_json_list_file(tmp_path, load):
    (tmp_path / "d.json").write_text(json.dumps(ROWS, ensure_ascii=False, indent=2), encoding="utf-8")
    rows = load({"file_name": "d.json"})
    assert isinstance(rows, Dataset)
    assert rows.to_list() == ROWS
    assert rows.column_names == ["instruction", "input", "output", "n"]


def test_jsonl_file(tmp_path, load):
    write_jsonl(tmp_path / "d.jsonl", ROWS)
    assert load({"file_name": "d.jsonl"}).to_list() == ROWS


def test_jsonl_file_streaming_gives_an_iterable_dataset(tmp_path, load):
    write_jsonl(tmp_path / "d.jsonl", ROWS)
    rows = load({"file_name": "d.jsonl"}, streaming=True)
    assert isinstance(rows, IterableDataset)
    assert list(rows) == ROWS


def test_csv_file(tmp_path, load):
    lines = ["instruction,output,n", "Say hi,hi,1", '"Add, please","5",2', '"two\nlines","x ""y""",3']
    (tmp_path / "d.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert load({"file_name": "d.csv"}).to_list() == [
        {"instruction": "Say hi", "output": "hi", "n": 1},
        {"instruction": "Add, please", "output": "5", "n": 2},
        {"instruction": "two\nlines", "output": 'x "y"', "n": 3},
    ]


def test_parquet_file(tmp_path, load):
    Dataset.from_list(ROWS).to_parquet(str(tmp_path / "d.parquet"))
    assert load({"file_name": "d.parquet"}).to_list() == ROWS


@pytest.mark.parametrize("ipc", ["stream", "file"])
def test_arrow_file_in_both_ipc_formats(tmp_path, load, ipc):
    table = pa.Table.from_pylist(ROWS)
    path = tmp_path / "d.arrow"
    with pa.OSFile(str(path), "wb") as sink:  # datasets' "arrow" builder reads the stream format, else the file one
        writer = pa.ipc.new_stream(sink, table.schema) if ipc == "stream" else pa.ipc.new_file(sink, table.schema)
        with writer:
            writer.write_table(table, max_chunksize=2)  # several record batches
    assert load({"file_name": "d.arrow"}).to_list() == ROWS


def test_txt_file_gives_one_text_row_per_line(tmp_path, load):
    (tmp_path / "d.txt").write_text("first line\nsecond, with comma\n数据 third\n", encoding="utf-8")
    rows = load({"file_name": "d.txt"})
    assert rows.to_list() == [{"text": "first line"}, {"text": "second, with comma"}, {"text": "数据 third"}]


def test_folder_of_jsonl_files_is_read_in_name_order_recursively_skipping_hidden_files(tmp_path, load):
    folder = tmp_path / "parts"
    write_jsonl(folder / "b.jsonl", ROWS[1:2])
    write_jsonl(folder / "a.jsonl", ROWS[:1])
    write_jsonl(folder / "sub" / "c.jsonl", ROWS[2:])
    (folder / ".notes.txt").write_text("a hidden file of another type is ignored\n")
    rows = load({"file_name": "parts"})
    assert rows.to_list() == ROWS
    builder, files = sources.local_files(parse_entry("demo", {"file_name": "parts"}), str(tmp_path))
    assert builder == "json"
    assert [Path(f).relative_to(folder).as_posix() for f in files] == ["a.jsonl", "b.jsonl", "sub/c.jsonl"]


def test_absolute_file_name_outside_dataset_dir(tmp_path, load):
    path = write_jsonl(tmp_path / "elsewhere" / "d.jsonl", ROWS[:2])
    rows = load_rows(parse_entry("demo", {"file_name": str(path)}), str(tmp_path / "data"),
                     cache_dir=str(tmp_path / ".hf-cache"))
    assert rows.to_list() == ROWS[:2]


def test_relative_file_name_is_resolved_under_dataset_dir_not_the_working_directory(tmp_path, monkeypatch):
    write_jsonl(tmp_path / "cwd" / "d.jsonl", [{"instruction": "wrong file", "output": "cwd"}])
    write_jsonl(tmp_path / "data" / "d.jsonl", [{"instruction": "right file", "output": "dataset_dir"}])
    monkeypatch.chdir(tmp_path / "cwd")
    rows = load_rows(parse_entry("demo", {"file_name": "d.jsonl"}), str(tmp_path / "data"),
                     cache_dir=str(tmp_path / ".hf-cache"))
    assert rows.to_list() == [{"instruction": "right file", "output": "dataset_dir"}]


def test_registry_file_entry_end_to_end(tmp_path, load):
    write_jsonl(tmp_path / "d.jsonl", ROWS)
    (tmp_path / "dataset_info.json").write_text(json.dumps({"mine": {"file_name": "d.jsonl", "split": "train"}}))
    (attr,) = get_dataset_attrs(["mine"], tmp_path)
    assert (attr.name, attr.load_from, attr.path, attr.split) == ("mine", "file", "d.jsonl", "train")
    assert load_rows(attr, str(tmp_path), cache_dir=str(tmp_path / ".hf-cache")).to_list() == ROWS


# --- errors ------------------------------------------------------------------------------------------------
def test_json_syntax_error_names_the_file_and_line(tmp_path, load):
    text = ('[\n'
            '  {"instruction": "a", "output": "b"},\n'
            '  {"instruction": "c", "output": "d"},\n'
            "  {'instruction': 'single quotes', \"output\": \"e\"}\n"  # line 4
            ']\n')
    (tmp_path / "bad.json").write_text(text)
    with pytest.raises(DataError) as info:
        load({"file_name": "bad.json"}, name="broken")
    message = str(info.value)
    assert "'broken'" in message
    assert str(tmp_path / "bad.json") in message
    assert "line 4, column 4" in message
    assert "invalid JSON" in message


def test_jsonl_bad_line_names_the_file_and_line(tmp_path, load):
    lines = ['{"instruction": "a", "output": "b"}', "", '{"instruction": "c", "output": "d"}',
             '{"instruction": "e", "output": }', '{"instruction": "f", "output": "g"}']  # line 4 is bad
    (tmp_path / "bad.jsonl").write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError) as info:
        load({"file_name": "bad.jsonl"})
    message = str(info.value)
    assert str(tmp_path / "bad.jsonl") in message
    assert "line 4, column 32" in message
    assert "Expecting value" in message


def test_bad_line_in_the_second_file_of_a_folder_names_that_file(tmp_path, load):
    write_jsonl(tmp_path / "parts" / "a.jsonl", ROWS)
    (tmp_path / "parts" / "b.jsonl").write_text('{"instruction": "x", "output": "y"}\n{"instruction": "x",,}\n')
    with pytest.raises(DataError) as info:
        load({"file_name": "parts"})
    assert f"{tmp_path / 'parts' / 'b.jsonl'}: line 2," in str(info.value)


def test_pretty_printed_json_object_error_names_the_real_line(tmp_path, load):
    (tmp_path / "obj.json").write_text('{\n  "instruction": "a",\n  "output": \'b\'\n}\n')  # line 3 is bad
    with pytest.raises(DataError, match="line 3"):
        load({"file_name": "obj.json"})


def test_jsonl_error_line_counts_only_newlines(tmp_path, load):
    good = json.dumps({"instruction": "a\u2028b", "output": "c"}, ensure_ascii=False)  # valid JSON, raw U+2028
    (tmp_path / "u.jsonl").write_text(f"{good}\n{good}\n{{\"instruction\": \"x\", \"output\": }}\n", encoding="utf-8")
    with pytest.raises(DataError, match="line 3,"):
        load({"file_name": "u.jsonl"})


def test_empty_json_file(tmp_path, load):
    (tmp_path / "e.json").write_text("  \n")
    with pytest.raises(DataError, match=r"e\.json is empty"):
        load({"file_name": "e.json"})


def test_folder_mixing_json_and_csv_names_the_types(tmp_path, load):
    write_jsonl(tmp_path / "mix" / "a.json", ROWS)
    (tmp_path / "mix" / "b.csv").write_text("instruction,output\na,b\n")
    with pytest.raises(DataError) as info:
        load({"file_name": "mix"})
    assert f"folder {tmp_path / 'mix'} mixes file types ['csv', 'json']; use one type" in str(info.value)


def test_entry_without_a_source_is_an_error():
    with pytest.raises(DataError) as info:
        parse_entry("nosource", {"formatting": "alpaca", "columns": {"prompt": "q"}})
    message = str(info.value)
    assert "entry 'nosource' names no source" in message
    assert "file_name" in message and "hf_hub_url" in message


def test_file_name_that_does_not_exist(tmp_path, load):
    with pytest.raises(DataError) as info:
        load({"file_name": "missing.jsonl"}, name="ghost")
    assert str(info.value) == (f"dataset 'ghost': file_name 'missing.jsonl' not found "
                               f"(looked for {tmp_path / 'missing.jsonl'})")


def test_unsupported_extension(tmp_path, load):
    (tmp_path / "d.xml").write_text("<rows/>")
    with pytest.raises(DataError) as info:
        load({"file_name": "d.xml"})
    message = str(info.value)
    assert f"cannot read {tmp_path / 'd.xml'}" in message
    assert "supported types are .json, .jsonl, .csv, .parquet, .arrow, .txt" in message


def test_unsupported_file_inside_a_folder(tmp_path, load):
    write_jsonl(tmp_path / "parts" / "a.jsonl", ROWS)
    (tmp_path / "parts" / "README.md").write_text("notes")
    with pytest.raises(DataError, match=r"cannot read .*README\.md"):
        load({"file_name": "parts"})


# --- dispatch: hub, script, ModelScope, Modelers, cloud ------------------------------------------------------
TINY = Dataset.from_list([{"instruction": "q", "output": "a"}])


@pytest.fixture
def recorded(monkeypatch):
    """Replace datasets' loader behind sources: record each call's kwargs, return a tiny Dataset."""
    calls: list[dict] = []

    def fake_load_dataset(**kwargs):
        calls.append(kwargs)
        return TINY

    monkeypatch.setattr(sources, "_load_dataset", fake_load_dataset)
    return calls


def test_hf_hub_entry_passes_path_subset_folder_split_streaming_and_token(recorded, load):
    entry = {"hf_hub_url": "org/data", "subset": "en", "folder": "v2", "split": "validation"}
    rows = load(entry, streaming=True, cache_dir="/cache", hub_token="hf_tok")
    assert rows is TINY
    assert recorded == [{"path": "org/data", "name": "en", "data_dir": "v2", "split": "validation",
                         "cache_dir": "/cache", "token": "hf_tok", "streaming": True}]


def test_hf_hub_entry_defaults(recorded, load):
    load({"hf_hub_url": "org/data"}, cache_dir=None)
    assert recorded == [{"path": "org/data", "name": None, "data_dir": None, "split": "train", "cache_dir": None,
                         "token": None, "streaming": False}]


def test_unset_arguments_are_not_passed_to_datasets(monkeypatch):
    import datasets

    calls = []
    monkeypatch.setattr(datasets, "load_dataset", lambda **kwargs: calls.append(kwargs) or TINY)
    attr = parse_entry("demo", {"hf_hub_url": "org/data", "subset": "en"})
    assert load_rows(attr, "/unused", hub_token=None) is TINY
    assert calls == [{"path": "org/data", "name": "en", "split": "train", "streaming": False}]


def test_script_url_in_dataset_dir_is_loaded_by_its_local_path(tmp_path, recorded, load):
    (tmp_path / "my_data").mkdir()
    load({"script_url": "my_data", "subset": "full", "folder": "raw", "split": "test"}, cache_dir="/cache",
         hub_token="ignored")
    assert recorded == [{"path": str(tmp_path / "my_data"), "name": "full", "data_dir": "raw", "split": "test",
                         "cache_dir": "/cache", "streaming": False}]


def test_script_url_not_in_dataset_dir_is_passed_as_given(recorded, load):
    load({"script_url": "org/scripted"}, streaming=True)
    assert len(recorded) == 1
    assert recorded[0]["path"] == "org/scripted"
    assert (recorded[0]["streaming"], recorded[0]["split"]) == (True, "train")
    assert "trust_remote_code" not in recorded[0]  # datasets >= 4 runs no loading scripts


def test_python_loading_script_gets_a_clear_error(monkeypatch, load):
    def refuse(**kwargs):
        raise RuntimeError("Dataset scripts are no longer supported, but found scripted.py")

    monkeypatch.setattr("tunefactory.data.sources._load_dataset", refuse)
    with pytest.raises(DataError, match="datasets no longer runs .py loading scripts"):
        load({"script_url": "scripted.py"})


def test_script_url_folder_of_data_files_loads_for_real(tmp_path, load):
    write_jsonl(tmp_path / "scripted" / "train.jsonl", ROWS)
    assert load({"script_url": "scripted"}).to_list() == ROWS


@pytest.mark.parametrize(("env", "expected"), [
    ({}, ("hf_hub", "hf/data")),
    ({"USE_MODELSCOPE_HUB": "1"}, ("ms_hub", "ms/data")),
    ({"USE_MODELSCOPE_HUB": "true"}, ("ms_hub", "ms/data")),
    ({"USE_OPENMIND_HUB": "1"}, ("om_hub", "om/data")),
    ({"USE_MODELSCOPE_HUB": "0", "USE_OPENMIND_HUB": "TRUE"}, ("om_hub", "om/data")),
])
def test_hub_switches_pick_the_hub_url(monkeypatch, env, expected):
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    attr = parse_entry("demo", {"hf_hub_url": "hf/data", "ms_hub_url": "ms/data", "om_hub_url": "om/data"})
    assert (attr.load_from, attr.path) == expected


def test_hub_switch_falls_back_to_the_hub_the_entry_has(monkeypatch):
    monkeypatch.setenv("USE_MODELSCOPE_HUB", "1")
    attr = parse_entry("demo", {"hf_hub_url": "hf/data", "om_hub_url": "om/data"})
    assert (attr.load_from, attr.path) == ("hf_hub", "hf/data")
    attr = parse_entry("demo", {"om_hub_url": "om/data", "file_name": "local.json"})  # a hub wins over a file
    assert (attr.load_from, attr.path) == ("om_hub", "om/data")


def test_online_dataset_dir_uses_names_as_hub_ids(monkeypatch):
    monkeypatch.setenv("USE_OPENMIND_HUB", "1")
    attrs = get_dataset_attrs(["org/a", "org/b"], "ONLINE")
    assert [(a.name, a.load_from, a.path) for a in attrs] == [("org/a", "om_hub", "org/a"),
                                                              ("org/b", "om_hub", "org/b")]


def fake_modelscope(calls: list, hf_dataset=True) -> types.ModuleType:
    class FakeMsDataset:
        def to_hf_dataset(self):
            return TINY

    class MsDataset:
        @staticmethod
        def load(**kwargs):
            calls.append(kwargs)
            return FakeMsDataset() if hf_dataset else TINY

    module = types.ModuleType("modelscope")
    module.MsDataset = MsDataset
    return module


def test_ms_hub_entry_calls_msdataset_load(monkeypatch, load):
    monkeypatch.setenv("USE_MODELSCOPE_HUB", "1")
    calls = []
    monkeypatch.setitem(sys.modules, "modelscope", fake_modelscope(calls))
    entry = {"hf_hub_url": "hf/data", "ms_hub_url": "ms/data", "subset": "zh", "folder": "d", "split": "dev"}
    rows = load(entry, streaming=True, cache_dir="/cache", hub_token="ms_tok")
    assert rows is TINY  # converted with to_hf_dataset()
    assert calls == [{"dataset_name": "ms/data", "subset_name": "zh", "data_dir": "d", "split": "dev",
                      "cache_dir": "/cache", "token": "ms_tok", "use_streaming": True}]


def test_ms_hub_result_without_to_hf_dataset_is_returned_as_is(monkeypatch, load):
    calls = []
    monkeypatch.setitem(sys.modules, "modelscope", fake_modelscope(calls, hf_dataset=False))
    assert load({"ms_hub_url": "ms/data"}, cache_dir=None) is TINY
    assert calls == [{"dataset_name": "ms/data", "subset_name": None, "data_dir": None, "split": "train",
                      "cache_dir": None, "token": None, "use_streaming": False}]


def test_ms_hub_without_modelscope_installed(monkeypatch, load):
    monkeypatch.setitem(sys.modules, "modelscope", None)  # makes `import modelscope` raise ImportError
    with pytest.raises(DataError) as info:
        load({"ms_hub_url": "ms/data"}, name="msds")
    assert str(info.value) == "dataset 'msds' is on ModelScope: pip install modelscope"


def test_om_hub_entry_calls_omdataset_load_dataset(monkeypatch, load):
    monkeypatch.setenv("USE_OPENMIND_HUB", "1")
    calls = []

    class OmDataset:
        @staticmethod
        def load_dataset(**kwargs):
            calls.append(kwargs)
            return TINY

    module = types.ModuleType("openmind")
    module.OmDataset = OmDataset
    monkeypatch.setitem(sys.modules, "openmind", module)
    entry = {"hf_hub_url": "hf/data", "om_hub_url": "om/data", "subset": "s", "folder": "f", "split": "train[:10]"}
    assert load(entry, streaming=False, cache_dir="/cache", hub_token="om_tok") is TINY
    assert calls == [{"path": "om/data", "name": "s", "data_dir": "f", "split": "train[:10]", "cache_dir": "/cache",
                      "token": "om_tok", "streaming": False}]


def test_om_hub_without_openmind_installed(monkeypatch, load):
    monkeypatch.setitem(sys.modules, "openmind", None)
    with pytest.raises(DataError) as info:
        load({"om_hub_url": "om/data"}, name="omds")
    assert str(info.value) == "dataset 'omds' is on Modelers (openmind): pip install openmind"


@pytest.fixture
def fake_fsspec_open(monkeypatch):
    """fsspec.open returning in-memory text; records (url, mode, kwargs)."""
    import fsspec

    contents: dict[str, str] = {}
    calls: list = []

    def fake_open(url, mode="rb", **kwargs):
        calls.append((url, mode, kwargs))
        return io.StringIO(contents[url])

    monkeypatch.setattr(fsspec, "open", fake_open)
    return contents, calls


def test_cloud_jsonl_file_is_read_through_fsspec(fake_fsspec_open, load):
    contents, calls = fake_fsspec_open
    contents["s3://bucket/x.jsonl"] = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in ROWS) + "\n"
    rows = load({"cloud_file_name": "s3://bucket/x.jsonl"})
    assert rows.to_list() == ROWS
    assert calls == [("s3://bucket/x.jsonl", "rt", {"encoding": "utf-8"})]


def test_cloud_json_list_file(fake_fsspec_open, load):
    contents, _ = fake_fsspec_open
    contents["gs://bucket/x.json"] = json.dumps(ROWS, indent=2)
    assert load({"cloud_file_name": "gs://bucket/x.json"}).to_list() == ROWS


def test_cloud_file_bad_line_is_named(fake_fsspec_open, load):
    contents, _ = fake_fsspec_open
    contents["s3://bucket/bad.jsonl"] = '{"a": 1}\n{"a": 2}\n{"a": oops}\n'
    with pytest.raises(DataError) as info:
        load({"cloud_file_name": "s3://bucket/bad.jsonl"}, name="cloudy")
    assert str(info.value).startswith("dataset 'cloudy': s3://bucket/bad.jsonl: line 3: invalid JSON")


def test_cloud_jsonl_with_unicode_line_separator_inside_a_string(fake_fsspec_open, load):
    contents, _ = fake_fsspec_open
    rows = [{"instruction": "para\u2028graph", "output": "x\u0085y"}, {"instruction": "b", "output": "c"}]
    contents["s3://bucket/u.jsonl"] = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    assert load({"cloud_file_name": "s3://bucket/u.jsonl"}).to_list() == rows


@pytest.mark.parametrize("url", ["https://example.com/x.jsonl", "bucket/x.jsonl", "S3:/bucket/x.jsonl"])
def test_cloud_url_with_a_wrong_scheme(fake_fsspec_open, load, url):
    _, calls = fake_fsspec_open
    with pytest.raises(DataError) as info:
        load({"cloud_file_name": url}, name="cloudy")
    assert str(info.value) == f"dataset 'cloudy': cloud_file_name must start with s3:// or gs://, got {url!r}"
    assert calls == []  # rejected before anything is opened


def test_unknown_source_is_an_error(tmp_path):
    attr = parse_entry("demo", {"file_name": "d.jsonl"})
    attr.load_from = "ftp"
    with pytest.raises(DataError, match="dataset 'demo': unknown source 'ftp'"):
        load_rows(attr, str(tmp_path))
