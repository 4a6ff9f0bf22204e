"""The words simulated users may say: the vocabulary of the utterance pool, the tasks and the knowledge files.

One home for what counts as a known word: :mod:`evaluation.language_quality` scores user turns against it (the
invented-word figure) and :mod:`simulators.word_constraint` keeps LM users' sampling inside it.

Words are the :data:`WORD` matches of the lower-cased text: letters and digits, with inner apostrophes.

Example:
    >>> "flour" in build_vocabulary().words
    True
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from mtad_env.domain import SPLITS, Task, UtterancePool, load_knowledge, load_tasks
from mtad_env.errors import InvalidValueError

logger = logging.getLogger(__name__)
WORD = re.compile(r"[a-z0-9]+(?:'[a-z0-9]+)*")
_SLOT_TEXT = re.compile(r"\{[a-z_]+\}")
Template = tuple[str | None, ...]  # words of a pool template, None for a slot


def words(text: str) -> list[str]:
    """The :data:`WORD` tokens of the lower-cased ``text``: letters and digits, with inner apostrophes."""
    return WORD.findall(text.lower())


def normalise_utterance(text: str) -> str:
    """The words of ``text`` joined by single spaces: the unit of the pool, repeat and variety figures."""
    return " ".join(words(text))


def template_words(template: str) -> Template:
    """The words of a pool template in order, None where a slot stands."""
    pieces = _SLOT_TEXT.split(template)
    out: list[str | None] = []
    for i, piece in enumerate(pieces):
        out += words(piece) + ([None] if i < len(pieces) - 1 else [])
    return tuple(out)


def _fills(template: Template, toks: Sequence[str], fillers: frozenset[str], i: int = 0, j: int = 0) -> bool:
    """Whether ``toks[j:]`` matches ``template[i:]``, each slot taking one or more words of ``fillers``."""
    if i == len(template):
        return j == len(toks)
    if template[i] is not None:
        return j < len(toks) and toks[j] == template[i] and _fills(template, toks, fillers, i + 1, j + 1)
    k = j
    while k < len(toks) and toks[k] in fillers:
        k += 1
        if _fills(template, toks, fillers, i + 1, k):
            return True
    return False


@dataclass(frozen=True)
class Vocabulary:
    """Every word users may say without inventing it, and the pool utterances, outside any one dialogue.

    Attributes:
        words: words of the pool, the tasks (with their slot values) and the knowledge files.
        utterances: the normalised pool utterances without slots.
        templates: the pool templates (:func:`template_words`) by their first word ("" when a slot comes first).
        fillers: words of the tasks' slot values (ingredient names, tools, step numbers), what a slot may hold.
        sources: what the vocabulary was built from: the pool file and the user's task folders.
    """

    words: frozenset[str]
    utterances: frozenset[str]
    templates: Mapping[str, tuple[Template, ...]] = field(default_factory=dict)
    fillers: frozenset[str] = frozenset()
    sources: tuple[str, ...] = ()

    @classmethod
    def shipped(cls, task_dirs: Iterable[str | Path] = ()) -> Vocabulary:
        """The vocabulary of the shipped pool, tasks and knowledge, plus the given task folders."""
        return build_vocabulary(task_dirs)

    def is_pool_utterance(self, utterance: str, fillers: frozenset[str] = frozenset()) -> bool:
        """Whether ``utterance`` is, as a word sequence, a pool utterance or a pool template whose slots hold
        words of the vocabulary's or the extra ``fillers`` (a dialogue's own task)."""
        toks = words(utterance)
        if not toks:
            return False
        if " ".join(toks) in self.utterances:
            return True
        allowed = self.fillers | fillers if fillers else self.fillers
        candidates = (*self.templates.get(toks[0], ()), *self.templates.get("", ()))
        return any(_fills(t, toks, allowed) for t in candidates)


def build_vocabulary(task_dirs: Iterable[str | Path] = (), utterances: str | Path | None = None) -> Vocabulary:
    """The :class:`Vocabulary` of the pool (default: the shipped one), the shipped tasks, ``task_dirs`` and the
    knowledge files; built once per argument set.

    Raises:
        InvalidValueError: a task folder holds none of the split sub-folders.
        DataFormatError: a task or pool file is malformed.
    """
    dirs = tuple(sorted({str(Path(d).resolve()) for d in task_dirs}))
    return _build_vocabulary(dirs, str(Path(utterances).resolve()) if utterances else None)


@lru_cache(maxsize=8)
def _build_vocabulary(task_dirs: tuple[str, ...], utterances: str | None) -> Vocabulary:
    pool = UtterancePool.load(utterances)
    vocab: set[str] = set()
    plain: set[str] = set()
    templates: dict[str, list[Template]] = {}
    for _, text in pool.all_texts():
        template = template_words(text)
        vocab.update(w for w in template if w is not None)
        if None in template:
            templates.setdefault(template[0] or "", []).append(template)
        elif template:
            plain.add(" ".join(template))
    fillers: set[str] = set()
    for task in [t for folder in (None, *task_dirs) for t in _folder_tasks(folder)]:
        vocab |= task_words(task)
        fillers |= slot_words(task)
    vocab |= fillers | json_words(load_knowledge())
    logger.info("language vocabulary: %d words, %d pool utterances, %d templates, %d slot words", len(vocab),
                len(plain), sum(map(len, templates.values())), len(fillers))
    return Vocabulary(frozenset(vocab), frozenset(plain), {k: tuple(v) for k, v in templates.items()},
                      frozenset(fillers), (pool.source, *task_dirs))


def _folder_tasks(folder: str | None) -> list[Task]:
    """The tasks of every split of ``folder`` (None: the shipped tasks); a user folder may lack some splits."""
    if folder is None:
        return [t for split in SPLITS for t in load_tasks(split)]
    present = [split for split in SPLITS if (Path(folder) / split).is_dir()]
    if not present:
        raise InvalidValueError(f"task folder {folder!r} holds none of the split folders {', '.join(SPLITS)}; "
                                "give a folder with <split>/<id>.json tasks")
    return [t for split in present for t in load_tasks(split, folder)]


def slot_words(task: Task) -> set[str]:
    """Words of the values that fill ``task``'s template slots: ingredient names, tools, step numbers."""
    return {w for values in task.slot_values.values() for v in values for w in words(v)}


def task_words(task: Task) -> set[str]:
    """Every word of ``task`` (title, steps, ingredients, tools, its JSON keys): what its users may say."""
    return json_words(task.to_dict())


def json_words(obj: Any) -> set[str]:
    """Words of every string in a JSON value, keys included."""
    if isinstance(obj, str):
        return set(words(obj))
    if isinstance(obj, Mapping):
        return {w for k, v in obj.items() for w in json_words(k) | json_words(v)}
    if isinstance(obj, (list, tuple)):
        return {w for v in obj for w in json_words(v)}
    return set()
