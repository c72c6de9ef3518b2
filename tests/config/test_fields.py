"""Type coercion: the same value from YAML, JSON or the command line gives the same typed result."""

from typing import Literal

import pytest

from tunefactory.config.fields import CoercionError, coerce


@pytest.mark.parametrize(
    ("value", "tp", "from_cli", "expected"),
    [
        ("8", int, True, 8),
        (8.0, int, False, 8),
        ("1e-4", float, False, 1e-4),  # YAML 1.1 reads 1e-4 as a string
        ("2", float, True, 2.0),
        ("true", bool, True, True),
        ("False", bool, True, False),
        (1, bool, False, True),
        ("a, b ,c", list[str], False, ["a", "b", "c"]),
        (["x"], list[str] | None, False, ["x"]),
        ("0.3,0.7", list[float] | None, True, [0.3, 0.7]),
        ('{"GPU": 1}', dict | str, True, {"GPU": 1}),
        ("ds_z3.json", dict | str | None, True, "ds_z3.json"),
        ("none", None | str | list[str], False, "none"),  # report_to: none stays a string
        ("wandb,tensorboard", None | str | list[str], True, ["wandb", "tensorboard"]),
        ("null", int | None, True, None),
        (None, str | None, False, None),
        ("lora", Literal["lora", "full"], False, "lora"),
        (2023, str, False, "2023"),
    ],
)
def test_coerce_accepts(value, tp, from_cli, expected):
    assert coerce(value, tp, from_cli=from_cli) == expected


@pytest.mark.parametrize(
    ("value", "tp", "message"),
    [
        ("abc", int, "expected an integer, got 'abc'"),
        (1.5, int, "expected an integer"),
        (True, int, "expected an integer"),
        ("fast", float, "expected a number"),
        ("maybe", bool, "expected true or false"),
        (None, int, "got null"),
        ("qlora", Literal["lora", "full"], "expected one of ['lora', 'full'], got 'qlora'"),
        ({"a": 1}, str, "expected a string"),
        ("[1, 2", list[int], "expected a JSON list"),
    ],
)
def test_coerce_rejects_with_reason(value, tp, message):
    with pytest.raises(CoercionError, match=message.replace("[", r"\[").replace("]", r"\]")):
        coerce(value, tp, from_cli=True)
