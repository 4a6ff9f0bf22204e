"""The FastAPI application of ``mtad-env serve`` and helpers to run it with uvicorn (see :mod:`simulators.serving`)."""

from __future__ import annotations

import contextlib
import hmac
import json
import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from mtad_env.errors import MtadError
from simulators.serving.batcher import Batcher
from simulators.serving.protocol import SIMULATORS, RequestError, completion, parse_request
from simulators.serving.users import UserModels

logger = logging.getLogger(__name__)
MAX_BODY_BYTES = 1 << 20


class _Routes:
    """The endpoints, over one set of simulators and (with LM users) one decode loop."""

    def __init__(self, users: UserModels, api_key: str | None, lm: bool, batching: dict[str, float]) -> None:
        self.users, self.api_key, self.lm, self.batching = users, api_key, lm, batching
        self.batcher: Batcher | None = None

    @contextlib.asynccontextmanager
    async def lifespan(self, _: FastAPI):
        if self.lm:
            self.batcher = Batcher(self.users.load(), **self.batching)
            self.batcher.start()
        yield
        if self.batcher is not None:
            await self.batcher.stop()

    def authorise(self, request: Request) -> None:
        if self.api_key is None:
            return
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), self.api_key.encode()):
            raise RequestError(None, "missing or wrong API key: send the header 'Authorization: Bearer KEY'",
                               status=401)

    async def health(self) -> dict[str, Any]:
        """Liveness for probes (no key needed), with the decode loop's batching figures."""
        stats = self.batcher.stats.as_dict() if self.batcher is not None else None
        caches = self.users.prefix_caches
        return {"status": "ok", "lm": self.batcher is not None, "batching": stats,
                "prefix_cache": caches.stats() if caches is not None else None}

    async def models(self, request: Request) -> dict[str, Any]:
        self.authorise(request)
        return {"object": "list", "data": [{"id": name, "object": "model", "created": 0, "owned_by": "mtad-env"}
                                           for name in self.users.model_names(with_lm=self.lm)]}

    async def chat_completions(self, request: Request) -> JSONResponse:
        self.authorise(request)
        chat = parse_request(await _json_body(request))
        if chat.simulator != "agenda" and self.batcher is None:
            raise RequestError("model", f"this server serves agenda users only; valid: agenda/PROFILE "
                                        f"(start it with LM users for {', '.join(SIMULATORS[1:])})",
                               ["agenda/PROFILE"])
        job = self.users.prepare(chat)
        reply = self.users.answer_agenda(job) if job.decode is None else await self.batcher.submit(job)
        return JSONResponse(completion(chat.model, reply, job.turn))


async def _refused(_: Request, exc: RequestError) -> JSONResponse:
    return JSONResponse(exc.body(), status_code=exc.status)


async def _invalid(_: Request, exc: MtadError) -> JSONResponse:
    return JSONResponse(RequestError(None, str(exc)).body(), status_code=400)


def create_app(users: UserModels | None = None, api_key: str | None = None, lm: bool = True,
               window_s: float = 0.002, max_wait_s: float = 0.02, max_rows: int = 512) -> FastAPI:
    """The server's application.

    Args:
        users: the simulators (default: agenda users and the shipped pack). api_key: the key requests must send as
            ``Authorization: Bearer KEY`` (None: no key needed; ``/health`` never needs one). lm: serve LM users
            (loads the pack at start-up); False serves agenda users only. window_s, max_wait_s, max_rows: how LM
            requests are batched (:class:`simulators.serving.batcher.Batcher`).
    """
    routes = _Routes(users or UserModels(), api_key, lm,
                     {"window_s": window_s, "max_wait_s": max_wait_s, "max_rows": max_rows})
    app = FastAPI(title="mtad-env simulated users", lifespan=routes.lifespan,
                  description="The model is the user: see the docstring of the serving package for the protocol.")
    app.add_exception_handler(RequestError, _refused)
    app.add_exception_handler(MtadError, _invalid)
    app.add_api_route("/health", routes.health, methods=["GET"])
    app.add_api_route("/v1/models", routes.models, methods=["GET"])
    app.add_api_route("/v1/chat/completions", routes.chat_completions, methods=["POST"])
    return app


async def _json_body(request: Request) -> Any:
    body = await request.body()
    if len(body) > MAX_BODY_BYTES:
        raise RequestError("messages", f"the request body has {len(body)} bytes; at most {MAX_BODY_BYTES}")
    try:
        return json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RequestError(None, f"the request body is not valid JSON ({exc})") from None


def serve(app: FastAPI, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Run ``app`` with uvicorn until interrupted."""
    import uvicorn

    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)


@contextlib.contextmanager
def running(app: FastAPI, host: str = "127.0.0.1", port: int = 0, timeout: float = 600.0) -> Iterator[str]:
    """Run ``app`` in a background thread (``port=0``: a free port); yields the base URL, stops on exit."""
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, name="mtad-serve", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"the server did not start on {host}:{port}")
        time.sleep(0.01)
    bound = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://{host}:{bound}"
    finally:
        server.should_exit = True
        thread.join(timeout)
