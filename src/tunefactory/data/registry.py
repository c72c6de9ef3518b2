"""The dataset registry: `<dataset_dir>/dataset_info.json` in LLaMA-Factory's format.

Each entry names one source (`file_name`, `hf_hub_url`, `ms_hub_url`, `om_hub_url`,
`script_url` or `cloud_file_name`), its `formatting` (alpaca | sharegpt | openai), whether it
is `ranking` (preference pairs), optional `subset`/`split`/`folder`/`num_samples`, and how its
`columns` and sharegpt `tags` are named. Defaults are LLaMA-Factory's.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ..env_flags import env_flag
from ..errors import DataError

logger = logging.getLogger(__name__)

REGISTRY_FILE = "dataset_info.json"
SOURCE_KEYS = ("hf_hub_url", "ms_hub_url", "om_hub_url", "script_url", "cloud_file_name", "file_name")
ENTRY_KEYS = {*SOURCE_KEYS, "formatting", "ranking", "subset", "split", "folder", "num_samples", "columns", "tags"}
COLUMN_KEYS = ("prompt", "query", "response", "history", "messages", "system", "tools",
               "images", "videos", "audios", "chosen", "rejected", "kto_tag")
TAG_KEYS = ("role_tag", "content_tag", "user_tag", "assistant_tag", "observation_tag", "function_tag", "system_tag")
FORMATS = ("alpaca", "sharegpt", "openai")

LoadFrom = Literal["file", "hf_hub", "ms_hub", "om_hub", "script", "cloud_file"]


@dataclass
class DatasetAttr:
    """One registered dataset: where it lives, its format, and its column and role names."""

    name: str  # the registry key users write in `dataset:`
    load_from: LoadFrom
    path: str  # file/folder name, hub id, script or cloud URL
    formatting: str = "alpaca"
    ranking: bool = False
    subset: str | None = None
    split: str = "train"
    folder: str | None = None
    num_samples: int | None = None
    # columns (None: not used); alpaca and sharegpt defaults as LLaMA-Factory documents them
    prompt: str | None = "instruction"
    query: str | None = "input"
    response: str | None = "output"
    history: str | None = None
    messages: str | None = "conversations"
    system: str | None = None
    tools: str | None = None
    images: str | None = None
    videos: str | None = None
    audios: str | None = None
    chosen: str | None = None
    rejected: str | None = None
    kto_tag: str | None = None
    # sharegpt tags
    role_tag: str = "from"
    content_tag: str = "value"
    user_tag: str = "human"
    assistant_tag: str = "gpt"
    observation_tag: str = "observation"
    function_tag: str = "function_call"
    system_tag: str = "system"
    explicit_columns: set[str] = field(default_factory=set)  # columns the entry names itself (must exist)

    def __repr__(self) -> str:
        return f"DatasetAttr({self.name!r}, {self.load_from}: {self.path!r}, {self.formatting})"

    def used_columns(self) -> dict[str, str]:
        """Column role -> column name, for the roles this dataset's format reads."""
        if self.formatting == "alpaca":
            roles = ["prompt", "query", "response", "history"]
        else:
            roles = ["messages"]
        roles += ["system", "tools", "images", "videos", "audios", "kto_tag"]
        if self.ranking:
            roles += ["chosen", "rejected"]
        return {role: getattr(self, role) for role in roles if getattr(self, role)}


def read_registry(dataset_dir: str | Path) -> dict[str, dict[str, Any]]:
    """Load `dataset_info.json` (a local folder, or `REMOTE:<hub dataset id>`)."""
    dataset_dir = str(dataset_dir)
    if dataset_dir.startswith("REMOTE:"):
        from huggingface_hub import hf_hub_download

        path = Path(hf_hub_download(repo_id=dataset_dir[len("REMOTE:"):], filename=REGISTRY_FILE, repo_type="dataset"))
    else:
        path = Path(dataset_dir) / REGISTRY_FILE
    if not path.is_file():
        raise DataError(f"no {REGISTRY_FILE} in dataset_dir {dataset_dir!r} ({path} does not exist); "
                        "set dataset_dir to the folder that holds it")
    try:
        registry = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}: line {exc.lineno}, column {exc.colno}: invalid JSON: {exc.msg}") from None
    if not isinstance(registry, dict):
        raise DataError(f"{path}: expected a JSON object mapping dataset names to entries")
    return registry


