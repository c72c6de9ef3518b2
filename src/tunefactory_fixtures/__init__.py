"""Generators of the tiny offline models and the bundled datasets used by tests, the demo and benchmarks.

``tiny_models`` builds tiny random-weight causal LMs with a BPE tokenizer trained offline;
``tiny_multimodal`` builds tiny vision-language models (Qwen2-VL, Qwen3-VL) and draws the bundled demo pictures;
``bundled_data`` regenerates the datasets committed under the repository's ``data/`` folder.
This package is not imported by ``tunefactory`` at run time.
"""
