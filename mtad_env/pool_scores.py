"""Per-utterance trait scores of a pool, computed once and cached beside the pool, keyed by the pool's hash.

Templates are scored with neutral slot fillers (``{ingredient}`` -> "sugar"). The cache file
``<pool>.scores.json`` (or one in ``~/.cache/mtad_env`` where the pool's folder is read-only) is reused only when
the pool hash and every scorer's name match; otherwise scores are recomputed and the file rewritten atomically.
The shipped pool's cache in the package is read but never rewritten: scores of traits registered later, or of a
replaced scorer, go to the user cache folder.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import numpy as np

from mtad_env.atomic_files import write_json_atomic
from mtad_env.domain import DATA_DIR, SCORING_FILL, UtterancePool, fill_slots
from mtad_env.intents import INTENTS
from mtad_env.traits import scorer_for, traits

logger = logging.getLogger(__name__)
PoolScores = dict[str, dict[str, np.ndarray]]  # trait -> intent -> one score per pool entry


def utterance_traits() -> list[str]:
    """Names of the registered traits that have a per-utterance scorer."""
    return [n for n, t in traits().items() if t.scorer is not None]


def _cache_path(pool: UtterancePool) -> Path:
    """Beside the pool, except for pools inside the installed package (never rewritten) or in read-only folders."""
    src = Path(pool.source)
    shipped = src.resolve().is_relative_to(DATA_DIR.resolve()) if src.exists() else False
    if src.exists() and os.access(src.parent, os.W_OK) and not shipped:
        return src.with_suffix(".scores.json")
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "mtad_env"
    return base / f"pool-{pool.sha256[:16]}.scores.json"


def _read_cache(path: Path, pool: UtterancePool) -> dict | None:
    shipped = Path(pool.source).with_suffix(".scores.json")
    for candidate in dict.fromkeys([path, shipped]):
        try:
            cached = json.loads(candidate.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            continue
        if cached.get("pool_sha256") == pool.sha256:
            return cached
    return None


def pool_scores(pool: UtterancePool) -> PoolScores:
    """Scores of every pool entry under every utterance-level trait, from the cache when it is valid."""
    names = {t: scorer_for(t).name for t in utterance_traits()}
    path = _cache_path(pool)
    cached = _read_cache(path, pool) or {"pool_sha256": pool.sha256, "scorers": {}, "scores": {}}
    changed = False
    for trait, name in names.items():
        if cached["scorers"].get(trait) == name and trait in cached["scores"]:
            continue
        logger.info("scoring the utterance pool for %s with %s", trait, name)
        rng = np.random.default_rng(0)
        cached["scores"][trait] = {
            intent: scorer_for(trait)([fill_slots(u, SCORING_FILL, rng) for u in pool.entries[intent]]).tolist()
            for intent in INTENTS}
        cached["scorers"][trait] = name
        changed = True
    if changed:
        try:
            write_json_atomic(path, cached)
        except OSError as exc:
            logger.warning("could not cache pool scores at %s: %s", path, exc)
    return {t: {i: np.asarray(cached["scores"][t][i]) for i in INTENTS} for t in names}
