"""How a trait changes the agenda simulator (paper Appendix B.3, Tables 9 and 10): its parameters and the rule.

Dialogue-level effects rescale the intent transition weights of the current turn; utterance-level effects narrow
or steer the utterance candidates of the sampled intent. Each effect receives the trait's intensity, including
``"neutral"`` (repetition has neutral-level probabilities of its own).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

Weights = dict[str, float]


@dataclass(frozen=True)
class TransitionScale:
    """Eq. 7: multiply the weights of ``intents`` by the intensity's factor (engagement, cooperativeness).

    ``invert=True`` scales every intent *not* in ``intents``.
    """

    intents: frozenset[str]
    factors: Mapping[str, float]
    invert: bool = False
    level: str = "dialogue"

    def apply(self, weights: Weights, intensity: str, errors: int = 0) -> Weights:
        f = self.factors.get(intensity, 1.0)
        return {i: w * f if (i in self.intents) != self.invert else w for i, w in weights.items()}


@dataclass(frozen=True)
class ErrorScaledStop:
    """Eq. 8: multiply the stop weights by ``factor ** errors`` so far (tolerance)."""

    intents: frozenset[str]
    factors: Mapping[str, float]
    level: str = "dialogue"

    def apply(self, weights: Weights, intensity: str, errors: int = 0) -> Weights:
        f = self.factors.get(intensity, 1.0) ** errors
        return {i: w * f if i in self.intents else w for i, w in weights.items()}


@dataclass(frozen=True)
class ExplorationShift:
    """Eq. 9-10: move a share ``factor`` of probability between the top-1 intents and the explorative others.

    High moves ``factor * P_top`` from the top-1 intents to the explorative non-top intents (in proportion to their
    weights); low moves ``factor * P_E`` the other way.
    """

    non_explorative: frozenset[str]
    factor: float = 0.2
    level: str = "dialogue"

    def apply(self, weights: Weights, intensity: str, errors: int = 0) -> Weights:
        if intensity not in ("low", "high") or not weights:
            return dict(weights)
        top_w = max(weights.values())
        top = {i for i, w in weights.items() if w == top_w}
        expl = {i for i in weights if i not in top and i not in self.non_explorative}
        p_top = sum(weights[i] for i in top)
        p_e = sum(weights[i] for i in expl)
        if p_e == 0 or p_top == 0:
            return dict(weights)
        src, dst, p_src, p_dst = (top, expl, p_top, p_e) if intensity == "high" else (expl, top, p_e, p_top)
        moved = p_src * self.factor
        out = dict(weights)
        for i in src:
            out[i] -= moved * weights[i] / p_src
        for i in dst:
            out[i] += moved * weights[i] / p_dst
        return out


@dataclass(frozen=True)
class UtteranceThreshold:
    """Table 10: keep the candidates whose score lies between the bottom and top quantiles of the intent's pool."""

    bounds: Mapping[str, tuple[float, float]] = field(
        default_factory=lambda: {"low": (0.0, 0.5), "high": (0.5, 1.0)})
    level: str = "utterance"

    def select(self, values: np.ndarray, intensity: str) -> np.ndarray:
        """Boolean mask over candidates with per-candidate ``values``."""
        lo, hi = self.bounds.get(intensity, (0.0, 1.0))
        if (lo, hi) == (0.0, 1.0) or len(values) == 0:
            return np.ones(len(values), dtype=bool)
        low_v, high_v = np.quantile(values, [lo, hi], method="lower" if lo == 0 else "higher")
        low_v = values.min() if lo == 0 else low_v
        high_v = values.max() if hi == 1 else high_v
        return (values >= low_v) & (values <= high_v)


@dataclass(frozen=True)
class RepetitionChoice:
    """Table 10: probabilities of re-using an earlier utterance exactly (r_e) or one that overlaps (r_o)."""

    probabilities: Mapping[str, tuple[float, float]] = field(
        default_factory=lambda: {"low": (0.0, 0.0), "neutral": (0.15, 0.15), "high": (1.0, 1.0)})
    level: str = "utterance"

    def mode(self, intensity: str, rng: np.random.Generator) -> str:
        """``"exact"``, ``"overlap"`` or ``"any"`` for this turn."""
        r_e, r_o = self.probabilities.get(intensity, self.probabilities["neutral"])
        if rng.random() < r_e:
            return "exact"
        if rng.random() < r_o:
            return "overlap"
        return "any"


AgendaEffect = TransitionScale | ErrorScaledStop | ExplorationShift | UtteranceThreshold | RepetitionChoice
