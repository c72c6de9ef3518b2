"""Tiny MMLU, C-Eval and CMMLU folders in LLaMA-Factory's `evaluation/` layout, for the `tunefactory eval` tests.

Two subjects in two categories, a few rows per split, written exactly as each benchmark ships its CSVs
(unpacked, or as ``<benchmark>.zip`` beside mapping.json). ``ROWS`` holds the rows each file gets.
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from pathlib import Path

# subject key -> (English name, Chinese name, category)
SUBJECTS = {
    "abstract_algebra": ("abstract algebra", "抽象代数", "STEM"),
    "world_religions": ("world religions", "世界宗教", "Humanities"),
}

# subject -> split -> rows of (question, A, B, C, D, answer); commas and quotes test the CSV quoting
ROWS = {
    "abstract_algebra": {
        "dev": [("Find the order of the group Z_4.", "1", "2", "3", "4", "D"),
                ("Is Z_2 a field, \"yes\" or \"no\"?", "yes", "no", "maybe", "unknown", "A"),
                ("How many elements has S_3?", "3", "6", "9", "12", "B")],
        "val": [("What is 2 + 2 in Z_3?", "0", "1", "2", "3", "B"),
                ("The identity of (Z, +) is", "0", "1", "-1", "none", "A")],
        "test": [("Find the characteristic of the ring Z_5.", "0", "5", "10", "25", "B"),
                 ("Which group is cyclic?", "S_3", "Z_6", "D_4", "Q_8", "B"),
                 ("How many generators has Z_7, counting 1?", "1", "3", "6", "7", "C"),
                 ("Is every field a ring?", "yes", "no", "only finite ones", "only infinite ones", "A")],
    },
    "world_religions": {
        "dev": [("Where is Mecca?", "Saudi Arabia", "Egypt", "Iran", "India", "A"),
                ("Which religion has the Torah?", "Hinduism", "Judaism", "Shinto", "Jainism", "B"),
                ("What does 'karma' mean?", "action", "prayer", "temple", "fast", "A")],
        "val": [("Which city is holy to three religions?", "Rome", "Jerusalem", "Paris", "Delhi", "B"),
                ("Who founded Sikhism?", "Guru Nanak", "Buddha", "Mahavira", "Laozi", "A")],
        "test": [("What is the sacred text of Islam?", "Vedas", "Bible", "Quran", "Avesta", "C"),
                 ("Where was the Buddha born?", "Lumbini", "Lhasa", "Kyoto", "Mecca", "A"),
                 ("Which religion, broadly, has the Tao Te Ching?", "Taoism", "Islam", "Judaism", "Baha'i", "A")],
    },
}


def write_benchmark(task_dir: str | Path, name: str, zipped: bool = False, top_folder: bool = False) -> Path:
    """Write ``task_dir/<name>/`` (name: mmlu, ceval or cmmlu) and return that folder. ``zipped`` puts the CSVs
    in ``<name>.zip``, at its root or, with ``top_folder``, under a ``<name>/`` folder inside it."""
    folder = Path(task_dir) / name
    folder.mkdir(parents=True, exist_ok=True)
    language = 1 if name in ("ceval", "cmmlu") else 0
    mapping = {key: {"name": names[language], "category": names[2]} for key, names in SUBJECTS.items()}
    (folder / "mapping.json").write_text(json.dumps(mapping, ensure_ascii=False, indent=2), encoding="utf-8")
    files = {path: text for subject in SUBJECTS for path, text in _subject_files(name, subject).items()}
    if zipped:
        with zipfile.ZipFile(folder / f"{name}.zip", "w") as archive:
            for path, text in files.items():
                archive.writestr(f"{name}/{path}" if top_folder else path, text)
    else:
        for path, text in files.items():
            (folder / path).parent.mkdir(parents=True, exist_ok=True)
            (folder / path).write_text(text, encoding="utf-8")
    return folder


def _subject_files(name: str, subject: str) -> dict[str, str]:
    rows = ROWS[subject]
    if name == "mmlu":
        return {f"data/{split}/{subject}_{split}.csv": _csv(rows[split]) for split in ("dev", "val", "test")}
    if name == "ceval":
        files = {f"{split}/{subject}_{split}.csv": _csv(
            [(i, *row, f"explanation {i}") for i, row in enumerate(rows[split])],
            header=("id", "question", "A", "B", "C", "D", "answer", "explanation")) for split in ("dev", "val")}
        # C-Eval's test split has no answers
        files[f"test/{subject}_test.csv"] = _csv([(i, *row[:5]) for i, row in enumerate(rows["test"])],
                                                  header=("id", "question", "A", "B", "C", "D"))
        return files
    if name == "cmmlu":
        return {f"{split}/{subject}.csv": _csv([(i, *row) for i, row in enumerate(rows[split])],
                                               header=("", "Question", "A", "B", "C", "D", "Answer"))
                for split in ("dev", "test")}
    raise ValueError(f"unknown benchmark {name!r}")


def _csv(rows, header=None) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    if header:
        writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


def write_choice_benchmark(task_dir: str | Path) -> Path:
    """``task_dir/mmlu/``, unpacked, with one subject (word categories, category Other): the held-out questions of
    the bundled ``choice_train`` skill as its test split, and its first five as dev and val."""
    from .bundled_data import CHOICE_SUBJECT, choice_test_questions

    questions = choice_test_questions()
    folder = Path(task_dir) / "mmlu"
    key = CHOICE_SUBJECT.replace(" ", "_")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "mapping.json").write_text(json.dumps({key: {"name": CHOICE_SUBJECT, "category": "Other"}}, indent=2),
                                         encoding="utf-8")
    for split, rows in (("dev", questions[:5]), ("val", questions[:5]), ("test", questions)):
        path = folder / "data" / split / f"{key}_{split}.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(_csv(rows), encoding="utf-8")
    return folder
