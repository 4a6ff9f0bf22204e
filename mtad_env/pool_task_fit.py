"""Which pool utterances fit a task: recipe-only and DIY-only lines, and lines that presuppose an ingredient or tool.

The utterance pool is shared by recipes and DIY jobs, and some of its lines only make sense in one of them ("i
screwed in all four legs of the table so what's the next step") or in a task that has a given item ("done with the
cutting of the onions next step please"). ``data/pool_task_content.json`` tags those lines::

    {"version": 1, "entries": {"<intent>": {"<utterance>": {"domain": "cooking" | "diy" | null,
                                                            "needs": ["onions", ...]}}}}

A tagged line fits a task when its domain (if any) is the task's (``data_source`` "recipe" is cooking, "diy" is
DIY; a task of any other source takes untagged-domain lines only) and every word it needs is a word of the task
(:func:`mtad_env.vocabulary.task_words`). Untagged lines fit every task. Tags are matched by intent and text, so a
user's pool that reuses shipped lines gets their tags too.

Example:
    >>> from mtad_env.domain import UtterancePool, load_tasks
    >>> pool = UtterancePool.load()
    >>> fit = PoolTaskFit.shipped(pool)
    >>> recipe = load_tasks("test")[0]
    >>> i = pool.entries["next"].index("i screwed in all four legs of the table so what's the next step in the instructions")
    >>> i in fit.unfit(recipe)["next"]
    True
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path

from mtad_env.domain import DATA_DIR, Task, UtterancePool
from mtad_env.errors import DataFormatError
from mtad_env.intents import INTENTS
from mtad_env.vocabulary import normalise_utterance, task_words, words

logger = logging.getLogger(__name__)
TAGS_PATH = DATA_DIR / "pool_task_content.json"
DOMAINS: dict[str, str] = {"recipe": "cooking", "diy": "diy"}  # a task's data_source -> its domain tag
Tag = tuple[str | None, frozenset[str]]  # a line's (domain or None, needed words)


class PoolTaskFit:
    """The tagged entries of one pool: ``tags[intent][entry index] = (domain or None, needed words)``."""

    def __init__(self, tags: Mapping[str, Mapping[int, Tag]], sha256: str = "") -> None:
        self.tags = {intent: dict(t) for intent, t in tags.items()}
        self.sha256 = sha256  # of the tags file: part of what cached corpus statistics are keyed by
        self._unfit: dict[tuple[str, str], dict[str, frozenset[int]]] = {}

    @classmethod
    def shipped(cls, pool: UtterancePool, path: str | Path = TAGS_PATH) -> PoolTaskFit:
        """The tags of ``path`` (default: the shipped file) for the entries of ``pool`` that carry one.

        Raises:
            DataFormatError: the file is malformed (a bad domain, needs that are not lists of words).
        """
        content, by_intent = _read_tags(path)
        tags: dict[str, dict[int, Tag]] = {}
        for intent, entries in by_intent.items():
            index = {line: k for k, line in enumerate(pool.entries.get(intent, ()))}
            for text, tag in entries.items():
                if text in index:
                    tags.setdefault(intent, {})[index[text]] = tag
        logger.debug("pool task tags: %d entries", sum(map(len, tags.values())))
        return cls(tags, hashlib.sha256(content.encode("utf-8")).hexdigest())

    def unfit(self, task: Task) -> dict[str, frozenset[int]]:
        """Per intent, the entry indices that do not fit ``task`` (kept per task)."""
        key = (task.id, task.data_source)
        found = self._unfit.get(key)
        if found is None:
            domain, have = task_fit_of(task)
            found = {intent: frozenset(k for k, tag in self.tags.get(intent, {}).items()
                                       if not tag_fits(tag, domain, have))
                     for intent in INTENTS}
            if len(self._unfit) < 4096:
                self._unfit[key] = found
        return found


def tag_fits(tag: Tag, domain: str | None, have: frozenset[str]) -> bool:
    """Whether a line tagged ``tag`` fits a task of ``domain`` (None: neither cooking nor DIY) whose words are
    ``have``: the rule of the module docstring, in one place."""
    line_domain, needs = tag
    return (line_domain is None or line_domain == domain) and all(_has(have, w) for w in needs)


def task_fit_of(task: Task) -> tuple[str | None, frozenset[str]]:
    """``(domain, words)`` of ``task``: what :func:`tag_fits` compares a line's tag with."""
    return DOMAINS.get(task.data_source), frozenset(task_words(task))


def line_fits(text: str, fit: tuple[str | None, frozenset[str]]) -> bool:
    """Whether the utterance ``text`` fits a task whose :func:`task_fit_of` is ``fit``; a line the tags file does
    not hold (whatever its case and punctuation) fits every task."""
    tag = tags_by_text().get(normalise_utterance(text))
    return tag is None or tag_fits(tag, *fit)


@lru_cache(maxsize=4)
def tags_by_text(path: str = str(TAGS_PATH)) -> dict[str, Tag]:
    """The tags of ``path`` keyed by each line's words joined by spaces (its intent left out), to recognise a tagged
    line in any dialogue whatever its case and punctuation."""
    return {" ".join(words(text)): tag for entries in _read_tags(path)[1].values() for text, tag in entries.items()}


def _read_tags(path: str | Path) -> tuple[str, dict[str, dict[str, Tag]]]:
    """The tags file's text and its tags by intent and line, checked.

    Raises:
        DataFormatError: a bad domain, or needs that are not a list of words.
    """
    content = Path(path).read_text(encoding="utf-8")
    out: dict[str, dict[str, Tag]] = {}
    for intent, entries in json.loads(content).get("entries", {}).items():
        for text, tag in entries.items():
            domain, needs = tag.get("domain"), tag.get("needs", [])
            if domain not in (None, *DOMAINS.values()) or not isinstance(needs, list):
                raise DataFormatError(f"{path}: {intent} {text!r}: domain must be one of cooking, diy or null "
                                      f"and needs a list of words, got {tag!r}")
            out.setdefault(intent, {})[text] = (domain, frozenset(w for n in needs for w in words(n)))
    return content, out


def _has(have: frozenset[str] | set[str], word: str) -> bool:
    """Whether the task's words hold ``word``, in the singular or the plural ("onions" in a task with "onion")."""
    return word in have or word.removesuffix("s") in have or f"{word}s" in have or word.removesuffix("es") in have
