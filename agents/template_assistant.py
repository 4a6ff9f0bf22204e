"""A rule-based task bot: reads the NLU intent from the observation and answers with the template system."""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import numpy as np

from agents.base import Assistant
from mtad_env.errors import InvalidValueError, unknown
from mtad_env.intents import INTENTS
from mtad_env.judge import repeatable_response
from mtad_env.observations import parse_task_text
from mtad_env.system_acts import TaskState, act_index, choose_act, render


class TemplateAssistant(Assistant):
    """Answers all 16 intents from the task: steps, quantities, substitutions, definitions, fun facts,
    clarification of new tasks, redirects, refusals and goodbyes.

    Args:
        error_rate: share of turns answered with a deliberately wrong act (for stress tests).
        mode: ``"text"`` returns the response string; ``"acts"`` returns the act index.
        seed: seed of its own generator (wording choices and injected errors).

    Example:
        >>> import mtad_env
        >>> env = mtad_env.make(profile="Patient", seed=0)
        >>> env.reset(seed=0)
        >>> env.step(env.user_policy(env.observe("user")))
        >>> TemplateAssistant()(env.observe("assistant")).startswith(("Sure", "Okay", "Great", "Alright", "Here", "Of"))
        True
    """

    name = "template"

    def __init__(self, error_rate: float = 0.0, mode: str = "text", seed: int | None = None) -> None:
        if mode not in ("text", "acts"):
            raise unknown("assistant mode", mode, ("text", "acts"))
        if not 0.0 <= error_rate <= 1.0:
            raise InvalidValueError(f"error_rate={error_rate!r} must be a share in [0, 1], e.g. 0.1 for one "
                                    "deliberately wrong response in ten")
        self.error_rate, self.mode = error_rate, mode
        self.rng = np.random.default_rng(seed)
        self._task_cache: dict[str, Any] = {}

    def reset(self, seed: int | None = None) -> None:
        if seed is not None:
            self.rng = np.random.default_rng(seed)

    def _state(self, observation: dict[str, Any]) -> TaskState:
        text = observation["task"]
        task = self._task_cache.get(text)
        if task is None:
            task = self._task_cache[text] = parse_task_text(text)
            if len(self._task_cache) > 256:
                self._task_cache = {text: task}
        responses = [chunk.split("\nUSER: ")[0] for chunk in observation["history"].split("SYSTEM: ")[1:]]
        state = TaskState(task, step=int(observation["step"]) - 1, last_system=responses[-1] if responses else "")
        return replace(state, repeatable=repeatable_response(responses, state))

    def __call__(self, observation: dict[str, Any]) -> Any:
        intent_index = int(observation["intent"])
        intent = INTENTS[intent_index] if intent_index < len(INTENTS) else "fallback"
        act, _ = choose_act(intent, self.rng, self.error_rate)
        if self.mode == "acts":
            return act_index(act)
        return render(act, self._state(observation), observation["text"], self.rng)


def from_spec(spec: str, arg: str, mode: str = "text", seed: int | None = None) -> TemplateAssistant:
    """``template`` or ``template:ERROR_RATE`` (a share in [0, 1] of deliberately wrong responses)."""
    try:
        rate = float(arg) if arg else 0.0
    except ValueError:
        rate = math.nan
    if not 0.0 <= rate <= 1.0:
        raise InvalidValueError(f"assistant {spec!r}: the error rate {arg!r} must be a number in [0, 1], "
                                "e.g. template:0.1 (one deliberately wrong response in ten)")
    return TemplateAssistant(error_rate=rate, mode=mode, seed=seed)
