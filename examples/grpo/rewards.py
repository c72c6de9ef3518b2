"""Reward functions for examples/grpo/qwen2_5_lora_grpo_user_reward.yaml, with TRL's signature.

Each gets the batch's prompts and completions (texts), the completions' token ids, and the dataset's columns
(`solution`/`answer`: the row's reference answer); it returns one float (or None to abstain) per completion.
"""

import re


def answer_then_stop(completions, solution, **kwargs):
    """1.0 for a completion that is exactly the reference answer, 0.5 if it contains it, else 0.0."""
    rewards = []
    for completion, answer in zip(completions, solution):
        text = completion.strip()
        rewards.append(1.0 if text == answer.strip() else 0.5 if answer.strip() in text else 0.0)
    return rewards


def no_repeated_words(completions, **kwargs):
    """-1.0 per word repeated back to back ("the the"), a common failure of small policies."""
    return [-float(len(re.findall(r"\b(\w+)\s+\1\b", completion))) for completion in completions]
