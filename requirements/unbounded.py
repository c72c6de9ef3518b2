"""Print pyproject's dependencies (and the named extras') without their version bounds, for `make test-latest`.

    python requirements/unbounded.py dev   ->  "torch" "transformers" ... "pytest" ...
"""

import re
import sys
import tomllib
from pathlib import Path

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


def requirement_names(extras: list[str]) -> list[str]:
    project = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]
    wanted, pending, seen = list(project["dependencies"]), list(extras), set()
    while pending:  # an extra may name others: tunefactory[metrics,plot]
        extra = pending.pop()
        if extra in seen:
            continue
        seen.add(extra)
        for requirement in project["optional-dependencies"][extra]:
            nested = re.fullmatch(r"tunefactory\[([\w,\s-]+)\]", requirement.strip())
            if nested:
                pending += [name.strip() for name in nested.group(1).split(",")]
            else:
                wanted.append(requirement)
    # keep the name and its extras (ray[train]), drop the version bounds; torch stays as installed
    names = [re.match(r"[A-Za-z0-9_.\-]+(\[[^\]]*\])?", requirement).group(0) for requirement in wanted]
    return [name for name in dict.fromkeys(names) if name != "torch"]


if __name__ == "__main__":
    print(" ".join(f'"{name}"' for name in requirement_names(sys.argv[1:])))
