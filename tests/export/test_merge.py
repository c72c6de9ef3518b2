"""`tunefactory export` on tiny offline models: the merged folder loads in plain transformers and
generates exactly like base + adapter; its tokenizer, generation config and Modelfile follow the
template; a reward model keeps its head; bad settings stop before any weights load."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
import yaml
from safetensors.torch import load_file, save_file
from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig

from tunefactory.config import parse_dict
from tunefactory.data.template import get_template, to_openai_messages
from tunefactory.errors import ConfigError, DataError, ModelError
from tunefactory.export import export_model
from tunefactory.export.merge import push_to_hub, save_weights
from tunefactory.export.ollama import go_template
from tunefactory.export.quantize import calibration_samples

CHATS = [
    [{"role": "user", "content": "What is 2+2?"}],
    [{"role": "user", "content": "Name a color."}, {"role": "assistant", "content": "Blue."},
     {"role": "user", "content": "Another one?"}],
    [{"role": "user", "content": "Write a short poem about the sea."}],
]
QWEN_MODELFILE = '''\
# Ollama Modelfile written by `tunefactory export`: `ollama create NAME -f Modelfile` in this folder

FROM .

TEMPLATE """{{ if .System }}<|im_start|>system
{{ .System }}<|im_end|>
{{ end }}{{ range .Messages }}{{ if eq .Role "user" }}<|im_start|>user
{{ .Content }}<|im_end|>
<|im_start|>assistant
{{ else if eq .Role "tool" }}<|im_start|>user
<tool_response>
{{ .Content }}
</tool_response><|im_end|>
<|im_start|>assistant
{{ else if eq .Role "assistant" }}{{ .Content }}<|im_end|>
{{ end }}{{ end }}"""

SYSTEM """You are Qwen, created by Alibaba Cloud. You are a helpful assistant."""

PARAMETER stop "<|im_end|>"
'''


def make_lora_adapter(base: Path, folder: Path, seed: int = 0) -> Path:
    """A LoRA adapter on every linear layer with random (non-zero) weights, so merging changes the model."""
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(seed)
    model = get_peft_model(AutoModelForCausalLM.from_pretrained(base),
                           LoraConfig(r=4, lora_alpha=8, target_modules="all-linear", init_lora_weights=False))
    model.save_pretrained(folder)
    return folder


def export_settings(model: Path, export_dir: Path, **overrides) -> dict:
    return {"model_name_or_path": str(model), "template": "qwen", "finetuning_type": "lora",
            "export_dir": str(export_dir), **overrides}


def run_export(model: Path, export_dir: Path, **overrides):
    config = parse_dict(export_settings(model, export_dir, **overrides), command="export")
    export_model(config)
    return config


def template_for(config):
    """The template and fixed tokenizer the export used, rebuilt from the base model."""
    tokenizer = AutoTokenizer.from_pretrained(config.model.model_name_or_path)
    return get_template(tokenizer, config.data), tokenizer


@pytest.fixture(scope="module")
def lora_export(tiny_qwen2, tmp_path_factory):
    root = tmp_path_factory.mktemp("lora-export")
    adapter = make_lora_adapter(tiny_qwen2, root / "adapter")
    config = run_export(tiny_qwen2, root / "merged", adapter_name_or_path=str(adapter))
    template, tokenizer = template_for(config)
    return SimpleNamespace(base=tiny_qwen2, adapter=adapter, folder=root / "merged", config=config,
                           template=template, tokenizer=tokenizer)


def prompt_ids(tokenizer, template, messages) -> torch.Tensor:
    return torch.tensor([template.encode_prompt(tokenizer, messages)])


# ---------------------------------------------------------------- the merged model


def test_merged_model_matches_base_plus_adapter_in_logits_and_greedy_tokens(lora_export):
    from peft import PeftModel

    merged = AutoModelForCausalLM.from_pretrained(lora_export.folder).eval()
    base = AutoModelForCausalLM.from_pretrained(lora_export.base).eval()
    with torch.no_grad():
        base_logits = base(prompt_ids(lora_export.tokenizer, lora_export.template, CHATS[0])).logits
    reference = PeftModel.from_pretrained(base, lora_export.adapter).eval()
    stop = {"eos_token_id": lora_export.template.stop_token_ids(lora_export.tokenizer),
            "pad_token_id": lora_export.tokenizer.pad_token_id}
    for messages in CHATS:
        ids = prompt_ids(lora_export.tokenizer, lora_export.template, messages)
        with torch.no_grad():
            merged_logits, reference_logits = merged(ids).logits, reference(ids).logits
            torch.testing.assert_close(merged_logits, reference_logits, atol=1e-4, rtol=0)
            merged_out = merged.generate(ids, do_sample=False, max_new_tokens=12, **stop)
            reference_out = reference.generate(input_ids=ids, do_sample=False, max_new_tokens=12, **stop)
        assert merged_out.tolist() == reference_out.tolist()
        assert merged_out.shape[1] > ids.shape[1]
    assert not torch.allclose(merged(prompt_ids(lora_export.tokenizer, lora_export.template, CHATS[0])).logits,
                              base_logits, atol=1e-2), "the adapter should change the model"


def test_an_oft_adapter_merges_into_the_same_logits(tiny_qwen2, tmp_path):
    """finetuning_type: oft exports like LoRA: the merged folder equals base + OFT adapter, without adapter keys."""
    from peft import OFTConfig, PeftModel, get_peft_model

    torch.manual_seed(1)
    trained = get_peft_model(AutoModelForCausalLM.from_pretrained(tiny_qwen2),
                             OFTConfig(oft_block_size=8, r=0, target_modules="all-linear", init_weights=False))
    trained.save_pretrained(tmp_path / "oft")
    config = run_export(tiny_qwen2, tmp_path / "merged", finetuning_type="oft",
                        adapter_name_or_path=str(tmp_path / "oft"))
    template, tokenizer = template_for(config)
    merged = AutoModelForCausalLM.from_pretrained(tmp_path / "merged").eval()
    base = AutoModelForCausalLM.from_pretrained(tiny_qwen2).eval()
    reference = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_qwen2), tmp_path / "oft").eval()
    assert not any("oft" in key for key in load_file(tmp_path / "merged" / "model.safetensors"))
    for messages in CHATS:
        ids = prompt_ids(tokenizer, template, messages)
        with torch.no_grad():
            torch.testing.assert_close(merged(ids).logits, reference(ids).logits, atol=1e-4, rtol=0)
            assert not torch.allclose(merged(ids).logits, base(ids).logits, atol=1e-2), "OFT should change the model"


def test_folder_holds_plain_weights_in_the_checkpoint_dtype(lora_export):
    names = sorted(os.listdir(lora_export.folder))
    assert {"model.safetensors", "config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json",
            "chat_template.jinja", "Modelfile"} <= set(names)
    assert not any(name.startswith("adapter_") for name in names)
    assert not any("lora" in key for key in load_file(lora_export.folder / "model.safetensors"))
    assert json.loads((lora_export.folder / "config.json").read_text())["dtype"] == "float32"  # infer_dtype: auto


def test_generation_config_stops_at_the_template_stop_tokens(lora_export):
    generation = GenerationConfig.from_pretrained(lora_export.folder)
    stop_ids = lora_export.template.stop_token_ids(lora_export.tokenizer)
    assert stop_ids == [lora_export.tokenizer.convert_tokens_to_ids("<|im_end|>")]
    assert generation.eos_token_id == stop_ids
    assert generation.pad_token_id == lora_export.tokenizer.pad_token_id


def test_saved_chat_template_renders_like_the_template(lora_export):
    saved = AutoTokenizer.from_pretrained(lora_export.folder)
    template, tokenizer = lora_export.template, lora_export.tokenizer
    for messages in CHATS:
        for system in (None, "Be brief."):
            rendered = saved.apply_chat_template(to_openai_messages(messages, system), add_generation_prompt=True,
                                                 tokenize=False)
            assert rendered == template.render(messages, system, bos=tokenizer.bos_token or "",
                                               eos=tokenizer.eos_token)
            assert saved(rendered, add_special_tokens=False)["input_ids"] == \
                template.encode_prompt(tokenizer, messages, system)
    assert saved.eos_token == "<|im_end|>" and saved.padding_side == "left"


def test_modelfile_is_the_template_in_ollama_syntax(lora_export):
    assert (lora_export.folder / "Modelfile").read_text(encoding="utf-8") == QWEN_MODELFILE


# ---------------------------------------------------------------- formats and shards


def test_legacy_format_writes_bin_files_in_infer_dtype(lora_export, tmp_path):
    folder = tmp_path / "legacy"
    run_export(lora_export.base, folder, adapter_name_or_path=str(lora_export.adapter), export_legacy_format=True,
               infer_dtype="float16")
    names = os.listdir(folder)
    assert "pytorch_model.bin" in names and not any(name.endswith(".safetensors") for name in names)
    half = AutoModelForCausalLM.from_pretrained(folder, dtype="auto")
    full = AutoModelForCausalLM.from_pretrained(lora_export.folder)
    assert half.dtype == torch.float16
    for name, tensor in full.state_dict().items():
        assert torch.equal(half.state_dict()[name], tensor.half()), name


@pytest.mark.parametrize("legacy", [False, True], ids=["safetensors", "bin"])
def test_a_small_shard_size_writes_shards_and_an_index(tiny_qwen2, tmp_path, legacy):
    model = AutoModelForCausalLM.from_pretrained(tiny_qwen2)
    save_weights(model, tmp_path, "200KB", legacy=legacy)
    suffix, index_name = (".bin", "pytorch_model.bin.index.json") if legacy else \
        (".safetensors", "model.safetensors.index.json")
    shards = sorted(p.name for p in tmp_path.iterdir() if p.name.endswith(suffix))
    assert len(shards) > 1 and all("-of-" in name for name in shards)
    index = json.loads((tmp_path / index_name).read_text())
    assert set(index["weight_map"].values()) == set(shards)
    reloaded = AutoModelForCausalLM.from_pretrained(tmp_path)
    for name, tensor in model.state_dict().items():
        assert torch.equal(reloaded.state_dict()[name], tensor), name


# ---------------------------------------------------------------- templates with thinking, reward models


def test_thinking_off_is_kept_in_the_chat_template_and_the_modelfile(tiny_qwen2, tmp_path):
    config = run_export(tiny_qwen2, tmp_path / "out", template="qwen3", enable_thinking=False)
    template, tokenizer = template_for(config)
    saved = AutoTokenizer.from_pretrained(tmp_path / "out")
    rendered = saved.apply_chat_template(to_openai_messages(CHATS[1]), add_generation_prompt=True, tokenize=False)
    assert rendered == template.render(CHATS[1], eos=tokenizer.eos_token)
    assert rendered.endswith("<|im_start|>assistant\n<think>\n\n</think>\n\n")
    modelfile = (tmp_path / "out" / "Modelfile").read_text()
    assert "{{ range $i, $_ := .Messages }}{{ $last := eq (len (slice $.Messages $i)) 1 }}" in modelfile
    assert "<|im_start|>assistant\n{{ if $last }}<think>\n\n</think>\n\n{{ end }}" in modelfile
    assert "SYSTEM" not in modelfile  # qwen3 has no default system prompt


def test_reward_model_export_keeps_its_value_head(tiny_qwen2, tmp_path):
    from tunefactory.model.value_head import add_value_head

    adapter = make_lora_adapter(tiny_qwen2, tmp_path / "rm-adapter", seed=1)
    head = {"v_head.summary.weight": torch.randn(1, 64), "v_head.summary.bias": torch.randn(1)}
    save_file(head, adapter / "value_head.safetensors")
    run_export(tiny_qwen2, tmp_path / "out", adapter_name_or_path=str(adapter), stage="rm")
    assert load_file(tmp_path / "out" / "value_head.safetensors").keys() == head.keys()
    scorer = add_value_head(AutoModelForCausalLM.from_pretrained(tmp_path / "out"), str(tmp_path / "out"),
                            required=True)
    assert torch.equal(scorer.v_head.summary.weight, head["v_head.summary.weight"])


# ---------------------------------------------------------------- refusals, before any weights load

MISSING_MODEL = "no/such/model"  # the checks must fail before anything tries to load it


def refusal(tmp_path, **overrides) -> str:
    settings = {**export_settings(Path(MISSING_MODEL), tmp_path / "out"), **overrides}
    with pytest.raises(ConfigError) as caught:
        export_model(parse_dict({k: v for k, v in settings.items() if v is not None}, command="export"))
    return str(caught.value)


def test_export_dir_is_required(tmp_path):
    assert "export_dir is required" in refusal(tmp_path, export_dir=None)


def test_a_non_empty_export_dir_is_never_overwritten(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "notes.txt").write_text("mine")
    message = refusal(tmp_path)
    assert str(tmp_path / "out") in message and "not empty" in message and "new folder" in message
    assert (tmp_path / "out" / "notes.txt").read_text() == "mine"


def test_a_quantized_base_cannot_be_merged(tmp_path):
    assert "quantization_bit: a quantized model cannot be merged" in refusal(tmp_path, quantization_bit=4)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU refusal")
def test_gptq_export_needs_a_gpu_a_dataset_and_no_adapter(tmp_path):
    message = refusal(tmp_path, export_quantization_bit=4, adapter_name_or_path="some/adapter")
    assert "needs a CUDA GPU" in message
    assert "needs export_quantization_dataset" in message
    assert "export the merged model first" in message


def test_reward_model_without_a_value_head_is_refused(tiny_qwen2, tmp_path):
    (tmp_path / "adapter").mkdir()
    message = refusal(tmp_path, stage="rm", adapter_name_or_path=str(tmp_path / "adapter"))
    assert "value_head.safetensors" in message and str(tmp_path / "adapter") in message


LF_MERGE_CONFIGS = sorted((Path(__file__).resolve().parents[1] / "fixtures" / "llamafactory_configs")
                          .glob("merge_lora__*.yaml"))


@pytest.mark.parametrize("path", LF_MERGE_CONFIGS, ids=lambda path: path.name)
def test_llamafactory_merge_configs_parse_as_export_configs(path):
    from tunefactory.config import parse_args

    config = parse_args([str(path)], command="export")
    assert config.model.export_dir and config.training is None


# ---------------------------------------------------------------- pieces that need no model


class StubTokenizer:
    bos_token, eos_token, bos_token_id = "<s>", "</s>", 1

    def __init__(self, adds_bos: bool):
        self.adds_bos = adds_bos

    def __call__(self, text, add_special_tokens=True):
        return {"input_ids": ([1] if self.adds_bos and add_special_tokens else []) + [5]}


def test_ollama_template_leaves_the_bos_to_a_tokenizer_that_adds_it():
    from tunefactory.data.template import TEMPLATES

    assert go_template(TEMPLATES["llama3"], StubTokenizer(adds_bos=False)).startswith("<s>{{ if .System }}")
    assert go_template(TEMPLATES["llama3"], StubTokenizer(adds_bos=True)).startswith("{{ if .System }}")


def test_ollama_template_puts_the_system_prompt_into_the_first_user_message():
    from tunefactory.data.template import TEMPLATES

    text = go_template(TEMPLATES["gemma"], StubTokenizer(adds_bos=False))
    assert text.startswith("<s>{{ $system := .System }}{{ range .Messages }}")
    assert ('<start_of_turn>user\n{{ if $system }}{{ $system }}\n\n{{ $system = "" }}{{ end }}{{ .Content }}'
            '<end_of_turn>\n<start_of_turn>model\n') in text


def test_push_uploads_the_folder_and_a_failure_says_the_export_is_complete(tmp_path, monkeypatch):
    import huggingface_hub

    calls = []

    class FakeApi:
        def __init__(self, token=None):
            calls.append(("token", token))

        def create_repo(self, repo_id, exist_ok):
            calls.append(("create", repo_id, exist_ok))

        def upload_folder(self, repo_id, folder_path):
            calls.append(("upload", repo_id, folder_path))

    monkeypatch.setattr(huggingface_hub, "HfApi", FakeApi)
    push_to_hub(tmp_path, "me/merged", "secret")
    assert calls == [("token", "secret"), ("create", "me/merged", True), ("upload", "me/merged", str(tmp_path))]

    monkeypatch.setattr(FakeApi, "create_repo", lambda self, repo_id, exist_ok: 1 / 0)
    with pytest.raises(ModelError, match="export in .* is complete"):
        push_to_hub(tmp_path, "me/merged", None)


def test_gptq_calibration_cuts_windows_of_maxlen_tokens(tiny_qwen2, tmp_path):
    tokenizer = AutoTokenizer.from_pretrained(tiny_qwen2)
    text_file = tmp_path / "calibration.txt"
    text_file.write_text("\n".join(f"Line {i}: the quick brown fox jumps over the lazy dog." for i in range(20)))
    args = SimpleNamespace(export_quantization_dataset=str(text_file), export_quantization_nsamples=4,
                           export_quantization_maxlen=16, cache_dir=None, hf_hub_token=None)
    samples = calibration_samples(tokenizer, args)
    assert len(samples) == 4
    assert all(len(s["input_ids"][0]) == 16 and s["attention_mask"] == [[1] * 16] for s in samples)
    args.export_quantization_nsamples = 1000
    with pytest.raises(DataError, match="lower export_quantization_nsamples"):
        calibration_samples(tokenizer, args)


# ---------------------------------------------------------------- the command line


def test_cli_exports_a_llama3_model(tiny_llama, tmp_path, capsys):
    config = tmp_path / "export.yaml"
    config.write_text(yaml.safe_dump({"model_name_or_path": str(tiny_llama), "template": "llama3",
                                      "export_dir": str(tmp_path / "out")}))
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    result = subprocess.run([sys.executable, "-m", "tunefactory.cli", "export", str(config)], capture_output=True,
                            text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stderr
    out = tmp_path / "out"
    assert {"model.safetensors", "config.json", "generation_config.json", "tokenizer.json", "Modelfile"} <= \
        set(os.listdir(out))
    tokenizer = AutoTokenizer.from_pretrained(out)
    stop_ids = [tokenizer.convert_tokens_to_ids(word) for word in ("<|eot_id|>", "<|eom_id|>")]
    assert GenerationConfig.from_pretrained(out).eos_token_id == stop_ids
    modelfile = (out / "Modelfile").read_text()
    assert 'PARAMETER stop "<|eot_id|>"\nPARAMETER stop "<|eom_id|>"\n' in modelfile
    assert modelfile.count("TEMPLATE") == 1 and "FROM ." in modelfile

    # a second export into the same folder is refused, and says how to proceed
    from tunefactory.cli import main

    assert main(["export", str(config)]) == 1
    assert "is not empty" in capsys.readouterr().err
