"""The CTA domain data: tasks, the user-utterance pool, intent transitions and assistant knowledge.

Formats follow the paper's public code (tasks ``{"id", "title", "methods", ...}``, the pool
``{intent: {utterance: count}}``; dialogue records in :mod:`mtad_env.records`). The shipped data lives in
``mtad_env/data``; every loader also accepts a user's own folder or file in the same format and validates it, naming the file and field at fault.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from mtad_env.errors import DataFormatError, unknown
from mtad_env.intents import INTENTS, canonical_intent

logger = logging.getLogger(__name__)
DATA_DIR = Path(__file__).parent / "data"
SPLITS: tuple[str, ...] = ("train", "valid", "test", "diy")
SLOTS: tuple[str, ...] = ("ingredient", "tool", "step_number")
_SLOT = re.compile(r"\{([a-z_]+)\}")
_QTY = re.compile(r"^\s*(?:about\s+)?[\d/.\u00bc-\u00be\u2150-\u215e\s-]*(?:to\s+[\d/.]+\s*)?")
_UNITS = frozenset(
    "g kg mg ml l cl dl cup cups tbsp tsp tablespoon tablespoons teaspoon teaspoons oz ounce ounces lb lbs pound "
    "pounds pinch pinches dash clove cloves can cans jar jars slice slices stick sticks bunch bunches handful "
    "handfuls sprig sprigs piece pieces large medium small whole head heads stalk stalks fillet fillets sheet "
    "sheets package packages packet packets pint pints quart quarts inch cm drop drops leaf leaves block blocks "
    "bottle bottles knob thumb-sized of".split())


@dataclass(frozen=True)
class Task:
    """One manual task: a recipe or a DIY job."""

    id: str
    title: str
    methods: tuple[str, ...]
    ingredients: tuple[str, ...] = ()
    tools: tuple[str, ...] = ()
    data_source: str = "recipe"
    description: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict, compare=False)

    @cached_property
    def ingredient_names(self) -> tuple[str, ...]:
        """Plain ingredient names ("2 cups all-purpose flour, sifted" -> "all-purpose flour")."""
        return tuple(n for n in (ingredient_name(i) for i in self.ingredients) if n)

    @cached_property
    def slot_values(self) -> dict[str, tuple[str, ...]]:
        """Values for the utterance templates' slots."""
        things = self.ingredient_names or self.tools or ("it",)
        return {"ingredient": things, "tool": self.tools or ("knife", "bowl", "pan"),
                "step_number": tuple(str(i + 1) for i in range(len(self.methods)))}

    def to_dict(self) -> dict[str, Any]:
        """The task as a JSON object, the paper's public code's task fields."""
        out: dict[str, Any] = {"id": self.id, "title": self.title, "methods": list(self.methods)}
        if self.ingredients:
            out["ingredients"] = list(self.ingredients)
        if self.tools:
            out["tools"] = list(self.tools)
        out.update(data_source=self.data_source, description=self.description, **self.extra)
        return out


def ingredient_name(line: str) -> str:
    """Strip quantity, unit and preparation from an ingredient line."""
    name = line.split(",")[0].split("(")[0]
    name = _QTY.sub("", name).strip()
    toks = name.split()
    while toks and toks[0].lower() in _UNITS:
        toks = toks[1:]
    return " ".join(toks).lower().strip()


