"""The assistant interface and the ``--assistant`` spec parser (``template``, ``planllm:PATH``, ``http:URL``)."""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from typing import Any

from mtad_env.errors import InvalidValueError


class Assistant(ABC):
    """Maps an assistant observation to an action: a response string, or an act index in ``"acts"`` mode."""

    name: str = "assistant"
    mode: str = "text"

    @abstractmethod
    def __call__(self, observation: dict[str, Any]) -> Any:
        """The action for this observation."""

    def reset(self, seed: int | None = None) -> None:
        """Forget per-episode state (most assistants have none)."""


def build_assistant(spec: str | Assistant, mode: str = "text", seed: int | None = None) -> Assistant:
    """An assistant from a CLI/``make`` spec: ``template``, ``template:ERROR_RATE``, ``planllm:PATH``,
    ``http:URL`` (an OpenAI-compatible server), or an :class:`Assistant` as is."""
    if isinstance(spec, Assistant):
        return spec
    if not isinstance(spec, str):
        raise InvalidValueError(f"assistant must be a spec string or an Assistant, not {type(spec).__name__}")
    kind, _, arg = spec.partition(":")
    if kind == "template":
        from agents.template_assistant import TemplateAssistant

        try:
            rate = float(arg) if arg else 0.0
        except ValueError:
            rate = math.nan
        if not 0.0 <= rate <= 1.0:
            raise InvalidValueError(f"assistant {spec!r}: the error rate {arg!r} must be a number in [0, 1], "
                                    "e.g. template:0.1 (one deliberately wrong response in ten)")
        return TemplateAssistant(error_rate=rate, mode=mode, seed=seed)
    if kind == "planllm" and arg:
        from agents.planllm import PlanLLMAssistant

        return PlanLLMAssistant(arg)
    if kind in ("http", "https") and arg:
        from agents.http_assistant import OpenAICompatibleAssistant

        url = spec if spec.startswith(("http://", "https://")) else spec[len("http:"):]  # http:URL or a bare URL
        return OpenAICompatibleAssistant(url)
    raise InvalidValueError(f"unknown assistant {spec!r}; valid: template, template:ERROR_RATE, planllm:PATH, "
                            "http:URL")
