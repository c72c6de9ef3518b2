"""The typed configuration of one command, on its own so that the parser and the rules both read it
without importing each other."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .groups import COMMAND_GROUPS

if TYPE_CHECKING:  # the training group imports transformers, which takes seconds: types only
    from .data_args import DataArguments
    from .evaluation_args import EvaluationArguments
    from .finetuning_args import FinetuningArguments
    from .generating_args import GeneratingArguments
    from .model_args import ModelArguments
    from .prediction_args import PredictionArguments
    from .training_args import TrainingArguments


@dataclass
class RunConfig:
    """The typed configuration of one command. Groups not used by the command stay None."""

    command: str
    model: ModelArguments | None = None
    data: DataArguments | None = None
    finetuning: FinetuningArguments | None = None
    generating: GeneratingArguments | None = None
    training: TrainingArguments | None = None
    evaluation: EvaluationArguments | None = None
    prediction: PredictionArguments | None = None
    user_keys: dict[str, str] = field(default_factory=dict)  # key -> where the user set it
    warnings: list[str] = field(default_factory=list)
    environment_notes: list[str] = field(default_factory=list)  # fine in the config, impossible on this machine

    @property
    def seed(self) -> int:
        """The command's random seed: each command that reads data has one (training, eval or predict)."""
        for group in (self.training, self.evaluation, self.prediction):
            if group is not None:
                return group.seed
        return 42

    def groups(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in COMMAND_GROUPS[self.command]}
