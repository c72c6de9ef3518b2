"""`tunefactory train`: look the stage up in the stage table and run its recipe."""

from __future__ import annotations

import logging
from importlib import import_module
from typing import TYPE_CHECKING

from ..config.stages import get_stage
from ..model.seeding import seed_everything
from .steps import DatasetSaved

if TYPE_CHECKING:
    from ..config.run_config import RunConfig

logger = logging.getLogger(__name__)


def run_train(config: RunConfig) -> None:
    stage = get_stage(config.finetuning.stage)  # the config parser accepts only names in the table
    module_name, function_name = stage.recipe.split(":")
    recipe = getattr(import_module(module_name), function_name)
    seed_everything(config.training.seed, config.training.full_determinism)
    try:
        recipe(config)
    except DatasetSaved as saved:
        logger.info("the processed dataset is saved in %s; start the run again with the same tokenized_path to "
                    "train on it", saved)
