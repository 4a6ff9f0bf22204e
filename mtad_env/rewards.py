"""Rewards of the CTA environment.

| agent     | when                                   | default |
|-----------|----------------------------------------|---------|
| assistant | a correct response                     | +1.0    |
| assistant | a wrong response (system error)        | -1.0    |
| assistant | the task is completed                  | +5.0    |
| assistant | the user stops before completion       | -3.0    |
| user      | each turn                              | 0.0     |
| user      | the episode ends: trait adherence      | in [-1, 1] |

Trait adherence: for each non-neutral trait of the profile, the episode metric's distance from the Regular mean
in Regular standard deviations, signed towards the trait's intensity and clipped to [-1, 1]; averaged. For the
Regular profile, ``1 - min(|z|, 2)`` averaged over all traits. Traits whose metric is undefined are skipped.
Replace all of it with ``make(..., reward_fn=fn)``: ``fn(event) -> {"user": float, "assistant": float}``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np

from mtad_env.domain import DATA_DIR
from mtad_env.profiles import Profile


@dataclass(frozen=True)
class TurnEvent:
    """What a reward function sees after each assistant response."""

    turn: Mapping[str, Any]
    profile: Profile
    done: bool
    end_reason: str | None
    task_completed: bool
    episode_metrics: Mapping[str, float | None] | None = None


@dataclass(frozen=True)
class RewardConfig:
    """Weights of the default reward."""

    correct: float = 1.0
    error: float = -1.0
    completion: float = 5.0
    early_quit: float = -3.0
    regular_stats: Mapping[str, Mapping[str, float]] = field(default_factory=lambda: regular_stats())


RewardFn = Callable[[TurnEvent], Mapping[str, float]]


@lru_cache(maxsize=1)
def regular_stats() -> dict[str, dict[str, float]]:
    """Mean and std of each identifying metric over shipped Regular agenda dialogues."""
    return json.loads((DATA_DIR / "regular_stats.json").read_text(encoding="utf-8"))


def trait_adherence(profile: Profile, metrics: Mapping[str, float | None],
                    stats: Mapping[str, Mapping[str, float]]) -> float:
    """How well an episode's metrics follow the profile (see the module table)."""
    scores = []
    pairs = profile.pairs or tuple((name, "neutral") for name in stats)
    for name, intensity in pairs:
        value, ref = metrics.get(name), stats.get(name)
        if value is None or not ref or not ref.get("std"):
            continue
        z = (value - ref["mean"]) / ref["std"]
        if intensity == "neutral":
            scores.append(1.0 - min(abs(z), 2.0))
        else:
            scores.append(float(np.clip(z if intensity == "high" else -z, -1.0, 1.0)))
    return float(np.mean(scores)) if scores else 0.0


class DefaultReward:
    """The reward of the module table, with weights from a :class:`RewardConfig`."""

    def __init__(self, config: RewardConfig | None = None) -> None:
        self.config = config or RewardConfig()

    def __call__(self, event: TurnEvent) -> dict[str, float]:
        c = self.config
        assistant = c.error if event.turn["system_error"] else c.correct
        if event.task_completed and event.end_reason == "task_completed":
            assistant += c.completion
        if event.done and event.end_reason in ("stop_by_trait", "stop_after_errors"):
            assistant += c.early_quit
        user = 0.0
        if event.done and event.episode_metrics is not None:
            user = trait_adherence(event.profile, event.episode_metrics, c.regular_stats)
        return {"assistant": assistant, "user": user}
