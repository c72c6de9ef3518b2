"""A tiny random-weight Qwen2-Audio and the bundled demo sounds, built offline in seconds.

``ensure_tiny_qwen2_audio`` saves a folder laid out as Qwen/Qwen2-Audio-7B-Instruct's, which plain transformers loads
by path (``AutoModelForMultimodalLM``, ``AutoTokenizer``, ``AutoFeatureExtractor``; its ``Qwen2AudioProcessor``
builds from the two): random weights (a Whisper-style audio encoder, its projector and a Qwen2 language model), a BPE
tokenizer trained on the same corpus as ``tiny_models`` with the family's special tokens in the real id order, a
Whisper feature extractor that reads 2-second chunks (30 s there; the encoder's positions are sized to match), and
the processor's chat template, which writes each audio part as ``Audio n: <|audio_bos|><|AUDIO|><|audio_eos|>\\n``.

``write_demo_sounds`` synthesises the clips of ``data/mllm_demo_data`` (tones, beeps and a sweep, 16 kHz mono) and
``mllm_audio_demo_rows`` writes the ``mllm_audio_demo`` dataset about them (LLaMA-Factory's format).

    python -m tunefactory_fixtures.tiny_audio --out /tmp/tiny-qwen2-audio
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .tiny_models import BUNDLED_DATA_DIR, build_once, corpus_fingerprint, train_bpe_tokenizer
from .tiny_multimodal import MEDIA_FOLDER

# Qwen2-Audio's special tokens in the real tokenizer's id order (151643, 151644, 151645, 151646 ... 151648 there)
QWEN2_AUDIO_SPECIAL_TOKENS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|AUDIO|>", "<|audio_bos|>",
                              "<|audio_eos|>")
SAMPLING_RATE = 16000
CHUNK_SECONDS = 2  # the feature extractor's chunk: 200 mel frames of 10 ms, the encoder's 100 positions
RECIPE = {
    "text": {"model_type": "qwen2", "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4,
             "num_key_value_heads": 2, "intermediate_size": 64, "max_position_embeddings": 1024},
    "audio": {"d_model": 32, "encoder_layers": 1, "encoder_attention_heads": 2, "encoder_ffn_dim": 64,
              "num_mel_bins": 128, "max_source_positions": CHUNK_SECONDS * 100 // 2},
    "feature_extractor": {"feature_size": 128, "sampling_rate": SAMPLING_RATE, "hop_length": 160,
                          "chunk_length": CHUNK_SECONDS, "n_fft": 400},
    "vocab_size": 1024,
}


def build_tiny_qwen2_audio(out_dir: str | Path, seed: int = 0, data_dir: Path = BUNDLED_DATA_DIR) -> Path:
    """Build and save a random-weight Qwen2-Audio with its tokenizer and feature extractor; returns ``out_dir``."""
    import torch
    from transformers import AutoModelForMultimodalLM, Qwen2AudioConfig, Qwen2AudioProcessor, WhisperFeatureExtractor

    out_dir = Path(out_dir)
    named = {"eos": "<|im_end|>", "pad": "<|endoftext|>"}
    tokenizer = train_bpe_tokenizer(list(QWEN2_AUDIO_SPECIAL_TOKENS), named, RECIPE["vocab_size"],
                                    RECIPE["text"]["max_position_embeddings"], data_dir)
    tokenizer.chat_template = Qwen2AudioProcessor.default_chat_template.fget(None)  # the processor's own
    ids = tokenizer.convert_tokens_to_ids
    config = Qwen2AudioConfig(
        text_config={**RECIPE["text"], "vocab_size": len(tokenizer), "bos_token_id": ids(named["pad"]),
                     "eos_token_id": ids(named["eos"]), "pad_token_id": ids(named["pad"])},
        audio_config=RECIPE["audio"], audio_token_id=ids("<|AUDIO|>"), dtype="float32",
    )
    torch.manual_seed(seed)
    model = AutoModelForMultimodalLM.from_config(config)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    WhisperFeatureExtractor(**RECIPE["feature_extractor"]).save_pretrained(out_dir)  # preprocessor_config.json
    return out_dir


def ensure_tiny_qwen2_audio(cache_dir: str | Path, seed: int = 0) -> Path:
    """Build a tiny Qwen2-Audio once into ``cache_dir`` and reuse it while its recipe is unchanged."""
    recipe = {**RECIPE, "tokens": QWEN2_AUDIO_SPECIAL_TOKENS, "seed": seed, "corpus": corpus_fingerprint()}
    return build_once(cache_dir, "qwen2_audio-tiny", recipe, lambda out_dir: build_tiny_qwen2_audio(out_dir, seed))


# --- the bundled demo sounds and the mllm_audio_demo dataset about them --------------------------------------

@dataclass(frozen=True)
class DemoSound:
    name: str
    description: str  # what the answers say it is
    tones: tuple[tuple[float, float, float], ...]  # (start Hz, end Hz, seconds) pieces, silence where Hz is 0

    @property
    def path(self) -> str:
        return f"{MEDIA_FOLDER}/{self.name}"

    @property
    def seconds(self) -> float:
        return sum(piece[2] for piece in self.tones)


DEMO_SOUNDS = (
    DemoSound("1.wav", "a high tone", ((880.0, 880.0, 1.0),)),
    DemoSound("2.wav", "a low tone", ((220.0, 220.0, 1.0),)),
    DemoSound("3.wav", "two short beeps", ((660.0, 660.0, 0.25), (0.0, 0.0, 0.2), (660.0, 660.0, 0.25))),
    DemoSound("4.flac", "a rising sweep", ((200.0, 1200.0, 1.2),)),
)


def synthesise(sound: DemoSound):
    """The clip's 16-bit samples: sine pieces (a linear chirp where the pitch moves), faded in and out."""
    import numpy as np

    pieces = []
    for start, end, seconds in sound.tones:
        t = np.arange(int(seconds * SAMPLING_RATE)) / SAMPLING_RATE
        phase = 2 * np.pi * (start * t + (end - start) * t**2 / (2 * seconds))
        wave = 0.4 * np.sin(phase) if start else np.zeros_like(t)
        fade = np.minimum(1.0, np.minimum(t, seconds - t) / 0.01)  # 10 ms ramps: no clicks
        pieces.append(wave * fade)
    return np.round(np.concatenate(pieces) * 32767).astype(np.int16)


