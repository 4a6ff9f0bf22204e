"""The assistant interface, and assistants built from a spec string (``template``, ``template:ERROR_RATE``,
``planllm:PATH``, ``http:URL``) through :data:`mtad_env.registry.ASSISTANTS`.

The interface lives in the core, beside :class:`mtad_env.user_simulator.UserSimulator`, so that ``make`` can accept
an assistant without importing the ``agents`` package, whose assistants implement it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from mtad_env.errors import InvalidValueError
from mtad_env.registry import ASSISTANT_SPECS, ASSISTANTS

_NEEDS_ARGUMENT = ("planllm", "http", "https")  # a path or a URL after the colon


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
    ``http:URL`` (an OpenAI-compatible server), any kind registered in :data:`mtad_env.registry.ASSISTANTS`, or an
    :class:`Assistant` as is."""
    if isinstance(spec, Assistant):
        return spec
    if not isinstance(spec, str):
        raise InvalidValueError(f"assistant must be a spec string or an Assistant, not {type(spec).__name__}")
    kind, _, arg = spec.partition(":")
    if kind not in ASSISTANTS or (kind in _NEEDS_ARGUMENT and not arg):
        kinds = {s.partition(":")[0] for s in ASSISTANT_SPECS} | {"https"}
        valid = [*ASSISTANT_SPECS, *(k for k in ASSISTANTS.names() if k not in kinds)]
        raise InvalidValueError(f"unknown assistant {spec!r}; valid: {', '.join(valid)}")
    return ASSISTANTS.build(kind, spec=spec, arg=arg, mode=mode, seed=seed)
