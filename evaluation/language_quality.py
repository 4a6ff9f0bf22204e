"""How simulated users talk: invented words, pool copies, lexical variety and self-repetition of the user turns.

A simulator is judged first by its users' language. An undertrained LM user produces words that exist nowhere in
the data it was trained from or shown (invented words are its tell-tale sign), copies the utterance pool verbatim,
or says the same thing over and over. The figures of one group of dialogues (a profile, a simulator), over its user
turns, degenerate ones included (their text is scored like any other):

- ``user_turns``: how many user turns were scored.
- ``invented_word_rate``: share of user turns holding at least one word found nowhere in the vocabulary: the
  utterance pool, the tasks (every split of the shipped tasks, the given task folders, and the dialogue's own task),
  the assistant's knowledge files, and that dialogue's own system turns (a user may repeat what it was told). A
  real English word outside all of these counts as invented too: the vocabulary is what the users were trained on
  or shown, not a dictionary.
- ``pool_exact_rate``: share of user turns that are exactly a pool utterance; a pool template matches when each
  of its slots holds one or more words of the tasks' slot values (``"what is {ingredient}"`` matches
  ``"What is flour?"`` but not ``"what is the point"``).
- ``off_task_rate``: share of user turns that say a pool line that does not fit the dialogue's task
  (:mod:`mtad_env.pool_task_fit`: a recipe-only line in a DIY job or the reverse, a line about an ingredient or tool
  the task lacks); turns of a dialogue without its task count as fitting.
- ``distinct_1`` / ``distinct_2``: distinct word unigrams (bigrams) over all unigrams (bigrams) of the group's user
  turns, bigrams taken within an utterance; None without any.
- ``self_repeat_rate``: share of user turns that repeat an earlier user utterance of the same dialogue.
- ``distinct_utterances_per_1000``: distinct user utterances per 1,000 user turns, to compare the variety of
  simulators run for different numbers of turns.

Rates are None for a group without user turns. Words are :data:`mtad_env.vocabulary.WORD` matches of the
lower-cased text, for the vocabulary (:mod:`mtad_env.vocabulary`) and the turns alike. Utterances are compared as
word sequences (:func:`normalise_utterance`): case, whitespace and punctuation outside words do not count
(``"Next, step!"`` equals ``"next step"``).

Example:
    >>> vocab = build_vocabulary()
    >>> turn_invented_words("next paridicwviepffic please", vocab, frozenset())
    ['paridicwviepffic']
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from evaluation.dialogues import Dialogue, canonical_profile, profile_sort_key
from mtad_env.domain import task_from_dict
from mtad_env.errors import DataFormatError
from mtad_env.pool_task_fit import line_fits, task_fit_of
from mtad_env.records import DialogueRecord
# the vocabulary's names are re-exported: the figures' callers import them from here as well
from mtad_env.vocabulary import (WORD, Vocabulary, build_vocabulary, json_words, normalise_utterance, slot_words,
                                 task_words, template_words, words)

logger = logging.getLogger(__name__)
FIGURES: tuple[str, ...] = ("user_turns", "invented_word_rate", "pool_exact_rate", "off_task_rate", "distinct_1",
                            "distinct_2", "self_repeat_rate", "distinct_utterances_per_1000")
TABLE_HEADER: tuple[str, ...] = ("user turns", "invented words", "pool exact", "off task", "distinct-1", "distinct-2",
                                 "self-repeat", "distinct / 1000 turns")
TABLE_NOTE = ("Over every user turn, degenerate ones included: turns holding a word found nowhere in the pool, tasks, "
              "knowledge or the dialogue's own system turns (an undertrained LM user's tell-tale sign); turns that are "
              "exactly a pool utterance; turns that say a pool line of the other domain or about an item the task "
              "lacks; distinct words and word pairs over all; turns repeating an earlier one of "
              "the same dialogue; distinct utterances per 1,000 turns.")
Record = DialogueRecord | Dialogue


@dataclass(frozen=True)
class DialogueScope:
    """What one dialogue adds to the vocabulary: the words of its system turns and of its own task (``words``),
    and its task's slot words (``fillers``)."""

    words: frozenset[str]
    fillers: frozenset[str]


def _parts(record: Record) -> tuple[Sequence[Mapping[str, Any]], Any]:
    """The turns and the task (None if absent) of an episode-log record, corpus record or :class:`Dialogue`."""
    if isinstance(record, Dialogue):
        return record.turns, record.task
    if not isinstance(record, Mapping) or not isinstance(record.get("dialog"), list):
        raise DataFormatError(f"a dialogue record needs a 'dialog' list of turns, got {type(record).__name__}")
    return record["dialog"], record.get("task")


def dialogue_scope(record: Record) -> DialogueScope:
    """The :class:`DialogueScope` of an episode-log or corpus record, or of a :class:`Dialogue`."""
    turns, task = _parts(record)
    found: set[str] = {w for turn in turns for w in words(str(turn.get("system") or ""))}
    fillers: set[str] = set()
    if isinstance(task, Mapping):
        found |= json_words(task)
        try:
            fillers = slot_words(task_from_dict(dict(task), "dialogue task"))
        except DataFormatError:
            logger.debug("a dialogue's task is malformed; its slot words are left out")
    return DialogueScope(frozenset(found | fillers), frozenset(fillers))


