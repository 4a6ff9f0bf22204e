"""Profile-aware corpus generation with the Appendix B.4 filter, resumable after a kill, and its statistics.

Layout of a corpus folder::

    DIR/manifest.json                 the arguments; a re-run must use the same ones
    DIR/regular_stats.json            mean/std of every identifying metric over Regular dialogues (the filter)
    DIR/<split>/<profile>.jsonl       one accepted dialogue record a line (mtad_env.records)
    DIR/report.json                   attempts and acceptance rate per profile and split

Dialogue attempt ``k`` of a (profile, split) draws from its own generator seeded by (seed, split, profile, k), and
its ``dialog_id`` records ``k``; a resumed run drops a torn last line and continues after the last accepted
attempt, so it ends with exactly the files an uninterrupted run writes.
"""

from __future__ import annotations

import json
import logging
import os
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from mtad_env.atomic_files import write_json_atomic
from mtad_env.domain import Task, UtterancePool, content_hash, load_tasks
from mtad_env.episode_log import drop_torn_tail
from mtad_env.dialogue_records import normalise_record, read_dialogue_file
from mtad_env.errors import DataFormatError, InvalidValueError, unknown
from mtad_env.profiles import Profile
from mtad_env.traits import dialogue_metrics, scorer_for, traits
from simulators.agenda import AgendaUserSimulator
from simulators.dialogue_generator import ERROR_INTENTS, GenerationConfig, generate_dialogue

logger = logging.getLogger(__name__)
CORPUS_SPLITS: tuple[str, ...] = ("train", "valid", "test")
STATS_VERSION = 3  # bump when Algorithm 1 changes, so that cached Regular statistics are recomputed
Stats = dict[str, dict[str, float]]


@dataclass(frozen=True)
class CorpusSpec:
    """What to generate. ``n`` maps split -> accepted dialogues per profile."""

    profiles: tuple[str, ...]
    n: tuple[tuple[str, int], ...]
    seed: int = 0
    n_regular_stats: int = 10000
    max_attempts_factor: int = 50
    tasks_dir: str | None = None
    utterances: str | None = None
    max_turns: int = 20
    error_rate: float = 0.2
    error_intents: tuple[str, ...] = tuple(sorted(ERROR_INTENTS))


def profile_filename(profile: Profile) -> str:
    """File stem of a profile: its canonical string with ',' as '+' (only [a-z0-9_=+] characters)."""
    return str(profile).replace(",", "+")


def _rng(seed: int, split: str, profile: Profile, attempt: int) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(split.encode()), zlib.crc32(str(profile).encode()), attempt])


def _summarise(values: Iterable[float | None]) -> dict[str, float]:
    arr = np.array([v for v in values if v is not None], dtype=np.float64)
    if arr.size == 0:
        return {"mean": float("nan"), "std": float("nan"), "n": 0}
    return {"mean": float(arr.mean()), "std": float(arr.std()), "n": int(arr.size)}


