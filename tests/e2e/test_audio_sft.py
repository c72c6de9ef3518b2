"""sft and dpo on sounds (LLaMA-Factory's mllm_audio_demo format) with the tiny Qwen2-Audio: they learn, the freeze
flags change exactly the parts they name (its audio encoder is the "vision tower" of freeze_vision_tower, as in
LLaMA-Factory), and the merged export answers in plain transformers as base + adapter does."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from test_multimodal_sft import changed_parts
from test_resume import losses, train_in_process

from tunefactory.model.multimodal import part_of

REPO_ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def audio_sft(folder: Path, output_dir: Path, **changes) -> dict:
    return {"model_name_or_path": str(folder), "stage": "sft", "do_train": True, "template": "qwen2_audio",
            "dataset": "mllm_audio_demo", "dataset_dir": str(REPO_ROOT / "data"), "cutoff_len": 256,
            "per_device_train_batch_size": 2, "max_steps": 12, "learning_rate": 1e-2, "logging_steps": 1,
            "output_dir": str(output_dir), "report_to": "none", "use_cpu": True, "seed": 0, **changes}


@pytest.fixture(scope="module")
def lora_run(tiny_qwen2_audio, tmp_path_factory):
    out = tmp_path_factory.mktemp("audio") / "lora"
    return out, train_in_process(audio_sft(tiny_qwen2_audio, out, finetuning_type="lora", lora_target="all"))


def test_lora_on_sounds_learns_the_language_model_only(lora_run):
    out, log = lora_run
    assert "8 of 8 examples encoded" in log
    curve = losses(out)
    assert curve[max(curve)] < curve[min(curve)] - 0.1
    targets = load_file(out / "adapter_model.safetensors")
    assert targets and all(part_of(name) == "language_model" for name in targets)  # no LoRA in the audio tower
    assert (out / "preprocessor_config.json").is_file()  # the feature extractor: the folder takes sounds again


@pytest.mark.parametrize(("flags", "expected"), [
    ({}, {"vision_tower": False, "projector": False, "language_model": True}),
    ({"freeze_vision_tower": False, "freeze_multi_modal_projector": False, "freeze_language_model": True},
     {"vision_tower": True, "projector": True, "language_model": False}),
])
def test_freeze_flags_change_exactly_the_parts_they_name(tiny_qwen2_audio, tmp_path, flags, expected):
    before = load_file(tiny_qwen2_audio / "model.safetensors")
    assert any(name.startswith("audio_tower.") and part_of(name) == "vision_tower" for name in before)
    out = tmp_path / "full"
    train_in_process(audio_sft(tiny_qwen2_audio, out, finetuning_type="full", max_steps=2, **flags))
    assert changed_parts(before, load_file(out / "model.safetensors")) == expected


def test_merged_export_loads_in_plain_transformers_and_answers_the_same(lora_run, tiny_qwen2_audio, tmp_path):
    from peft import PeftModel
    from transformers import AutoFeatureExtractor, AutoModelForMultimodalLM, AutoTokenizer, Qwen2AudioProcessor

    from tunefactory.cli import main
    from tunefactory.data.multimodal import MediaSettings, load_audio

    out, _ = lora_run
    exported = tmp_path / "exported"
    assert main(["export", f"model_name_or_path={tiny_qwen2_audio}", f"adapter_name_or_path={out}",
                 "finetuning_type=lora", "template=qwen2_audio", f"export_dir={exported}"]) == 0
    processor = Qwen2AudioProcessor(feature_extractor=AutoFeatureExtractor.from_pretrained(exported),
                                    tokenizer=AutoTokenizer.from_pretrained(exported))
    chat = [{"role": "user", "content": [{"type": "audio", "audio_url": "unused"},
                                         {"type": "text", "text": "What do you hear?"}]}]
    text = processor.apply_chat_template(chat, tokenize=False, add_generation_prompt=True)
    sound = load_audio(str(REPO_ROOT / "data" / "mllm_demo_data" / "3.wav"), MediaSettings()).samples
    inputs = processor(text=text, audio=[sound], sampling_rate=16000, return_tensors="pt")
    merged = AutoModelForMultimodalLM.from_pretrained(exported).eval()
    adapted = PeftModel.from_pretrained(AutoModelForMultimodalLM.from_pretrained(tiny_qwen2_audio), out).eval()
    with torch.no_grad():
        assert torch.allclose(merged(**inputs).logits, adapted(**inputs).logits, atol=1e-5)
        greedy = dict(max_new_tokens=6, do_sample=False)
        assert merged.generate(**inputs, **greedy).tolist() == adapted.generate(**inputs, **greedy).tolist()


def test_dpo_on_sound_pairs_learns_to_prefer_the_chosen_answers(tiny_qwen2_audio, tmp_path):
    import json

    answers = {"1.wav": ("a high tone", "a low tone"), "2.wav": ("a low tone", "a high tone"),
               "3.wav": ("two beeps", "one long tone"), "4.flac": ("a rising sweep", "a falling sweep")}
    rows = [{"conversations": [{"from": "human", "value": "<audio>What do you hear?"}],
             "chosen": {"from": "gpt", "value": f"I hear {good}."},
             "rejected": {"from": "gpt", "value": f"I hear {bad}."},
             "audios": [f"mllm_demo_data/{name}"]} for name, (good, bad) in answers.items()]
    (tmp_path / "pairs.json").write_text(json.dumps(rows))
    (tmp_path / "dataset_info.json").write_text(json.dumps({"sound_pairs": {
        "file_name": "pairs.json", "formatting": "sharegpt", "ranking": True,
        "columns": {"messages": "conversations", "chosen": "chosen", "rejected": "rejected", "audios": "audios"}}}))
    out = tmp_path / "dpo"
    log = train_in_process(audio_sft(tiny_qwen2_audio, out, stage="dpo", finetuning_type="lora", lora_target="all",
                                     dataset="sound_pairs", dataset_dir=str(tmp_path),
                                     media_dir=str(REPO_ROOT / "data"), max_steps=24, learning_rate=3e-2,
                                     pref_beta=1.0))
    assert "4 of 4 examples encoded (pairwise)" in log
    curve = losses(out)
    assert curve[min(curve)] == pytest.approx(0.6931, abs=1e-3)  # policy = reference at the start: -log sigmoid(0)
    assert curve[max(curve)] < 0.6