def write_demo_sounds(data_dir: str | Path) -> list[Path]:
    """Write every demo clip into ``data_dir/mllm_demo_data`` (WAV, and FLAC for one, which needs soundfile)."""
    import wave

    folder = Path(data_dir) / MEDIA_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for sound in DEMO_SOUNDS:
        path = folder / sound.name
        samples = synthesise(sound)
        if path.suffix == ".wav":
            with wave.open(str(path), "wb") as file:
                file.setnchannels(1)
                file.setsampwidth(2)
                file.setframerate(SAMPLING_RATE)
                file.writeframes(samples.tobytes())
        else:
            import soundfile

            soundfile.write(str(path), samples, SAMPLING_RATE, format="FLAC", subtype="PCM_16")
        written.append(path)
    return written


def _row(sounds: tuple[DemoSound, ...], *turns: str) -> dict[str, Any]:
    messages = [{"content": text, "role": ("user", "assistant")[i % 2]} for i, text in enumerate(turns)]
    return {"messages": messages, "audios": [sound.path for sound in sounds]}


def mllm_audio_demo_rows() -> list[dict[str, Any]]:
    """The mllm_audio_demo dataset: questions about DEMO_SOUNDS answered from their table."""
    high, low, beeps, sweep = DEMO_SOUNDS
    return [
        _row((high,), "<audio>What do you hear?", f"I hear {high.description}."),
        _row((low,), "<audio>What do you hear?", f"I hear {low.description}."),
        _row((beeps,), "<audio>How many beeps are there?", "There are two beeps."),
        _row((sweep,), "<audio>Does the pitch go up or down?", "It goes up: it is a rising sweep."),
        _row((high,), "<audio>Is the tone high or low?", "It is high.", "How long is it?",
             f"About {high.seconds:g} second."),
        _row((low, high), "<audio><audio>Which sound is lower, the first or the second?",
             f"The first one: it is {low.description}."),
        _row((low,), "<audio>Is the tone high or low?", "It is low."),
        _row((beeps,), "<audio>Describe the sound.", f"It is {beeps.description}, with a pause between them."),
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Build a tiny random-weight Qwen2-Audio.")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", required=True, help="output folder (created)")
    args = parser.parse_args(argv)
    print(build_tiny_qwen2_audio(args.out, args.seed))


if __name__ == "__main__":
    main()
