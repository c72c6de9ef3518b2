"""Shared fixtures: tiny offline models are built once per test session.

Nothing here reaches a hub: the offline switches are set before transformers is imported.
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]
FIXTURES = REPO_ROOT / "tests" / "fixtures"


@pytest.fixture(scope="session")
def tiny_model_cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("tiny-models")


@pytest.fixture(scope="session")
def tiny_llama(tiny_model_cache) -> Path:
    from tunefactory_fixtures.tiny_models import ensure_tiny_model

    return ensure_tiny_model(tiny_model_cache, arch="llama", size="tiny")


@pytest.fixture(scope="session")
def tiny_qwen2(tiny_model_cache) -> Path:
    from tunefactory_fixtures.tiny_models import ensure_tiny_model

    return ensure_tiny_model(tiny_model_cache, arch="qwen2", size="tiny")


@pytest.fixture(scope="session")
def tiny_qwen2_vl(tiny_model_cache) -> Path:
    from tunefactory_fixtures.tiny_multimodal import ensure_tiny_qwen2_vl

    return ensure_tiny_qwen2_vl(tiny_model_cache)


@pytest.fixture(scope="session")
def tiny_qwen3_vl(tiny_model_cache) -> Path:
    from tunefactory_fixtures.tiny_multimodal import ensure_tiny_qwen3_vl

    return ensure_tiny_qwen3_vl(tiny_model_cache)


@pytest.fixture(scope="session")
def tiny_llava(tiny_model_cache) -> Path:
    from tunefactory_fixtures.tiny_multimodal import ensure_tiny_llava

    return ensure_tiny_llava(tiny_model_cache)


@pytest.fixture(scope="session")
def tiny_llava_next(tiny_model_cache) -> Path:
    from tunefactory_fixtures.tiny_multimodal import ensure_tiny_llava_next

    return ensure_tiny_llava_next(tiny_model_cache)


@pytest.fixture(scope="session")
def tiny_intern_vl(tiny_model_cache) -> Path:
    from tunefactory_fixtures.tiny_multimodal import ensure_tiny_intern_vl

    return ensure_tiny_intern_vl(tiny_model_cache)


@pytest.fixture(scope="session")
def tiny_mllama(tiny_model_cache) -> Path:
    from tunefactory_fixtures.tiny_multimodal import ensure_tiny_mllama

    return ensure_tiny_mllama(tiny_model_cache)


@pytest.fixture(scope="session")
def tiny_qwen2_audio(tiny_model_cache) -> Path:
    from tunefactory_fixtures.tiny_audio import ensure_tiny_qwen2_audio

    return ensure_tiny_qwen2_audio(tiny_model_cache)


@pytest.fixture(scope="session")
def qwen2_audio_chat(tiny_qwen2_audio):
    """A ChatModel serving the tiny Qwen2-Audio greedily, 6 new tokens (shared by the chat and API tests)."""
    from tunefactory.config import parse_dict
    from tunefactory.infer.chat_model import ChatModel

    model = ChatModel(parse_dict({"model_name_or_path": str(tiny_qwen2_audio), "template": "qwen2_audio",
                                  "temperature": 0, "max_new_tokens": 6}, command="api"))
    yield model
    model.engine.close()


@pytest.fixture(scope="session")
def tiny_gemma3(tiny_model_cache) -> Path:
    from tunefactory_fixtures.tiny_multimodal import ensure_tiny_gemma3

    return ensure_tiny_gemma3(tiny_model_cache)


@pytest.fixture
def write_yaml(tmp_path):
    """Write a mapping (or raw text) to a YAML file in the test's folder and return its path."""
    import yaml

    def write(content, name: str = "config.yaml") -> Path:
        path = tmp_path / name
        path.write_text(content if isinstance(content, str) else yaml.safe_dump(content), encoding="utf-8")
        return path

    return write