def turn_invented_words(utterance: str, vocabulary: Vocabulary, system_words: frozenset[str]) -> list[str]:
    """Words of ``utterance`` in neither the vocabulary nor ``system_words`` (the dialogue's own words, see
    :func:`dialogue_scope`), each once, in order of appearance. A word ending in ``'s`` is known when the word
    before it is (``"weather's"``): the possessive and the contracted "is" make real words of any known one."""
    def known(word: str) -> bool:
        return any(w in vocabulary.words or w in system_words
                   for w in (word, word[:-2] if word.endswith("'s") else word))
    return list(dict.fromkeys(w for w in words(utterance) if not known(w)))


@dataclass(frozen=True)
class _ScoredTurn:
    text: str
    invented: tuple[str, ...]
    pool: bool
    repeat: bool
    off_task: bool = False


def _task_fit(task: Any) -> tuple[str | None, frozenset[str]] | None:
    """What a dialogue's task dict offers the off-task check, or None without a (readable) task."""
    if not isinstance(task, Mapping):
        return None
    try:
        return task_fit_of(task_from_dict(dict(task), "dialogue task"))
    except DataFormatError:
        return None


def _scored_turns(records: Iterable[Record], vocabulary: Vocabulary) -> Iterator[_ScoredTurn]:
    """Every user turn of ``records`` with its invented words and whether it is a pool utterance or a repeat."""
    for record in records:
        turns, task = _parts(record)
        scope, fit = dialogue_scope(record), _task_fit(task)
        said: set[str] = set()
        for turn in turns:
            text = str(turn.get("user") or "")
            normalised = normalise_utterance(text)
            yield _ScoredTurn(text, tuple(turn_invented_words(text, vocabulary, scope.words)),
                              vocabulary.is_pool_utterance(text, scope.fillers), normalised in said,
                              fit is not None and not line_fits(text, fit))
            said.add(normalised)


def distinct_n(utterances: Sequence[str], n: int) -> float | None:
    """Distinct word n-grams over all word n-grams of ``utterances`` (n-grams within an utterance); None if none."""
    grams = [tuple(ws[i:i + n]) for ws in map(words, utterances) for i in range(len(ws) - n + 1)]
    return len(set(grams)) / len(grams) if grams else None


def language_quality(records: Iterable[Record], vocabulary: Vocabulary) -> dict[str, float | int | None]:
    """The :data:`FIGURES` of the user turns of ``records`` (episode-log or corpus records, or
    :class:`~evaluation.dialogues.Dialogue` objects), as one JSON-ready dict."""
    scored = list(_scored_turns(records, vocabulary))
    if not scored:
        return {name: 0 if name == "user_turns" else None for name in FIGURES}
    texts = [s.text for s in scored]
    flags = np.array([[bool(s.invented), s.pool, s.repeat, s.off_task] for s in scored],
                     dtype=np.float64).mean(axis=0)
    distinct = len({normalise_utterance(t) for t in texts})
    return {"user_turns": len(scored), "invented_word_rate": float(flags[0]), "pool_exact_rate": float(flags[1]),
            "off_task_rate": float(flags[3]), "distinct_1": distinct_n(texts, 1), "distinct_2": distinct_n(texts, 2),
            "self_repeat_rate": float(flags[2]), "distinct_utterances_per_1000": 1000.0 * distinct / len(scored)}


def invented_word_counts(records: Iterable[Record], vocabulary: Vocabulary) -> dict[str, int]:
    """How many user turns hold each invented word, most frequent first: what an LM user makes up."""
    counts: dict[str, int] = {}
    for scored in _scored_turns(records, vocabulary):
        for w in scored.invented:
            counts[w] = counts.get(w, 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def language_quality_by_group(records: Iterable[Record], vocabulary: Vocabulary,
                              ) -> dict[str, dict[str, float | int | None]]:
    """:func:`language_quality` per canonical profile (the evaluation's groups), profiles in its order."""
    groups: dict[str, list[Record]] = {}
    for n, record in enumerate(records, 1):
        profile = record.profile if isinstance(record, Dialogue) else canonical_profile(record, f"record {n}")
        groups.setdefault(profile, []).append(record)
    return {p: language_quality(groups[p], vocabulary) for p in sorted(groups, key=profile_sort_key)}


def table_cells(figures: Mapping[str, float | int | None]) -> list[str]:
    """The :data:`FIGURES` of one group as text cells under :data:`TABLE_HEADER` (rates as percentages), the
    columns :data:`TABLE_NOTE` explains."""
    def cell(name: str) -> str:
        value = figures.get(name)
        if value is None:
            return "n/a"
        if name == "user_turns":
            return str(value)
        if name.endswith("_rate"):
            return f"{value:.1%}"
        return f"{value:.0f}" if name == "distinct_utterances_per_1000" else f"{value:.3f}"
    return [cell(name) for name in FIGURES]
