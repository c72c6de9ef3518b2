"""From files and overrides to one validated RunConfig, before anything is loaded.

Every problem is collected and reported together: unknown keys (with the closest valid
names), values of the wrong type or outside their choices, removed keys, unsupported
features, and incompatible combinations (``rules.py``).
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

import yaml

from ..errors import ConfigError
from .fields import CoercionError, FieldSpec, coerce, field_specs
from .groups import COMMAND_GROUPS, group_classes
from .legacy import REMOVED_KEYS, RENAMED_KEYS, RENAMED_VALUES
from .rules import check_rules, environment_notes
from .run_config import RunConfig
from .sources import UserValue, values_from_argv, values_from_mapping


def specs_for(command: str) -> dict[str, FieldSpec]:
    """Every user-settable key of a command, by name."""
    specs: dict[str, FieldSpec] = {}
    for group, cls in group_classes(command).items():
        for spec in field_specs(cls, group):
            specs.setdefault(spec.name, spec)
    return specs


def parse_args(argv: list[str], command: str = "train") -> RunConfig:
    """Parse a command line: config files and overrides, later ones winning."""
    return build_config(values_from_argv(argv), command)


def parse_dict(mapping: dict[str, Any], command: str = "train", source: str = "the config") -> RunConfig:
    """Parse an in-memory mapping, as the web UI and tests do."""
    return build_config(values_from_mapping(mapping, source), command)


def build_config(values: list[UserValue], command: str) -> RunConfig:
    if command not in COMMAND_GROUPS:
        raise ValueError(f"no argument groups for command {command!r}")
    specs = specs_for(command)
    problems: list[str] = []
    warnings: list[str] = []
    resolved, origins = _resolve_values(values, specs, problems, warnings)

    by_group: dict[str, dict[str, Any]] = {group: {} for group in COMMAND_GROUPS[command]}
    for key, value in resolved.items():
        by_group[specs[key].group][key] = value

    config = RunConfig(command=command, user_keys=origins, warnings=warnings)
    for group, cls in group_classes(command).items():
        try:
            setattr(config, group, cls(**by_group[group]))
        except OSError as exc:  # a key read as a file path upstream (e.g. accelerator_config) names no file
            keys = [key for key, value in by_group[group].items() if value == exc.filename] or [f"{group} arguments"]
            problems.append(f"{', '.join(keys)}: {exc.filename!r} is not a readable file ({exc.strerror or exc}); "
                            "give a path to an existing file, or a mapping")
        except (ValueError, TypeError) as exc:
            problems.append(f"{_rejected_keys(cls, by_group[group], group)}: {exc}")
    if not problems:
        problems.extend(check_rules(config))
        config.environment_notes = environment_notes(config)
    if problems:
        raise ConfigError(problems)
    return config


def _rejected_keys(cls, values: dict[str, Any], group: str) -> str:
    """The keys an argument class (often transformers' own checks) refuses on their own, to name them in the
    message; a refusal of a combination names the group's keys that were set."""
    alone = []
    for key, value in values.items():
        try:
            cls(**{key: value})
        except Exception:  # noqa: BLE001 - any refusal of this key alone marks it
            alone.append(key)
    return ", ".join(alone or sorted(values)) or f"{group} arguments"


def _resolve_values(values: list[UserValue], specs: dict[str, FieldSpec], problems: list[str],
                    warnings: list[str]) -> tuple[dict[str, Any], dict[str, str]]:
    """Translate legacy keys, reject unknown ones and coerce every value to its field's type."""
    resolved: dict[str, Any] = {}
    origins: dict[str, str] = {}
    set_directly: set[str] = set()
    renamed_from: dict[str, str] = {}  # new key -> the deprecated key that set it
    for item in values:
        where = f"(set in {item.source})"
        if item.key in RENAMED_KEYS:
            old_key = item.key
            item = _translate_renamed(item, problems, warnings)
            if item is None:
                continue
            if item.key in set_directly:
                problems.append(f"{old_key} and {item.key} are the same setting; keep only {item.key}")
                continue
            renamed_from[item.key] = old_key
        else:
            if item.key in renamed_from:
                problems.append(f"{renamed_from[item.key]} and {item.key} are the same setting; keep only {item.key}")
                continue
            set_directly.add(item.key)
        key = item.key
        if key in REMOVED_KEYS:
            _check_removed(key, item, problems, warnings)
            continue
        spec = specs.get(key)
        if spec is None:
            problems.append(_unknown_key_message(key, where, specs))
            continue
        if isinstance(item.value, str) and (key, item.value) in RENAMED_VALUES:
            new_value = RENAMED_VALUES[(key, item.value)]
            warnings.append(f"{key}: {item.value} is deprecated, use {key}: {new_value}")
            item = UserValue(key, new_value, item.source, item.from_cli)
        try:
            value = coerce(item.value, spec.type, from_cli=item.from_cli)
        except CoercionError as exc:
            problems.append(f"{key} {where}: {exc}")
            continue
        choice_problem = _check_choices(spec, value)
        if choice_problem:
            problems.append(f"{key} {where}: {choice_problem}")
            continue
        if spec.unsupported and value != spec.default:
            problems.append(f"{key} {where}: not supported by TuneFactory: {spec.unsupported}")
            continue
        resolved[key] = value
        origins[key] = item.source
    return resolved, origins


def _translate_renamed(item: UserValue, problems: list[str], warnings: list[str]) -> UserValue | None:
    """The deprecated key's value under its new name, or None when nothing is left to set."""
    rename = RENAMED_KEYS[item.key]
    try:
        value = rename.convert(coerce(item.value, rename.old_type, from_cli=item.from_cli))
    except (CoercionError, ValueError) as exc:
        problems.append(f"{item.key} (set in {item.source}): {exc}")
        return None
    why = f" ({rename.why})" if rename.why else ""
    warnings.append(f"{item.key} is deprecated, use {rename.new_key}{why}; read as {rename.new_key}: {value!r}")
    if value is None:  # e.g. adafactor: false just keeps the default optimizer
        return None
    return UserValue(rename.new_key, value, item.source, from_cli=False)


def _check_choices(spec: FieldSpec, value: Any) -> str | None:
    if not spec.choices or value is None:
        return None
    items = value if isinstance(value, list) else [value]
    bad = [item for item in items if item not in spec.choices]
    if bad:
        return f"{bad[0]!r} is not a valid choice; choose from {spec.choices}"
    return None


def _check_removed(key: str, item: UserValue, problems: list[str], warnings: list[str]) -> None:
    removed = REMOVED_KEYS[key]
    try:
        value = coerce(item.value, removed.old_type | None, from_cli=item.from_cli)
    except CoercionError as exc:
        problems.append(f"{key} (set in {item.source}): {exc}")
        return
    if value == removed.default or removed.harmless:
        warnings.append(f"{key} was removed in {removed.removed_by} and is ignored: {removed.hint}")
    else:
        problems.append(f"{key}: {value!r} (set in {item.source}) was removed in {removed.removed_by}: {removed.hint}")


def _unknown_key_message(key: str, where: str, specs: dict[str, FieldSpec]) -> str:
    known = list(specs) + list(RENAMED_KEYS)
    close = difflib.get_close_matches(key, known, n=3, cutoff=0.6)
    if not close:
        close = [name for name in known if key in name or name in key][:3]
    hint = f"; did you mean {', '.join(close)}?" if close else "; `tunefactory <command> -h` lists the valid keys"
    return f"unknown key {key!r} {where}{hint}"


def chosen_values(config: RunConfig) -> dict[str, dict[str, Any]]:
    """Per group, the keys the user set, with their resolved values (after aliases and type conversion)."""
    result: dict[str, dict[str, Any]] = {}
    for group, cls in group_classes(config.command).items():
        instance = getattr(config, group)
        names = [spec.name for spec in field_specs(cls, group) if spec.name in config.user_keys]
        result[group] = {name: _plain(getattr(instance, name)) for name in names}
    return result


def resolved_values(config: RunConfig) -> dict[str, dict[str, Any]]:
    """Per group, every user-settable value: what `training_args.yaml` records for a run."""
    result: dict[str, dict[str, Any]] = {}
    for group, cls in group_classes(config.command).items():
        instance = getattr(config, group)
        result[group] = {spec.name: _plain(getattr(instance, spec.name)) for spec in field_specs(cls, group)}
    return result


def _plain(value: Any) -> Any:
    """A YAML-safe copy: enums become their values, tuples lists."""
    import enum

    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


RUN_CONFIG_FILE = "training_args.yaml"


def save_run_config(config: RunConfig, output_dir: str | Path) -> Path:
    """Write the keys the user set, resolved, to ``output_dir/training_args.yaml``.

    The file is flat, like the config it came from, so ``tunefactory train training_args.yaml``
    reproduces the run.
    """
    from .. import __version__

    flat = {key: value for group in chosen_values(config).values() for key, value in group.items()}
    path = Path(output_dir) / RUN_CONFIG_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    header = f"# Written by TuneFactory {__version__} when the run started; `tunefactory {config.command} {path}` repeats it.\n"
    path.write_text(header + yaml.safe_dump(flat, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path
