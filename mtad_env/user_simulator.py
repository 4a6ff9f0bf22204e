"""The interface every user simulator implements: the agenda simulator and the LM simulators alike."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from mtad_env.domain import Task
from mtad_env.profiles import Profile
from mtad_env.records import Turn

__all__ = ["Turn", "UserAction", "UserSimulator"]


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

    @classmethod
    def act_many(cls, simulators: Sequence[UserSimulator], histories: Sequence[Sequence[Turn]]) -> list[UserAction]:
        """The next turn of each simulator (all of this class) on its own dialogue, in order.

        :func:`mtad_env.rollout_many` calls it once per simulator class with the users waiting to speak; a class
        whose users can decode together (the LM simulators) overrides it. Each turn must be the one the simulator's
        own ``act`` would give: batching may change speed, never a dialogue. The default loops over ``act``.
        """
        return [sim.act(history) for sim, history in zip(simulators, histories)]
