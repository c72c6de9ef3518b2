"""`create_app(chat_model)`: the OpenAI-compatible routes over a ChatModel.

    GET  /v1/models               the one model this server holds (its id: API_MODEL_NAME)
    POST /v1/chat/completions     chat, streamed (SSE) or not: n answers, stop strings, tool calls, usage
    POST /v1/score/evaluation     a reward model's score of each text (stage: rm), as LLaMA-Factory serves it

Every error is an OpenAI-style body ``{"error": {"message", "type", "param", "code"}}``: 400 for a
request the model cannot answer as sent (bad JSON or fields, roles out of order, a prompt beyond the
context), 401 for a missing or wrong API key, 404/405 for unknown routes, and 500 only for a fault of
the server itself, which keeps serving. Generation runs in the engine's worker thread; the routes
await it (`achat`, `astream_chat`), and tokenizing and scoring run in a thread pool, so the event
loop never blocks.
"""

from __future__ import annotations

import hmac
import os
import re
from contextlib import aclosing
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from ..env_flags import env_flag
from .completions import MediaAccess, check_score_request, completion_response, new_id, prepare_chat, stream_chunks
from .protocol import (
    ApiError,
    ChatCompletion,
    ChatCompletionRequest,
    ModelCard,
    ModelList,
    ScoreEvaluationRequest,
    ScoreEvaluationResponse,
)

DEFAULT_MODEL_NAME = "gpt-3.5-turbo"  # LLaMA-Factory's default id, so clients written for it work unchanged
HTTP_CODES = {404: "not_found", 405: "method_not_allowed"}
# pydantic names the member of a union in an error's location (`stop.str`, `stop.list[str]`): not a field
UNION_MEMBER = re.compile(r"^(str|int|float|bool|none|dict|list|literal|function)\b|\[")
BEARER = HTTPBearer(auto_error=False)  # module level: the route annotations are resolved in this namespace
SSE_HEADERS = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}  # no proxy may hold pieces back


@dataclass(frozen=True)
class ApiSettings:
    api_key: str | None = None  # when set, every /v1 route needs `Authorization: Bearer <api_key>`
    model_name: str = DEFAULT_MODEL_NAME
    root_path: str = ""  # the path prefix a reverse proxy serves the app under
    media_access: MediaAccess = MediaAccess()  # image_url: data: URLs only, unless the operator allows more

    @classmethod
    def from_env(cls, environ=None) -> ApiSettings:
        env = os.environ if environ is None else environ
        media = MediaAccess(media_dir=Path(env["API_MEDIA_DIR"]) if env.get("API_MEDIA_DIR") else None,
                            fetch_urls=env_flag("API_FETCH_MEDIA_URLS", environ=env))
        return cls(api_key=env.get("API_KEY") or None, model_name=env.get("API_MODEL_NAME") or DEFAULT_MODEL_NAME,
                   root_path=env.get("FASTAPI_ROOT_PATH", ""), media_access=media)


def create_app(chat_model, settings: ApiSettings | None = None) -> FastAPI:
    """The app serving ``chat_model``; settings default to the environment (API_KEY, API_MODEL_NAME, …)."""
    settings = settings or ApiSettings.from_env()
    app = FastAPI(title="TuneFactory API", root_path=settings.root_path)
    app.add_middleware(CORSMiddleware, allow_origins=["*"], allow_methods=["*"], allow_headers=["*"])
    add_error_handlers(app)

    async def check_api_key(credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER)]):
        if settings.api_key and (credentials is None or not hmac.compare_digest(
                credentials.credentials.encode(), settings.api_key.encode())):
            raise ApiError(401, "invalid or missing API key: send the header `Authorization: Bearer <API_KEY>`",
                           "authentication_error", code="invalid_api_key")

    guarded = [Depends(check_api_key)]

    @app.get("/v1/models", response_model=ModelList, dependencies=guarded)
    async def list_models() -> ModelList:
        return ModelList(data=[ModelCard(id=settings.model_name)])

    @app.post("/v1/chat/completions", response_model=ChatCompletion, dependencies=guarded)
    async def chat_completions(body: ChatCompletionRequest):
        call = await run_in_threadpool(prepare_chat, chat_model, body, settings.media_access)
        model = body.model or settings.model_name
        if body.stream:
            return StreamingResponse(server_sent_events(stream_chunks(chat_model, call, model)),
                                     media_type="text/event-stream", headers=SSE_HEADERS)
        responses = await chat_model.achat(call.messages, n=call.n, **call.kwargs())
        return completion_response(chat_model, call, responses, model)

    @app.post("/v1/score/evaluation", response_model=ScoreEvaluationResponse, dependencies=guarded)
    async def score_evaluation(body: ScoreEvaluationRequest) -> ScoreEvaluationResponse:
        await run_in_threadpool(check_score_request, chat_model, body)
        scores = await run_in_threadpool(chat_model.get_scores, body.messages, body.max_length)
        return ScoreEvaluationResponse(id=new_id("scoreval-"), model=body.model or settings.model_name,
                                       scores=scores)

    return app


async def server_sent_events(lines):
    """Each data line as one server-sent event. Written here rather than through an SSE library, whose per-event
    timeouts and locks cost more of the event loop than the tokens themselves on a small model."""
    async with aclosing(lines):  # the client went away: closing the lines cancels the generation at once
        async for line in lines:
            yield f"data: {line}\n\n"


# --- errors -----------------------------------------------------------------------------------------------------

def add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def refused(request: Request, error: ApiError) -> JSONResponse:
        return JSONResponse(error.body(), status_code=error.status)

    @app.exception_handler(RequestValidationError)
    async def invalid_body(request: Request, error: RequestValidationError) -> JSONResponse:
        message, param = describe_validation_errors(error.errors())
        return JSONResponse(ApiError(400, message, param=param).body(), status_code=400)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, error: HTTPException) -> JSONResponse:
        kind = "invalid_request_error" if error.status_code < 500 else "server_error"
        body = ApiError(error.status_code, str(error.detail), kind, code=HTTP_CODES.get(error.status_code)).body()
        return JSONResponse(body, status_code=error.status_code, headers=error.headers)

    @app.exception_handler(Exception)
    async def internal_error(request: Request, error: Exception) -> JSONResponse:
        # a bug, not a bad request: the client gets JSON, the server log the traceback (uvicorn prints it)
        body = ApiError(500, f"internal server error: {type(error).__name__}: {error}", "server_error").body()
        return JSONResponse(body, status_code=500)


def describe_validation_errors(errors) -> tuple[str, str | None]:
    """One readable message (and the first offending field) from pydantic's validation errors."""
    messages, params = [], []
    for error in errors:
        loc = [str(part) for part in error.get("loc", ()) if part != "body" and not UNION_MEMBER.match(str(part))]
        param = ".".join(loc) or None
        if error.get("type") == "json_invalid":
            reason = (error.get("ctx") or {}).get("error", "")
            return f"the request body is not valid JSON ({reason})".replace(" ()", ""), None
        if error.get("type") == "missing":
            messages.append(f"{param} is required" if param else "the request body is required (JSON)")
        else:
            got = repr(error.get("input"))
            shown = f" (got {got})" if len(got) <= 80 and param else ""
            messages.append(f"{param or 'the request body'}: {error.get('msg')}{shown}")
        params.append(param)
    return "invalid request: " + "; ".join(dict.fromkeys(messages[:5])), next((p for p in params if p), None)
