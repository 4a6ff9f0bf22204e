"""The interface every user simulator implements: the agenda simulator and the LM simulators alike."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

from mtad_env.domain import Task
from mtad_env.profiles import Profile

Turn = Mapping[str, Any]


class UserAction(NamedTuple):
    """A user turn: the intent label and the words said."""

    intent: str
    utterance: str


class UserSimulator(ABC):
    """A simulated user that acts turn by turn on the live dialogue.

    ``reset`` starts an episode for a profile and a task; ``act`` returns the next user turn given the history of
    finished turns (each a mapping with ``intent``, ``user``, ``system`` and ``system_error``).
    """

    name: str = "user-simulator"

    @abstractmethod
    def reset(self, profile: Profile, task: Task, rng: np.random.Generator) -> None:
        """Start a new episode; ``rng`` is the episode's own generator."""

    @abstractmethod
    def act(self, history: Sequence[Turn]) -> UserAction:
        """The next user turn."""

    def act_batch(self, histories: Sequence[Sequence[Turn]]) -> list[UserAction]:
        """Turns for several episodes at once (LM simulators batch this; the default loops)."""
        return [self.act(h) for h in histories]
