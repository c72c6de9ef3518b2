"""`tunefactory eval`: multiple-choice benchmarks (MMLU, C-Eval, CMMLU) in LLaMA-Factory's folder layout.

`benchmarks.py` reads the subjects and their CSVs; `evaluator.py` builds the few-shot prompts with the run's
template and scores the answer letters; `harness.py` runs EleutherAI's lm-evaluation-harness tasks instead
(`eval_backend: lm_eval`). See docs/evaluation.md.
"""
