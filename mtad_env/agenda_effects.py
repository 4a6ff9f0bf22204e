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


def top1(weights: Weights) -> str | None:
    """The top-1 intent of a transition row: the largest weight, the first listed among equal ones.

    A single intent, as in the paper's Eq. 9 with k = 1 ("top-1 intents", Table 9); its public code breaks ties by
    the row's order too, both when it shifts probability and when it measures exploration.
    """
    return max(weights, key=weights.__getitem__) if weights else None


@dataclass(frozen=True)
class ExplorationShift:
    """Eq. 9-10: move a share ``factor`` of probability between the top-1 intent and the explorative others.

    High moves ``factor * P_top`` from the top-1 intent to the explorative non-top intents (in proportion to their
    weights); low moves ``factor * P_E`` the other way.
    """

    non_explorative: frozenset[str]
    factor: float = 0.2
    level: str = "dialogue"

    def apply(self, weights: Weights, intensity: str, errors: int = 0) -> Weights:
        if intensity not in ("low", "high") or not weights:
            return dict(weights)
        top = {top1(weights)}
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
    """Table 10: keep the candidates between the bottom (t_b) and top (t_t) thresholds of the pool's values.

    The candidates are ranked by value and the share ``[t_b, t_t)`` of the ranking is kept (all of it up to the end
    when ``t_t`` is 1; the first or last candidate if the share is empty), as in the paper's public code. That code
    ranks the distinct word counts rather than the utterances for verbosity; we rank utterances for every trait,
    the text's reading ("select from this pool"): our pool has a long tail of rare lengths, and ranking its distinct
    lengths would leave Verbose users only utterances of 10 words and more (14 words on average, the paper 7.2).
    """

    bounds: Mapping[str, tuple[float, float]] = field(
        default_factory=lambda: {"low": (0.0, 0.5), "high": (0.5, 1.0)})
    level: str = "utterance"

    def select(self, values: np.ndarray, intensity: str) -> np.ndarray:
        """Boolean mask over candidates with per-candidate ``values``."""
        lo, hi = self.bounds.get(intensity, (0.0, 1.0))
        n = len(values)
        if (lo, hi) == (0.0, 1.0) or n == 0:
            return np.ones(n, dtype=bool)
        order = np.argsort(np.asarray(values, dtype=np.float64), kind="stable")
        start, stop = int(n * lo), (n if hi == 1.0 else int(n * hi))
        if start >= stop:  # an empty share keeps the lowest (or highest) candidate
            start, stop = (0, 1) if lo == 0.0 else (n - 1, n)
        mask = np.zeros(n, dtype=bool)
        mask[order[start:stop]] = True
        return mask


@dataclass(frozen=True)
class RepetitionChoice:
    """Table 10: probabilities of re-using an earlier utterance exactly (r_e) or one that overlaps (r_o).

    Both refer to the user's earlier utterances of the same intent (the paper's public code). The two draws are
    independent and an overlap draw wins over an exact one, as in that code: with r_e = r_o = 1 (high) the user
    picks among the candidates sharing a word with what it said before for this intent, the exact ones included.
    """

    probabilities: Mapping[str, tuple[float, float]] = field(
        default_factory=lambda: {"low": (0.0, 0.0), "neutral": (0.15, 0.15), "high": (1.0, 1.0)})
    level: str = "utterance"

    def mode(self, intensity: str, rng: np.random.Generator, has_exact: bool = True,
             has_overlap: bool = True) -> str:
        """``"exact"``, ``"overlap"``, ``"avoid"`` or ``"any"`` for this turn, given which candidates exist.

        ``"avoid"`` (both probabilities 0 and some candidate overlaps): prefer candidates that share no word with
        the earlier utterances, as the paper's public code does for Repetition=Low.
        """
        r_e, r_o = self.probabilities.get(intensity, self.probabilities["neutral"])
        if r_e == r_o == 0.0:
            return "avoid" if has_overlap else "any"
        mode = "any"
        if has_exact and rng.random() < r_e:
            mode = "exact"
        if has_overlap and rng.random() < r_o:
            mode = "overlap"
        return mode


AgendaEffect = TransitionScale | ErrorScaledStop | ExplorationShift | UtteranceThreshold | RepetitionChoice
