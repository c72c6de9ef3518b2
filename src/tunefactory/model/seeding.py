"""Seeding a run, once, before anything random is built.

LoRA/DoRA/PiSSA adapters, value heads and resized embeddings draw from torch's generator while the
model loads, long before the Trainer seeds itself; seeding only there (as transformers does) makes two
runs of one config differ. Every command that builds a model calls ``seed_everything`` right after
parsing, as LLaMA-Factory does.
"""

from __future__ import annotations

DEFAULT_SEED = 42  # transformers' TrainingArguments.seed default, for configs without a training group


def seed_everything(seed: int | None = None, full_determinism: bool = False) -> None:
    """Seed Python, NumPy and torch (every device); with ``full_determinism`` also force deterministic
    kernels (transformers' ``enable_full_determinism``: slower, bit-identical on a GPU)."""
    from transformers.trainer_utils import enable_full_determinism, set_seed

    seed = DEFAULT_SEED if seed is None else seed
    if full_determinism:
        enable_full_determinism(seed)
    else:
        set_seed(seed)
