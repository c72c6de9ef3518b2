"""Declaring arguments and turning user values into typed ones.

Every argument group is a dataclass whose fields carry their help text (and optional
choices) in ``metadata``. One coercion routine serves YAML values, JSON values and raw
command-line strings, so ``lora_rank: "8"``, ``--lora_rank 8`` and ``lora_rank=8`` all
give the int 8, and a bad value is reported with the key, the value and what was expected.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import types
import typing
from typing import Any, Literal, Union

_MISSING = dataclasses.MISSING
_TRUE_STRINGS = {"true", "yes", "on", "1"}
_FALSE_STRINGS = {"false", "no", "off", "0"}
_NONE_STRINGS = {"null", "~", "None"}  # not "none": report_to: none is a real value


def arg(default: Any = None, help: str = "", *, choices: list | None = None, factory=None,
        unsupported: str | None = None) -> Any:
    """A dataclass field with its help text.

    ``factory`` builds mutable defaults; ``unsupported`` marks an argument that is accepted so
    LLaMA-Factory configs parse, but whose non-default values TuneFactory rejects (with this reason).
    """
    metadata = {"help": help}
    if choices is not None:
        metadata["choices"] = list(choices)
    if unsupported is not None:
        metadata["unsupported"] = unsupported
    if factory is not None:
        return dataclasses.field(default_factory=factory, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


class CoercionError(ValueError):
    """A value does not fit its declared type; the message says what was expected."""


@dataclasses.dataclass(frozen=True)
class FieldSpec:
    """What the parser needs to know about one argument."""

    name: str
    group: str
    type: Any
    default: Any
    help: str
    choices: list | None
    unsupported: str | None

    @property
    def type_name(self) -> str:
        return describe_type(self.type)


def field_specs(dataclass_type: type, group: str) -> list[FieldSpec]:
    """The user-settable fields of an argument dataclass, with resolved types."""
    hints = typing.get_type_hints(dataclass_type)
    specs = []
    for field in dataclasses.fields(dataclass_type):
        if not field.init or field.name.startswith("_"):
            continue
        if field.default is not _MISSING:
            default = field.default
        elif field.default_factory is not _MISSING:
            default = field.default_factory()
        else:
            default = None
        field_type = hints[field.name]
        choices = field.metadata.get("choices") or _implied_choices(field_type)
        specs.append(FieldSpec(
            name=field.name, group=group, type=field_type, default=default,
            help=field.metadata.get("help", ""), choices=choices,
            unsupported=field.metadata.get("unsupported"),
        ))
    return specs


def _union_members(tp: Any) -> tuple:
    if typing.get_origin(tp) in (Union, types.UnionType):
        return typing.get_args(tp)
    return (tp,)


def _implied_choices(tp: Any) -> list | None:
    for member in _union_members(tp):
        if typing.get_origin(member) is Literal:
            return list(typing.get_args(member))
        if isinstance(member, type) and issubclass(member, enum.Enum):
            return [item.value for item in member]
    return None


def describe_type(tp: Any) -> str:
    """A short type name for help output: ``int``, ``float | None``, ``list[str]``."""
    names = []
    for member in _union_members(tp):
        if member is type(None):
            names.append("None")
        elif typing.get_origin(member) is Literal:
            names.append("str")
        elif isinstance(member, type) and issubclass(member, enum.Enum):
            names.append("str")
        elif typing.get_origin(member) in (list, dict):
            args = ", ".join(getattr(a, "__name__", str(a)) for a in typing.get_args(member))
            names.append(f"{typing.get_origin(member).__name__}[{args}]" if args else typing.get_origin(member).__name__)
        else:
            names.append(getattr(member, "__name__", str(member)))
    return " | ".join(dict.fromkeys(names))


def coerce(value: Any, tp: Any, *, from_cli: bool = False) -> Any:
    """Convert ``value`` to type ``tp`` or raise CoercionError saying what was expected.

    ``from_cli`` marks raw command-line strings, which may also spell None and lists.
    """
    members = _union_members(tp)
    allows_none = type(None) in members
    if value is None:
        if allows_none:
            return None
        raise CoercionError(f"expected {describe_type(tp)}, got null")
    if from_cli and allows_none and value in _NONE_STRINGS:
        return None
    candidates = sorted((m for m in members if m is not type(None)), key=_member_priority)
    if isinstance(value, str) and str in candidates and any(typing.get_origin(m) is list for m in candidates):
        # `str | list[str]` (report_to): a comma means a list, anything else stays one string.
        candidates = [m for m in candidates if (typing.get_origin(m) is list) == ("," in value)]
    errors = []
    for member in candidates:
        try:
            return _coerce_one(value, member, from_cli)
        except CoercionError as exc:
            errors.append(str(exc))
    raise CoercionError(errors[0] if len(errors) == 1 else f"expected {describe_type(tp)}, got {value!r}")


def _member_priority(member: Any) -> int:
    # Try the most specific type first: "8" from the CLI for `int | str` should be an int.
    order = {bool: 0, int: 1, float: 2, dict: 3, list: 4, str: 9}
    return order.get(typing.get_origin(member) or member, 5)


def _coerce_one(value: Any, tp: Any, from_cli: bool) -> Any:
    origin = typing.get_origin(tp)
    if origin is Literal or (isinstance(tp, type) and issubclass(tp, enum.Enum)):
        text = value.value if isinstance(value, enum.Enum) else value
        allowed = _implied_choices(tp)
        if text not in allowed:
            raise CoercionError(f"expected one of {allowed}, got {value!r}")
        return text
    if tp is Any or tp is object:
        return value
    if tp is bool:
        return _to_bool(value)
    if tp is int:
        return _to_int(value)
    if tp is float:
        return _to_float(value)
    if tp is str:
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            return str(value)
        raise CoercionError(f"expected a string, got {type(value).__name__} {value!r}")
    if origin is list or tp is list:
        return _to_list(value, (typing.get_args(tp) or (Any,))[0], from_cli)
    if origin is dict or tp is dict:
        return _to_dict(value)
    raise CoercionError(f"unsupported type {tp!r}")


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE_STRINGS | _FALSE_STRINGS:
        return value.strip().lower() in _TRUE_STRINGS
    raise CoercionError(f"expected true or false, got {value!r}")


def _to_int(value: Any) -> int:
    if isinstance(value, bool):
        raise CoercionError(f"expected an integer, got {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            raise CoercionError(f"expected an integer, got {value!r}") from None
        if number.is_integer():
            return int(number)
    raise CoercionError(f"expected an integer, got {value!r}")


def _to_float(value: Any) -> float:
    if isinstance(value, bool):
        raise CoercionError(f"expected a number, got {value!r}")
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())  # YAML reads 1e-4 (no dot) as a string
        except ValueError:
            pass
    raise CoercionError(f"expected a number, got {value!r}")


def _to_list(value: Any, item_type: Any, from_cli: bool) -> list:
    if isinstance(value, str):
        text = value.strip()
        if from_cli and text.startswith("["):
            try:
                value = json.loads(text)
            except json.JSONDecodeError:
                raise CoercionError(f"expected a JSON list, got {value!r}") from None
        else:
            # LLaMA-Factory writes lists as comma-separated strings: dataset: a,b
            value = [part.strip() for part in text.split(",") if part.strip()]
    elif not isinstance(value, (list, tuple)):
        value = [value]
    return [coerce(item, item_type, from_cli=from_cli) for item in value]


def _to_dict(value: Any) -> dict:
    if isinstance(value, dict):
        return value
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError:
            parsed = None
        if isinstance(parsed, dict):
            return parsed
    raise CoercionError(f"expected a mapping (or a JSON object string), got {value!r}")
