"""Data arguments: which datasets, how they are templated, cut, mixed and cached.

Names, types and defaults follow LLaMA-Factory so its configs parse unchanged; comma-separated
strings are accepted wherever a list is expected. The help texts are what `-h` and docs/ show.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from .fields import arg


@dataclass
class DataArguments:
    # --- Data ---
    template: str | None = arg(None, "Chat/prompt template used to format examples (`tunefactory template --list`); "
                                "`auto`: the tokenizer's own chat_template.")
    dataset: list[str] | None = arg(None, "Comma-separated training dataset names (from dataset_info.json).")
    eval_dataset: list[str] | None = arg(None, "Comma-separated evaluation dataset names.")
    dataset_dir: str = arg("data", "Folder holding dataset_info.json and local data files (may be a REMOTE: spec).")
    media_dir: str | None = arg(None, "Folder for images/videos/audio; falls back to dataset_dir.")
    cutoff_len: int = arg(2048, "Maximum tokenised sequence length; longer inputs are truncated.")
    train_on_prompt: bool = arg(False, "Compute loss on prompt tokens too, not only responses.")
    mask_history: bool = arg(False, "Only train on the final turn; earlier turns are masked.")
    streaming: bool = arg(False, "Read datasets as iterable streams instead of loading them fully.")
    buffer_size: int = arg(16384, "Shuffle buffer size used in streaming mode.")
    mix_strategy: Literal["concat", "interleave_under", "interleave_over", "interleave_once"] = arg(
        "concat", "How multiple datasets are combined (concatenate or interleave variants)."
    )
    interleave_probs: list[float] | None = arg(None, "Comma-separated sampling weights for interleaved mixing.")
    overwrite_cache: bool = arg(False, "Ignore and rebuild cached preprocessed datasets.")
    preprocessing_batch_size: int = arg(1000, "Examples per batch in the preprocessing map step.")
    preprocessing_num_workers: int | None = arg(None, "Worker processes for preprocessing.")
    max_samples: int | None = arg(None, "Truncate each dataset to this many examples (debugging).")
    eval_num_beams: int | None = arg(None, "Beam count used when generating during evaluation.")
    ignore_pad_token_for_loss: bool = arg(True, "Exclude padding positions from the loss.")
    val_size: float = arg(0.0, "Held-out validation split: a fraction in [0,1) or an integer count.")
    eval_on_each_dataset: bool = arg(False, "Report evaluation metrics separately per dataset.")
    packing: bool | None = arg(None, "Pack several sequences into one training row (defaults on for stage pt).")
    neat_packing: bool = arg(False, "Packing that prevents attention across packed sequences.")
    padding_free: bool = arg(
        True, "Unpacked sft/pt training: concatenate each batch's rows into one row without padding, attention "
              "kept within each row (for sdpa the rows are laid side by side for the attention call alone; "
              "flash-attention reads the row starts), so only attention sees padding. Loss and gradients equal "
              "the padded batch's; used where a probe confirms it (false: pad rows to the batch's longest)."
    )
    tool_format: str | None = arg(None, "Format used to render function/tool calls.")
    default_system: str | None = arg(None, "Replace the template's built-in system prompt.")
    enable_thinking: bool | None = arg(True, "Enable reasoning/thinking mode for templates that support it.")
    preserve_thinking: bool = arg(False, "Keep reasoning content of earlier turns in multi-turn history.")
    tokenized_path: str | None = arg(None, "Where tokenised data is saved (if missing) or loaded from (if present).")
    data_shared_file_system: bool = arg(False, "Tell the loader datasets live on storage shared by all nodes.")
    # --- TuneFactory ---
    max_invalid_fraction: float = arg(
        0.1,
        "Stop with an error when more than this fraction of a dataset's rows is "
        "invalid (broken turn order, missing fields, wrong types); invalid rows below "
        "it are skipped, reported with their index and counted.",
    )