class CorpusGenerator:
    """Generates a corpus for a :class:`CorpusSpec` into ``out``; ``run()`` is resumable."""

    def __init__(self, spec: CorpusSpec, out: str | Path, progress: bool = True) -> None:
        for split, _ in spec.n:
            if split not in CORPUS_SPLITS:
                raise unknown("corpus split", split, CORPUS_SPLITS)
        self.spec, self.out, self.progress = spec, Path(out), progress
        self.user = AgendaUserSimulator(UtterancePool.load(spec.utterances))
        self.config = GenerationConfig(spec.max_turns, spec.error_rate, frozenset(spec.error_intents))
        self.tasks = {s: load_tasks(s, spec.tasks_dir) for s in CORPUS_SPLITS if dict(spec.n).get(s, 0) > 0}
        self.tasks.setdefault("train", load_tasks("train", spec.tasks_dir))
        _check_disjoint(self.tasks)

    def _check_manifest(self) -> None:
        path = self.out / "manifest.json"
        mine = asdict(self.spec)
        mine = json.loads(json.dumps(mine))
        if path.exists():
            theirs = json.loads(path.read_text(encoding="utf-8"))
            diff = sorted(k for k in mine if mine[k] != theirs.get(k))
            if diff:
                msg = (f"{str(self.out)!r} holds a corpus generated with other arguments ({', '.join(diff)} differ); "
                       "re-run with the same arguments to resume, or choose another --out")
                raise InvalidValueError(msg)
        else:
            write_json_atomic(path, mine)

    def regular_stats(self) -> Stats:
        """Mean/std of each identifying metric over ``n_regular_stats`` Regular dialogues on train tasks.

        Appendix B.4 uses 10k Regular dialogues. They are cached in the user cache folder, keyed by everything
        that decides them (seed, count, pool, tasks, transitions, generation and agenda settings, scorers), so
        that corpora of the same seed and pool, and resumed runs, reuse them.
        """
        key = content_hash(self._stats_key())
        cache = _cache_dir() / f"regular-{key[:24]}.json"
        stats = _read_cached(cache, key)
        if stats is None:
            stats = self._compute_regular_stats()
            try:
                write_json_atomic(cache, {"key": key, "stats": stats})
            except OSError as exc:
                logger.warning("could not cache the Regular statistics at %s: %s", cache, exc)
        else:
            logger.info("Regular statistics from the cache %s", cache)
        write_json_atomic(self.out / "regular_stats.json", stats)
        return stats

    def _compute_regular_stats(self) -> Stats:
        """The Regular statistics, computed in this process (a distributed generator overrides this)."""
        return regular_statistics(self.user, self.tasks["train"], self.spec.n_regular_stats, self.spec.seed,
                                  self.config, self.progress)

    def _stats_key(self) -> dict[str, Any]:
        return {"version": STATS_VERSION, "seed": self.spec.seed, "n": self.spec.n_regular_stats,
                "pool": self.user.pool.sha256, "transitions": content_hash(self.user.transitions),
                "tasks": content_hash([t.to_dict() for t in self.tasks["train"]]),
                "generation": [self.config.max_turns, self.config.error_rate, sorted(self.config.error_intents)],
                "agenda": json.loads(json.dumps(asdict(self.user.config))),
                "task_tags": self.user.task_fit.sha256 if self.user.task_fit is not None else None,
                "scorers": {n: scorer_for(n).name for n, t in traits().items() if t.scorer is not None}}

    def run(self) -> dict[str, Any]:
        """Generate (or finish generating) every profile and split; returns the report."""
        self.out.mkdir(parents=True, exist_ok=True)
        self._check_manifest()
        profiles = [Profile.parse(p) for p in self.spec.profiles]
        stats = self.regular_stats() if any(not p.is_regular for p in profiles) else {}
        items = [(split, profile, n) for split, n in self.spec.n for profile in (profiles if n > 0 else [])]
        report: dict[str, Any] = {}
        for (split, profile, _), row in zip(items, self._fill_all(items, stats)):
            report.setdefault(split, {})[str(profile)] = row
        write_json_atomic(self.out / "report.json", report)
        return report

    def _fill_all(self, items: Sequence[tuple[str, Profile, int]], stats: Stats) -> list[dict[str, Any]]:
        """Fill every (split, profile, n) file in turn; returns their report rows (a distributed generator
        overrides this and fills them concurrently)."""
        return [self._fill(split, profile, n, stats) for split, profile, n in items]

    def path(self, split: str, profile: Profile) -> Path:
        """The JSON-lines file of a (split, profile)."""
        return self.out / split / f"{profile_filename(profile)}.jsonl"

    def attempt(self, split: str, profile: Profile, attempt: int, stats: Stats) -> tuple[dict[str, Any], bool]:
        """Dialogue attempt ``attempt`` of a (split, profile) and whether it passes the filter; it depends on the
        spec and its indices only, so any process computes the same record."""
        rng = _rng(self.spec.seed, split, profile, attempt)
        tasks = self.tasks[split]
        task = tasks[int(rng.integers(len(tasks)))]
        record = generate_dialogue(self.user, task, profile, rng, self.config, f"{split}/{profile}/{attempt:07d}")
        return record, passes_filter(record["dialog"], profile, stats)

    def _fill(self, split: str, profile: Profile, n: int, stats: Stats) -> dict[str, Any]:
        path = self.path(split, profile)
        accepted, next_attempt = resume_point(path)
        cap = n * self.spec.max_attempts_factor
        attempt = next_attempt
        with open(path, "a", encoding="utf-8") as fh, tqdm(total=n, initial=accepted, desc=f"{split} {profile}",
                                                           disable=not self.progress, leave=False) as bar:
            while accepted < n and attempt < cap:
                record, passed = self.attempt(split, profile, attempt, stats)
                attempt += 1
                if passed:
                    fh.write(encode_record(record))
                    fh.flush()
                    accepted += 1
                    bar.update(1)
        return fill_row(split, profile, n, cap, accepted, attempt)


