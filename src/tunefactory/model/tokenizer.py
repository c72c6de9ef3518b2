"""Load a model's tokenizer as the run's model arguments describe it."""

from __future__ import annotations

from ..errors import ModelError


def load_tokenizer(model_args):
    """The tokenizer for ``model_args.model_name_or_path``, with the user's extra tokens added."""
    from transformers import AutoTokenizer

    if not model_args.model_name_or_path:
        raise ModelError("model_name_or_path is required to load a tokenizer")
    try:
        tokenizer = AutoTokenizer.from_pretrained(
            model_args.model_name_or_path,
            use_fast=model_args.use_fast_tokenizer,
            split_special_tokens=model_args.split_special_tokens,
            trust_remote_code=model_args.trust_remote_code,
            cache_dir=model_args.cache_dir,
            revision=model_args.model_revision,
            token=model_args.hf_hub_token,
        )
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot load a tokenizer from {model_args.model_name_or_path!r}: {exc}") from exc
    if model_args.add_tokens:
        tokenizer.add_tokens(list(model_args.add_tokens))
    if model_args.add_special_tokens:
        tokenizer.add_special_tokens({"additional_special_tokens": list(model_args.add_special_tokens)},
                                     replace_extra_special_tokens=False)
    return tokenizer


def load_image_processor(model_args):
    """The model family's own image processor (for the media plugins), from the model's folder."""
    from transformers import AutoImageProcessor

    return _load_media_processor(AutoImageProcessor, model_args, "an image processor", "images")


def load_feature_extractor(model_args):
    """The model family's own feature extractor for sounds (Qwen2-Audio's Whisper log-mel), from the model's
    folder."""
    from transformers import AutoFeatureExtractor

    return _load_media_processor(AutoFeatureExtractor, model_args, "a feature extractor", "sounds")


def _load_media_processor(auto_class, model_args, what: str, media: str):
    try:
        return auto_class.from_pretrained(model_args.model_name_or_path, trust_remote_code=model_args.trust_remote_code,
                                          cache_dir=model_args.cache_dir, revision=model_args.model_revision,
                                          token=model_args.hf_hub_token)
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot load {what} from {model_args.model_name_or_path!r} (its preprocessor_config.json), "
                         f"which training on {media} needs: {exc}") from exc


def load_processor_settings(model_args) -> dict:
    """The processor's own settings (its ``processor_config.json``; {} without one): LLaVA's patch size and feature
    strategy, which its image-token count needs and its image processor does not hold."""
    import json

    from transformers.utils import cached_file

    path = cached_file(model_args.model_name_or_path, "processor_config.json", cache_dir=model_args.cache_dir,
                       revision=model_args.model_revision, token=model_args.hf_hub_token,
                       _raise_exceptions_for_missing_entries=False, _raise_exceptions_for_connection_errors=False)
    if path is None:
        return {}
    with open(path, encoding="utf-8") as file:
        return json.load(file)


def load_media(model_args, template):
    """The media context (plugin, image processor or feature extractor, limits) when the template's family has a
    media plugin."""
    from ..data.multimodal import PLUGINS, MediaContext, MediaSettings

    if template.multimodal not in PLUGINS:
        return None
    plugin = PLUGINS[template.multimodal]
    processor = load_feature_extractor(model_args) if plugin.media == "audios" else load_image_processor(model_args)
    return MediaContext(plugin, processor, MediaSettings.from_model_args(model_args),
                        load_processor_settings(model_args))
