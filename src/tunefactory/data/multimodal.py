"""Media in conversations: one plugin per model family, declared once and read by data, collators and inference.

A dataset writes ``<image>`` where an image goes (LLaMA-Factory's placeholder; ``<audio>`` for a sound, ``<video>``
likewise) and lists the files in its ``images`` (``audios``) column. A family's plugin says which column it reads
(``media``) and

    - which token(s) an image becomes in the text: Qwen2-VL (and Qwen3-VL alike) writes ``<|vision_start|>``,
      then ``<|image_pad|>`` once per merged patch (the image grid's size / merge_size²), then ``<|vision_end|>``;
      LLaVA-1.5 writes ``<image>`` once per patch of its fixed-size picture (less CLS, see ``patches_per_image``);
      LLaVA-NeXT once per feature of its base picture and best grid of crops; Gemma 3 writes
      ``\n\n<start_of_image>``, ``<image_soft_token>`` ``image_seq_length`` times, then ``<end_of_image>\n\n``;
      InternVL ``<img>``, ``<IMG_CONTEXT>`` ``image_seq_length`` times per tile, ``</img>\n``; Llama 3.2 Vision
      keeps one ``<|image|>`` (its language model cross-attends to the image); Qwen2-Audio writes
      ``Audio 1: <|audio_bos|>``, ``<|AUDIO|>`` once per 40 ms of sound, then ``<|audio_eos|>\n``, as its official
      chat template and processor do;
    - how that count is found (``count``: one small function per way, below);
    - which processor outputs the model needs beside the ids (Qwen2-VL: ``pixel_values`` and ``image_grid_thw``;
      Qwen2-Audio: ``input_features`` and ``feature_attention_mask``; Llama 3.2 Vision's, laid out by row, with a
      cross-attention mask read from the ids: ``row_inputs``), made by the family's own image processor (feature
      extractor) when a batch is collated, so decoded pixels and sounds never sit in the cache.

The count follows the family's own processor rule, from its image processor run on the image and the processor's
settings (its ``processor_config.json``: LLaVA's patch size and feature strategy), so the ids match what its
``processor(text, images)`` produces for the same conversation (tests/data/test_multimodal.py).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

from .bad_rows import BadRow

IMAGE_PLACEHOLDER, AUDIO_PLACEHOLDER = "<image>", "<audio>"  # LLaMA-Factory's; <video> comes with its plugins
PLACEHOLDERS = {"images": IMAGE_PLACEHOLDER, "audios": AUDIO_PLACEHOLDER}  # a plugin's column -> its placeholder


@dataclass(frozen=True)
class MediaSettings:
    """The data settings that change how media are read (the model arguments of the same names)."""

    image_max_pixels: int = 768 * 768
    image_min_pixels: int = 32 * 32
    audio_sampling_rate: int = 16000
    image_do_pan_and_scan: bool = False  # Gemma 3: the image and crops of it (its processor's pan-and-scan)

    @classmethod
    def from_model_args(cls, model_args) -> MediaSettings:
        return cls(image_max_pixels=model_args.image_max_pixels, image_min_pixels=model_args.image_min_pixels,
                   audio_sampling_rate=model_args.audio_sampling_rate,
                   image_do_pan_and_scan=model_args.image_do_pan_and_scan)


NO_SETTINGS: Mapping[str, Any] = MappingProxyType({})


def merged_patches_per_image(images: list, image_processor, processor_settings: Mapping,
                             settings: MediaSettings) -> list[int]:
    """Qwen2-VL / Qwen3-VL: one token per merge_size² patches of the image's grid (its size varies with the image)."""
    grids = image_processor(images=images, return_tensors="np")["image_grid_thw"]
    merge = getattr(image_processor, "merge_size", 1)
    return [int(math.prod(grid)) // merge**2 for grid in grids]


def patches_per_image(images: list, image_processor, processor_settings: Mapping,
                      settings: MediaSettings) -> list[int]:
    """LLaVA (transformers 5.25's LlavaProcessor.replace_image_token): one token per patch of the resized picture,
    plus ``num_additional_image_tokens`` (the CLS token: 1 for CLIP), less one under the ``default`` feature
    strategy, which drops CLS from the features the projector sees."""
    patch = processor_settings["patch_size"]
    extra = processor_settings.get("num_additional_image_tokens", 0)
    dropped = 1 if processor_settings.get("vision_feature_select_strategy") == "default" else 0
    pixels = image_processor(images=images, return_tensors="np")["pixel_values"]
    return [(height // patch) * (width // patch) + extra - dropped for height, width in
            (picture.shape[-2:] for picture in pixels)]


def anyres_features_per_image(images: list, image_processor, processor_settings: Mapping,
                              settings: MediaSettings) -> list[int]:
    """LLaVA-NeXT (transformers 5.25's LlavaNextProcessor): the base picture's patches (plus CLS), and the crops of
    the grid resolution (``image_grid_pinpoints``) that fits the image best, less the rows or columns of patches
    that only pad it to the grid's shape, with one newline token per row; less one under the ``default`` feature
    strategy."""
    from transformers.image_processing_utils import select_best_resolution

    outputs = image_processor(images=images, return_tensors="np")
    crop_height, crop_width = outputs["pixel_values"][0][0].shape[-2:]
    patch = processor_settings["patch_size"]
    extra = processor_settings.get("num_additional_image_tokens", 0)
    dropped = 1 if processor_settings.get("vision_feature_select_strategy") == "default" else 0
    rows, columns = crop_height // patch, crop_width // patch
    counts = []
    for height, width in outputs["image_sizes"].tolist():
        best_height, best_width = select_best_resolution([height, width], image_processor.image_grid_pinpoints)
        grid_rows, grid_columns = rows * (best_height // crop_height), columns * (best_width // crop_width)
        if width / height > grid_columns / grid_rows:  # wider than the grid: padding rows top and bottom
            grid_rows -= (grid_rows - int(round(height * (grid_columns / width), 7))) // 2 * 2
        else:
            grid_columns -= (grid_columns - int(round(width * (grid_rows / height), 7))) // 2 * 2
        counts.append(grid_rows * grid_columns + grid_rows + rows * columns + extra - dropped)
    return counts


def tokens_per_tile(images: list, image_processor, processor_settings: Mapping,
                    settings: MediaSettings) -> list[int]:
    """InternVL (transformers 5.25's InternVLProcessor): ``image_seq_length`` tokens for each tile the image processor
    cuts the image into (its grid of crops and, with more than one, a thumbnail of the whole)."""
    tiles = image_processor(images=images, return_tensors="np")["num_patches"]
    return [int(count) * processor_settings["image_seq_length"] for count in tiles]


def one_token_per_image(images: list, image_processor, processor_settings: Mapping,
                        settings: MediaSettings) -> list[int]:
    """Llama 3.2 Vision (mllama): the image token stays one token; the language model reads the image through
    cross-attention instead."""
    return [1] * len(images)


def mllama_inputs(rows: list[list], image_processor, input_ids, token_id: int) -> dict[str, Any]:
    """Llama 3.2 Vision (transformers 5.25's MllamaProcessor): the tiles of each row's images, their aspect ratios,
    and the cross-attention mask from the ids (each text token sees the images whose tokens come before it)."""
    import torch
    from transformers.models.mllama.processing_mllama import (
        convert_sparse_cross_attention_mask_to_dense,
        get_cross_attention_token_mask,
    )

    outputs = dict(image_processor(images=rows, return_tensors="pt"))
    num_tiles = outputs.pop("num_tiles")
    spans = [get_cross_attention_token_mask(ids, token_id) for ids in input_ids.tolist()]
    mask = convert_sparse_cross_attention_mask_to_dense(spans, num_tiles, image_processor.max_image_tiles,
                                                        input_ids.shape[-1])
    return {**outputs, "cross_attention_mask": torch.from_numpy(mask)}


# Gemma3Processor's pan-and-scan settings, which its image processor's own config leaves unset
PAN_AND_SCAN = {"do_pan_and_scan": True, "pan_and_scan_min_crop_size": 256, "pan_and_scan_max_num_crops": 4,
                "pan_and_scan_min_ratio_to_activate": 1.2}


def crops_per_image(images: list, image_processor, processor_settings: Mapping,
                    settings: MediaSettings) -> list[int]:
    """Gemma 3 (transformers 5.25's Gemma3Processor): how many pan-and-scan crops each image gets beside itself (0
    unless ``image_do_pan_and_scan``); `gemma3_image_text` writes them."""
    if not settings.image_do_pan_and_scan:
        return [0] * len(images)
    outputs = run_gemma3_image_processor(images, image_processor, settings, "np")
    return [int(crops) for crops in outputs["num_crops"]]


def gemma3_image_text(crops: int, number: int, processor_settings: Mapping) -> str:
    """An image as Gemma3Processor writes it: ``image_seq_length`` soft tokens between its marks (the projector pools
    the picture's patches to ``mm_tokens_per_image``), and with pan-and-scan the crops after the whole image."""
    tokens = "<image_soft_token>" * processor_settings["image_seq_length"]
    whole = f"\n\n<start_of_image>{tokens}<end_of_image>\n\n"
    if not crops:
        return whole
    return (f"Here is the original image {whole} and here are some crops to help you see better "
            + " ".join([whole] * crops))


def run_gemma3_image_processor(images: list, image_processor, settings: MediaSettings,
                               return_tensors: str = "pt") -> Mapping[str, Any]:
    """The pictures (and, with pan-and-scan, their crops after each, as one list) and ``num_crops``."""
    extra = PAN_AND_SCAN if settings.image_do_pan_and_scan else {}
    return image_processor(images=images, return_tensors=return_tensors, **extra)


def tokens_per_audio_frames(sounds: list, feature_extractor, processor_settings: Mapping,
                            settings: MediaSettings) -> list[int]:
    """Qwen2-Audio (transformers 5.25's Qwen2AudioProcessor): the sound's mel frames (one per ``hop_length``
    samples, up to the feature extractor's chunk: the frames its attention mask marks, counted without computing
    the features), halved by the encoder's strided convolution and again by its pooling."""
    hop, chunk = feature_extractor.hop_length, feature_extractor.n_samples
    frames = [-(-min(len(sound.samples), chunk) // hop) for sound in sounds]
    return [(((count - 1) // 2 + 1) - 2) // 2 + 1 for count in frames]


def run_image_processor(images: list, image_processor, settings: MediaSettings,
                        return_tensors: str = "pt") -> Mapping[str, Any]:
    return image_processor(images=images, return_tensors=return_tensors)


def run_feature_extractor(sounds: list, feature_extractor, settings: MediaSettings,
                          return_tensors: str = "pt") -> Mapping[str, Any]:
    """Log-mel features padded to the extractor's chunk (30 s for Qwen2-Audio's Whisper extractor) and the mask of
    the real frames, under the name Qwen2-Audio's forward takes (``feature_attention_mask``)."""
    outputs = feature_extractor([sound.samples for sound in sounds], sampling_rate=sounds[0].sampling_rate,
                                return_attention_mask=True, padding="max_length", return_tensors=return_tensors)
    return {"input_features": outputs["input_features"], "feature_attention_mask": outputs["attention_mask"]}


@dataclass(frozen=True)
class MediaPlugin:
    """How one family writes its media (images, or sounds) in its text and what its model needs beside the ids."""

    name: str
    token: str  # repeated once per image patch (40 ms of sound) the language model sees
    start: str = ""  # before the tokens; "{n}" is the item's number in the conversation (Qwen2-Audio's "Audio 1: ")
    end: str = ""
    inputs: tuple[str, ...] = ("pixel_values",)  # processor outputs the model's forward takes
    # the forward keyword taking 1 at media tokens, 0 elsewhere: Qwen2-VL's mm_token_type_ids (M-RoPE), Gemma 3's
    # token_type_ids (bidirectional attention within an image); None where the model takes none
    token_types: str | None = None
    # what a chat template writes for an image part, which the family's processor then expands (None: the start,
    # one token and the end; Gemma 3's template writes <start_of_image> alone)
    chat_image: str | None = None
    # (items, image processor or feature extractor, processor settings, media settings) -> tokens per item (crops,
    # for a plugin that writes its own text), as the family's processor counts them
    count: Callable[[list, Any, Mapping, MediaSettings], list[int]] = merged_patches_per_image
    media: str = "images"  # the dataset column it reads: images, or audios
    # (items, processor, settings, return_tensors) -> the processor's outputs under the names the forward takes
    run: Callable[..., Mapping[str, Any]] = run_image_processor
    # (count, number, processor settings) -> an item's text, for a family whose items are not written as the start,
    # the token ``count`` times and the end (Gemma 3's pan-and-scan crops); None: that way
    write: Callable[[int, int, Mapping], str] | None = None
    # (each row's items, processor, the batch's ids, the token's id) -> the model's inputs, for a family whose inputs
    # are laid out by row and read the ids (mllama's cross-attention mask); None: one flat list of items
    row_inputs: Callable[..., dict[str, Any]] | None = None

    @property
    def placeholder(self) -> str:
        return PLACEHOLDERS[self.media]

    def load(self, item: Any, settings: MediaSettings):
        """One item of the plugin's column, read and ready for its processor (a bad one: `BadRow`)."""
        return load_audio(item, settings) if self.media == "audios" else load_image(item, settings)

    def expand(self, messages: list[dict], items: list, processor, settings: MediaSettings,
               processor_settings: Mapping = NO_SETTINGS) -> list[dict]:
        """The messages with each placeholder replaced by the model's own tokens for that item."""
        check_placeholders(messages, items or [], self.media)
        if not items:
            return messages
        counts = iter(self.count([self.load(i, settings) for i in items], processor, processor_settings, settings))
        number = 0
        expanded = []
        for message in messages:  # split, not replace in a loop: LLaVA's image token is the placeholder itself
            first, *rest = message["content"].split(self.placeholder)
            parts = [first]
            for text in rest:
                number += 1
                parts.append(self.item_text(next(counts), number, processor_settings) + text)
            expanded.append({**message, "content": "".join(parts)})
        return expanded

    def item_text(self, count: int, number: int, processor_settings: Mapping) -> str:
        if self.write is not None:
            return self.write(count, number, processor_settings)
        return self.start.replace("{n}", str(number)) + self.token * count + self.end

    def batch_inputs(self, items: list, processor, settings: MediaSettings) -> dict[str, Any]:
        """The model's media inputs for a batch's items, in the order their tokens appear."""
        if not items:
            return {}
        outputs = self.run([self.load(i, settings) for i in items], processor, settings)
        return {name: outputs[name] for name in self.inputs}

    def token_type_ids(self, input_ids, tokenizer) -> dict[str, Any]:
        """``{token_types: ids}``, 1 where a media token sits, 0 elsewhere ({} when the model takes none)."""
        if not self.token_types:
            return {}
        return {self.token_types: (input_ids == tokenizer.convert_tokens_to_ids(self.token)).long()}

    @property
    def template_part(self) -> str:
        """What a chat template writes for a media part (an image, or a sound)."""
        return self.start + self.token + self.end if self.chat_image is None else self.chat_image


@dataclass(frozen=True)
class MediaContext:
    """What processing and batching need to handle media: the family's plugin and processor, the limits."""

    plugin: MediaPlugin
    # the family's own image processor (AutoImageProcessor: its processor object needs torchvision for video), or
    # feature extractor for sounds (AutoFeatureExtractor)
    processor: Any
    settings: MediaSettings
    processor_settings: Mapping[str, Any] = field(default_factory=dict)  # the processor's processor_config.json

    @property
    def column(self) -> str:
        """The column of processed rows (and ``_column`` of canonical examples) holding the plugin's media."""
        return self.plugin.media

    def expand(self, messages: list[dict], items: list) -> list[dict]:
        return self.plugin.expand(messages, items, self.processor, self.settings, self.processor_settings)

    def batch_inputs(self, rows: list[list], input_ids, tokenizer) -> dict[str, Any]:
        """The model's media inputs for a batch: each row's items, in the order their tokens appear, and the rows'
        ids (``[rows, length]``)."""
        plugin = self.plugin
        if plugin.row_inputs is None:
            inputs = plugin.batch_inputs([item for row in rows for item in row], self.processor, self.settings)
        elif any(rows):
            loaded = [[plugin.load(item, self.settings) for item in row] for row in rows]
            inputs = plugin.row_inputs(loaded, self.processor, input_ids, tokenizer.convert_tokens_to_ids(plugin.token))
        else:
            inputs = {}
        return {**inputs, **plugin.token_type_ids(input_ids, tokenizer)}

    def save(self, output_dir) -> None:
        """The image processor (feature extractor) and the processor's settings, so the folder takes media as the
        model's did."""
        import json
        from pathlib import Path

        self.processor.save_pretrained(output_dir)
        if self.processor_settings:
            text = json.dumps(dict(self.processor_settings), indent=2, sort_keys=True) + "\n"
            (Path(output_dir) / "processor_config.json").write_text(text, encoding="utf-8")

    def token_count(self, input_ids: list[int], tokenizer) -> int:
        return input_ids.count(tokenizer.convert_tokens_to_ids(self.plugin.token))


def check_placeholders(messages: list[dict], items: list, column: str = "images") -> None:
    placeholder = PLACEHOLDERS[column]
    count = sum(m["content"].count(placeholder) for m in messages)
    if count != len(items):
        raise BadRow(f"{count} {placeholder} placeholder(s) in the messages but {len(items)} {column[:-1]}(s) in "
                     f"the {column} column: write one placeholder where each {column[:-1]} goes")


def load_image(item: Any, settings: MediaSettings):
    """A path, bytes, ``{"path"|"bytes"}`` dict or PIL image -> an RGB image within the pixel limits."""
    from io import BytesIO

    from PIL import Image, UnidentifiedImageError

    try:
        if isinstance(item, Image.Image):
            image = item
        elif isinstance(item, dict):
            image = Image.open(BytesIO(item["bytes"])) if item.get("bytes") else Image.open(item["path"])
        elif isinstance(item, (bytes, bytearray)):
            image = Image.open(BytesIO(item))
        else:
            image = Image.open(item)
        image.load()
    except (OSError, UnidentifiedImageError, KeyError) as exc:
        raise BadRow(f"image {_describe(item)} cannot be read: {exc}") from None
    return fit_pixels(image.convert("RGB"), settings)


def fit_pixels(image, settings: MediaSettings):
    """Scale an image (aspect kept) into [image_min_pixels, image_max_pixels], as LLaMA-Factory does."""
    pixels = image.width * image.height
    if pixels > settings.image_max_pixels or pixels < settings.image_min_pixels:
        limit = settings.image_max_pixels if pixels > settings.image_max_pixels else settings.image_min_pixels
        factor = math.sqrt(limit / pixels)
        image = image.resize((max(1, int(image.width * factor)), max(1, int(image.height * factor))))
    return image


@dataclass(frozen=True)
class Sound:
    """Mono samples in [-1, 1] at ``sampling_rate``."""

    samples: Any  # a float32 numpy array
    sampling_rate: int


def load_audio(item: Any, settings: MediaSettings) -> Sound:
    """A path (WAV, or mp3/flac/ogg with the soundfile package), ``{"array", "sampling_rate"}`` as datasets'
    Audio feature decodes it, or ``{"bytes"}`` -> mono samples at ``audio_sampling_rate`` (resampled by a
    polyphase filter when the file has another rate, as librosa's loading in LLaMA-Factory does)."""
    import numpy as np

    try:
        if isinstance(item, dict) and item.get("array") is not None:
            samples, rate = np.asarray(item["array"], dtype=np.float32), int(item["sampling_rate"])
        else:
            samples, rate = _read_sound_file(item["bytes"] if isinstance(item, dict) and item.get("bytes") else
                                             item["path"] if isinstance(item, dict) else item)
    except (OSError, ValueError, RuntimeError, KeyError, EOFError) as exc:
        raise BadRow(f"audio {_describe(item)} cannot be read: {exc}") from None
    if samples.ndim > 1:
        samples = samples.mean(axis=1)  # channels last, as soundfile and scipy read them
    if not len(samples):
        raise BadRow(f"audio {_describe(item)} has no samples")
    if rate != settings.audio_sampling_rate:
        from math import gcd

        from scipy.signal import resample_poly

        divisor = gcd(rate, settings.audio_sampling_rate)
        samples = resample_poly(samples, settings.audio_sampling_rate // divisor, rate // divisor)
    return Sound(samples.astype(np.float32), settings.audio_sampling_rate)


def _read_sound_file(source) -> tuple[Any, int]:
    """(float32 samples, sampling rate) of a sound file's path or bytes."""
    from io import BytesIO

    import numpy as np

    handle = BytesIO(source) if isinstance(source, (bytes, bytearray)) else source
    try:
        import soundfile
    except ImportError:  # WAV without it
        from scipy.io import wavfile

        rate, samples = wavfile.read(handle)
        if samples.dtype.kind in "iu":
            info = np.iinfo(samples.dtype)
            samples = (samples.astype(np.float32) - (info.max + info.min + 1) / 2) / ((info.max - info.min + 1) / 2)
        return samples.astype(np.float32), int(rate)
    samples, rate = soundfile.read(handle, dtype="float32", always_2d=False)
    return samples, int(rate)


def _describe(item: Any) -> str:
    return repr(item) if isinstance(item, str) else type(item).__name__


QWEN2_VL = MediaPlugin("qwen2_vl", token="<|image_pad|>", start="<|vision_start|>", end="<|vision_end|>",
                       inputs=("pixel_values", "image_grid_thw"), token_types="mm_token_type_ids")
# Qwen3-VL (and Qwen3.5/3.6, whose templates name it) writes an image as Qwen2-VL does: transformers 5.25's
# Qwen3VLProcessor repeats <|image_pad|> grid.prod() // merge_size² times, its image processor is Qwen2-VL's
# (16-pixel patches), and Qwen3VLModel takes the same inputs. Only its videos differ (per-frame timestamps).
QWEN3_VL = replace(QWEN2_VL, name="qwen3_vl")
# LLaVA-1.5 (llava-hf): <image> once per patch of the CLIP picture (576 for 336 x 336, 14-pixel patches), no marks
# around it; the model takes pixel_values only.
LLAVA = MediaPlugin("llava", token="<image>", count=patches_per_image)
# LLaVA-NeXT (LLaVA-1.6, and the templates that name its plugin: llava_next_*, Granite Vision): <image> once per
# feature of the base picture and of its best grid of crops (anyres), no marks around it; the model takes the
# crops' pixel_values and the images' sizes.
LLAVA_NEXT = MediaPlugin("llava_next", token="<image>", inputs=("pixel_values", "image_sizes"),
                         count=anyres_features_per_image)
# Gemma 3: Gemma3Processor replaces the <start_of_image> its chat template writes with "\n\n<start_of_image>",
# <image_soft_token> image_seq_length times (mm_tokens_per_image: 256 there) and "<end_of_image>\n\n"; the model
# takes pixel_values and token_type_ids (1 at the soft tokens), which let an image's tokens see each other.
GEMMA3 = MediaPlugin("gemma3", token="<image_soft_token>", start="\n\n<start_of_image>",
                     end="<end_of_image>\n\n", count=crops_per_image, write=gemma3_image_text,
                     run=run_gemma3_image_processor, token_types="token_type_ids", chat_image="<start_of_image>")
# InternVL (the transformers format: InternVL3-*-hf, InternVL2.5): its chat template writes "<IMG_CONTEXT>\n" for an
# image part and InternVLProcessor makes the <IMG_CONTEXT> "<img>", <IMG_CONTEXT> image_seq_length times per tile,
# "</img>" (LLaMA-Factory writes no newline after it); the model takes the tiles' pixel_values.
INTERN_VL = MediaPlugin("intern_vl", token="<IMG_CONTEXT>", start="<img>", end="</img>\n", count=tokens_per_tile,
                        chat_image="<IMG_CONTEXT>\n")
# Llama 3.2 Vision (mllama): <|image|> stays one token where the image goes; the model takes each row's tiles, their
# aspect ratios and a cross-attention mask built from the ids, as MllamaProcessor makes them.
MLLAMA = MediaPlugin("mllama", token="<|image|>", count=one_token_per_image,
                     inputs=("pixel_values", "aspect_ratio_ids", "aspect_ratio_mask", "cross_attention_mask"),
                     row_inputs=mllama_inputs)
# Qwen2-Audio: each sound is "Audio n: <|audio_bos|>", <|AUDIO|> once per 40 ms (its Whisper features: 10 ms
# frames, up to 30 s, halved twice by the encoder), then "<|audio_eos|>\n", as Qwen2-Audio-7B-Instruct's chat
# template writes an audio part and its processor expands it (LLaMA-Factory writes neither "Audio n: " nor the
# newline); the model takes the features and the mask of their real frames.
QWEN2_AUDIO = MediaPlugin("qwen2_audio", token="<|AUDIO|>", start="Audio {n}: <|audio_bos|>", end="<|audio_eos|>\n",
                          inputs=("input_features", "feature_attention_mask"), count=tokens_per_audio_frames,
                          media="audios", run=run_feature_extractor)

# template `multimodal` name -> plugin; the families not here are refused with the list of those that are
PLUGINS: dict[str, MediaPlugin] = {plugin.name: plugin for plugin in (QWEN2_VL, QWEN3_VL, LLAVA, LLAVA_NEXT, GEMMA3,
                                                                      INTERN_VL, MLLAMA, QWEN2_AUDIO)}
# the forward keywords of the plugins' token types: one value per position of the ids, not per image
TOKEN_TYPE_INPUTS = frozenset(plugin.token_types for plugin in PLUGINS.values() if plugin.token_types)


def get_plugin(name: str | None, template_name: str) -> MediaPlugin:
    if name is None:
        raise BadRow(f"template {template_name!r} is text-only: use the model family's multimodal template "
                     f"({', '.join(PLUGINS)}) to train on images or sounds")
    if name not in PLUGINS:
        raise BadRow(f"template {template_name!r} uses media plugin {name!r}, which TuneFactory does not have yet; "
                     f"available: {', '.join(PLUGINS)}")
    return PLUGINS[name]
