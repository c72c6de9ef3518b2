"""`tunefactory chat`: talk to a model in the terminal, or answer piped lines from a script.

Interactive: ``User:`` / ``Assistant:`` turns with the answer streamed as it is generated; ``clear``
starts a new conversation, ``exit`` (or end of input) quits; ``image <path>`` (``audio <path>``) attaches a
file to the next message, for a model that takes images (sounds). Piped (stdin is not a terminal): every
other input line is one user turn of the same conversation and stdout gets only the answers, one per line,
so ``printf 'hi\nbye\n' | tunefactory chat cfg.yaml`` is scriptable. Logs and refusals go to stderr.
"""

from __future__ import annotations

import os
import sys
from typing import TextIO

from ..data.multimodal import PLACEHOLDERS
from ..errors import TuneFactoryError

CLEAR, EXIT = "clear", "exit"
ATTACH = {"image": "images", "audio": "audios"}  # command -> the message key its files go under


def run_terminal_chat(chat_model, stdin: TextIO = sys.stdin, stdout: TextIO = sys.stdout) -> int:
    interactive = stdin.isatty()
    if interactive:
        stdout.write(f"Chat with {chat_model.config.model.model_name_or_path}. "
                     f"`{CLEAR}` starts over, `{EXIT}` quits.\n")
    history: list[dict] = []
    attached: dict[str, list[str]] = {}
    while True:
        if interactive:
            stdout.write("\nUser: ")
            stdout.flush()
        line = stdin.readline()
        if not line:
            break
        query = line.strip()
        if not query:
            continue
        if query == EXIT:
            break
        if query == CLEAR:
            history, attached = [], {}
            if interactive:
                stdout.write("History cleared.\n")
            continue
        command, _, path = query.partition(" ")
        if command in ATTACH and path.strip():
            _attach(attached, ATTACH[command], path.strip(), stdout if interactive else None)
            continue
        turn = {"role": "user", "content": query}
        for column, paths in attached.items():  # the files go first, where their placeholders say
            turn = {**turn, "content": PLACEHOLDERS[column] * len(paths) + turn["content"], column: paths}
        attached = {}
        history.append(turn)
        if interactive:
            stdout.write("Assistant: ")
        pieces = []
        try:
            for piece in chat_model.stream_chat(history):
                # Piped answers stay on one line each, so a script can read them back line by line.
                stdout.write(piece if interactive else piece.replace("\n", "\\n"))
                stdout.flush()
                pieces.append(piece)
        except TuneFactoryError as error:  # e.g. an image for a text model: say why and forget the message
            history.pop()
            sys.stderr.write(f"\n{error}\n")
        else:
            history.append({"role": "assistant", "content": "".join(pieces)})
        stdout.write("\n")
        stdout.flush()
    return 0


def _attach(attached: dict[str, list[str]], column: str, path: str, notices: TextIO | None) -> None:
    if not os.path.isfile(path):
        sys.stderr.write(f"no such file: {path}\n")
        return
    attached.setdefault(column, []).append(path)
    if notices is not None:
        notices.write(f"Attached {path}; it goes with your next message.\n")
