"""`tunefactory api config.yaml`: serve a ChatModel over HTTP with uvicorn.

Environment (the names LLaMA-Factory's `llamafactory-cli api` reads):

    API_HOST           address to listen on (default 127.0.0.1; LLaMA-Factory listens on 0.0.0.0)
    API_PORT           port (default 8000)
    API_KEY            when set, every /v1 route needs `Authorization: Bearer <API_KEY>`
    API_MODEL_NAME     the model id /v1/models lists (default gpt-3.5-turbo)
    FASTAPI_ROOT_PATH  the path prefix when served behind a reverse proxy
"""

from __future__ import annotations

import logging
import os

from ..errors import ConfigError
from .app import ApiSettings, create_app

logger = logging.getLogger(__name__)


def run_api(chat_model, environ=None) -> int:
    """Serve until interrupted (Ctrl-C); returns the exit status."""
    import uvicorn

    env = os.environ if environ is None else environ
    host, port = env.get("API_HOST", "127.0.0.1"), listen_port(env.get("API_PORT", "8000"))
    settings = ApiSettings.from_env(env)
    app = create_app(chat_model, settings)
    kind = "reward model (POST /v1/score/evaluation)" if chat_model.is_reward_model else "chat model"
    logger.info("serving %s as %r, a %s, on http://%s:%d/v1 (API docs at /docs)%s",
                chat_model.config.model.model_name_or_path, settings.model_name, kind, host, port,
                "; API_KEY is required" if settings.api_key else "")
    uvicorn.run(app, host=host, port=port)
    return 0


def listen_port(value: str) -> int:
    problems = port_problems(value)
    if problems:
        raise ConfigError(problems)
    return int(value)


def port_problems(value: str) -> list[str]:
    if not value.isdigit() or not 0 < int(value) < 65536:
        return [f"API_PORT must be a port number (1-65535), got {value!r}"]
    return []
