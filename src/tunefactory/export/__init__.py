"""`tunefactory export`: one standalone model folder from a base model and its adapters.

The equivalent of LLaMA-Factory's `llamafactory-cli export`: merged weights (sharded, safetensors or
.bin), the tokenizer with the template's ``chat_template``, a generation config that stops at the
template's stop tokens, an Ollama ``Modelfile``, and a reward model's value head. See docs/export.md.
"""

from .merge import export_model

__all__ = ["export_model"]
