"""``pissa_convert``: a PiSSA-trained adapter that loads on the original base model.

PiSSA starts LoRA from the base weights' principal components and trains on the *residual*
model, so the raw adapter only works with that residual. Saving the starting adapter before
training lets peft write the result as a standard LoRA adapter (rank 2r) against the original
weights (``save_pretrained(path_initial_model_for_weight_conversion=...)``).
"""

from __future__ import annotations

import logging
import os

from transformers import TrainerCallback

logger = logging.getLogger(__name__)

INITIAL_ADAPTER = "pissa_init"
UNCONVERTED_ADAPTER = "pissa_backup"


class SavePissaStart(TrainerCallback):
    """Save the adapter as PiSSA initialised it, once, before the first step (a resumed run keeps it)."""

    def __init__(self, output_dir: str):
        self.path = os.path.join(output_dir, INITIAL_ADAPTER)

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        if state.is_world_process_zero and model is not None and not os.path.isdir(self.path):
            model.save_pretrained(self.path)


def save_converted_adapter(model, output_dir: str) -> None:
    """``output_dir`` gets the standard LoRA adapter; the PiSSA one goes to ``pissa_backup``."""
    model.save_pretrained(os.path.join(output_dir, UNCONVERTED_ADAPTER))
    model.save_pretrained(output_dir, path_initial_model_for_weight_conversion=os.path.join(output_dir,
                                                                                             INITIAL_ADAPTER))
    logger.info("pissa_convert: %s holds a standard LoRA adapter (rank doubled) for the original base model; "
                "the PiSSA adapter is in %s", output_dir, UNCONVERTED_ADAPTER)
