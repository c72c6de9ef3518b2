"""The package is layered (docs/design.md): a module never imports from a layer above its own.

    errors, env_flags, launch (process environment)  <  config  <  data  <  model  <  train  <  infer
        <  eval, export, api, webchat  <  the CLI (cli, commands, preflight, env_report, __main__, and webui,
    which checks configs with preflight exactly as `validate` does before it runs them as commands)

Lazy imports inside functions count too: they are still a dependency of the lower layer on the higher one.
"""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "tunefactory"
LAYERS = {"__init__": 0, "errors": 0, "env_flags": 0, "launch": 0, "config": 1, "data": 2, "model": 3, "train": 4,
          "infer": 5, "eval": 6, "export": 6, "api": 6, "webchat": 6,
          "preflight": 7, "webui": 7, "__main__": 7, "commands": 7, "cli": 7, "env_report": 7}

TOP_LEVEL = {entry.name.removesuffix(".py") for entry in PACKAGE.iterdir() if entry.suffix == ".py" or entry.is_dir()}


def module_parts(path: Path) -> tuple[str, ...]:
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return parts[:-1] if parts[-1] == "__init__" else parts


def layer_of(parts: tuple[str, ...]) -> str:
    """The layer of a module path inside the package; a name defined in the package's __init__ is its root."""
    return parts[0] if parts and parts[0] in TOP_LEVEL else "__init__"


def imported_layers(path: Path) -> set[str]:
    """The layers of every tunefactory module this file imports, at the top or inside functions."""
    package = module_parts(path) if path.name == "__init__.py" else module_parts(path)[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = package[: len(package) - (node.level - 1)]
            targets = [(*base, *node.module.split("."))] if node.module else [(*base, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "tunefactory":
            parts = tuple(node.module.split(".")[1:])
            targets = [parts] if parts else [(a.name,) for a in node.names]
        elif isinstance(node, ast.Import):
            targets = [tuple(a.name.split(".")[1:]) for a in node.names if a.name.split(".")[0] == "tunefactory"]
        else:
            continue
        found.update(layer_of(target) for target in targets)
    return found


def test_no_module_imports_from_a_higher_layer():
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        own = layer_of(module_parts(path))
        assert own in LAYERS, f"{path.relative_to(PACKAGE)}: add its layer to LAYERS"
        for imported in imported_layers(path):
            if LAYERS[imported] > LAYERS[own]:
                offenders.append(f"{path.relative_to(PACKAGE)} ({own}) imports {imported}")
    assert not offenders, "\n".join(offenders)


def test_the_check_sees_relative_absolute_and_lazy_imports():
    # eval/predict.py imports data and train at the top and infer inside a function
    assert {"data", "train", "infer", "errors"} <= imported_layers(PACKAGE / "eval" / "predict.py")
    assert "config" in imported_layers(PACKAGE / "cli.py")
    assert imported_layers(PACKAGE / "env_flags.py") == set()