def encode_record(record: dict[str, Any]) -> str:
    """One accepted dialogue as its corpus line (with the newline)."""
    return json.dumps(record, ensure_ascii=False) + "\n"


def fill_row(split: str, profile: Profile, n: int, cap: int, accepted: int, attempts: int) -> dict[str, Any]:
    """The report row of a filled (split, profile) file, warning when the filter let too few dialogues through."""
    if accepted < n:
        logger.warning("%s %s: only %d of %d dialogues passed the filter in %d attempts", split, profile,
                       accepted, n, cap)
    return {"accepted": accepted, "attempts": attempts, "acceptance_rate": accepted / max(attempts, 1)}


def regular_statistics(user: AgendaUserSimulator, tasks: Sequence[Task], n: int, seed: int,
                       config: GenerationConfig = GenerationConfig(), progress: bool = False) -> Stats:
    """Mean/std (and count) of every identifying metric over ``n`` Regular dialogues (Appendix B.4)."""
    rows = [regular_metrics(user, tasks, seed, config, k)
            for k in tqdm(range(n), desc="regular statistics", disable=not progress)]
    return summarise_metrics(rows)


def regular_metrics(user: AgendaUserSimulator, tasks: Sequence[Task], seed: int, config: GenerationConfig,
                    k: int) -> dict[str, float | None]:
    """The identifying metrics of Regular dialogue ``k`` of the statistics (it depends on ``seed`` and ``k`` only)."""
    regular = Profile()
    rng = _rng(seed, "stats", regular, k)
    record = generate_dialogue(user, tasks[int(rng.integers(len(tasks)))], regular, rng, config)
    return dialogue_metrics(record["dialog"])


def summarise_metrics(rows: Sequence[dict[str, float | None]]) -> Stats:
    """Mean/std/count of every identifying metric over the metric rows of the Regular dialogues, in their order."""
    return {name: _summarise(row.get(name) for row in rows) for name in traits()}


def _cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "mtad_env"


def _read_cached(path: Path, key: str) -> Stats | None:
    try:
        cached = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    return cached["stats"] if isinstance(cached, dict) and cached.get("key") == key else None


def _check_disjoint(tasks: dict[str, Sequence[Task]]) -> None:
    owner: dict[str, str] = {}
    for split, items in tasks.items():
        for task in items:
            if owner.setdefault(task.id, split) != split:
                raise InvalidValueError(f"task {task.id!r} is in both {owner[task.id]!r} and {split!r}; "
                                        "a task must belong to one split only")