def task_from_dict(obj: Any, source: str = "<task>") -> Task:
    """Validate one task record; raises :class:`DataFormatError` naming ``source`` and the field."""
    if not isinstance(obj, dict):
        raise DataFormatError(f"{source}: a task must be a JSON object with 'id', 'title' and 'methods'")
    methods = obj.get("methods")
    if not isinstance(methods, list) or not methods:
        raise DataFormatError(f"{source}: field 'methods' must be a non-empty list of step strings")
    for i, step in enumerate(methods):
        if not isinstance(step, str) or not step.strip():
            raise DataFormatError(f"{source}: methods[{i}] must be a non-empty string, got {step!r}")
    for key in ("id", "title"):
        if not isinstance(obj.get(key), str) or not obj[key].strip():
            raise DataFormatError(f"{source}: field {key!r} must be a non-empty string")
    for key in ("ingredients", "tools"):
        value = obj.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise DataFormatError(f"{source}: field {key!r} must be a list of strings")
    known = {"id", "title", "methods", "ingredients", "tools", "data_source", "description"}
    try:
        json.dumps({k: v for k, v in obj.items() if k not in known}, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise DataFormatError(f"{source}: extra task fields must be plain JSON values ({exc})") from None
    return Task(obj["id"], obj["title"], tuple(methods), tuple(obj.get("ingredients", [])),
                tuple(obj.get("tools", [])), str(obj.get("data_source", "recipe")), str(obj.get("description", "")),
                {k: v for k, v in obj.items() if k not in known})


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataFormatError(f"file {str(path)!r} does not exist") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataFormatError(f"{str(path)!r} is not valid JSON: {exc}") from None


def load_tasks(split: str, tasks_dir: str | Path | None = None) -> list[Task]:
    """All tasks of ``split`` (train, valid, test, diy) from ``tasks_dir`` (default: the shipped tasks).

    The folder holds one sub-folder per split with one ``<id>.json`` task per file.
    """
    if split not in SPLITS:
        raise unknown("split", split, SPLITS)
    return list(_load_tasks_cached(split, str(Path(tasks_dir) if tasks_dir else DATA_DIR / "tasks")))


@lru_cache(maxsize=32)
def _load_tasks_cached(split: str, tasks_dir: str) -> tuple[Task, ...]:
    folder = Path(tasks_dir) / split
    if not folder.is_dir():
        raise DataFormatError(f"task folder {str(folder)!r} does not exist; expected {tasks_dir}/<split>/*.json")
    tasks = tuple(task_from_dict(_read_json(p), str(p)) for p in sorted(folder.glob("*.json")))
    if not tasks:
        raise DataFormatError(f"task folder {str(folder)!r} holds no *.json task files")
    return tasks


def find_task(task_id: str, split: str | None = None, tasks_dir: str | Path | None = None) -> Task:
    """The task with ``task_id``, searched in ``split`` or in every split."""
    pool = [split] if split else list(SPLITS)
    for s in pool:
        for task in load_tasks(s, tasks_dir):
            if task.id == task_id:
                return task
    ids = [t.id for s in pool for t in load_tasks(s, tasks_dir)]
    raise unknown(f"task id (split {split or 'any'})", task_id, ids[:20] + (["..."] if len(ids) > 20 else []))


@lru_cache(maxsize=4)
def load_transitions(path: str | None = None) -> dict[str, dict[str, float]]:
    """Unnormalised transition weights ``{current intent: {next intent: weight}}``; ``start`` copies ``next``."""
    file = Path(path) if path else DATA_DIR / "intent_transitions.json"
    raw = _read_json(file)
    weights = raw.get("weights", raw) if isinstance(raw, dict) else None
    if not isinstance(weights, dict):
        raise DataFormatError(f"{str(file)!r}: expected {{'weights': {{intent: {{intent: weight}}}}}}")
    for cur, row in weights.items():
        if not isinstance(row, dict):
            raise DataFormatError(f"{str(file)!r}: the row of {cur!r} must be an object {{intent: weight}}")
        if any(not isinstance(w, (int, float)) or w < 0 for w in row.values()):
            raise DataFormatError(f"{str(file)!r}: weights of {cur!r} must be non-negative numbers")
    out: dict[str, dict[str, float]] = {}
    for cur, row in weights.items():  # aliases merge: two names of one intent add up
        merged = out.setdefault(canonical_intent(cur, str(file)), {})
        for name, w in row.items():
            key = canonical_intent(name, str(file))
            merged[key] = merged.get(key, 0.0) + w
    if "next" not in out:
        raise DataFormatError(f"{str(file)!r}: the table needs a row for 'next' (it also serves 'start')")
    out.setdefault("start", dict(out["next"]))
    return out


@lru_cache(maxsize=4)
def reference_top_successors(path: str | None = None) -> dict[str, frozenset[str]]:
    """Each intent's top-1 successor in the unmodified table (the first listed among equal maxima)."""
    from mtad_env.agenda_effects import top1

    return {cur: frozenset({top1(row)}) for cur, row in load_transitions(path).items() if row}


@lru_cache(maxsize=1)
def load_knowledge() -> dict[str, Any]:
    """The assistant's knowledge: ``substitutions``, ``definitions``, ``fun_facts`` ({cooking, diy}) and
    ``definition_domains`` ({cooking, diy}: the defined terms of each domain)."""
    folder = DATA_DIR / "knowledge"
    names = ("substitutions", "definitions", "fun_facts", "definition_domains")
    return {name: _read_json(folder / f"{name}.json") for name in names}


def content_hash(obj: Any) -> str:
    """SHA-256 of the canonical JSON of ``obj``."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, ensure_ascii=False).encode("utf-8")).hexdigest()


class UtterancePool:
    """The user-utterance pool ``{intent: {utterance_or_template: count}}`` with validation and slot filling."""

    def __init__(self, entries: Mapping[str, Mapping[str, int]], source: str = "<pool>") -> None:
        self.source = source
        self.entries: dict[str, list[str]] = {}
        self.counts: dict[str, np.ndarray] = {}
        merged: dict[str, dict[str, float]] = {}
        for name, utterances in entries.items():
            intent = canonical_intent(name, source)
            if not isinstance(utterances, Mapping) or not utterances:
                raise DataFormatError(f"{source}: intent {name!r} has no utterances; give at least one")
            into = merged.setdefault(intent, {})  # aliases merge: two names of one intent add up
            for text, count in utterances.items():
                self._check_entry(intent, text, count)
                into[text] = into.get(text, 0) + count
        for intent, utterances in merged.items():
            self.entries[intent] = list(utterances)
            self.counts[intent] = np.array(list(utterances.values()), dtype=np.float64)
        missing = [i for i in INTENTS if i not in self.entries]
        if missing:
            raise DataFormatError(f"{source}: intents missing from the pool: {', '.join(missing)}")
        self.sha256 = content_hash({i: dict(zip(self.entries[i], self.counts[i].tolist())) for i in INTENTS})

    def _check_entry(self, intent: str, text: Any, count: Any) -> None:
        if not isinstance(text, str) or not text.strip():
            raise DataFormatError(f"{self.source}: intent {intent!r} has an empty utterance")
        if not isinstance(count, (int, float)) or count <= 0:
            raise DataFormatError(f"{self.source}: count of {text!r} ({intent}) must be a positive number")
        for slot in _SLOT.findall(text):
            if slot not in SLOTS:
                raise DataFormatError(f"{self.source}: " + unknown(f"slot in {text!r}", slot, SLOTS).args[0])

    @classmethod
    def load(cls, path: str | Path | None = None) -> UtterancePool:
        """Read a pool file (default: the shipped pool)."""
        file = Path(path) if path else DATA_DIR / "utterances.json"
        return cls(_read_json(file), str(file))

    def all_texts(self) -> list[tuple[str, str]]:
        """Every ``(intent, utterance)`` entry."""
        return [(i, u) for i in INTENTS for u in self.entries[i]]


def has_slots(text: str) -> bool:
    """Whether ``text`` is a template with ``{slot}`` placeholders."""
    return "{" in text and bool(_SLOT.search(text))


def fill_slots(template: str, values: Mapping[str, Sequence[str]], rng: np.random.Generator) -> str:
    """Fill each ``{slot}`` of ``template`` with a value drawn from ``values[slot]``."""
    return _SLOT.sub(lambda m: values[m.group(1)][int(rng.integers(len(values[m.group(1)])))], template)


SCORING_FILL: dict[str, tuple[str, ...]] = {"ingredient": ("sugar",), "tool": ("whisk",), "step_number": ("3",)}
