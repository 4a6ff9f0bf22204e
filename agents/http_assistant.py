"""An assistant served over HTTP by an OpenAI-compatible chat-completions endpoint (vLLM, llama.cpp, ...)."""

from __future__ import annotations

import json
import logging
import os
import time
import urllib.error
import urllib.request
from typing import Any

from agents.base import Assistant
from agents.prompting import chat_messages, clean_response
from mtad_env.errors import MtadError

logger = logging.getLogger(__name__)


class EndpointError(MtadError, ConnectionError):
    """The endpoint could not be reached or kept failing after the retries."""


def chat_completions_url(base_url: str) -> str:
    """The chat-completions URL of a server given as ``http://HOST[:PORT]``, ``.../v1`` or the full URL."""
    base = base_url.rstrip("/")
    if base.endswith("/chat/completions"):
        return base
    return f"{base}/chat/completions" if base.endswith("/v1") else f"{base}/v1/chat/completions"


def post_json(url: str, payload: dict[str, Any], timeout: float, retries: int, backoff: float,
              api_key_env: str | None) -> dict[str, Any]:
    """POST JSON with bounded retries and exponential backoff; the API key comes only from the environment."""
    headers = {"Content-Type": "application/json"}
    key = os.environ.get(api_key_env) if api_key_env else None
    if key:
        headers["Authorization"] = f"Bearer {key}"
    body = json.dumps(payload).encode("utf-8")
    last: Exception | None = None
    for attempt in range(retries + 1):
        try:
            req = urllib.request.Request(url, data=body, headers=headers, method="POST")
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                return json.loads(resp.read().decode("utf-8"))
        except urllib.error.HTTPError as exc:
            last = exc
            if exc.code < 500 and exc.code != 429:
                break
        except (urllib.error.URLError, TimeoutError, ConnectionError, json.JSONDecodeError) as exc:
            last = exc
        if attempt < retries:
            time.sleep(backoff * 2**attempt)
    reason = getattr(last, "reason", None) or last
    raise EndpointError(f"endpoint {url} failed after {retries + 1} attempts: {reason}")


class OpenAICompatibleAssistant(Assistant):
    """Sends the task and dialogue as chat messages to ``{base_url}/v1/chat/completions``.

    Args:
        base_url: server root, e.g. ``http://127.0.0.1:8000``.
        model: model name sent to the server.
        timeout: seconds per request; retries: extra attempts on 5xx, 429 and connection errors.
        api_key_env: environment variable holding the API key (never logged or written).
    """

    name = "http"

    def __init__(self, base_url: str, model: str = "default", timeout: float = 30.0, retries: int = 2,
                 backoff: float = 0.5, max_tokens: int = 128, temperature: float = 0.0,
                 api_key_env: str | None = "OPENAI_API_KEY") -> None:
        self.url = chat_completions_url(base_url)
        self.model, self.timeout, self.retries, self.backoff = model, timeout, retries, backoff
        self.max_tokens, self.temperature, self.api_key_env = max_tokens, temperature, api_key_env

    def __call__(self, observation: dict[str, Any]) -> str:
        payload = {"model": self.model, "messages": chat_messages(observation), "max_tokens": self.max_tokens,
                   "temperature": self.temperature}
        reply = post_json(self.url, payload, self.timeout, self.retries, self.backoff, self.api_key_env)
        try:
            return clean_response(reply["choices"][0]["message"]["content"] or "")
        except (KeyError, IndexError, TypeError):
            raise EndpointError(f"endpoint {self.url} returned no choices[0].message.content") from None


def from_spec(spec: str, arg: str, mode: str = "text", seed: int | None = None) -> OpenAICompatibleAssistant:
    """``http:URL`` or a bare ``http://`` / ``https://`` URL of an OpenAI-compatible server."""
    return OpenAICompatibleAssistant(spec if spec.startswith(("http://", "https://")) else spec[len("http:"):])
