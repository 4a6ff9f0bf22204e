"""``mtad-env bench scale``: episodes per second on 1 and 2 Ray workers, side by side in one run.

Two workloads, each through the same code as ``generate --workers`` and ``simulate --workers``:

* ``generate``: accepted agenda dialogues per second of a corpus of the 17 single-trait profiles (the Regular
  statistics are computed and cached before the clock starts, so both runs only generate and filter);
* ``simulate_sts``: STS episodes per second against the template assistant, in lockstep batches of 4 (short
  episodes, ``max_turns`` 6, so that the benchmark stays within a couple of minutes on a CPU).

One local cluster of 2 workers serves both; the 1-worker figure uses its first actor only. After one untimed pass
on both workers, the 1- and 2-worker runs alternate for :data:`ROUNDS` rounds: medians of the rates, median of the
within-round ratios. Every actor is started
and has loaded what it needs (tasks, utterance pool, the pack) before any clock starts: that start-up (the cluster,
the actors' processes and their loading) is ``ray_start_s``, reported apart. Figures are measured, never asserted; on a machine busy with other work the
speedup says little.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import os
import tempfile
import time
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)
WORKER_COUNTS = (1, 2)
STS_BATCH = 4
STS_OPTIONS = {"simulator": "sts", "assistant": "template", "split": "test", "max_turns": 6}
STS_PROFILES = ("verbosity=low", "regular", "engagement=high", "fluency=low")
STATS_DIALOGUES = 1000
ROUNDS = 3  # interleaved 1- and 2-worker runs per workload


def bench_scale(seconds: float = 5.0) -> dict[str, Any]:
    """``{"generate": {"workers_1", "workers_2", "speedup"}, "simulate_sts": {...}, "ray_start_s"}``; ``seconds``
    sizes each measurement (about that long on one worker of an idle 2-core machine)."""
    from simulators.scale_out import ScaleOptions, import_ray, ray_session

    import_ray()  # a one-line error before anything starts when Ray is missing
    started = time.perf_counter()
    with _private_cache(), ray_session(ScaleOptions(workers=max(WORKER_COUNTS))) as session:
        spec = _corpus_spec(seconds)
        episodes = STS_BATCH * max(4, 2 * round(seconds / 2.5))  # shards of 4: an even number, at least 4
        _warm(session, spec)
        ray_start_s = time.perf_counter() - started
        _cache_regular_stats(session, spec)
        generate = _compare(session, lambda view: _generate(view, spec))
        simulate = _compare(session, lambda view: _simulate(view, episodes))
    return {"generate": generate, "simulate_sts": simulate, "ray_start_s": round(ray_start_s, 2)}


@contextmanager
def _private_cache():
    """The Regular statistics go to a throwaway cache folder, so that the user's cache is left alone."""
    before = os.environ.get("XDG_CACHE_HOME")
    with tempfile.TemporaryDirectory(prefix="mtad-bench-scale-") as folder:
        os.environ["XDG_CACHE_HOME"] = folder
        try:
            yield
        finally:
            if before is None:
                os.environ.pop("XDG_CACHE_HOME", None)
            else:
                os.environ["XDG_CACHE_HOME"] = before


def _corpus_spec(seconds: float) -> Any:
    from mtad_env.profiles import single_trait_profiles
    from simulators.corpus import CorpusSpec

    per_profile = max(2, round(seconds * 8))
    return CorpusSpec(tuple(str(p) for p in single_trait_profiles()), (("test", per_profile),), seed=0,
                      n_regular_stats=STATS_DIALOGUES)


def _warm(session: Any, spec: Any) -> None:
    """Start every actor and load its corpus generator and STS environments (the pack)."""
    ray = session.ray
    ray.get([actor.warm.remote(STS_OPTIONS, STS_BATCH) for actor in session.pool.actors])
    ray.get([actor.corpus_attempts.remote(spec, "test", "regular", 0, 1, {}) for actor in session.pool.actors])


def _cache_regular_stats(session: Any, spec: Any) -> None:
    """Compute the corpus's Regular statistics into the (private) cache, so that both timed runs read them."""
    from simulators.scale_corpus import ScaledCorpusGenerator

    with tempfile.TemporaryDirectory() as folder:
        ScaledCorpusGenerator(spec, Path(folder), session, progress=False).regular_stats()


def _view(session: Any, workers: int) -> Any:
    """The session restricted to its first ``workers`` actors."""
    pool = copy.copy(session.pool)
    pool.actors = session.pool.actors[:workers]
    return dataclasses.replace(session, pool=pool)


def _compare(session: Any, measure: Callable[[Any], tuple[int, float]], rounds: int = ROUNDS) -> dict[str, float]:
    """Episodes per second of ``measure(view) -> (episodes, seconds)`` on 1 and on 2 workers, and their ratio.

    One untimed pass on every worker first (what a worker builds lazily on its first episodes, such as the word
    constraint's masks, would otherwise favour whichever count runs second), then ``rounds`` rounds with the
    counts interleaved; rates are the medians over rounds and the speedup the median of the within-round ratios
    (a single pair of runs moved by a third between runs on an idle machine)."""
    import numpy as np

    measure(_view(session, max(WORKER_COUNTS)))
    rates: dict[int, list[float]] = {w: [] for w in WORKER_COUNTS}
    for r in range(rounds):
        for workers in WORKER_COUNTS:
            done, elapsed = measure(_view(session, workers))
            rates[workers].append(done / elapsed)
            logger.info("bench scale: round %d: %d episodes in %.1f s on %d worker(s)", r, done, elapsed, workers)
    ratios = [two / one for one, two in zip(rates[1], rates[2]) if one > 0]
    return {"workers_1": round(float(np.median(rates[1])), 2), "workers_2": round(float(np.median(rates[2])), 2),
            "speedup": round(float(np.median(ratios)), 2) if ratios else None}


def _generate(session: Any, spec: Any) -> tuple[int, float]:
    from simulators.scale_corpus import ScaledCorpusGenerator

    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        report = ScaledCorpusGenerator(spec, Path(folder), session, progress=False).run()
        elapsed = time.perf_counter() - start
    return sum(row["accepted"] for rows in report.values() for row in rows.values()), elapsed


def _simulate(session: Any, episodes: int) -> tuple[int, float]:
    from simulators.scale_out import run_episodes_scaled

    profiles = [STS_PROFILES[i % len(STS_PROFILES)] for i in range(episodes)]
    start = time.perf_counter()
    records = run_episodes_scaled(session, list(range(episodes)), batch_size=STS_BATCH, profiles=profiles,
                                  **STS_OPTIONS)
    return len(records), time.perf_counter() - start
