"""Chatting about a sound (Qwen2-Audio): the answer equals the model's own generate() on what its processor makes of
the same conversation."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tunefactory.errors import TuneFactoryError

SOUND = Path(__file__).resolve().parents[2] / "data" / "mllm_demo_data" / "2.wav"
IMAGE = SOUND.parent / "1.png"


def test_a_sound_answer_equals_generate_on_the_processors_inputs(qwen2_audio_chat, tiny_qwen2_audio):
    from transformers import AutoFeatureExtractor, AutoTokenizer, Qwen2AudioProcessor

    from tunefactory.data.multimodal import MediaSettings, load_audio

    messages = [{"role": "user", "content": "<audio>What do you hear?", "audios": [str(SOUND)]}]
    answer = qwen2_audio_chat.chat(messages)[0]
    tokenizer = AutoTokenizer.from_pretrained(tiny_qwen2_audio)
    processor = Qwen2AudioProcessor(feature_extractor=AutoFeatureExtractor.from_pretrained(tiny_qwen2_audio),
                                    tokenizer=tokenizer)
    text = processor.apply_chat_template([{"role": "user", "content": [
        {"type": "audio", "audio_url": "unused"}, {"type": "text", "text": "What do you hear?"}]}],
        tokenize=False, add_generation_prompt=True)
    inputs = processor(text=text, audio=[load_audio(str(SOUND), MediaSettings()).samples], sampling_rate=16000,
                       return_tensors="pt")
    assert qwen2_audio_chat.prompt_ids(messages) == inputs["input_ids"][0].tolist()
    with torch.no_grad():
        expected = qwen2_audio_chat.model.generate(**inputs, max_new_tokens=6, do_sample=False,
                                             eos_token_id=qwen2_audio_chat.stop_ids)
    assert answer.text == tokenizer.decode(expected[0, inputs["input_ids"].shape[1]:], skip_special_tokens=True)
    assert "".join(qwen2_audio_chat.stream_chat(messages)) == answer.text


def test_images_for_a_sound_model_are_refused(qwen2_audio_chat):
    with pytest.raises(TuneFactoryError, match="this model takes audios, not images"):
        qwen2_audio_chat.chat([{"role": "user", "content": "<image>What is it?", "images": [str(IMAGE)]}])
    with pytest.raises(TuneFactoryError, match="1 <audio> placeholder.s. in the messages but 0 audio"):
        qwen2_audio_chat.chat([{"role": "user", "content": "<audio>What is it?"}])