def get_dataset_attrs(names: list[str] | None, dataset_dir: str | Path) -> list[DatasetAttr]:
    """Registry entries for the requested names, validated."""
    if not names:
        return []
    if str(dataset_dir) == "ONLINE":  # names are hub ids, as in LLaMA-Factory
        return [DatasetAttr(name=name, load_from=_hub_by_env(), path=name) for name in names]
    registry = read_registry(dataset_dir)
    attrs = []
    for name in names:
        if name not in registry:
            available = ", ".join(sorted(registry)) or "(none)"
            raise DataError(f"dataset {name!r} is not in {Path(dataset_dir) / REGISTRY_FILE}; available: {available}")
        attrs.append(parse_entry(name, registry[name]))
    return attrs


def parse_entry(name: str, entry: dict[str, Any]) -> DatasetAttr:
    """One registry entry -> DatasetAttr; unknown keys are warned about, bad values are errors."""
    where = f"{REGISTRY_FILE} entry {name!r}"
    if not isinstance(entry, dict):
        raise DataError(f"{where}: expected an object, got {type(entry).__name__}")
    for key in set(entry) - ENTRY_KEYS:
        logger.warning("%s: unknown key %r is ignored (valid keys: %s)", where, key, ", ".join(sorted(ENTRY_KEYS)))
    load_from, path = _source(name, entry)
    formatting = entry.get("formatting", "alpaca")
    if formatting not in FORMATS:
        raise DataError(f"{where}: formatting {formatting!r} is not one of {list(FORMATS)}")
    attr = DatasetAttr(name=name, load_from=load_from, path=path, formatting=formatting,
                       ranking=bool(entry.get("ranking", False)), subset=entry.get("subset"),
                       split=entry.get("split", "train"), folder=entry.get("folder"),
                       num_samples=entry.get("num_samples"))
    if formatting == "openai":  # OpenAI-style messages: role/content with the usual role names
        attr.messages, attr.role_tag, attr.content_tag = "messages", "role", "content"
        attr.user_tag, attr.assistant_tag, attr.system_tag = "user", "assistant", "system"
        attr.observation_tag, attr.function_tag = "tool", "function"
    for group_key, valid in (("columns", COLUMN_KEYS), ("tags", TAG_KEYS)):
        group = entry.get(group_key, {})
        if not isinstance(group, dict):
            raise DataError(f"{where}: {group_key} must be an object")
        for key, value in group.items():
            if key not in valid:
                logger.warning("%s: unknown %s key %r is ignored (valid: %s)", where, group_key, key, ", ".join(valid))
                continue
            setattr(attr, key, value)
            if group_key == "columns" and value:
                attr.explicit_columns.add(key)
    if attr.num_samples is not None and (not isinstance(attr.num_samples, int) or attr.num_samples <= 0):
        raise DataError(f"{where}: num_samples must be a positive integer, got {attr.num_samples!r}")
    if attr.ranking and attr.formatting == "alpaca" and not (attr.chosen and attr.rejected):
        raise DataError(f"{where}: ranking alpaca data needs columns.chosen and columns.rejected")
    return attr


def _source(name: str, entry: dict[str, Any]) -> tuple[LoadFrom, str]:
    hubs = {"hf_hub": entry.get("hf_hub_url"), "ms_hub": entry.get("ms_hub_url"), "om_hub": entry.get("om_hub_url")}
    if any(hubs.values()):
        preferred = _hub_by_env()
        if hubs.get(preferred):
            return preferred, hubs[preferred]
        hub = next(h for h in ("hf_hub", "ms_hub", "om_hub") if hubs[h])
        return hub, hubs[hub]
    if entry.get("script_url"):
        return "script", entry["script_url"]
    if entry.get("cloud_file_name"):
        return "cloud_file", entry["cloud_file_name"]
    if entry.get("file_name"):
        return "file", entry["file_name"]
    raise DataError(f"{REGISTRY_FILE} entry {name!r} names no source: set one of {', '.join(SOURCE_KEYS)}")


def _hub_by_env() -> LoadFrom:
    """LLaMA-Factory's switches: USE_MODELSCOPE_HUB=1 or USE_OPENMIND_HUB=1 pick those hubs."""
    if env_flag("USE_MODELSCOPE_HUB"):
        return "ms_hub"
    if env_flag("USE_OPENMIND_HUB"):
        return "om_hub"
    return "hf_hub"

