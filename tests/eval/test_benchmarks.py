"""Reading MMLU, C-Eval and CMMLU from LLaMA-Factory's folder layout: every row exactly, every bad file named."""

import json
import zipfile

import pytest

from tunefactory.errors import ConfigError, DataError
from tunefactory.eval.benchmarks import load_benchmark, parse_task, task_problems
from tunefactory_fixtures.benchmarks import ROWS, SUBJECTS, write_benchmark

TASKS = {"mmlu": ["mmlu_test", "mmlu_validation"], "ceval": ["ceval_validation"], "cmmlu": ["cmmlu_test"]}
FOLDER = {"test": "test", "validation": "val"}


def expected(rows):
    return [(q, (a, b, c, d), answer) for q, a, b, c, d, answer in rows]


def as_tuples(questions):
    return [(q.question, q.choices, q.answer) for q in questions]


@pytest.mark.parametrize("layout", ["unpacked", "zip", "zip with a top folder"])
@pytest.mark.parametrize("task", [t for tasks in TASKS.values() for t in tasks])
def test_every_row_is_read_exactly(tmp_path, task, layout):
    name, split = task.split("_")
    write_benchmark(tmp_path, name, zipped=layout != "unpacked", top_folder=layout == "zip with a top folder")
    subjects = load_benchmark(str(tmp_path), task)
    assert [s.key for s in subjects] == list(SUBJECTS)
    for subject in subjects:
        english, chinese, category = SUBJECTS[subject.key]
        assert subject.name == (english if name == "mmlu" else chinese)
        assert subject.category == category
        assert as_tuples(subject.shots) == expected(ROWS[subject.key]["dev"])
        assert as_tuples(subject.questions) == expected(ROWS[subject.key][FOLDER[split]])
    assert subjects[0].shots[1].question == 'Is Z_2 a field, "yes" or "no"?'  # quoted CSV cells


def test_ceval_test_has_no_answers_and_is_refused(tmp_path):
    write_benchmark(tmp_path, "ceval")
    with pytest.raises(ConfigError, match="no answers.*ceval_validation"):
        load_benchmark(str(tmp_path), "ceval_test")


@pytest.mark.parametrize("task,message", [("mmlu_val", "has no split 'val'"), ("cmmlu_validation", "no split"),
                                          ("arc_test", "no known benchmark")])
def test_unknown_tasks_list_the_valid_ones(task, message):
    with pytest.raises(ConfigError, match=message) as caught:
        parse_task(task)
    assert "mmlu_test, ceval_validation" in str(caught.value) or "mmlu_validation" in str(caught.value)


def test_missing_benchmark_folder_is_reported_before_loading(tmp_path):
    problems = task_problems(str(tmp_path), "cmmlu_test")
    assert len(problems) == 1 and "cmmlu/mapping.json not found" in problems[0]
    write_benchmark(tmp_path, "cmmlu")
    assert task_problems(str(tmp_path), "cmmlu_test") == []


def test_a_bad_answer_names_the_file_and_line(tmp_path):
    folder = write_benchmark(tmp_path, "mmlu")
    path = folder / "data" / "test" / "world_religions_test.csv"
    lines = path.read_text().splitlines()
    lines[1] = lines[1].rsplit(",", 1)[0] + ",E"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"world_religions_test\.csv, line 2: the answer is 'E'"):
        load_benchmark(str(tmp_path), "mmlu_test")


def test_a_short_row_names_the_file_and_line(tmp_path):
    folder = write_benchmark(tmp_path, "cmmlu")
    path = folder / "dev" / "abstract_algebra.csv"
    path.write_text(path.read_text() + "9,only a question\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"abstract_algebra\.csv, line 5: 2 columns where 7 were expected"):
        load_benchmark(str(tmp_path), "cmmlu_test")


def test_a_missing_header_column_is_named(tmp_path):
    folder = write_benchmark(tmp_path, "ceval")
    path = folder / "val" / "abstract_algebra_val.csv"
    path.write_text(path.read_text(encoding="utf-8").replace("answer", "label", 1), encoding="utf-8")
    with pytest.raises(DataError, match=r"abstract_algebra_val\.csv: the header .* lacks answer"):
        load_benchmark(str(tmp_path), "ceval_validation")


def test_a_missing_file_in_the_zip_is_named(tmp_path):
    folder = write_benchmark(tmp_path, "mmlu", zipped=True)
    with zipfile.ZipFile(folder / "mmlu.zip") as archive:
        kept = {name: archive.read(name) for name in archive.namelist() if "world_religions_test" not in name}
    with zipfile.ZipFile(folder / "mmlu.zip", "w") as archive:
        for name, data in kept.items():
            archive.writestr(name, data)
    with pytest.raises(DataError, match=r"mmlu\.zip has no data/test/world_religions_test\.csv"):
        load_benchmark(str(tmp_path), "mmlu_test")


def test_a_bad_category_in_the_mapping_is_named(tmp_path):
    folder = write_benchmark(tmp_path, "mmlu")
    mapping = json.loads((folder / "mapping.json").read_text())
    mapping["world_religions"]["category"] = "Arts"
    (folder / "mapping.json").write_text(json.dumps(mapping))
    with pytest.raises(DataError, match=r"subject 'world_religions' needs a \"name\" and a \"category\" from STEM"):
        load_benchmark(str(tmp_path), "mmlu_test")
