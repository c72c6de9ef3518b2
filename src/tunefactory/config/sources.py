"""Where user values come from: config files and the command line.

A command takes any number of YAML/JSON files and overrides, applied in order (later wins):

    tunefactory train cfg.yaml learning_rate=1e-4 --num_train_epochs 2 --do_train

``key=value`` and ``--key value`` / ``--key=value`` are equivalent; a bare ``--flag`` means
true (LLaMA-Factory's command-line style). Values are kept with their origin so errors can
say which file or argument a bad value came from.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ..errors import ConfigError

CONFIG_SUFFIXES = (".yaml", ".yml", ".json")


@dataclass(frozen=True)
class UserValue:
    """One key set by the user, with where it was set."""

    key: str
    value: Any
    source: str  # "cfg.yaml" or "the command line"
    from_cli: bool  # raw string from argv, to be parsed by the field's type


def read_config_file(path: str | Path) -> dict[str, Any]:
    """Load a YAML or JSON config; syntax errors name the file and line."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {str(path)!r} does not exist")
    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix == ".json":
            data = json.loads(text) if text.strip() else {}
        else:
            data = yaml.safe_load(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: line {exc.lineno}, column {exc.colno}: invalid JSON: {exc.msg}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        reason = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{path}: {where}invalid YAML: {reason}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of key: value, got {type(data).__name__}")
    return data


def values_from_mapping(mapping: dict[str, Any], source: str) -> list[UserValue]:
    return [UserValue(str(key), value, source, from_cli=False) for key, value in mapping.items()]


def values_from_argv(argv: list[str]) -> list[UserValue]:
    """Turn config paths and overrides into an ordered list of user values."""
    values: list[UserValue] = []
    problems: list[str] = []
    i = 0
    while i < len(argv):
        token = argv[i]
        if token.startswith("--") and len(token) > 2:
            key, has_value, value = token[2:].partition("=")
            if not has_value:
                # `--flag` alone (or before another option) means true.
                if i + 1 < len(argv) and not argv[i + 1].startswith("--"):
                    value, i = argv[i + 1], i + 1
                else:
                    value = "true"
            values.append(UserValue(key.replace("-", "_"), value, "the command line", from_cli=True))
        elif "=" in token and not token.startswith("-"):
            key, _, value = token.partition("=")
            values.append(UserValue(key, value, "the command line", from_cli=True))
        elif token.lower().endswith(CONFIG_SUFFIXES):
            try:
                values.extend(values_from_mapping(read_config_file(token), token))
            except ConfigError as exc:
                problems.extend(exc.problems)
        else:
            problems.append(
                f"cannot read command-line argument {token!r}: expected a .yaml/.yml/.json config file, "
                "key=value, or --key value"
            )
        i += 1
    if problems:
        raise ConfigError(problems)
    return values
