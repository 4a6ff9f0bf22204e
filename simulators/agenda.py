"""The profile-aware agenda user simulator (paper Algorithm 1, Appendix B.3).

Each turn: apply the profile's dialogue-level traits to the transition weights of the previous intent (Eq. 7-10,
Table 9), sample an intent, narrow that intent's utterances by the utterance-level traits (Table 10 thresholds,
repetition probabilities), sample an utterance by its (smoothed) count and fill its slots from the task.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from mtad_env.agenda_effects import RepetitionChoice, UtteranceThreshold
from mtad_env.domain import Task, UtterancePool, fill_slots, has_slots, load_transitions
from mtad_env.errors import unknown
from mtad_env.intents import INTENTS, STOP_INTENTS
from mtad_env.metrics import turn_had_error, words
from mtad_env.pool_scores import pool_scores
from mtad_env.pool_task_fit import TAGS_PATH, PoolTaskFit
from mtad_env.profiles import Profile
from mtad_env.traits import traits
from mtad_env.user_simulator import Turn, UserAction, UserSimulator

SMOOTHING: tuple[str, ...] = ("none", "pool", "every")
MAX_FIT_MASKS = 65_536  # (profile, task, intent) task-fit masks kept


@dataclass(frozen=True)
class AgendaConfig:
    """Knobs of the agenda simulator.

    Attributes:
        min_turns: per engagement intensity, how many turns the user has taken before it may stop (the paper's
            public code: Impatient 2, Regular 3, Patient 4; the paper's text gives none).
        smoothing: how the utterance counts are flattened before sampling (additive smoothing with the mean
            count, as in the paper's public code; the text is silent): ``"pool"`` once on each intent's whole
            pool, as that code does when it loads the pool; ``"every"`` again after each utterance-level trait
            narrows the candidates and after repetition, as that code also does (for our long-tailed pool this is
            close to uniform: 6.1 words per Regular utterance against the paper's 4.03); ``"none"`` samples the
            raw counts (3.3 words).
        task_fit: say only pool lines that fit the task (:mod:`mtad_env.pool_task_fit`: no recipe-only line in a
            DIY job and the reverse, no line about an ingredient or tool the task lacks), where any fits; the
            paper's pool is not tagged, so False samples the whole pool as its code does.
    """

    min_turns: Mapping[str, int] = field(default_factory=lambda: {"low": 2, "neutral": 3, "high": 4})
    smoothing: str = "pool"
    task_fit: bool = True

    def __post_init__(self) -> None:
        if self.smoothing not in SMOOTHING:
            raise unknown("agenda smoothing", self.smoothing, SMOOTHING)


def _smooth(weights: np.ndarray, on: bool) -> np.ndarray:
    """Additive smoothing with the mean weight (the paper's public code); unchanged when ``on`` is False."""
    return weights + weights.mean() if on and len(weights) else weights


class _Candidates:
    """The utterances of one intent that a profile may say, with sampling weights."""

    def __init__(self, entries: np.ndarray, texts: list[str], weights: np.ndarray,
                 word_sets: list[frozenset[str]], smooth: bool) -> None:
        self.entries = entries
        self.position = {int(e): i for i, e in enumerate(entries)}
        self.texts = texts
        self.weights = weights
        self.smooth = smooth
        self.word_sets = word_sets
        self.by_word: dict[str, list[int]] = {}
        for i, ws in enumerate(word_sets):
            for w in ws:
                self.by_word.setdefault(w, []).append(i)

    def overlapping(self, said: set[str]) -> np.ndarray | None:
        """Mask of candidates sharing a word with ``said``; None if there are none."""
        hits = [i for w in said for i in self.by_word.get(w, ())]
        if not hits:
            return None
        mask = np.zeros(len(self.texts), dtype=bool)
        mask[hits] = True
        return mask

    def least_overlapping(self, said: set[str], share: float = 0.2) -> np.ndarray:
        """Mask of the ``share`` of candidates (at least one) whose words overlap ``said`` the least."""
        ratio = np.array([len(ws & said) / max(len(ws), 1) for ws in self.word_sets])
        keep = np.argsort(ratio, kind="stable")[:max(1, int(len(ratio) * share))]
        mask = np.zeros(len(ratio), dtype=bool)
        mask[keep] = True
        return mask

    def sample(self, rng: np.random.Generator, mask: np.ndarray | None = None) -> int:
        """A candidate position, drawn by weight among ``mask`` (all if None), re-smoothed over that choice."""
        idx = np.arange(len(self.texts)) if mask is None else np.flatnonzero(mask)
        return int(idx[_draw(rng, _smooth(self.weights[idx], self.smooth))])


def _with_fit(mask: np.ndarray | None, fit: np.ndarray | None) -> np.ndarray | None:
    """The repetition mask narrowed to the lines that fit the task; the task fit alone when none is left."""
    if fit is None:
        return mask
    if mask is None:
        return fit
    both = mask & fit
    return both if both.any() else fit


def _draw(rng: np.random.Generator, weights: np.ndarray) -> int:
    cum = np.cumsum(weights)
    return min(int(np.searchsorted(cum, rng.random() * cum[-1], side="right")), len(weights) - 1)


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
        self._entry_of = {i: {u: k for k, u in enumerate(self.pool.entries[i])} for i in INTENTS}
        self._rows: dict[tuple, tuple[list[str], np.ndarray]] = {}
        self._candidates: dict[str, dict[str, _Candidates]] = {}
        self._said: dict[tuple[str, str], int] = {}
        self.task_fit = PoolTaskFit.shipped(self.pool) if self.config.task_fit and TAGS_PATH.is_file() else None
        self._unfit: dict[str, frozenset[int]] = {}
        self._fit_masks: dict[tuple[str, str, str, str], np.ndarray | None] = {}
        self.profile, self.task, self.rng = Profile(), None, np.random.default_rng(0)

    def sibling(self) -> AgendaUserSimulator:
        """A new user over the same pool, transitions and configuration that shares this one's caches (the
        utterance candidates of each profile, the intent weights, the pool's word sets), for many environments at
        once: building those is most of what a new user costs. ``reset`` sets all of an episode's own state
        (profile, task, generator, what was said), so the two never share an episode."""
        other = copy.copy(self)
        other.profile, other.task, other.rng, other._said = Profile(), None, np.random.default_rng(0), {}
        return other

    def reset(self, profile: Profile, task: Task, rng: np.random.Generator) -> None:
        self.profile, self.task, self.rng = profile, task, rng
        self._slot_values = task.slot_values
        self._said = {}
        self._unfit = self.task_fit.unfit(task) if self.task_fit is not None else {}
        key = str(profile)
        if key not in self._candidates:
            self._candidates[key] = {i: self._build_candidates(i) for i in INTENTS}

    def _build_candidates(self, intent: str) -> _Candidates:
        """Table 10 thresholds of the utterance-level traits, one after another on the narrowed pool.

        Each threshold ranks what the previous ones left (the paper's public code, in trait order: verbosity,
        emotion, fluency); a neutral trait keeps everything. The weights are smoothed as ``config.smoothing``
        says.
        """
        smooth = self.config.smoothing == "every"
        entries = np.arange(len(self.pool.entries[intent]))
        weights = _smooth(self.pool.counts[intent].astype(np.float64), self.config.smoothing != "none")
        for name, trait in traits().items():
            effect = trait.agenda
            if not isinstance(effect, UtteranceThreshold) or name not in self._scores:
                continue
            keep = effect.select(self._scores[name][intent][entries], self.profile.intensity(name))
            entries, weights = entries[keep], _smooth(weights[keep], smooth)
        return _Candidates(entries, [self.pool.entries[intent][e] for e in entries], weights,
                           [self._words[intent][e] for e in entries], smooth)

    def intent_weights(self, history: Sequence[Turn]) -> tuple[list[str], np.ndarray]:
        """Next-intent candidates and their profile-adjusted weights (unnormalised, cumulative-ready)."""
        prev = history[-1]["intent"] if history else None
        errors = sum(turn_had_error(t) for t in history)
        # A stop only once the user has taken its minimum number of turns (the paper's public code).
        early = len(history) < self.config.min_turns.get(self.profile.intensity("engagement"), 1)
        key = (str(self.profile), prev, errors, early)
        cached = self._rows.get(key)
        if cached is None:
            cached = self._rows[key] = self._weights(prev, errors, early)
        return cached

    def _weights(self, prev: str | None, errors: int, early: bool) -> tuple[list[str], np.ndarray]:
        row = dict(self.transitions.get(prev, self.transitions["next"]))
        for name, trait in traits().items():
            effect = trait.agenda
            if effect is not None and effect.level == "dialogue":
                row = effect.apply(row, self.profile.intensity(name), errors)
        for stop in STOP_INTENTS & row.keys():
            row[stop] = 0.0 if early else row[stop]
        names = list(row)
        return names, np.maximum(np.array([row[n] for n in names], dtype=np.float64), 0.0)

    def act(self, history: Sequence[Turn]) -> UserAction:
        if self.task is None:
            raise RuntimeError("call reset(profile, task, rng) before act()")
        if not history:
            intent = "start"
        else:
            names, weights = self.intent_weights(history)
            intent = names[_draw(self.rng, weights)]
            # The transition table (from the paper's public code) has a "yes" that code turns into a next-step
            # request, words included; the paper's intents (Table 8) have no "yes" either.
            intent = "next" if intent == "yes" else intent
        return UserAction(intent, self.utterance_for(intent, history))

    def utterance_for(self, intent: str, history: Sequence[Turn]) -> str:
        """What this user says for ``intent`` after ``history``: the utterance-level traits of its profile.

        Repetition (Table 10) looks at the user's earlier utterances of the same intent (the paper's public
        code): an exact repeat is one of them whose pool entry the thresholds still allow; an overlapping one is a
        candidate sharing a word with them; a non-repetitive user avoids overlapping ones where it can.
        """
        cands = self._candidates[str(self.profile)][intent]
        earlier = list(dict.fromkeys(t["user"] for t in history if t["intent"] == intent))
        exact = [u for u in earlier if self._entry(intent, u) in cands.position]
        overlap = cands.overlapping({w for u in earlier for w in words(u)}) if earlier else None
        effect = traits()["repetition"].agenda
        mode = effect.mode(self.profile.intensity("repetition"), self.rng, bool(exact), overlap is not None) \
            if isinstance(effect, RepetitionChoice) else "any"
        if mode == "exact":
            weights = cands.weights[[cands.position[self._entry(intent, u)] for u in exact]]
            return exact[_draw(self.rng, _smooth(weights, cands.smooth))]
        mask = overlap if mode == "overlap" else None
        if mode == "avoid":
            mask = ~overlap if not overlap.all() else cands.least_overlapping({w for u in earlier for w in words(u)})
        k = cands.sample(self.rng, _with_fit(mask, self._fit_mask(cands, intent)))
        text = cands.texts[k]
        text = fill_slots(text, self._slot_values, self.rng) if has_slots(text) else text
        self._said[intent, text] = int(cands.entries[k])
        return text

    def _fit_mask(self, cands: _Candidates, intent: str) -> np.ndarray | None:
        """Mask of the candidates that fit the episode's task; None when all do (or none does). Kept per profile,
        task and intent (shared with siblings): it is asked for on every turn."""
        key = (str(self.profile), self.task.id, self.task.data_source, intent)
        if key in self._fit_masks:
            return self._fit_masks[key]
        bad = [cands.position[e] for e in self._unfit.get(intent, ()) if e in cands.position]
        fit = None
        if bad and len(bad) < len(cands.texts):
            fit = np.ones(len(cands.texts), dtype=bool)
            fit[bad] = False
        if len(self._fit_masks) < MAX_FIT_MASKS:
            self._fit_masks[key] = fit
        return fit

    def _entry(self, intent: str, utterance: str) -> int | None:
        """The pool entry an earlier utterance came from (its template, for a filled one), if known."""
        return self._said.get((intent, utterance), self._entry_of[intent].get(utterance))


_DEFAULT_POOL: UtterancePool | None = None


def build_agenda_simulator(utterances: str | None = None) -> AgendaUserSimulator:
    """``make(simulator="agenda")``: an agenda user over the pool file ``utterances`` (default: the shipped pool,
    loaded once per process)."""
    global _DEFAULT_POOL
    if utterances:
        return AgendaUserSimulator(UtterancePool.load(utterances))
    if _DEFAULT_POOL is None:
        _DEFAULT_POOL = UtterancePool.load()
    return AgendaUserSimulator(_DEFAULT_POOL)
