"""Multiple-choice benchmarks in LLaMA-Factory's `evaluation/` folder layout, read without loading scripts.

    task_dir/<benchmark>/mapping.json     subject -> {"name": display name, "category": STEM | Social Sciences |
                                          Humanities | Other}
    task_dir/<benchmark>/<benchmark>.zip  the CSVs, or the same files unpacked beside mapping.json

Each benchmark keeps its CSVs its own way (one `BenchmarkFormat` entry each, in ``BENCHMARKS``):

    mmlu   data/{dev,val,test}/<subject>_{dev,val,test}.csv   no header: question, A, B, C, D, answer
    ceval  {dev,val,test}/<subject>_{dev,val,test}.csv        header: id, question, A, B, C, D, answer, explanation
    cmmlu  {dev,test}/<subject>.csv                           header: (index), Question, A, B, C, D, Answer

A task names a benchmark and a split, ``<benchmark>_<split>`` (``mmlu_test``, ``ceval_validation``); the
few-shot examples always come from the subject's dev split.
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError, DataError

CHOICES = ("A", "B", "C", "D")
CATEGORIES = ("STEM", "Social Sciences", "Humanities", "Other")


@dataclass(frozen=True)
class Question:
    question: str
    choices: tuple[str, str, str, str]  # the texts of A, B, C and D
    answer: str  # one of CHOICES


@dataclass(frozen=True)
class Subject:
    key: str  # the file name part, e.g. abstract_algebra
    name: str  # the display name the prompt uses, e.g. "abstract algebra"
    category: str  # one of CATEGORIES
    shots: list[Question]  # the dev split, in file order
    questions: list[Question]  # the evaluated split


@dataclass(frozen=True)
class BenchmarkFormat:
    """Where one benchmark keeps a subject's split, and how its rows read."""

    name: str
    splits: dict[str, str]  # the task's split name -> the folder name in the files
    path: Callable[[str, str], str]  # (folder, subject) -> the CSV's path inside the benchmark
    has_header: bool
    columns: tuple[str, ...]  # question, A, B, C, D, answer: positions (no header) or header names
    missing_answers: dict[str, str]  # split -> why it cannot be scored here

    def file(self, split: str, subject: str) -> str:
        return self.path(self.splits.get(split, split), subject)


BENCHMARKS = {
    "mmlu": BenchmarkFormat(
        "mmlu", {"dev": "dev", "validation": "val", "test": "test"},
        lambda folder, subject: f"data/{folder}/{subject}_{folder}.csv",
        has_header=False, columns=("0", "1", "2", "3", "4", "5"), missing_answers={},
    ),
    "ceval": BenchmarkFormat(
        "ceval", {"dev": "dev", "validation": "val", "test": "test"},
        lambda folder, subject: f"{folder}/{subject}_{folder}.csv",
        has_header=True, columns=("question", "A", "B", "C", "D", "answer"),
        missing_answers={"test": "C-Eval publishes no answers for its test split (it is scored on cevalbenchmark.com); "
                                 "use task: ceval_validation"},
    ),
    "cmmlu": BenchmarkFormat(
        "cmmlu", {"dev": "dev", "test": "test"},
        lambda folder, subject: f"{folder}/{subject}.csv",
        has_header=True, columns=("Question", "A", "B", "C", "D", "Answer"), missing_answers={},
    ),
}
EVALUATED_SPLITS = {name: [s for s in fmt.splits if s != "dev" and s not in fmt.missing_answers]
                    for name, fmt in BENCHMARKS.items()}


def parse_task(task: str) -> tuple[BenchmarkFormat, str]:
    """The benchmark and split of ``<benchmark>_<split>``, or a ConfigError listing the valid tasks."""
    name, _, split = task.partition("_")
    valid = ", ".join(f"{b}_{s}" for b, splits in EVALUATED_SPLITS.items() for s in splits)
    if name not in BENCHMARKS:
        raise ConfigError(f"task: {task!r} names no known benchmark ({', '.join(BENCHMARKS)}); choose one of {valid}")
    benchmark = BENCHMARKS[name]
    if split in benchmark.missing_answers:
        raise ConfigError(f"task: {task}: {benchmark.missing_answers[split]}")
    if split not in EVALUATED_SPLITS[name]:
        raise ConfigError(f"task: {task!r}: {name} has no split {split!r}; choose one of {valid}")
    return benchmark, split


