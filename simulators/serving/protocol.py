"""The request fields of ``POST /v1/chat/completions`` other than the messages, and the reply's JSON (see
:mod:`simulators.serving` for the protocol). Plain Python: no web framework needed to parse or build them."""

from __future__ import annotations

import math
import secrets
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from mtad_env.errors import InvalidValueError, MtadError
from mtad_env.profiles import Profile
from mtad_env.records import DEGENERATE
from mtad_env.registry import LM_SIMULATORS

SIMULATORS: tuple[str, ...] = ("agenda", *LM_SIMULATORS)
MODEL_EXAMPLES = ("agenda/regular", "sts/verbosity=high", "mtad-la/Impatient & Verbose")
DEFAULT_TEMPERATURE, DEFAULT_TOP_P, DEFAULT_MAX_TOKENS = 1.0, 0.95, 40
MAX_TOKENS = 256
SEED_LIMIT = 2**63


class RequestError(InvalidValueError):
    """A request the server refuses: ``param`` names the field, ``valid`` its valid choices (if a list)."""

    def __init__(self, param: str | None, message: str, valid: Sequence[Any] | None = None,
                 status: int = 400) -> None:
        super().__init__(message)
        self.param, self.valid, self.status = param, list(valid) if valid is not None else None, status

    def body(self) -> dict[str, Any]:
        kind = "authentication_error" if self.status == 401 else "invalid_request_error"
        error = {"message": str(self), "type": kind, "param": self.param, "code": None}
        if self.valid is not None:
            error["valid"] = self.valid
        return {"error": error}


@dataclass(frozen=True)
class Sampling:
    """How an LM user samples its turn; ``seed`` picks the turn's generator."""

    temperature: float = DEFAULT_TEMPERATURE
    top_p: float = DEFAULT_TOP_P
    max_tokens: int = DEFAULT_MAX_TOKENS
    seed: int = 0

    def rng(self, turn_index: int) -> np.random.Generator:
        """The generator of the user's turn ``turn_index`` (0 for the first turn)."""
        return np.random.default_rng([self.seed, turn_index])


@dataclass(frozen=True)
class ChatRequest:
    """A validated request, its messages still raw (see :func:`simulators.serving.messages.conversation`)."""

    model: str
    simulator: str
    profile: Profile
    sampling: Sampling
    weights: list[float] | None
    messages: Any


@dataclass(frozen=True)
class Reply:
    """The simulated user's next turn and what it cost."""

    intent: str
    utterance: str
    finish_reason: str = "stop"
    prompt_tokens: int = 0
    completion_tokens: int = 0


def parse_model(name: Any) -> tuple[str, Profile]:
    """``SIMULATOR/PROFILE`` -> (simulator, profile)."""
    if not isinstance(name, str) or "/" not in name:
        raise RequestError("model", f"model {name!r} is not valid; valid: SIMULATOR/PROFILE with SIMULATOR one of "
                                    f"{', '.join(SIMULATORS)}, e.g. {', '.join(MODEL_EXAMPLES)}",
                           list(MODEL_EXAMPLES))
    simulator, _, profile = name.partition("/")
    if simulator not in SIMULATORS:
        raise RequestError("model", f"unknown simulator {simulator!r} in model {name!r}; valid: "
                                    f"{', '.join(SIMULATORS)}", list(SIMULATORS))
    try:
        return simulator, Profile.parse(profile)
    except MtadError as exc:
        raise RequestError("model", f"model {name!r}: {exc}") from None


def _number(body: Mapping, name: str, default: float, low: float, high: float, low_open: bool = False) -> float:
    value = body.get(name)
    if value is None:
        return default
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if ok and (low < value <= high if low_open else low <= value <= high):
        return float(value)
    bounds = f"{'>' if low_open else '>='} {low:g} and <= {high:g}"
    raise RequestError(name, f"{name}={value!r} is not valid; valid: a number {bounds} (default {default:g})",
                       [f"{name} {bounds}"])


def _integer(body: Mapping, names: Sequence[str], default: int, low: int, high: int) -> int:
    for name in names:
        value = body.get(name)
        if value is None:
            continue
        if isinstance(value, int) and not isinstance(value, bool) and low <= value <= high:
            return value
        raise RequestError(name, f"{name}={value!r} is not valid; valid: an integer from {low} to {high}",
                           [f"{low}..{high}"])
    return default


def _weights(body: Mapping) -> list[float] | None:
    extra = body.get("mtad")
    if extra is None:
        return None
    if not isinstance(extra, Mapping) or set(extra) - {"weights"}:
        raise RequestError("mtad", "mtad must be an object with only 'weights', e.g. {\"weights\": [0.7, 0.3]}",
                           ["weights"])
    weights = extra.get("weights")
    if weights is None:
        return None
    if not isinstance(weights, list) or not all(isinstance(w, (int, float)) and not isinstance(w, bool)
                                                for w in weights):
        raise RequestError("mtad.weights", f"mtad.weights {weights!r} must be a list of numbers, one per adapter")
    return [float(w) for w in weights]


def parse_request(body: Any) -> ChatRequest:
    """Validate every field but the messages; unknown fields are ignored, as OpenAI-compatible servers do."""
    if not isinstance(body, Mapping):
        raise RequestError(None, "the request body must be a JSON object with 'model' and 'messages'")
    simulator, profile = parse_model(body.get("model"))
    if body.get("n") not in (None, 1):
        raise RequestError("n", f"n={body.get('n')!r} is not supported; valid: 1", [1])
    if body.get("stream") not in (None, False):
        raise RequestError("stream", f"stream={body.get('stream')!r} is not supported; valid: false", [False])
    sampling = Sampling(_number(body, "temperature", DEFAULT_TEMPERATURE, 0.0, 2.0),
                        _number(body, "top_p", DEFAULT_TOP_P, 0.0, 1.0, low_open=True),
                        _integer(body, ("max_completion_tokens", "max_tokens"), DEFAULT_MAX_TOKENS, 1, MAX_TOKENS),
                        _integer(body, ("seed",), secrets.randbelow(SEED_LIMIT), -SEED_LIMIT + 1, SEED_LIMIT - 1))
    if sampling.seed < 0:  # numpy seeds are non-negative; keep negative seeds distinct from positive ones
        sampling = Sampling(sampling.temperature, sampling.top_p, sampling.max_tokens, SEED_LIMIT - sampling.seed)
    return ChatRequest(body["model"], simulator, profile, sampling, _weights(body), body.get("messages"))


def completion(model: str, reply: Reply, turn: int) -> dict[str, Any]:
    """The ``chat.completion`` object of a reply; ``turn`` is the 1-based index of this user turn."""
    extra = {"intent": reply.intent, "ended": reply.intent == "stop", "degenerate": reply.intent == DEGENERATE,
             "turn": turn}
    return {"id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion", "created": int(time.time()),
            "model": model, "system_fingerprint": "mtad-env",
            "choices": [{"index": 0, "finish_reason": reply.finish_reason, "logprobs": None,
                         "message": {"role": "assistant", "content": reply.utterance, "mtad": extra}}],
            "usage": {"prompt_tokens": reply.prompt_tokens, "completion_tokens": reply.completion_tokens,
                      "total_tokens": reply.prompt_tokens + reply.completion_tokens}}
