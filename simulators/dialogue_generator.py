"""One profile-aware dialogue between the agenda user and the template system (Algorithm 1).

The system answers each intent with its expected act, except that a share of the turns whose intent can get a
wrong answer is forced into a wrong act (a fallback half of the time) so that tolerance can be observed. The
dialogue ends on the user's stop; once the task is completed, or at the last turn of the limit, the user is made
to stop (the paper's public code).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mtad_env.domain import Task
from mtad_env.intents import STOP_INTENTS
from mtad_env.profiles import Profile
from mtad_env.system_acts import TaskState, advance, choose_act, render
from mtad_env.user_simulator import Turn, UserSimulator

# The paper says only that incorrect responses are selected "a percentage of the time" (Appendix B.3.2); its public
# code forces them with probability 0.2 on the requests for which it has a wrong answer: questions, fun facts and
# definitions (and ingredient confirmations, an intent of theirs outside our set).
ERROR_INTENTS: frozenset[str] = frozenset({"question", "fun_fact", "definition"})


@dataclass(frozen=True)
class GenerationConfig:
    """Dialogue generation settings.

    Attributes:
        max_turns: the turn limit n of Algorithm 1 (paper: 20); the last turn is a forced stop.
        error_rate: probability of a forced system error on a turn whose intent is in ``error_intents``.
        error_intents: the intents a forced error may hit.
    """

    max_turns: int = 20
    error_rate: float = 0.2
    error_intents: frozenset[str] = field(default=ERROR_INTENTS)


def generate_dialogue(user: UserSimulator, task: Task, profile: Profile, rng: np.random.Generator,
                      config: GenerationConfig = GenerationConfig(), dialog_id: str = "") -> dict[str, Any]:
    """Run Algorithm 1 once; returns the dialogue record (``dialog_id``, ``task``, ``user_profile``, ``dialog``)."""
    user.reset(profile, task, rng)
    state = TaskState(task)
    turns: list[dict[str, Any]] = []
    while len(turns) < config.max_turns:
        say = getattr(user, "utterance_for", None)  # users that can word a given intent (the agenda user)
        if say is not None and _must_stop(turns, state, config):
            intent, utterance = "stop", say("stop", turns)
        else:
            intent, utterance = user.act(turns)
        rate = config.error_rate if intent in config.error_intents else 0.0
        act, forced = choose_act(intent, rng, rate)
        text = render(act, state, utterance, rng)
        state = advance(state, act, text)
        turns.append({"intent": intent, "current_step": state.step, "user": utterance, "system": text,
                      "forced_system_error": forced, "task_completed": state.completed})
        if intent in STOP_INTENTS:
            break
    return {"dialog_id": dialog_id, "task": task.to_dict(), "user_profile": str(profile), "dialog": turns}


def _must_stop(turns: Sequence[Turn], state: TaskState, config: GenerationConfig) -> bool:
    """Whether this turn is a forced stop: the task is completed, or it is the last turn of the limit."""
    return bool(turns) and (state.completed or len(turns) == config.max_turns - 1)

