"""infer_backend: vllm. On this CPU machine: the clear refusals and the engine-argument mapping; on a
CUDA machine with vLLM installed, greedy answers equal the transformers engine's."""

from __future__ import annotations

import importlib.util
import json

import pytest
import torch

from tunefactory.config import parse_dict
from tunefactory.errors import ConfigError, TuneFactoryError

HAS_VLLM_GPU = torch.cuda.is_available() and importlib.util.find_spec("vllm") is not None


def config(model, **overrides):
    return parse_dict({"model_name_or_path": str(model), "template": "llama3", "infer_backend": "vllm",
                       "max_new_tokens": 16, "do_sample": False, **overrides}, command="chat")


@pytest.mark.skipif(HAS_VLLM_GPU, reason="this machine can run vLLM")
def test_without_a_gpu_or_vllm_the_commands_refuse_before_loading(tiny_llama, tmp_path, capsys):
    from tunefactory.cli import main

    path = tmp_path / "chat.yaml"
    path.write_text(f"model_name_or_path: {tiny_llama}\ntemplate: llama3\ninfer_backend: vllm\n")
    assert main(["chat", str(path)]) == 1
    assert "vllm" in capsys.readouterr().err


@pytest.mark.skipif(HAS_VLLM_GPU, reason="this machine can run vLLM")
def test_the_chat_model_names_what_vllm_needs(tiny_llama):
    from tunefactory.infer.chat_model import ChatModel

    with pytest.raises(ConfigError, match="vllm") as error:
        ChatModel(config(tiny_llama))
    assert "GPU" in str(error.value) or "pip install" in str(error.value)
    with pytest.raises((ConfigError, TuneFactoryError), match="reward model"):
        ChatModel(config(tiny_llama, stage="rm"))


def test_engine_arguments_follow_the_vllm_keys(tiny_llama):
    from tunefactory.infer.vllm_engine import vllm_engine_args

    args = vllm_engine_args(config(tiny_llama, vllm_maxlen=2048, vllm_gpu_util=0.5, vllm_enforce_eager=True,
                                   vllm_max_lora_rank=16, adapter_name_or_path="some/adapter", finetuning_type="lora",
                                   infer_dtype="bfloat16", vllm_config=json.dumps({"seed": 7})))
    assert args["model"] == str(tiny_llama) and args["max_model_len"] == 2048
    assert args["gpu_memory_utilization"] == 0.5 and args["enforce_eager"] is True
    assert args["enable_lora"] is True and args["max_lora_rank"] == 16
    assert args["dtype"] == "bfloat16" and args["seed"] == 7
    assert vllm_engine_args(config(tiny_llama))["enable_lora"] is False


@pytest.mark.gpu
@pytest.mark.skipif(not HAS_VLLM_GPU, reason="needs a CUDA GPU and pip install 'tunefactory[vllm]'")
def test_vllm_greedy_answers_equal_the_transformers_engine(tiny_llama):
    from tunefactory.infer.chat_model import ChatModel

    messages = [{"role": "user", "content": "Tell me about rivers."}]
    with_vllm = ChatModel(config(tiny_llama, vllm_gpu_util=0.3, vllm_enforce_eager=True))
    with_hf = ChatModel(config(tiny_llama, infer_backend="huggingface"))
    assert with_vllm.chat(messages)[0].text == with_hf.chat(messages)[0].text
    assert "".join(with_vllm.stream_chat(messages)) == with_hf.chat(messages)[0].text
