"""Sounds in conversations (LLaMA-Factory's `mllm_audio_demo` format) for Qwen2-Audio: our ids and features equal
what transformers' own `Qwen2AudioProcessor` makes of the same conversation with its chat template; the bad rows and
refusals say why."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tunefactory.config import parse_dict
from tunefactory.data.bad_rows import BadRow
from tunefactory.data.multimodal import QWEN2_AUDIO, MediaSettings, load_audio
from tunefactory.errors import DataError
from tunefactory.train import steps

DATA = Path(__file__).resolve().parents[2] / "data"
SOUNDS = DATA / "mllm_demo_data"


def run_config(model: Path, **changes):
    return parse_dict({"model_name_or_path": str(model), "stage": "sft", "do_train": True,
                       "template": "qwen2_audio", "dataset": "mllm_audio_demo", "dataset_dir": str(DATA),
                       "cutoff_len": 512, "output_dir": "unused", **changes})


def load(model: Path, **changes):
    config = run_config(model, **changes)
    tokenizer, template = steps.load_tokenizer_and_template(config)
    media = steps.load_media(config, template)
    return steps.load_data(config, template, tokenizer, media), tokenizer, media


def official_inputs(folder: Path, row: dict) -> dict:
    """The row's conversation as Qwen2-Audio's processor encodes it: its chat template with each <audio> as an
    audio part, then its call with the sounds."""
    from transformers import AutoFeatureExtractor, AutoTokenizer, Qwen2AudioProcessor

    processor = Qwen2AudioProcessor(feature_extractor=AutoFeatureExtractor.from_pretrained(folder),
                                    tokenizer=AutoTokenizer.from_pretrained(folder))
    conversation = []
    for message in row["messages"]:
        text = message["content"]
        parts = [{"type": "audio", "audio_url": "unused"}] * text.count("<audio>")
        conversation.append({"role": message["role"],
                             "content": [*parts, {"type": "text", "text": text.replace("<audio>", "")}]})
    text = processor.apply_chat_template(conversation, tokenize=False)
    sounds = [load_audio(str(DATA / path), MediaSettings()).samples for path in row["audios"]]
    return processor(text=text, audio=sounds, sampling_rate=16000, return_tensors="pt")


def test_ids_and_features_equal_the_processors(tiny_qwen2_audio):
    data, tokenizer, media = load(tiny_qwen2_audio)
    rows = json.loads((DATA / "mllm_audio_demo.json").read_text())
    assert len(data.train) == len(rows) == 8
    for encoded, row in zip(data.train, rows, strict=True):
        reference = official_inputs(tiny_qwen2_audio, row)
        assert encoded["input_ids"] == reference["input_ids"][0].tolist()
        ours = media.plugin.batch_inputs(encoded["audios"], media.processor, media.settings)
        assert np.array_equal(ours["input_features"].numpy(), reference["input_features"].numpy())
        assert ours["feature_attention_mask"].equal(reference["feature_attention_mask"])
    # one <|AUDIO|> per 40 ms: the 1-second tone is 25 tokens, inside "Audio 1: <|audio_bos|> ... <|audio_eos|>\n"
    first = tokenizer.decode(data.train[0]["input_ids"])
    assert "Audio 1: <|audio_bos|>" + "<|AUDIO|>" * 25 + "<|audio_eos|>\nWhat do you hear?" in first


def test_answers_are_learned_and_prompts_are_not(tiny_qwen2_audio):
    data, tokenizer, _ = load(tiny_qwen2_audio)
    labels = [token for token in data.train[0]["labels"] if token != -100]
    assert tokenizer.decode(labels) == "I hear a high tone.<|im_end|>\n"


def test_placeholders_must_match_the_sounds():
    messages = [{"role": "user", "content": "<audio><audio>Compare."}, {"role": "assistant", "content": "Same."}]
    with pytest.raises(BadRow, match="2 <audio> placeholder.s. in the messages but 1 audio.s. in the audios column"):
        QWEN2_AUDIO.expand(messages, [str(SOUNDS / "1.wav")], None, MediaSettings())


def test_an_unreadable_sound_is_a_bad_row_naming_it(tmp_path):
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"not a sound")
    with pytest.raises(BadRow, match=f"audio '{broken}' cannot be read"):
        load_audio(str(broken), MediaSettings())


def test_a_sound_at_another_rate_is_resampled_keeping_its_pitch(tmp_path):
    import soundfile

    high = load_audio(str(SOUNDS / "1.wav"), MediaSettings())
    t = np.arange(8000) / 8000
    soundfile.write(str(tmp_path / "8k.wav"), (0.4 * np.sin(2 * np.pi * 880 * t)).astype(np.float32), 8000)
    resampled = load_audio(str(tmp_path / "8k.wav"), MediaSettings())
    assert resampled.sampling_rate == 16000 and len(resampled.samples) == len(high.samples) == 16000

    def pitch(sound):
        spectrum = np.abs(np.fft.rfft(sound.samples))
        return np.fft.rfftfreq(len(sound.samples), 1 / sound.sampling_rate)[spectrum.argmax()]

    assert pitch(resampled) == pytest.approx(880, abs=2) and pitch(high) == pytest.approx(880, abs=2)


def test_a_decoded_sound_and_stereo_files_are_read(tmp_path):
    import soundfile

    mono = load_audio(str(SOUNDS / "2.wav"), MediaSettings())
    soundfile.write(str(tmp_path / "stereo.wav"), np.stack([mono.samples, mono.samples], axis=1), 16000)
    assert np.allclose(load_audio(str(tmp_path / "stereo.wav"), MediaSettings()).samples, mono.samples, atol=1e-4)
    decoded = {"array": mono.samples.astype(np.float64), "sampling_rate": 16000}  # datasets' Audio feature
    assert np.array_equal(load_audio(decoded, MediaSettings()).samples, mono.samples)


def test_a_text_template_refuses_sound_rows_naming_the_fix(tiny_qwen2_audio):
    with pytest.raises(DataError, match="template 'qwen' is text-only: use the model's multimodal template"):
        load(tiny_qwen2_audio, template="qwen")


def test_an_image_template_refuses_sound_rows(tiny_qwen2_vl):
    with pytest.raises(DataError, match="template 'qwen2_vl' is for a model that takes images, not audios"):
        load(tiny_qwen2_vl, template="qwen2_vl")


def test_packing_rows_with_sounds_is_refused(tiny_qwen2_audio):
    with pytest.raises(DataError, match="packing / neat_packing rows with audios is not supported yet"):
        load(tiny_qwen2_audio, packing=True)


def test_sounds_reach_the_model_in_each_batch(tiny_qwen2_audio):
    import torch
    from transformers import AutoModelForMultimodalLM

    from tunefactory.data.collators import build_collator

    data, tokenizer, media = load(tiny_qwen2_audio)
    rows = [data.train[i] for i in range(len(data.train))]
    batch = build_collator("supervised", tokenizer, media=media)(rows)
    sounds = sum(len(row["audios"]) for row in rows)
    frames = batch["feature_attention_mask"].sum(-1)
    assert batch["input_features"].shape == (sounds, 128, 200)  # 2-second chunks of 10 ms mel frames
    audio_tokens = int((batch["input_ids"] == tokenizer.convert_tokens_to_ids("<|AUDIO|>")).sum())
    assert audio_tokens == int(sum((((f - 1) // 2 + 1) - 2) // 2 + 1 for f in frames.tolist()))
    model = AutoModelForMultimodalLM.from_pretrained(tiny_qwen2_audio).eval()
    inputs = {key: batch[key] for key in ("input_ids", "attention_mask", "input_features", "feature_attention_mask")}
    with torch.no_grad():
        heard = model(**inputs).logits
        silent = model(**{**inputs, "input_features": torch.zeros_like(inputs["input_features"])}).logits
    assert not torch.allclose(heard, silent)  # the answers depend on the sounds


def test_our_chat_template_writes_audio_parts_as_the_official_one():
    """`tunefactory export` writes our template as the tokenizer's chat_template: it must render a conversation
    with audio parts as Qwen2-Audio-7B-Instruct's processor template does, numbering the sounds."""
    from jinja2.sandbox import ImmutableSandboxedEnvironment
    from transformers import Qwen2AudioProcessor

    from tunefactory.data.template import TEMPLATES, to_jinja

    audio = {"type": "audio", "audio_url": "unused"}
    conversation = [
        {"role": "user", "content": [audio, {"type": "text", "text": "What is it?"}]},
        {"role": "assistant", "content": "A tone."},
        {"role": "user", "content": [audio, audio, {"type": "text", "text": "And these?"}]},
    ]
    environment = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    official = environment.from_string(Qwen2AudioProcessor.default_chat_template.fget(None))
    ours = environment.from_string(to_jinja(TEMPLATES["qwen2_audio"], "", "<|im_end|>"))
    expected = official.render(messages=conversation, add_generation_prompt=True)
    assert "Audio 3: <|audio_bos|><|AUDIO|><|audio_eos|>\n" in expected
    assert ours.render(messages=conversation, add_generation_prompt=True) == expected


