"""What a run may do with its output_dir, and what it leaves there besides the weights.

    resume_from_checkpoint given       -> resume that run (weights, optimizer, scheduler, data position, RNG)
    output_dir holds checkpoints       -> resume from the last one, unless overwrite_output_dir
    output_dir holds other files       -> refuse, unless overwrite_output_dir
    empty or missing                   -> a new run

Resuming a run is distinct from starting a new run from an adapter's weights
(adapter_name_or_path): the log says which happened.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from ..config.finetuning_args import ADAPTER_METHODS
from ..errors import ConfigError

logger = logging.getLogger(__name__)


def output_dir_problems(training) -> list[str]:
    """Why the run may not start in its output_dir (checked by `validate` too, before anything loads)."""
    from transformers.trainer_utils import get_last_checkpoint

    if training.resume_from_checkpoint:
        if not os.path.isdir(training.resume_from_checkpoint):
            return [f"resume_from_checkpoint: {training.resume_from_checkpoint!r} is not a folder"]
        return []
    output = Path(training.output_dir)
    if (not training.do_train or training.overwrite_output_dir or not output.is_dir() or not any(output.iterdir())
            or get_last_checkpoint(str(output)) is not None):
        return []
    return [f"output_dir {str(output)!r} is not empty and holds no checkpoint to resume: choose another "
            "output_dir, or set overwrite_output_dir: true to write over it"]


def checkpoint_to_resume(training) -> str | None:
    """The checkpoint this run resumes from, or None for a new run; refuses to clobber other output."""
    from transformers.trainer_utils import get_last_checkpoint

    problems = output_dir_problems(training)
    if problems:
        raise ConfigError(problems)
    if training.resume_from_checkpoint:
        logger.info("resuming the run from %s (weights, optimizer, scheduler, data position and RNG state)",
                    training.resume_from_checkpoint)
        return training.resume_from_checkpoint
    output = Path(training.output_dir)
    if not training.do_train or not output.is_dir() or not any(output.iterdir()):
        return None
    if training.overwrite_output_dir:
        logger.warning("overwrite_output_dir: starting a new run in %s; files already there are replaced as the "
                       "run writes its own", output)
        return None
    last = get_last_checkpoint(str(output))
    if last is not None:
        logger.info("resuming the run from its last checkpoint %s (set overwrite_output_dir: true to start over)",
                    last)
    return last


def write_model_card(config, output_dir: str, metrics: dict | None = None) -> Path:
    """A README.md saying what was trained, on what, how, and with which results."""
    model, data, finetuning, training = config.model, config.data, config.finetuning, config.training
    lines = [
        "---",
        "library_name: " + ("peft" if finetuning.finetuning_type in ADAPTER_METHODS else "transformers"),
        f"base_model: {model.model_name_or_path}",
        "tags: [tunefactory, " + f"{finetuning.stage}, {finetuning.finetuning_type}]",
        "---",
        "",
        f"# {Path(output_dir).name}",
        "",
        f"Fine-tuned from `{model.model_name_or_path}` with [TuneFactory](https://github.com/tunefactory) "
        f"(stage `{finetuning.stage}`, `{finetuning.finetuning_type}`).",
        "",
        "## Training",
        "",
        f"- datasets: {', '.join(data.dataset or [])}" + (f"; evaluation: {', '.join(data.eval_dataset)}"
                                                          if data.eval_dataset else ""),
        f"- template: `{data.template}`, cutoff_len {data.cutoff_len}",
        f"- learning_rate {training.learning_rate}, epochs {training.num_train_epochs}, "
        f"batch {training.per_device_train_batch_size} x accumulation {training.gradient_accumulation_steps}, "
        f"scheduler {getattr(training.lr_scheduler_type, 'value', training.lr_scheduler_type)}, seed {training.seed}",
    ]
    if finetuning.finetuning_type == "lora":
        lines.append(f"- LoRA rank {finetuning.lora_rank}, alpha {finetuning.lora_alpha or 2 * finetuning.lora_rank}, "
                     f"targets {', '.join(finetuning.lora_target)}")
    if finetuning.finetuning_type == "oft":
        size = f"{finetuning.oft_rank} blocks" if finetuning.oft_rank else f"block size {finetuning.oft_block_size}"
        lines.append(f"- OFT {size}, targets {', '.join(finetuning.oft_target)}")
    if metrics:
        lines += ["", "## Results", "", "| metric | value |", "|---|---|"]
        lines += [f"| {key} | {value:.4g} |" if isinstance(value, float) else f"| {key} | {value} |"
                  for key, value in sorted(metrics.items())]
    lines += ["", "The configuration that reproduces this run is in `training_args.yaml`.", ""]
    path = Path(output_dir) / "README.md"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path
