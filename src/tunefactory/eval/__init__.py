"""`tunefactory eval`: multiple-choice benchmarks (MMLU, C-Eval, CMMLU) in LLaMA-Factory's folder layout.

`benchmarks.py` reads the subjects and their CSVs; `evaluator.py` builds the few-shot prompts with the run's
template and scores the answer letters. See docs/evaluation.md.
"""
