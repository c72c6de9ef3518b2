"""The OpenAI-compatible HTTP server (`tunefactory api`): routes in `app.py`, request and response
bodies in `protocol.py`, their translation to ChatModel calls in `completions.py`, uvicorn in `server.py`."""

from .app import ApiSettings, create_app
from .server import run_api

__all__ = ["ApiSettings", "create_app", "run_api"]
