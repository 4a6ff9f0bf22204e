"""The identifying metric of every built-in trait (paper Table 7), computed on one dialogue.

A dialogue is a sequence of turns, each a mapping with at least ``intent`` and ``user``; ``system_error`` (or the
generator's ``forced_system_error``) marks a turn whose system response was an error. Every function returns
``None`` where its metric is undefined for the dialogue (no turns, no error for tolerance, one turn for repetition).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from mtad_env.intents import NON_COOPERATIVE, NON_EXPLORATIVE, STOP_INTENTS
from mtad_env.records import Turn

_WORD = re.compile(r"[a-z0-9']+")


def words(text: str) -> list[str]:
    """Lower-cased word tokens of ``text`` (letters, digits and apostrophes), the unit of verbosity and overlap."""
    return _WORD.findall(text.lower())


def turn_had_error(turn: Turn) -> bool:
    """Whether the system's response in ``turn`` was an error (forced or judged), or a fallback.

    A user turn of intent ``fallback`` (a request the assistant cannot serve) gets the fallback response, which the
    paper counts among system errors ("incorrect answer, refusal to answer, fallback response", Appendix B.3.2);
    its public code counts it both where tolerance raises the stop probability and in the tolerance rate.
    """
    return bool(turn.get("system_error", turn.get("forced_system_error", False))) or turn.get("intent") == "fallback"


@dataclass
class MetricContext:
    """What the metrics need beyond the turns: utterance scorers and the unmodified intent transitions.

    Attributes:
        score: ``score(trait_name, texts) -> array`` for utterance-level traits; built from the registry if None.
        top_successors: intent -> its top-1 successor (as a one-element set), from the reference
            transition table; loaded from the shipped table if None.
    """

    score: Callable[[str, Sequence[str]], np.ndarray] | None = None
    top_successors: Mapping[str, frozenset[str]] | None = field(default=None)


def engagement(turns: Sequence[Turn]) -> float:
    """Number of user turns."""
    return float(len(turns))


def cooperativeness(turns: Sequence[Turn]) -> float | None:
    """Share of turns whose intent is cooperative (not in the non-cooperative set)."""
    if not turns:
        return None
    return sum(t["intent"] not in NON_COOPERATIVE for t in turns) / len(turns)


def exploration(turns: Sequence[Turn], top_successors: Mapping[str, frozenset[str]]) -> float | None:
    """Share of turns whose intent is explorative.

    A turn is explorative when its intent is not in the non-explorative set and is not a top-1 successor of the
    previous turn's intent in the unmodified transition table. The first turn has no previous intent and is never
    explorative.
    """
    if not turns:
        return None
    hits = 0
    for prev, cur in zip(turns, turns[1:]):
        intent = cur["intent"]
        if intent not in NON_EXPLORATIVE and intent not in top_successors.get(prev["intent"], frozenset()):
            hits += 1
    return hits / len(turns)


def tolerance(turns: Sequence[Turn]) -> float | None:
    """Share of all turns that follow a system error and are not a stop; None without any system error."""
    if not turns or not any(turn_had_error(t) for t in turns):
        return None
    hits = sum(turn_had_error(prev) and cur["intent"] not in STOP_INTENTS for prev, cur in zip(turns, turns[1:]))
    return hits / len(turns)


def overlap(current: str, previous: str) -> float:
    """``|words(cur) & words(prev)| / |words(cur)|`` on word sets; 0 for an empty current utterance."""
    cur = set(words(current))
    if not cur:
        return 0.0
    return len(cur & set(words(previous))) / len(cur)


def repetition(turns: Sequence[Turn]) -> float | None:
    """Mean word overlap of each user utterance with the previous one; None with fewer than two turns."""
    if len(turns) < 2:
        return None
    return sum(overlap(cur["user"], prev["user"]) for prev, cur in zip(turns, turns[1:])) / (len(turns) - 1)


def utterance_mean(turns: Sequence[Turn], scores: np.ndarray) -> float | None:
    """Mean of per-utterance ``scores`` (one per turn); None without turns."""
    if not turns:
        return None
    return float(sum(scores)) / len(scores)
