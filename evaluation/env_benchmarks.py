"""Environment throughput: user+assistant turns per second through the PettingZoo API."""

from __future__ import annotations

import time

import numpy as np

from mtad_env.factory import make, rollout


def turns_per_second(env, seconds: float) -> float:
    """Turns per second of full episodes (reset, user turn, assistant turn, logging off) for ``seconds``."""
    rollout(env, seed=0)
    turns, episodes, start = 0, 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        info = rollout(env, seed=episodes)
        turns += int(info["episode_metrics"]["engagement"])
        episodes += 1
    return turns / (time.perf_counter() - start)


def turn_cache_rates(seconds: float, rounds: int = 3, pack: str | None = None) -> dict[str, float]:
    """STS user turns per second one dialogue at a time, with and without the cross-turn cache, over the same
    episodes (the cache does not change a dialogue), rounds interleaved; the speedup is the median of the
    within-round ratios."""
    envs = {cache: make(profile="regular", simulator="sts", assistant="template", split="test", seed=0,
                        cache_turns=cache, pack=pack)
            for cache in (True, False)}
    rollout(envs[True], seed=0)
    start, episodes = time.perf_counter(), 0
    while time.perf_counter() - start < seconds / (2 * rounds) or episodes < 2:  # size a round from the cached rate
        rollout(envs[True], seed=episodes)
        episodes += 1
    rates: dict[bool, list[float]] = {True: [], False: []}
    for r in range(rounds):
        for cache, env in envs.items():
            turns, start = 0, time.perf_counter()
            for e in range(episodes):
                turns += int(rollout(env, seed=1000 * r + e)["episode_metrics"]["engagement"])
            rates[cache].append(turns / (time.perf_counter() - start))
    ratio = np.array(rates[True]) / np.array(rates[False])
    return {"lm_template": round(float(np.median(rates[True])), 2),
            "lm_template_no_turn_cache": round(float(np.median(rates[False])), 2),
            "turn_cache_speedup": round(float(np.median(ratio)), 2)}


def bench_env(seconds: float = 5.0) -> dict:
    """``{"turns_per_s": {"agenda_template": float, "lm_template": float | None, ...}}``; a turn is one user
    utterance and one assistant response. ``lm_template`` is None until an LM simulator pack is installed; with a
    ``dialogue``-format pack, ``lm_template_no_turn_cache`` is the same STS user recomputing its whole prompt every
    turn, and ``turn_cache_speedup`` the ratio of the two."""
    agenda = make(simulator="agenda", assistant="template", split="test", seed=0)
    result: dict = {"agenda_template": round(turns_per_second(agenda, seconds), 1), "lm_template": None}
    try:
        lm = make(simulator="sts", assistant="template", split="test", seed=0)
    except Exception:  # noqa: BLE001 - no LM simulator available in this installation
        lm = None
    if lm is not None and lm.simulator.turn_cache is None:  # a window-format pack: nothing to cache across turns
        result["lm_template"] = round(turns_per_second(lm, seconds), 2)
    elif lm is not None:
        rates = turn_cache_rates(seconds)
        speedup = rates.pop("turn_cache_speedup")
        return {"turns_per_s": {**result, **rates}, "turn_cache_speedup": speedup}
    return {"turns_per_s": result}