@pytest.mark.parametrize("kind", ["pairwise", "feedback"])
def test_preference_rows_carry_their_sounds_to_both_sides(tiny_qwen2_audio, tmp_path, kind):
    """rm and dpo (pairwise) and kto (feedback) encode sound rows with the same plugin: each side of a pair, and
    each KL row, gets the example's sounds."""
    from tunefactory.data.collators import build_collator

    rows = json.loads((DATA / "mllm_audio_demo.json").read_text())[:4]
    if kind == "pairwise":
        data = [{"messages": row["messages"][:-1], "chosen": row["messages"][-1],
                 "rejected": {"role": "assistant", "content": "I hear nothing."}, "audios": row["audios"]}
                for row in rows]
        columns = {"messages": "messages", "chosen": "chosen", "rejected": "rejected", "audios": "audios"}
        entry, stage = {"ranking": True}, "dpo"
    else:
        data = [{**row, "label": i % 2 == 0} for i, row in enumerate(rows)]
        columns = {"messages": "messages", "kto_tag": "label", "audios": "audios"}
        entry, stage = {}, "kto"
    (tmp_path / "data.json").write_text(json.dumps(data))
    (tmp_path / "dataset_info.json").write_text(json.dumps({"sounds": {
        "file_name": "data.json", "formatting": "sharegpt", **entry, "columns": columns,
        "tags": {"role_tag": "role", "content_tag": "content", "user_tag": "user", "assistant_tag": "assistant"}}}))
    config = run_config(tiny_qwen2_audio, stage=stage, dataset="sounds", dataset_dir=str(tmp_path),
                        media_dir=str(DATA))
    tokenizer, template = steps.load_tokenizer_and_template(config)
    media = steps.load_media(config, template)
    encoded = steps.load_data(config, template, tokenizer, media).train
    batch = build_collator(kind, tokenizer, media=media)([encoded[i] for i in range(len(encoded))])
    sounds = sum(len(row["audios"]) for row in rows)
    audio_id = tokenizer.convert_tokens_to_ids("<|AUDIO|>")
    if kind == "pairwise":  # the chosen rows, then the rejected rows, each with the example's sounds
        assert batch["input_features"].shape[0] == 2 * sounds
    else:  # the rows, and their KL rows (the prompt with another answer) in kl_*
        assert batch["input_features"].shape[0] == batch["kl_input_features"].shape[0] == sounds
        assert int((batch["kl_input_ids"] == audio_id).sum()) == int((batch["input_ids"] == audio_id).sum())


@pytest.mark.parametrize("seconds", [0.013, 1.0, 1.9999, 3.0])  # the tiny extractor's chunk is 2 s
def test_sound_token_counts_equal_the_feature_extractors_frames(tiny_qwen2_audio, seconds):
    """The count is read from the sound's length, without computing features: it must equal what the processor's
    attention mask gives, for short sounds, sounds at the chunk's edge and sounds cut to the chunk."""
    from transformers import AutoFeatureExtractor

    from tunefactory.data.multimodal import Sound, run_feature_extractor, tokens_per_audio_frames

    extractor = AutoFeatureExtractor.from_pretrained(tiny_qwen2_audio)
    sound = Sound(np.sin(np.arange(int(seconds * 16000)) / 7).astype(np.float32), 16000)
    frames = int(run_feature_extractor([sound], extractor, MediaSettings(), "np")["feature_attention_mask"].sum())
    expected = (((frames - 1) // 2 + 1) - 2) // 2 + 1
    assert tokens_per_audio_frames([sound], extractor, {}, MediaSettings()) == [expected]
