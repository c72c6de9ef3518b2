"""`tunefactory train`: pick the stage's recipe and run it."""

from __future__ import annotations

import logging

from ..errors import ConfigError
from ..model.seeding import seed_everything
from .steps import DatasetSaved

logger = logging.getLogger(__name__)


def _recipes():
    from .dpo import run_dpo
    from .kto import run_kto
    from .ppo import run_ppo
    from .pt import run_pt
    from .rm import run_rm
    from .sft import run_sft

    return {"pt": run_pt, "sft": run_sft, "rm": run_rm, "dpo": run_dpo, "kto": run_kto, "ppo": run_ppo}


def run_train(config) -> None:
    recipes = _recipes()
    stage = config.finetuning.stage
    if stage not in recipes:
        raise ConfigError([f"stage: {stage} is not in this version yet; the stages that train today are "
                           f"{', '.join(recipes)}"])
    seed_everything(config.training.seed, config.training.full_determinism)
    try:
        recipes[stage](config)
    except DatasetSaved as saved:
        logger.info("the processed dataset is saved in %s; start the run again with the same tokenized_path to "
                    "train on it", saved)
