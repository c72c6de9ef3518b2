"""The data engine end to end on local files: conversion, bad rows, sampling, mixing, splitting,
streaming, caching and tokenized_path."""

import json
from pathlib import Path

import pytest

from tunefactory.config import parse_dict
from tunefactory.data import converters, pipeline
from tunefactory.data.pipeline import get_dataset
from tunefactory.errors import DataError

BUNDLED = Path(__file__).resolve().parents[2] / "data"


def qa_rows(n, start=0):
    return [{"instruction": f"q{i}", "output": f"a{i}"} for i in range(start, start + n)]


@pytest.fixture
def dataset_dir(tmp_path):
    """A dataset_dir with a registry; `add(name, rows, **entry)` writes a JSON Lines file and registers it."""
    registry = {}

    def add(name, rows, **entry):
        (tmp_path / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        registry[name] = {"file_name": f"{name}.jsonl", **entry}
        (tmp_path / "dataset_info.json").write_text(json.dumps(registry))

    add.path = tmp_path
    return add


def config(dataset_dir, **overrides):
    base = {"model_name_or_path": "m", "stage": "sft", "do_train": True, "output_dir": "out",
            "dataset_dir": str(dataset_dir.path if hasattr(dataset_dir, "path") else dataset_dir)}
    return parse_dict({**base, **overrides})


def prompts(dataset):
    return [example["_prompt"][-1]["content"] for example in dataset]


def test_llamafactory_style_registry_loads_every_format():
    for names, stage, expected in [("alpaca_demo,sharegpt_tools,openai_messages", "sft", 300 + 120 + 60),
                                   ("preference_pairs,preference_sharegpt", "dpo", 360),
                                   ("kto_demo", "kto", 300), ("pretrain_text", "pt", 400)]:
        module = get_dataset(config(BUNDLED, stage=stage, dataset=names))
        assert len(module.train) == expected, names
        assert [r.rows_kept for r in module.reports] == [r.rows_read for r in module.reports]
        first = module.train[0]
        assert set(first) == set(converters.CANONICAL_COLUMNS)
        if stage == "dpo":
            assert len(first["_response"]) == 2


def test_bad_rows_are_skipped_reported_and_counted(dataset_dir, caplog):
    rows = [{"conversations": [{"from": "human", "value": f"q{i}"}, {"from": "gpt", "value": f"a{i}"}]} for i in range(30)]
    rows[7]["conversations"].reverse()
    rows[19] = {"conversations": []}
    dataset_dir("chats", rows, formatting="sharegpt")
    module = get_dataset(config(dataset_dir, dataset="chats"))
    (report,) = module.reports
    assert (report.rows_read, report.rows_kept) == (30, 28)
    assert [index for index, _ in report.first_skipped] == [7, 19]
    assert report.skipped == {"broken turn order": 1, "column 'conversations' must be a non-empty list of messages": 1}
    assert "'chats', row 7 skipped: broken turn order" in caplog.text
    assert "q7" not in prompts(module.train) and len(module.train) == 28


def test_mostly_invalid_or_empty_data_stops(dataset_dir):
    dataset_dir("bad", [{"instruction": "q", "output": 5}] * 3 + qa_rows(2))
    with pytest.raises(DataError, match=r"more than max_invalid_fraction=0.1 .* row 0: column 'output' must be text"):
        get_dataset(config(dataset_dir, dataset="bad"))
    assert len(get_dataset(config(dataset_dir, dataset="bad", max_invalid_fraction=0.8)).train) == 2
    dataset_dir("empty", [{"instruction": "", "output": "x"}])
    with pytest.raises(DataError, match="'empty' has no usable rows"):
        get_dataset(config(dataset_dir, dataset="empty"))


def test_missing_column_names_dataset_column_and_present_columns(dataset_dir):
    dataset_dir("qa", qa_rows(3), columns={"prompt": "question"})
    with pytest.raises(DataError, match=r"dataset 'qa': column 'question' \(columns.prompt\) is missing; "
                                        r"the data has columns \['instruction', 'output'\]"):
        get_dataset(config(dataset_dir, dataset="qa"))


def test_max_samples_and_num_samples(dataset_dir):
    dataset_dir("qa", qa_rows(10))
    assert prompts(get_dataset(config(dataset_dir, dataset="qa", max_samples=3)).train) == ["q0", "q1", "q2"]
    dataset_dir("few", qa_rows(4), num_samples=10)
    first = prompts(get_dataset(config(dataset_dir, dataset="few")).train)
    again = prompts(get_dataset(config(dataset_dir, dataset="few")).train)
    assert len(first) == 10 and set(first) == {"q0", "q1", "q2", "q3"} and first == again


def test_mix_strategies(dataset_dir):
    dataset_dir("a", qa_rows(5))
    dataset_dir("b", qa_rows(20, start=100))
    assert len(get_dataset(config(dataset_dir, dataset="a,b")).train) == 25
    under = get_dataset(config(dataset_dir, dataset="a,b", mix_strategy="interleave_under",
                               interleave_probs="0.5,0.5")).train
    over = get_dataset(config(dataset_dir, dataset="a,b", mix_strategy="interleave_over",
                              interleave_probs="0.5,0.5")).train
    assert len(under) < 25 < len(over)  # stops when a runs out / repeats a until b runs out
    assert {p for p in prompts(over)} == {f"q{i}" for i in range(5)} | {f"q{i}" for i in range(100, 120)}


def test_val_size_fraction_and_count_are_seeded(dataset_dir):
    dataset_dir("qa", qa_rows(50))
    module = get_dataset(config(dataset_dir, dataset="qa", val_size=0.2))
    assert (len(module.train), len(module.eval)) == (40, 10)
    assert not set(prompts(module.train)) & set(prompts(module.eval))
    counted = get_dataset(config(dataset_dir, dataset="qa", val_size=7))
    assert len(counted.eval) == 7
    same_seed = get_dataset(config(dataset_dir, dataset="qa", val_size=0.2))
    other_seed = get_dataset(config(dataset_dir, dataset="qa", val_size=0.2, seed=1))
    assert prompts(same_seed.eval) == prompts(module.eval) != prompts(other_seed.eval)
    with pytest.raises(DataError, match="leaves no training data"):
        get_dataset(config(dataset_dir, dataset="qa", val_size=50))


def test_eval_dataset_and_eval_on_each_dataset(dataset_dir):
    dataset_dir("train", qa_rows(8))
    dataset_dir("e1", qa_rows(2, start=50))
    dataset_dir("e2", qa_rows(3, start=60))
    module = get_dataset(config(dataset_dir, dataset="train", eval_dataset="e1,e2"))
    assert len(module.eval) == 5
    each = get_dataset(config(dataset_dir, dataset="train", eval_dataset="e1,e2", eval_on_each_dataset=True))
    assert {name: len(ds) for name, ds in each.eval.items()} == {"e1": 2, "e2": 3}


def test_streaming_yields_examples_and_skips_bad_rows(dataset_dir):
    rows = qa_rows(6)
    rows[2] = {"instruction": "q2", "output": 3}
    dataset_dir("qa", rows)
    module = get_dataset(config(dataset_dir, dataset="qa", streaming=True, max_steps=5, buffer_size=2))
    assert not hasattr(module.train, "__len__")
    assert sorted(prompts(module.train)) == ["q0", "q1", "q3", "q4", "q5"]


def test_tokenized_path_round_trip(dataset_dir, tmp_path, tiny_llama):
    from tunefactory.data.template import get_template
    from tunefactory.model.tokenizer import load_tokenizer

    dataset_dir("qa", qa_rows(20))
    path = str(tmp_path / "tokenized")
    settings = {"dataset": "qa", "val_size": 4, "tokenized_path": path, "template": "default",
                "model_name_or_path": str(tiny_llama)}
    run = config(dataset_dir, **settings)
    tokenizer = load_tokenizer(run.model)
    template = get_template(tokenizer, run.data)
    first = get_dataset(run, template, tokenizer)
    assert first.saved_to == path and [r.split for r in first.processing] == ["train", "eval"]
    assert [r.examples_kept for r in first.processing] == [16, 4]
    second = get_dataset(config(dataset_dir, **settings), template, tokenizer)
    assert second.processing == [] and second.saved_to is None  # loaded, not reprocessed
    assert second.train["input_ids"] == first.train["input_ids"]
    assert second.eval["labels"] == first.eval["labels"]


def test_stage_needs_the_right_kind_of_data(dataset_dir):
    dataset_dir("qa", qa_rows(3))
    dataset_dir("pairs", [{"q": "x", "c": "a", "r": "b"}], ranking=True,
                columns={"prompt": "q", "chosen": "c", "rejected": "r"})
    with pytest.raises(DataError, match='needs "ranking": true'):
        get_dataset(config(dataset_dir, stage="dpo", dataset="qa"))
    with pytest.raises(DataError, match="use it with stage rm or dpo, not sft"):
        get_dataset(config(dataset_dir, dataset="pairs"))
    with pytest.raises(DataError, match="set columns.kto_tag"):
        get_dataset(config(dataset_dir, stage="kto", dataset="qa"))


def test_cache_is_reused_unless_overwrite_cache(dataset_dir, monkeypatch):
    dataset_dir("qa", qa_rows(5))
    calls = []
    original = converters.Converter.__call__

    def counting(self, row):
        calls.append(1)
        return original(self, row)

    monkeypatch.setattr(converters.Converter, "__call__", counting)
    get_dataset(config(dataset_dir, dataset="qa"))
    assert len(calls) == 5
    get_dataset(config(dataset_dir, dataset="qa"))
    assert len(calls) == 5  # served from the datasets cache
    get_dataset(config(dataset_dir, dataset="qa", overwrite_cache=True))
    assert len(calls) == 10


def test_two_workers_give_the_same_result(dataset_dir):
    dataset_dir("qa", qa_rows(40))
    one = get_dataset(config(dataset_dir, dataset="qa"))
    two = get_dataset(config(dataset_dir, dataset="qa", preprocessing_num_workers=2, overwrite_cache=True))
    assert prompts(one.train) == prompts(two.train)


def test_inspect_command_shows_counts_skipped_rows_and_examples(dataset_dir, capsys):
    from tunefactory.cli import main

    rows = qa_rows(12)
    rows[4] = {"instruction": "q4", "output": None, "history": 3}
    dataset_dir("qa", rows, columns={"prompt": "instruction", "response": "output", "history": "history"})
    tokenized = dataset_dir.path / "tokenized"
    code = main(["data", f"dataset_dir={dataset_dir.path}", "dataset=qa", "model_name_or_path=m", "--show", "1",
                 f"tokenized_path={tokenized}"])
    out = capsys.readouterr().out
    assert code == 0
    assert not tokenized.exists()  # canonical examples never land where tokenized data is expected
    assert "dataset 'qa': 12 rows read, 11 kept, 1 skipped" in out
    assert "row 4: column 'history' must be a list of [question, answer] pairs" in out
    assert "train: 11 examples" in out and '"content": "q0"' in out


def test_pipeline_module_has_no_model_imports():
    assert "model" not in " ".join(line for line in Path(pipeline.__file__).read_text().splitlines()
                                  if line.startswith(("import", "from")))


def _encoders(run):
    from tunefactory.data.template import get_template
    from tunefactory.model.tokenizer import load_tokenizer

    tokenizer = load_tokenizer(run.model)
    return get_template(tokenizer, run.data), tokenizer


def test_eval_split_is_made_before_processing_and_generation_eval_gets_prompts(dataset_dir, tiny_qwen2):
    dataset_dir("qa", qa_rows(30))
    run = config(dataset_dir, dataset="qa", val_size=5, template="qwen", model_name_or_path=str(tiny_qwen2),
                 do_eval=True, predict_with_generate=True, neat_packing=True, cutoff_len=128)
    template, tokenizer = _encoders(run)
    module = get_dataset(run, template, tokenizer)
    train_report, eval_report = module.processing
    assert (train_report.kind, eval_report.kind) == ("supervised", "unsupervised")
    assert train_report.examples_kept == 25 and eval_report.examples_kept == 5
    assert train_report.tokens == sum(len(ids) for ids in module.train["input_ids"])
    assert len(module.train) < 25 and "position_ids" in module.train.column_names  # packed
    assert len(module.eval) == 5
    for example in module.eval:  # a prompt ending with the assistant header; the answer kept as labels
        assert tokenizer.decode(example["input_ids"]).endswith("<|im_start|>assistant\n")
        assert tokenizer.decode(example["labels"]).startswith("a")


def test_streaming_data_is_processed_lazily(dataset_dir, tiny_qwen2):
    dataset_dir("qa", qa_rows(12))
    run = config(dataset_dir, dataset="qa", streaming=True, max_steps=3, template="qwen",
                 model_name_or_path=str(tiny_qwen2), cutoff_len=64)
    template, tokenizer = _encoders(run)
    module = get_dataset(run, template, tokenizer)
    rows = list(module.train)
    assert len(rows) == 12 and set(rows[0]) == {"input_ids", "labels"}
    assert module.processing[0].examples_in is None and "streaming" in module.processing[0].summary()
