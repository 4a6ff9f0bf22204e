"""Dialogues to evaluate: read from episode logs and generated corpora, grouped by canonical profile.

Both sources hold dialogue records (:class:`mtad_env.records.DialogueRecord`: ``dialog_id``, ``user_profile``,
``dialog``); episode logs add ``episode_metrics`` and mark errors with ``system_error``, corpora with
``forced_system_error``. Records of the paper's public code (its intent names, profile objects, JSON lists) are
read too (:mod:`mtad_env.dialogue_records`). Turns marked ``"<degenerate>"`` (the simulator produced no parsable
turn) are kept for the degeneration rate but left out of the identifying metrics, as the environment does; any
other unknown intent is refused.

Example:
    >>> import mtad_env
    >>> d = from_record({"dialog_id": "x", "user_profile": "Patient",
    ...                  "dialog": [{"intent": "start", "user": "let's go", "system_error": False}]}, "demo")
    >>> d.profile, d.metrics["engagement"]
    ('engagement=high', 1.0)
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from mtad_env.dialogue_records import normalise_record, read_dialogue_file, record_profile
from mtad_env.errors import InvalidValueError
from mtad_env.intents import INTENTS
from mtad_env.profiles import Profile
from mtad_env.records import Turn
from mtad_env.traits import dialogue_metrics, traits
from simulators.corpus import CORPUS_SPLITS, read_corpus

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Dialogue:
    """One dialogue ready for evaluation.

    Attributes:
        dialog_id: the record's id.
        profile: canonical profile string (``"engagement=high"``, ``"regular"``).
        turns: every turn as recorded, degenerate ones included.
        metrics: identifying metric of every registered trait (None where undefined).
        source: the file or corpus split the record came from.
        decoding: how an LM user decoded it (``mode``, ``adapters``, ``weights``), None for other users.
        task: the record's task (a task dict), None where the record has none.
    """

    dialog_id: str
    profile: str
    turns: tuple[Turn, ...]
    metrics: Mapping[str, float | None] = field(default_factory=dict)
    source: str = ""
    decoding: Mapping[str, Any] | None = None
    task: Mapping[str, Any] | None = None


def is_degenerate(turn: Turn) -> bool:
    """Whether a user turn is degenerate: its intent is ``"<degenerate>"`` (records are read with no other unknown)."""
    return turn.get("intent") not in INTENTS


def _metrics(rec: Mapping[str, Any], turns: Sequence[Turn]) -> dict[str, float | None]:
    logged = rec.get("episode_metrics") or {}
    names = list(traits())
    if all(name in logged for name in names):
        return {name: logged[name] for name in names}
    computed = dialogue_metrics([t for t in turns if not is_degenerate(t)])
    return {name: logged.get(name, computed[name]) for name in names}


def from_record(rec: Mapping[str, Any], source: str) -> Dialogue:
    """A :class:`Dialogue` from an episode-log or corpus record (ours or the paper's public code's); raises
    naming ``source`` on a malformed one or an unknown intent."""
    rec = normalise_record(rec, source)
    turns = rec["dialog"]
    return Dialogue(str(rec.get("dialog_id", "")), rec["user_profile"], tuple(turns), _metrics(rec, turns), source,
                    rec.get("decoding"), rec.get("task"))


def canonical_profile(rec: Mapping[str, Any], source: str) -> str:
    """The canonical profile string of a record's ``user_profile``; raises naming ``source`` if unknown."""
    where = f"{source} (dialog_id {rec['dialog_id']!r})" if "dialog_id" in rec else source
    return record_profile(rec["user_profile"], where)


def _from_records(records: Sequence[Mapping[str, Any]], source: str, desc: str) -> list[Dialogue]:
    bar = tqdm(records, desc=desc, disable=len(records) < 500, leave=False)
    return [from_record(rec, f"{source} record {n}") for n, rec in enumerate(bar, 1)]


def load_logs(paths: Iterable[str | Path]) -> list[Dialogue]:
    """Every dialogue of the given episode logs.

    Args:
        paths: ``.jsonl`` files (or the paper's public code's ``.json`` dialogue files), or folders holding
            ``episodes.jsonl`` (else every ``*.jsonl`` file of the folder is read, e.g. a corpus split folder).

    Raises:
        InvalidValueError: a path that does not exist, or logs that hold no dialogue.
        mtad_env.errors.DataFormatError: a line that is not JSON, a record without the dialogue fields, an unknown
            intent.
    """
    paths = [Path(p) for p in paths]
    dialogues: list[Dialogue] = []
    for path in paths:
        for file in log_files(path):
            dialogues += _from_records(read_dialogue_file(file), str(file), f"reading {file.name}")
    if not dialogues:
        names = ", ".join(repr(str(p)) for p in paths)
        raise InvalidValueError(f"episode logs {names} hold no dialogues; run `mtad-env simulate --log FILE`")
    logger.info("read %d dialogues from %d log file(s)", len(dialogues), len(paths))
    return dialogues


