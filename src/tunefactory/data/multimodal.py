"""Media in conversations: one plugin per model family, declared once and read by data, collators and inference.

A dataset writes ``<image>`` where an image goes (LLaMA-Factory's placeholder; ``<video>``, ``<audio>`` likewise)
and lists the files in its ``images`` column. A family's plugin says

    - which token(s) an image becomes in the text: Qwen2-VL (and Qwen3-VL alike) writes ``<|vision_start|>``,
      then ``<|image_pad|>`` once per merged patch (the image grid's size / merge_size²), then ``<|vision_end|>``;
      LLaVA-1.5 writes ``<image>`` once per patch of its fixed-size picture (less CLS, see ``patches_per_image``);
      Gemma 3 writes ``\n\n<start_of_image>``, ``<image_soft_token>`` ``image_seq_length`` times, then
      ``<end_of_image>\n\n``;
    - how that count is found (``count``: one small function per way, below);
    - which processor outputs the model needs beside the ids (Qwen2-VL: ``pixel_values`` and ``image_grid_thw``),
      made by the family's own processor when a batch is collated, so decoded pixels never sit in the cache.

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

IMAGE_PLACEHOLDER = "<image>"  # LLaMA-Factory's; <video> and <audio> come with their plugins


@dataclass(frozen=True)
class MediaSettings:
    """The data settings that change how media are read (the model arguments of the same names)."""

    image_max_pixels: int = 768 * 768
    image_min_pixels: int = 32 * 32

    @classmethod
    def from_model_args(cls, model_args) -> MediaSettings:
        return cls(image_max_pixels=model_args.image_max_pixels, image_min_pixels=model_args.image_min_pixels)


NO_SETTINGS: Mapping[str, Any] = MappingProxyType({})


def merged_patches_per_image(images: list, image_processor, processor_settings: Mapping) -> list[int]:
    """Qwen2-VL / Qwen3-VL: one token per merge_size² patches of the image's grid (its size varies with the image)."""
    grids = image_processor(images=images, return_tensors="np")["image_grid_thw"]
    merge = getattr(image_processor, "merge_size", 1)
    return [int(math.prod(grid)) // merge**2 for grid in grids]


def patches_per_image(images: list, image_processor, processor_settings: Mapping) -> list[int]:
    """LLaVA (transformers 5.25's LlavaProcessor.replace_image_token): one token per patch of the resized picture,
    plus ``num_additional_image_tokens`` (the CLS token: 1 for CLIP), less one under the ``default`` feature
    strategy, which drops CLS from the features the projector sees."""
    patch = processor_settings["patch_size"]
    extra = processor_settings.get("num_additional_image_tokens", 0)
    dropped = 1 if processor_settings.get("vision_feature_select_strategy") == "default" else 0
    pixels = image_processor(images=images, return_tensors="np")["pixel_values"]
    return [(height // patch) * (width // patch) + extra - dropped for height, width in
            (picture.shape[-2:] for picture in pixels)]


def tokens_per_image(images: list, image_processor, processor_settings: Mapping) -> list[int]:
    """Gemma 3 (transformers 5.25's Gemma3Processor): the same ``image_seq_length`` tokens for every image (the
    projector pools the picture's patches to ``mm_tokens_per_image``); pan-and-scan crops are not supported."""
    return [processor_settings["image_seq_length"]] * len(images)


@dataclass(frozen=True)
class MediaPlugin:
    """How one family writes images in its text and what its model needs beside the ids."""

    name: str
    image_token: str  # repeated once per image patch the language model sees
    image_start: str = ""
    image_end: str = ""
    image_inputs: tuple[str, ...] = ("pixel_values",)  # processor outputs the model's forward takes
    # the forward keyword taking 1 at image tokens, 0 elsewhere: Qwen2-VL's mm_token_type_ids (M-RoPE), Gemma 3's
    # token_type_ids (bidirectional attention within an image); None where the model takes none
    token_types: str | None = None
    # what a chat template writes for an image part, which the family's processor then expands (None: the start,
    # one image token and the end; Gemma 3's template writes <start_of_image> alone)
    chat_image: str | None = None
    # (images, image_processor, processor settings) -> image tokens per image, as the family's processor counts them
    count: Callable[[list, Any, Mapping], list[int]] = merged_patches_per_image

    def expand(self, messages: list[dict], images: list, image_processor, settings: MediaSettings,
               processor_settings: Mapping = NO_SETTINGS) -> list[dict]:
        """The messages with each ``<image>`` replaced by the model's own tokens for that image."""
        check_placeholders(messages, images or [])
        if not images:
            return messages
        counts = iter(self.count([load_image(i, settings) for i in images], image_processor, processor_settings))
        expanded = []
        for message in messages:  # split, not replace in a loop: LLaVA's image token is the placeholder itself
            first, *rest = message["content"].split(IMAGE_PLACEHOLDER)
            content = first + "".join(self.image_start + self.image_token * next(counts) + self.image_end + text
                                      for text in rest)
            expanded.append({**message, "content": content})
        return expanded

    def batch_inputs(self, images: list, image_processor, settings: MediaSettings) -> dict[str, Any]:
        """The model's media inputs for a batch's images, in the order their tokens appear."""
        if not images:
            return {}
        outputs = image_processor(images=[load_image(i, settings) for i in images], return_tensors="pt")
        return {name: outputs[name] for name in self.image_inputs}

    def token_type_ids(self, input_ids, tokenizer) -> dict[str, Any]:
        """``{token_types: ids}``, 1 where an image token sits, 0 elsewhere ({} when the model takes none)."""
        if not self.token_types:
            return {}
        return {self.token_types: (input_ids == tokenizer.convert_tokens_to_ids(self.image_token)).long()}

    @property
    def template_image(self) -> str:
        """What a chat template writes for an image part."""
        return self.image_start + self.image_token + self.image_end if self.chat_image is None else self.chat_image


@dataclass(frozen=True)
class MediaContext:
    """What processing and batching need to handle media: the family's plugin and image processor, the limits."""

    plugin: MediaPlugin
    image_processor: Any  # the family's own (AutoImageProcessor): its processor object needs torchvision for video
    settings: MediaSettings
    processor_settings: Mapping[str, Any] = field(default_factory=dict)  # the processor's processor_config.json

    def expand(self, messages: list[dict], images: list) -> list[dict]:
        return self.plugin.expand(messages, images, self.image_processor, self.settings, self.processor_settings)

    def save(self, output_dir) -> None:
        """The image processor and the processor's settings, so the folder takes images as the model's did."""
        import json
        from pathlib import Path

        self.image_processor.save_pretrained(output_dir)
        if self.processor_settings:
            text = json.dumps(dict(self.processor_settings), indent=2, sort_keys=True) + "\n"
            (Path(output_dir) / "processor_config.json").write_text(text, encoding="utf-8")

    def image_token_count(self, input_ids: list[int], tokenizer) -> int:
        return input_ids.count(tokenizer.convert_tokens_to_ids(self.plugin.image_token))


def check_placeholders(messages: list[dict], images: list) -> None:
    count = sum(m["content"].count(IMAGE_PLACEHOLDER) for m in messages)
    if count != len(images):
        raise BadRow(f"{count} {IMAGE_PLACEHOLDER} placeholder(s) in the messages but {len(images)} image(s) in the "
                     "images column: write one placeholder where each image goes")


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


def _describe(item: Any) -> str:
    return repr(item) if isinstance(item, str) else type(item).__name__


QWEN2_VL = MediaPlugin("qwen2_vl", image_token="<|image_pad|>", image_start="<|vision_start|>",
                       image_end="<|vision_end|>", image_inputs=("pixel_values", "image_grid_thw"),
                       token_types="mm_token_type_ids")
# Qwen3-VL (and Qwen3.5/3.6, whose templates name it) writes an image as Qwen2-VL does: transformers 5.25's
# Qwen3VLProcessor repeats <|image_pad|> grid.prod() // merge_size² times, its image processor is Qwen2-VL's
# (16-pixel patches), and Qwen3VLModel takes the same inputs. Only its videos differ (per-frame timestamps).
QWEN3_VL = replace(QWEN2_VL, name="qwen3_vl")
# LLaVA-1.5 (llava-hf): <image> once per patch of the CLIP picture (576 for 336 x 336, 14-pixel patches), no marks
# around it; the model takes pixel_values only.
LLAVA = MediaPlugin("llava", image_token="<image>", count=patches_per_image)
# Gemma 3: Gemma3Processor replaces the <start_of_image> its chat template writes with "\n\n<start_of_image>",
# <image_soft_token> image_seq_length times (mm_tokens_per_image: 256 there) and "<end_of_image>\n\n"; the model
# takes pixel_values and token_type_ids (1 at the soft tokens), which let an image's tokens see each other.
GEMMA3 = MediaPlugin("gemma3", image_token="<image_soft_token>", image_start="\n\n<start_of_image>",
                     image_end="<end_of_image>\n\n", count=tokens_per_image, token_types="token_type_ids",
                     chat_image="<start_of_image>")

# template `multimodal` name -> plugin; the families not here are refused with the list of those that are
PLUGINS: dict[str, MediaPlugin] = {plugin.name: plugin for plugin in (QWEN2_VL, QWEN3_VL, LLAVA, GEMMA3)}
# the forward keywords of the plugins' token types: one value per position of the ids, not per image
TOKEN_TYPE_INPUTS = frozenset(plugin.token_types for plugin in PLUGINS.values() if plugin.token_types)


def get_plugin(name: str | None, template_name: str) -> MediaPlugin:
    if name is None:
        raise BadRow(f"template {template_name!r} is text-only: use the model family's multimodal template "
                     f"({', '.join(PLUGINS)}) to train on images")
    if name not in PLUGINS:
        raise BadRow(f"template {template_name!r} uses media plugin {name!r}, which TuneFactory does not have yet; "
                     f"available: {', '.join(PLUGINS)}")
    return PLUGINS[name]
