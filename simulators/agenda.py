"""The profile-aware agenda user simulator (paper Algorithm 1, Appendix B.3).

Each turn: apply the profile's dialogue-level traits to the transition weights of the previous intent (Eq. 7-10,
Table 9), sample an intent, narrow that intent's utterances by the utterance-level traits (Table 10 thresholds,
repetition probabilities), sample an utterance by its count and fill its slots from the task.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from mtad_env.agenda_effects import RepetitionChoice, UtteranceThreshold
from mtad_env.domain import Task, UtterancePool, fill_slots, has_slots, load_transitions
from mtad_env.intents import INTENTS, STOP_INTENTS
from mtad_env.metrics import turn_had_error, words
from mtad_env.pool_scores import pool_scores
from mtad_env.profiles import Profile
from mtad_env.traits import traits
from mtad_env.user_simulator import Turn, UserAction, UserSimulator

_INDEX = {intent: i for i, intent in enumerate(INTENTS)}


@dataclass(frozen=True)
class AgendaConfig:
    """Knobs of the agenda simulator.

    Attributes:
        min_turns: per engagement intensity, the turn before which the user never stops.
        completed_stop_factor: multiplies the stop weights once the task is completed.
    """

    min_turns: Mapping[str, int] = field(default_factory=lambda: {"low": 2, "neutral": 3, "high": 8})
    completed_stop_factor: float = 10.0


class _Candidates:
    """The utterances of one intent that a profile may say, with sampling weights."""

    def __init__(self, texts: list[str], counts: np.ndarray, word_sets: list[frozenset[str]]) -> None:
        self.texts = texts
        self.cum = np.cumsum(counts)
        self.by_word: dict[str, list[int]] = {}
        for i, ws in enumerate(word_sets):
            for w in ws:
                self.by_word.setdefault(w, []).append(i)

    def overlapping(self, said: frozenset[str]) -> np.ndarray | None:
        """Mask of candidates sharing a word with ``said``; None if there are none."""
        hits = [i for w in said for i in self.by_word.get(w, ())]
        if not hits:
            return None
        mask = np.zeros(len(self.texts), dtype=bool)
        mask[hits] = True
        return mask

    def sample(self, rng: np.random.Generator, mask: np.ndarray | None = None) -> str:
        if mask is None:
            i = int(np.searchsorted(self.cum, rng.random() * self.cum[-1], side="right"))
            return self.texts[min(i, len(self.texts) - 1)]
        weights = np.diff(self.cum, prepend=0.0) * mask
        cum = np.cumsum(weights)
        i = int(np.searchsorted(cum, rng.random() * cum[-1], side="right"))
        return self.texts[min(i, len(self.texts) - 1)]


class AgendaUserSimulator(UserSimulator):
    """Rule-based user that follows a profile; fast enough to generate corpora and drive RL.

    Example:
        >>> import numpy as np
        >>> from mtad_env.domain import load_tasks
        >>> sim = AgendaUserSimulator()
        >>> sim.reset(Profile.parse("Verbose"), load_tasks("test")[0], np.random.default_rng(0))
        >>> sim.act([]).intent
        'start'
    """

    name = "agenda"

    def __init__(self, pool: UtterancePool | None = None, transitions: Mapping | None = None,
                 config: AgendaConfig | None = None) -> None:
        self.pool = pool or UtterancePool.load()
        self.transitions = transitions or load_transitions()
        self.config = config or AgendaConfig()
        self._scores = pool_scores(self.pool)
        self._words = {i: [frozenset(words(u)) for u in self.pool.entries[i]] for i in INTENTS}
        self._rows: dict[tuple, tuple[list[str], np.ndarray]] = {}
        self._candidates: dict[str, dict[str, _Candidates]] = {}
        self.profile, self.task, self.rng = Profile(), None, np.random.default_rng(0)

    def reset(self, profile: Profile, task: Task, rng: np.random.Generator) -> None:
        self.profile, self.task, self.rng = profile, task, rng
        self._slot_values = task.slot_values
        key = str(profile)
        if key not in self._candidates:
            self._candidates[key] = {i: self._build_candidates(i) for i in INTENTS}

    def _build_candidates(self, intent: str) -> _Candidates:
        """Table 10 thresholds of every non-neutral utterance trait, relaxed one by one if they leave nothing."""
        n = len(self.pool.entries[intent])
        masks = []
        for name, intensity in self.profile.pairs:
            effect = traits()[name].agenda
            if isinstance(effect, UtteranceThreshold) and name in self._scores:
                masks.append(effect.select(self._scores[name][intent], intensity))
        keep = np.ones(n, dtype=bool)
        for mask in masks:
            if (keep & mask).any():
                keep &= mask
        idx = np.flatnonzero(keep)
        return _Candidates([self.pool.entries[intent][i] for i in idx], self.pool.counts[intent][idx],
                           [self._words[intent][i] for i in idx])

    def intent_weights(self, history: Sequence[Turn]) -> tuple[list[str], np.ndarray]:
        """Next-intent candidates and their profile-adjusted weights (unnormalised, cumulative-ready)."""
        prev = history[-1]["intent"] if history else None
        errors = sum(turn_had_error(t) for t in history)
        completed = bool(history) and bool(history[-1].get("task_completed"))
        min_turns = self.config.min_turns.get(self.profile.intensity("engagement"), 1)
        early = len(history) + 1 < min_turns and not completed
        key = (str(self.profile), prev, errors, early, completed)
        cached = self._rows.get(key)
        if cached is None:
            cached = self._rows[key] = self._weights(prev, errors, early, completed)
        return cached

    def _weights(self, prev: str | None, errors: int, early: bool, completed: bool) -> tuple[list[str], np.ndarray]:
        row = dict(self.transitions.get(prev, self.transitions["next"]))
        for name, trait in traits().items():
            effect = trait.agenda
            if effect is not None and effect.level == "dialogue":
                row = effect.apply(row, self.profile.intensity(name), errors)
        for stop in STOP_INTENTS & row.keys():
            row[stop] = 0.0 if early else row[stop] * (self.config.completed_stop_factor if completed else 1.0)
        names = list(row)
        return names, np.maximum(np.array([row[n] for n in names], dtype=np.float64), 0.0)

    def act(self, history: Sequence[Turn]) -> UserAction:
        if self.task is None:
            raise RuntimeError("call reset(profile, task, rng) before act()")
        if not history:
            intent = "start"
        else:
            names, weights = self.intent_weights(history)
            cum = np.cumsum(weights)
            intent = names[min(int(np.searchsorted(cum, self.rng.random() * cum[-1], side="right")), len(names) - 1)]
        return UserAction(intent, self._utterance(intent, history))

    def _utterance(self, intent: str, history: Sequence[Turn]) -> str:
        cands = self._candidates[str(self.profile)][intent]
        effect = traits()["repetition"].agenda
        mode = effect.mode(self.profile.intensity("repetition"), self.rng) if isinstance(
            effect, RepetitionChoice) else "any"
        if mode == "exact" and history:
            said = [t["user"] for t in history if t["intent"] == intent]
            if said:
                return said[int(self.rng.integers(len(said)))]
            mode = "overlap"
        mask = None
        if mode == "overlap" and history:
            mask = cands.overlapping(frozenset(words(history[-1]["user"])))
        text = cands.sample(self.rng, mask)
        return fill_slots(text, self._slot_values, self.rng) if has_slots(text) else text
