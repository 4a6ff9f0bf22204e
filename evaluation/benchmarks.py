"""Benchmarks that print measured figures (``mtad-env bench``): rates and ratios measured side by side in one run on
this machine, never asserted, since they depend on the hardware."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import numpy as np

from mtad_env.errors import unknown

logger = logging.getLogger(__name__)


def _rate(fn: Callable[[int], int], seconds: float, warmup: int = 20) -> float:
    """Units per second of ``fn(i) -> units`` called repeatedly for about ``seconds``."""
    for i in range(warmup):
        fn(i)
    done, i, start = 0, warmup, time.perf_counter()
    while time.perf_counter() - start < seconds:
        done += fn(i)
        i += 1
    return done / (time.perf_counter() - start)


def bench_generate(seconds: float = 5.0) -> dict[str, float]:
    """Dialogues per second of Algorithm 1 (agenda user + template system) over the 17 single-trait profiles."""
    from mtad_env.domain import load_tasks
    from mtad_env.profiles import single_trait_profiles
    from simulators.agenda import AgendaUserSimulator
    from simulators.dialogue_generator import generate_dialogue

    user, tasks, profiles = AgendaUserSimulator(), load_tasks("train"), single_trait_profiles()

    def one(i: int) -> int:
        rng = np.random.default_rng(i)
        generate_dialogue(user, tasks[i % len(tasks)], profiles[i % len(profiles)], rng)
        return 1

    return {"dialogues_per_s": round(_rate(one, seconds), 1)}


def run(what: str, seconds: float = 5.0) -> dict:
    """Run benchmark ``what`` (generate, env, decode, train, serve, scale)."""
    benches: dict[str, Callable[[float], dict]] = {"generate": bench_generate}
    from evaluation import decode_benchmarks, env_benchmarks, scale_benchmarks, serve_benchmarks, train_benchmarks

    benches["env"] = env_benchmarks.bench_env
    benches["decode"] = decode_benchmarks.bench_decode
    benches["train"] = train_benchmarks.bench_train
    benches["serve"] = serve_benchmarks.bench_serve
    benches["scale"] = scale_benchmarks.bench_scale
    if what not in benches:
        raise unknown("benchmark", what, benches)
    return benches[what](seconds)
