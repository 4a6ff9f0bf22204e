"""One profile-aware dialogue between the agenda user and the template system (Algorithm 1).

The system answers each intent with its expected act, except for a ``error_rate`` share of turns where it is
forced into a wrong act (a fallback half of the time) so that tolerance can be observed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from mtad_env.domain import Task
from mtad_env.intents import STOP_INTENTS
from mtad_env.profiles import Profile
from mtad_env.system_acts import TaskState, advance, choose_act, render
from mtad_env.user_simulator import UserSimulator

@dataclass(frozen=True)
class GenerationConfig:
    """Dialogue generation settings: the turn limit (paper: 20) and the forced system error share."""

    max_turns: int = 20
    error_rate: float = 0.1


def generate_dialogue(user: UserSimulator, task: Task, profile: Profile, rng: np.random.Generator,
                      config: GenerationConfig = GenerationConfig(), dialog_id: str = "") -> dict[str, Any]:
    """Run Algorithm 1 once; returns the DESIGN §5 dialogue record."""
    user.reset(profile, task, rng)
    state = TaskState(task)
    turns: list[dict[str, Any]] = []
    while len(turns) < config.max_turns:
        intent, utterance = user.act(turns)
        act, forced = choose_act(intent, rng, config.error_rate)
        text = render(act, state, utterance, rng)
        state = advance(state, act, text)
        turns.append({"intent": intent, "current_step": state.step, "user": utterance, "system": text,
                      "forced_system_error": forced, "task_completed": state.completed})
        if intent in STOP_INTENTS:
            break
    return {"dialog_id": dialog_id, "task": task.to_dict(), "user_profile": str(profile), "dialog": turns}
