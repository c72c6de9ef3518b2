"""Kahneman-Tversky optimisation (stage: kto): single answers labelled desirable or undesirable.

Each answer's log-ratio against the frozen reference is pushed above (desirable, weighted by
``kto_chosen_weight``) or below (undesirable, ``kto_rejected_weight``) a KL baseline estimated from
mismatched prompt/answer rows of the same batch. The reference is chosen as for dpo.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .dpo import run_against_reference
from .pair_trainers import KTOTrainer

if TYPE_CHECKING:
    from ..config.run_config import RunConfig


def run_kto(config: RunConfig) -> None:
    run_against_reference(config, KTOTrainer)