def log_files(path: Path) -> list[Path]:
    """``path`` itself, or for a folder its ``episodes.jsonl``, else every ``*.jsonl`` in it (a corpus split)."""
    if not path.exists():
        raise InvalidValueError(f"episode log {str(path)!r} does not exist; write one with "
                                "`mtad-env simulate --log FILE.jsonl`")
    if not path.is_dir():
        return [path]
    if (path / "episodes.jsonl").exists():
        return [path / "episodes.jsonl"]
    return sorted(path.glob("*.jsonl"))


def group_by_profile(dialogues: Iterable[Dialogue]) -> dict[str, list[Dialogue]]:
    """Dialogues per canonical profile, profiles in :func:`profile_sort_key` order."""
    groups: dict[str, list[Dialogue]] = {}
    for d in dialogues:
        groups.setdefault(d.profile, []).append(d)
    return {p: groups[p] for p in sorted(groups, key=profile_sort_key)}


def profile_sort_key(profile: str) -> tuple:
    """Regular first, then fewer traits first, then trait-table order, low before high."""
    pairs = Profile.parse(profile).pairs
    order = {name: i for i, name in enumerate(traits())}
    return len(pairs), [(order[n], ("low", "neutral", "high").index(i)) for n, i in pairs]


def metric_values(dialogues: Iterable[Dialogue], trait: str) -> list[float]:
    """The identifying metric of ``trait`` over ``dialogues``, undefined (None) values dropped."""
    return [float(d.metrics[trait]) for d in dialogues if d.metrics.get(trait) is not None]


def user_utterances(dialogues: Iterable[Dialogue]) -> list[str]:
    """The user utterances of the non-degenerate turns of ``dialogues``."""
    return [str(t["user"]) for d in dialogues for t in d.turns if not is_degenerate(t)]


class ReferenceCorpus:
    """A corpus folder written by ``mtad-env generate``, read lazily per split and profile.

    Args:
        folder: the corpus folder.
        split: the preferred split for reference dialogues; a profile missing there falls back to the other
            splits, held-out ones first.

    Raises:
        InvalidValueError: the folder does not exist, holds no dialogue, or ``split`` is unknown.
    """

    def __init__(self, folder: str | Path, split: str = "test") -> None:
        self.folder = Path(folder)
        if split not in CORPUS_SPLITS:
            raise InvalidValueError(f"unknown split {split!r}; valid: {', '.join(CORPUS_SPLITS)}")
        if not self.folder.is_dir():
            raise InvalidValueError(f"reference folder {str(self.folder)!r} does not exist; create one with "
                                    "`mtad-env generate --out DIR`")
        self.split = split
        self._records = {s: self._read(s) for s in CORPUS_SPLITS}
        if not any(self._records.values()):
            raise InvalidValueError(f"reference folder {str(self.folder)!r} holds no dialogues in "
                                    f"{'/'.join(CORPUS_SPLITS)}/*.jsonl; create one with `mtad-env generate`")
        self._cache: dict[tuple[str, str], list[Dialogue]] = {}

    def _read(self, split: str) -> dict[str, list[dict[str, Any]]]:
        by_profile: dict[str, list[dict[str, Any]]] = {}
        for rec in read_corpus(self.folder, split):  # normalised: canonical profiles, our intent names
            by_profile.setdefault(rec["user_profile"], []).append(rec)
        return by_profile

    def split_for(self, profile: str) -> str | None:
        """The split that serves ``profile``: the preferred one, else valid/test/train order; None if none."""
        order = [self.split] + [s for s in ("test", "valid", "train") if s != self.split]
        return next((s for s in order if self._records[s].get(profile)), None)

    def dialogues(self, profile: str) -> tuple[str | None, list[Dialogue]]:
        """``(split, dialogues)`` of the reference for ``profile``; ``(None, [])`` where the corpus lacks it."""
        split = self.split_for(profile)
        if split is None:
            return None, []
        if (split, profile) not in self._cache:
            source = str(self.folder / split)
            self._cache[split, profile] = _from_records(self._records[split][profile], source,
                                                        f"reference {profile}")
        return split, self._cache[split, profile]

    def profiles(self) -> list[str]:
        """Every profile the corpus holds in any split."""
        found = {p for recs in self._records.values() for p in recs}
        return sorted(found, key=profile_sort_key)

    def train_utterances(self) -> set[str] | None:
        """Normalised user utterances of the train split, or None when the corpus has no train split."""
        records = [r for recs in self._records["train"].values() for r in recs]
        if not records:
            return None
        return {normalise(str(t["user"])) for r in records for t in r["dialog"] if not is_degenerate(t)}


def normalise(utterance: str) -> str:
    """Lower-cased utterance with runs of whitespace collapsed, the unit of the uniqueness rate."""
    return " ".join(utterance.lower().split())
