"""Reading a registered dataset's raw rows from wherever it lives.

Local files and folders (json, jsonl, csv, parquet, arrow, txt) and hub datasets go through
`datasets.load_dataset`; ModelScope and Modelers through their own clients; cloud files
(s3://, gs://) through fsspec. A file that is not valid JSON/JSONL is reported with its line.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from ..errors import DataError
from .registry import DatasetAttr

logger = logging.getLogger(__name__)

FILE_TYPES = {".json": "json", ".jsonl": "json", ".csv": "csv", ".parquet": "parquet", ".arrow": "arrow", ".txt": "text"}


def load_rows(attr: DatasetAttr, dataset_dir: str, *, streaming: bool = False, cache_dir: str | None = None,
              hub_token: str | None = None):
    """The raw `datasets.Dataset` (or IterableDataset when streaming) of one registered dataset."""
    if attr.load_from == "file":
        return _load_local(attr, dataset_dir, streaming, cache_dir)
    if attr.load_from == "hf_hub":
        return _load_dataset(path=attr.path, name=attr.subset, data_dir=attr.folder, split=attr.split,
                             cache_dir=cache_dir, token=hub_token, streaming=streaming)
    if attr.load_from == "script":
        script = Path(dataset_dir) / attr.path
        try:
            return _load_dataset(path=str(script) if script.exists() else attr.path, name=attr.subset,
                                 data_dir=attr.folder, split=attr.split, cache_dir=cache_dir, streaming=streaming)
        except RuntimeError as exc:  # datasets >= 4 no longer runs loading scripts
            raise DataError(f"dataset {attr.name!r}: script_url {attr.path!r} could not be loaded ({exc}); datasets "
                            "no longer runs .py loading scripts: point script_url at a folder of data files, or "
                            "convert the data and use file_name") from exc
    if attr.load_from == "ms_hub":
        return _load_modelscope(attr, cache_dir, hub_token, streaming)
    if attr.load_from == "om_hub":
        return _load_openmind(attr, cache_dir, hub_token, streaming)
    if attr.load_from == "cloud_file":
        return _load_cloud_file(attr)
    raise DataError(f"dataset {attr.name!r}: unknown source {attr.load_from!r}")


def _load_dataset(**kwargs):
    from datasets import load_dataset

    return load_dataset(**{k: v for k, v in kwargs.items() if v is not None})


def local_files(attr: DatasetAttr, dataset_dir: str) -> tuple[str, list[str]]:
    """(datasets builder name, files) for a local file or folder; one file type per dataset."""
    path = Path(dataset_dir) / attr.path  # an absolute file_name stays as it is
    if path.is_dir():
        files = sorted(str(p) for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
    elif path.is_file():
        files = [str(path)]
    else:
        raise DataError(f"dataset {attr.name!r}: file_name {attr.path!r} not found (looked for {path})")
    types = {FILE_TYPES.get(Path(f).suffix.lower()) for f in files}
    if None in types:
        odd = next(f for f in files if Path(f).suffix.lower() not in FILE_TYPES)
        raise DataError(f"dataset {attr.name!r}: cannot read {odd}: supported types are {', '.join(FILE_TYPES)}")
    if len(types) != 1:
        raise DataError(f"dataset {attr.name!r}: folder {path} mixes file types {sorted(types)}; use one type")
    return types.pop(), files


def _load_local(attr: DatasetAttr, dataset_dir: str, streaming: bool, cache_dir: str | None):
    builder, files = local_files(attr, dataset_dir)
    try:
        return _load_dataset(path=builder, data_files=files, split=attr.split, cache_dir=cache_dir, streaming=streaming)
    except Exception as exc:
        if builder == "json":  # datasets' JSON errors do not name the line: find it ourselves
            for file in files:
                _check_json_file(attr.name, file)
        raise DataError(f"dataset {attr.name!r}: could not read {', '.join(files)}: {exc}") from exc


def _check_json_file(name: str, file: str) -> None:
    """Raise a DataError naming the first line that is not valid JSON (or JSON Lines)."""
    text = Path(file).read_text(encoding="utf-8")
    stripped = text.lstrip()
    if not stripped:
        raise DataError(f"dataset {name!r}: {file} is empty")
    lines = text.split("\n")  # not splitlines(): U+2028 and friends are legal inside JSON strings
    if stripped[0] in "[{" and file.endswith(".json"):
        try:
            json.loads(text)
            return
        except json.JSONDecodeError as exc:
            if stripped[0] == "[" or not _parses(lines[0]):  # one JSON document, not JSON Lines
                raise DataError(f"dataset {name!r}: {file}: line {exc.lineno}, column {exc.colno}: invalid JSON: "
                                f"{exc.msg}") from None
    for number, line in enumerate(lines, 1):  # JSON Lines
        if line.strip():
            try:
                json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"dataset {name!r}: {file}: line {number}, column {exc.colno}: invalid JSON: "
                                f"{exc.msg}") from None


def _parses(line: str) -> bool:
    try:
        json.loads(line)
        return True
    except json.JSONDecodeError:
        return False


def _load_modelscope(attr: DatasetAttr, cache_dir, token, streaming):
    try:
        from modelscope import MsDataset
    except ImportError:
        raise DataError(f"dataset {attr.name!r} is on ModelScope: pip install modelscope") from None
    dataset = MsDataset.load(dataset_name=attr.path, subset_name=attr.subset, data_dir=attr.folder, split=attr.split,
                             cache_dir=cache_dir, token=token, use_streaming=streaming)
    return dataset.to_hf_dataset() if hasattr(dataset, "to_hf_dataset") else dataset


def _load_openmind(attr: DatasetAttr, cache_dir, token, streaming):
    try:
        from openmind import OmDataset
    except ImportError:
        raise DataError(f"dataset {attr.name!r} is on Modelers (openmind): pip install openmind") from None
    return OmDataset.load_dataset(path=attr.path, name=attr.subset, data_dir=attr.folder, split=attr.split,
                                  cache_dir=cache_dir, token=token, streaming=streaming)


def _load_cloud_file(attr: DatasetAttr):
    """s3:// or gs:// JSON/JSONL through fsspec (credentials from the environment, as fsspec does)."""
    import fsspec
    from datasets import Dataset

    if not attr.path.startswith(("s3://", "gs://", "gcs://")):
        raise DataError(f"dataset {attr.name!r}: cloud_file_name must start with s3:// or gs://, got {attr.path!r}")
    with fsspec.open(attr.path, "rt", encoding="utf-8") as handle:
        text = handle.read()
    rows = _parse_json_text(attr.name, attr.path, text)
    return Dataset.from_list(rows)


def _parse_json_text(name: str, where: str, text: str) -> list[dict[str, Any]]:
    try:
        data = json.loads(text)
        return data if isinstance(data, list) else [data]
    except json.JSONDecodeError:
        rows = []
        for number, line in enumerate(text.split("\n"), 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise DataError(f"dataset {name!r}: {where}: line {number}: invalid JSON: {exc.msg}") from None
        return rows
