"""The tiny Qwen2-Audio loads in plain transformers as the hub checkpoint does, and the bundled demo sounds are what
their answers say."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tunefactory.data.multimodal import MediaSettings, load_audio
from tunefactory_fixtures.tiny_audio import DEMO_SOUNDS

SOUNDS = Path(__file__).resolve().parents[2] / "data"


def test_the_tiny_model_loads_in_plain_transformers(tiny_qwen2_audio):
    from transformers import AutoFeatureExtractor, AutoModelForMultimodalLM, AutoTokenizer, Qwen2AudioProcessor

    model = AutoModelForMultimodalLM.from_pretrained(tiny_qwen2_audio)
    tokenizer = AutoTokenizer.from_pretrained(tiny_qwen2_audio)
    processor = Qwen2AudioProcessor(feature_extractor=AutoFeatureExtractor.from_pretrained(tiny_qwen2_audio),
                                    tokenizer=tokenizer)
    assert type(model).__name__ == "Qwen2AudioForConditionalGeneration"
    assert model.config.audio_token_id == tokenizer.convert_tokens_to_ids("<|AUDIO|>") == 3
    assert tokenizer.chat_template == processor.chat_template  # the processor's own template


def pitch(samples: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(samples))
    return float(np.fft.rfftfreq(len(samples), 1 / 16000)[spectrum.argmax()])


def test_the_demo_sounds_are_what_their_answers_say():
    high, low, beeps, sweep = (load_audio(str(SOUNDS / s.path), MediaSettings()).samples for s in DEMO_SOUNDS)
    assert pitch(high) == pytest.approx(880, abs=2) and pitch(low) == pytest.approx(220, abs=2)
    frames = beeps[: len(beeps) // 160 * 160].reshape(-1, 160)  # 10 ms frames
    loud = np.sqrt((frames**2).mean(axis=1)) > 0.1
    assert int(np.count_nonzero(loud[1:] & ~loud[:-1])) + int(loud[0]) == 2  # two bursts of sound, a pause between
    half = len(sweep) // 2
    assert pitch(sweep[:half]) < pitch(sweep[half:])  # rising
    assert len(sweep) == 1.2 * 16000  # read from FLAC
