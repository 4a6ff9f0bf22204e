"""Named builders of user simulators and assistants, resolved lazily from entry-point strings (as Gymnasium's
environment registry does), so that the core package names the simulators and assistants it ships without
importing them: ``"simulators.agenda:build_agenda_simulator"`` is imported only when ``make`` first builds one.

Example:
    >>> from mtad_env.registry import SIMULATORS
    >>> "agenda" in SIMULATORS, SIMULATORS.names()[:2]
    (True, ['agenda', 'sts'])
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from mtad_env.errors import InvalidValueError, unknown

# The LM user simulators (decoding modes of :class:`simulators.lm_simulator.LMUserSimulator`), and the ones that
# weigh several adapters; every list of simulator names (``make``, the CLI, the user server) is built from these.
LM_SIMULATORS: tuple[str, ...] = ("sts", "jts", "mtad", "mtad-la", "sampling")
MIXING_SIMULATORS: tuple[str, ...] = ("mtad", "mtad-la", "sampling")


@dataclass(frozen=True)
class Entry:
    """A registered builder: a callable, or a ``"module:attribute"`` string imported on first use; ``kwargs`` are
    fixed arguments (e.g. an LM simulator's mode)."""

    target: Callable[..., Any] | str
    kwargs: Mapping[str, Any] = field(default_factory=dict)

    def load(self) -> Callable[..., Any]:
        if callable(self.target):
            return self.target
        module, _, attribute = self.target.partition(":")
        obj: Any = importlib.import_module(module)
        for part in attribute.split("."):
            obj = getattr(obj, part)
        return obj

    def options(self) -> tuple[str, ...] | None:
        """The keyword options the builder takes (beyond the fixed ones); None when it takes any (``**kwargs``)."""
        params = inspect.signature(self.load()).parameters.values()
        if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
            return None
        return tuple(p.name for p in params if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD,
                                                           inspect.Parameter.KEYWORD_ONLY)
                     and p.name not in self.kwargs)


class Registry:
    """Names to builders, in registration order (the order listed in errors and help)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, Entry] = {}

    def register(self, name: str, target: Callable[..., Any] | str, replace: bool = False, **kwargs: Any) -> None:
        """Register ``name``; ``target`` is a callable or a lazily imported ``"module:attribute"`` string."""
        if not isinstance(name, str) or not name:
            raise InvalidValueError(f"{self.kind} name {name!r} must be a non-empty string")
        if name in self._entries and not replace:
            raise InvalidValueError(f"{self.kind} {name!r} is already registered; pass replace=True to replace it")
        if isinstance(target, str) and ":" not in target:
            raise InvalidValueError(f"{self.kind} {name!r}: entry point {target!r} must read 'module:attribute'")
        self._entries[name] = Entry(target, dict(kwargs))

    def unregister(self, name: str) -> None:
        self.entry(name)
        del self._entries[name]

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def names(self) -> list[str]:
        return list(self._entries)

    def entry(self, name: str) -> Entry:
        if name not in self._entries:
            raise unknown(self.kind, name, self._entries)
        return self._entries[name]

    def build(self, name: str, **options: Any) -> Any:
        """Call ``name``'s builder with its fixed arguments and ``options``."""
        entry = self.entry(name)
        return entry.load()(**entry.kwargs, **options)


SIMULATORS = Registry("simulator")
SIMULATORS.register("agenda", "simulators.agenda:build_agenda_simulator")
for _mode in LM_SIMULATORS:
    SIMULATORS.register(_mode, "simulators.lm_simulator:LMUserSimulator", mode=_mode)

# Assistant specs are ``KIND`` or ``KIND:ARGUMENT``; each builder is called as ``builder(spec, argument, mode, seed)``.
ASSISTANTS = Registry("assistant")
ASSISTANTS.register("template", "agents.template_assistant:from_spec")
ASSISTANTS.register("planllm", "agents.planllm:from_spec")
ASSISTANTS.register("http", "agents.http_assistant:from_spec")
ASSISTANTS.register("https", "agents.http_assistant:from_spec")
ASSISTANT_SPECS: tuple[str, ...] = ("template", "template:ERROR_RATE", "planllm:PATH", "http:URL")
