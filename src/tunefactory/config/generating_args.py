"""Generation arguments: decoding settings for prediction, chat, API and evaluation.

Names, types and defaults follow LLaMA-Factory so its configs parse unchanged; comma-separated
strings are accepted wherever a list is expected. The help texts are what `-h` and docs/ show.
"""

from __future__ import annotations

from dataclasses import dataclass

from .fields import arg


@dataclass
class GeneratingArguments:
    # --- Generating ---
    do_sample: bool = arg(True, "Sample tokens instead of greedy decoding.")
    temperature: float = arg(0.95, "Softmax temperature for sampling.")
    top_p: float = arg(0.7, "Nucleus-sampling cumulative probability cutoff.")
    top_k: int = arg(50, "Keep only the k most likely tokens when sampling.")
    num_beams: int = arg(1, "Beam-search width (1 disables beam search).")
    max_length: int = arg(1024, "Total length limit for generation; ignored when max_new_tokens > 0.")
    max_new_tokens: int = arg(1024, "Maximum number of newly generated tokens.")
    repetition_penalty: float = arg(1.0, "Penalty on repeated tokens (1.0 = none).")
    length_penalty: float = arg(1.0, "Exponential length penalty for beam search.")
    skip_special_tokens: bool = arg(True, "Strip special tokens when decoding output.")