def resume_point(path: Path) -> tuple[int, int]:
    """(accepted lines, next attempt) of a partly written file; drops a torn last line."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        return 0, 0
    drop_torn_tail(path)
    lines = path.read_bytes().splitlines()
    if not lines:
        return 0, 0
    last_id = json.loads(lines[-1])["dialog_id"]
    return len(lines), int(last_id.rsplit("/", 1)[1]) + 1


def passes_filter(turns: Sequence[dict], profile: Profile, stats: Stats) -> bool:
    """Appendix B.4: a low (high) trait's metric must be at least half a std below (above) the Regular mean."""
    if profile.is_regular:
        return True
    values = dialogue_metrics(turns)
    for name, intensity in profile.pairs:
        value, ref = values[name], stats[name]
        if value is None:
            return False
        if intensity == "low" and value > ref["mean"] - 0.5 * ref["std"]:
            return False
        if intensity == "high" and value < ref["mean"] + 0.5 * ref["std"]:
            return False
    return True


def read_corpus(folder: str | Path, split: str | None = None) -> list[dict[str, Any]]:
    """Every dialogue record of a corpus folder (one split or all), normalised (canonical profile and intents).

    Raises:
        DataFormatError: a line that is not JSON, a record without the dialogue fields, an unknown intent.
    """
    folder = Path(folder)
    splits = [split] if split else list(CORPUS_SPLITS)
    records = []
    for s in splits:
        for path in sorted((folder / s).glob("*.jsonl")):
            with open(path, encoding="utf-8") as fh:
                for n, line in enumerate(fh, 1):
                    if line.strip():
                        records.append(normalise_record(_json_line(line, path, n), f"{path} line {n}"))
    return records


def _json_line(line: str, path: Path, n: int) -> Any:
    try:
        return json.loads(line)
    except json.JSONDecodeError as exc:
        raise DataFormatError(f"{str(path)!r} line {n} is not valid JSON ({exc.msg}); a corpus file holds one "
                              "dialogue record per line; regenerate or resume it with `mtad-env generate`") from None


def read_records(path: str | Path, split: str | None = None) -> list[dict[str, Any]]:
    """Dialogue records of a corpus folder, of a dialogue file, or of the ``*.json``/``*.jsonl`` files of a folder.

    A dialogue file may be ours (JSON lines) or the paper's public code's (a JSON list, or an object keyed by
    dialogue id, with profile objects and its intent names); see :mod:`mtad_env.dialogue_records`.
    """
    path = Path(path)
    if path.is_file():
        return read_dialogue_file(path)
    if not path.is_dir():
        raise InvalidValueError(f"{str(path)!r} is neither a corpus folder nor a dialogue file; create a corpus "
                                "with `mtad-env generate`")
    if any((path / s).is_dir() for s in CORPUS_SPLITS):
        return read_corpus(path, split)
    files = sorted(p for p in path.iterdir() if p.suffix in (".json", ".jsonl") and p.name not in _NOT_DIALOGUES)
    return [rec for file in files for rec in read_dialogue_file(file)]


_NOT_DIALOGUES = frozenset({"manifest.json", "report.json", "regular_stats.json"})


def corpus_stats(records: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Table 13 analog: per profile, the count and mean/std of every identifying metric."""
    by_profile: dict[str, list[dict]] = {}
    for rec in records:
        by_profile.setdefault(str(Profile.parse(rec["user_profile"])), []).append(rec)
    out = {}
    for profile, recs in by_profile.items():
        values = [dialogue_metrics(r["dialog"]) for r in recs]
        out[profile] = {"n": len(recs), "metrics": {
            name: {k: v for k, v in _summarise(v[name] for v in values).items() if k != "n"} for name in traits()}}
    return out


def acceptance_rates(folder: str | Path, split: str | None = None) -> dict[str, float]:
    """The filter's acceptance rate per profile from a corpus' ``report.json`` (train split unless given)."""
    path = Path(folder) / "report.json"
    if not path.is_file():
        return {}
    report = json.loads(path.read_text(encoding="utf-8"))
    rows = report.get(split or "train") or next(iter(report.values()), {})
    return {profile: row["acceptance_rate"] for profile, row in rows.items()}