def task_problems(task_dir: str, task: str) -> list[str]:
    """What stops a task before the model loads: an unknown task, or a benchmark folder that is not there."""
    try:
        benchmark, _ = parse_task(task)
    except ConfigError as exc:
        return exc.problems
    folder = Path(task_dir) / benchmark.name
    if not (folder / "mapping.json").is_file():
        return [f"task_dir: {folder / 'mapping.json'} not found; put LLaMA-Factory's evaluation/{benchmark.name} "
                f"folder (mapping.json and {benchmark.name}.zip or its CSVs) under task_dir ({task_dir})"]
    return []


def load_benchmark(task_dir: str, task: str) -> list[Subject]:
    """Every subject of the task, in mapping.json's order, with its dev rows and evaluated rows."""
    benchmark, split = parse_task(task)
    files = BenchmarkFiles(Path(task_dir) / benchmark.name)
    subjects = []
    for key, entry in read_mapping(files.folder / "mapping.json").items():
        subjects.append(Subject(key, entry["name"], entry["category"],
                                shots=read_questions(files, benchmark, "dev", key),
                                questions=read_questions(files, benchmark, split, key)))
    return subjects


def read_mapping(path: Path) -> dict[str, dict[str, str]]:
    try:
        mapping = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"{path} not found: a benchmark folder needs mapping.json (subject -> name, category)") \
            from None
    except json.JSONDecodeError as exc:
        raise DataError(f"{path} is not valid JSON: {exc.msg} at line {exc.lineno}") from None
    if not isinstance(mapping, dict) or not mapping:
        raise DataError(f"{path} must map each subject to {{\"name\": ..., \"category\": ...}}")
    for key, entry in mapping.items():
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str) \
                or entry.get("category") not in CATEGORIES:
            raise DataError(f"{path}: subject {key!r} needs a \"name\" and a \"category\" from "
                            f"{', '.join(CATEGORIES)}; got {json.dumps(entry, ensure_ascii=False)}")
    return mapping


class BenchmarkFiles:
    """A benchmark's CSVs: ``<benchmark>.zip`` in its folder when present, else the unpacked files."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.archive = folder / f"{folder.name}.zip"
        self._members: dict[str, str] | None = None

    def where(self, relative: str) -> str:
        return f"{self.archive}:{relative}" if self.archive.is_file() else str(self.folder / relative)

    def read_text(self, relative: str) -> str:
        if not self.archive.is_file():
            path = self.folder / relative
            if not path.is_file():
                raise DataError(f"{path} not found (expected beside {self.folder / 'mapping.json'}, or in "
                                f"{self.archive.name})")
            return path.read_text(encoding="utf-8-sig")
        with zipfile.ZipFile(self.archive) as archive:
            member = self._member(archive, relative)
            return archive.read(member).decode("utf-8-sig")

    def _member(self, archive: zipfile.ZipFile, relative: str) -> str:
        # the files sit at the archive's root, or under one top folder (a zipped benchmark folder)
        if self._members is None:
            names = archive.namelist()
            self._members = {name.partition("/")[2]: name for name in names}
            self._members.update({name: name for name in names})  # an exact path wins
        if relative not in self._members:
            raise DataError(f"{self.archive} has no {relative}")
        return self._members[relative]


def read_questions(files: BenchmarkFiles, benchmark: BenchmarkFormat, split: str, subject: str) -> list[Question]:
    relative = benchmark.file(split, subject)
    where = files.where(relative)
    return [_question(row, benchmark, where, line) for line, row in _rows(files.read_text(relative), benchmark, where)]


def _rows(text: str, benchmark: BenchmarkFormat, where: str) -> Iterator[tuple[int, dict[str, str]]]:
    """(line number, row by column name) for each data row of a CSV."""
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        if benchmark.has_header:
            header = next(reader, None)
            missing = [column for column in benchmark.columns if column not in (header or [])]
            if missing:
                raise DataError(f"{where}: the header {header} lacks {', '.join(missing)} "
                                f"({benchmark.name} CSVs have the columns {', '.join(benchmark.columns)})")
        else:
            header = list(benchmark.columns)
        for row in reader:
            if not any(cell.strip() for cell in row):
                continue
            if len(row) != len(header):
                raise DataError(f"{where}, line {reader.line_num}: {len(row)} columns where {len(header)} were "
                                f"expected ({', '.join(header)})")
            yield reader.line_num, dict(zip(header, row))
    except csv.Error as exc:
        raise DataError(f"{where}, line {reader.line_num}: not valid CSV ({exc})") from None


def _question(row: dict[str, str], benchmark: BenchmarkFormat, where: str, line: int) -> Question:
    question, a, b, c, d, answer = (row[column] for column in benchmark.columns)
    answer = answer.strip()
    if answer not in CHOICES:
        raise DataError(f"{where}, line {line}: the answer is {answer!r}; it must be one of {', '.join(CHOICES)}")
    return Question(question, (a, b, c, d), answer)
