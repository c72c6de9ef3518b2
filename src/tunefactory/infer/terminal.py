"""`tunefactory chat`: talk to a model in the terminal, or answer piped lines from a script.

Interactive: ``User:`` / ``Assistant:`` turns with the answer streamed as it is generated; ``clear``
starts a new conversation, ``exit`` (or end of input) quits. Piped (stdin is not a terminal): every
input line is one user turn of the same conversation and stdout gets only the answers, one per line,
so ``printf 'hi\nbye\n' | tunefactory chat cfg.yaml`` is scriptable. Logs go to stderr.
"""

from __future__ import annotations

import sys
from typing import TextIO

CLEAR, EXIT = "clear", "exit"


def run_terminal_chat(chat_model, stdin: TextIO = sys.stdin, stdout: TextIO = sys.stdout) -> int:
    interactive = stdin.isatty()
    if interactive:
        stdout.write(f"Chat with {chat_model.config.model.model_name_or_path}. "
                     f"`{CLEAR}` starts over, `{EXIT}` quits.\n")
    history: list[dict] = []
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
            history = []
            if interactive:
                stdout.write("History cleared.\n")
            continue
        history.append({"role": "user", "content": query})
        if interactive:
            stdout.write("Assistant: ")
        pieces = []
        for piece in chat_model.stream_chat(history):
            # Piped answers stay on one line each, so a script can read them back line by line.
            stdout.write(piece if interactive else piece.replace("\n", "\\n"))
            stdout.flush()
            pieces.append(piece)
        stdout.write("\n")
        stdout.flush()
        history.append({"role": "assistant", "content": "".join(pieces)})
    return 0
