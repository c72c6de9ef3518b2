"""Errors a user can act on. Each message says what is wrong and what to do about it.

The CLI prints these as a short message without a traceback (``--debug`` or
``TUNEFACTORY_DEBUG=1`` shows it); anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class TuneFactoryError(Exception):
    """Base class for problems caused by the user's input or environment, not by a bug."""


class ConfigError(TuneFactoryError):
    """The configuration is invalid. Carries every problem found, so all are reported at once."""

    def __init__(self, problems: list[str] | str):
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__(self._render())

    def __reduce__(self):  # pickled (Ray workers, multiprocessing) with its problems, not its rendered message
        return type(self), (self.problems,)

    def _render(self) -> str:
        if len(self.problems) == 1:
            return f"invalid configuration: {self.problems[0]}"
        lines = [f"invalid configuration ({len(self.problems)} problems):"]
        lines += [f"  {i}. {problem}" for i, problem in enumerate(self.problems, 1)]
        return "\n".join(lines)


class DataError(TuneFactoryError):
    """A dataset, its registry entry or one of its rows is unusable."""


class ModelError(TuneFactoryError):
    """A model, tokenizer or adapter cannot be loaded or prepared as configured."""


class TrainingStopped(TuneFactoryError):
    """Training was asked to stop (SIGTERM: the web board's Abort, ``kill``) and stopped; the message says where
    the run can resume from."""
