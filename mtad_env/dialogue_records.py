"""Dialogue records as read from files: ours and the paper's public code's, checked and put in one form.

A record has ``user_profile`` and ``dialog`` (a list of turns with ``intent`` and ``user``), plus ``dialog_id`` and
anything else. Files may hold one record per line (JSON lines: our corpora and episode logs) or be one JSON value,
as the paper's public code writes them: a list of records, or an object keyed by dialogue id. That code's profiles
are objects (``{"user_custom_name": "Patient", "trait_scale": {"patience": 2}, ...}``) and its intents have their
own names (``NextStepIntent``); :func:`normalise_record` turns both into ours (a canonical profile string, our
intent names) and refuses an unknown intent, naming the file, the record and the value.

Example:
    >>> rec = {"dialog_id": "a", "user_profile": {"user_custom_name": "Patient", "trait_scale": {"patience": 2}},
    ...        "dialog": [{"intent": "StartStepsIntent", "user": "start"}]}
    >>> out = normalise_record(rec, "demo.json")
    >>> out["user_profile"], out["dialog"][0]["intent"]
    ('engagement=high', 'start')
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mtad_env.episode_log import load_episodes
from mtad_env.errors import DataFormatError, MtadError
from mtad_env.intents import canonical_intent
from mtad_env.records import DEGENERATE
from mtad_env.profiles import Profile

# The paper's public code's trait names (its profiles' ``trait_scale``) -> ours; scale 0 / 1 / 2 = low / - / high.
PUBLIC_TRAIT_NAMES: dict[str, str] = {
    "patience": "engagement", "cooperativeness": "cooperativeness", "exploration": "exploration",
    "tolerance": "tolerance", "verbosity": "verbosity", "emotion": "emotion", "fluency": "fluency",
    "repetition": "repetition",
}
_SCALE = {0: "low", 1: "neutral", 2: "high"}
_LAYOUT = ("expected one dialogue record (a JSON object with 'user_profile' and 'dialog') per line, or one JSON "
           "value: a list of such records or an object keyed by dialogue id")


def _where(source: str, rec: Mapping[str, Any], index: int | None) -> str:
    ident = f"dialog_id {rec['dialog_id']!r}" if "dialog_id" in rec else f"record {index}"
    return f"{source} ({ident})" if index is not None or "dialog_id" in rec else source


def public_profile(value: Mapping[str, Any]) -> Profile:
    """The profile of a profile object of the paper's public code (its ``trait_scale``, else its name)."""
    scale = value.get("trait_scale")
    if isinstance(scale, Mapping) and scale:
        pairs = {}
        for name, level in scale.items():
            if name not in PUBLIC_TRAIT_NAMES or level not in _SCALE:
                raise DataFormatError(f"trait_scale entry {name!r}: {level!r} is not a trait of "
                                      f"{', '.join(PUBLIC_TRAIT_NAMES)} at 0, 1 or 2")
            pairs[PUBLIC_TRAIT_NAMES[name]] = _SCALE[level]
        return Profile.parse(pairs)
    return Profile.parse(str(value.get("user_custom_name") or ""))


def record_profile(value: Any, where: str) -> str:
    """The canonical profile string of a record's ``user_profile`` (a string, dict, or public-code object)."""
    if value is None:
        raise DataFormatError(f"{where}: the record has no user profile; give 'user_profile' (e.g. 'regular')")
    try:
        if isinstance(value, Mapping) and "user_custom_name" in value:
            return str(public_profile(value))
        return str(Profile.parse(value))
    except MtadError as exc:
        raise DataFormatError(f"{where}: {exc}") from None


def normalise_record(rec: Any, source: str, index: int | None = None) -> dict[str, Any]:
    """``rec`` with a canonical profile string and our intent names; raises naming ``source`` and the record."""
    if not isinstance(rec, Mapping) or "dialog" not in rec or "user_profile" not in rec:
        got = "an object without them" if isinstance(rec, Mapping) else f"a JSON {type(rec).__name__}"
        raise DataFormatError(f"{source}{'' if index is None else f' record {index}'}: a dialogue record needs "
                              f"'user_profile' and 'dialog' keys, got {got}; {_LAYOUT}")
    where = _where(source, rec, index)
    turns = rec["dialog"]
    if not isinstance(turns, list) or not all(isinstance(t, Mapping) and "user" in t for t in turns):
        raise DataFormatError(f"{where}: 'dialog' must be a list of turns with 'intent' and 'user'")
    out_turns = []
    for k, turn in enumerate(turns):
        intent = turn.get("intent")
        if intent != DEGENERATE:
            intent = canonical_intent(intent, f"{where} turn {k}")
        out_turns.append({**turn, "intent": intent})
    return {**rec, "user_profile": record_profile(rec["user_profile"], where), "dialog": out_turns}


def read_dialogue_file(path: str | Path) -> list[dict[str, Any]]:
    """Every record of a dialogue file (JSON lines, a JSON list, or a JSON object keyed by id), normalised."""
    path = Path(path)
    if not path.is_file():
        raise DataFormatError(f"dialogue file {str(path)!r} does not exist")
    text = path.read_text(encoding="utf-8")
    try:
        whole = json.loads(text)
    except json.JSONDecodeError:
        whole = None  # JSON lines (or a torn last line, which load_episodes drops)
    if isinstance(whole, list):
        records = whole
    elif isinstance(whole, Mapping) and not ("dialog" in whole and "user_profile" in whole):
        records = [{"dialog_id": key, **rec} if isinstance(rec, Mapping) else rec for key, rec in whole.items()]
    elif isinstance(whole, Mapping):
        records = [whole]
    else:
        records = load_episodes(path)
    return [normalise_record(rec, str(path), n) for n, rec in enumerate(records, 1)]
