"""`make docs`: refresh the table at the end of docs/templates.md."""

import sys
from pathlib import Path

from . import MARKER, templates_markdown

path = Path(sys.argv[1])
head = path.read_text(encoding="utf-8").split("<!-- generated from ")[0]
path.write_text(head + MARKER + templates_markdown(), encoding="utf-8")
