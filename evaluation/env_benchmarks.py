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


def vec_env_rates(seconds: float, n_envs: int = 32, pack: str | None = None) -> dict[str, float]:
    """Environment steps per second of ``n_envs`` STS-user assistant environments stepped with the same seeded
    random acts, in :class:`~mtad_env.vector_env.BatchedUsersVecEnv` (users decoded together) and in SB3's
    ``DummyVecEnv`` (one user at a time), side by side; the run length is sized from the batched rate."""
    from stable_baselines3.common.vec_env import DummyVecEnv

    from mtad_env.assistant_env import AssistantEnv
    from mtad_env.vector_env import BatchedUsersVecEnv

    kwargs = {"simulator": "sts", "profile": "regular", "split": "test", "pack": pack}
    kinds = {"batched": BatchedUsersVecEnv, "dummy": DummyVecEnv}
    venvs = {name: kind([lambda: AssistantEnv(**kwargs) for _ in range(n_envs)]) for name, kind in kinds.items()}

    def run(venv, steps: int) -> float:
        rng = np.random.default_rng(0)
        venv.seed(0)
        venv.reset()
        start = time.perf_counter()
        for _ in range(steps):
            venv.step(rng.integers(0, venv.action_space.n, size=n_envs))
        return steps * n_envs / (time.perf_counter() - start)

    probe = time.perf_counter()
    run(venvs["batched"], 2)
    steps = max(4, int(seconds / 2 / max((time.perf_counter() - probe) / 2, 1e-3)))
    rates = {name: run(venv, steps) for name, venv in venvs.items()}
    return {"batched_steps_per_s": round(rates["batched"], 1), "dummy_steps_per_s": round(rates["dummy"], 1),
            "speedup": round(rates["batched"] / rates["dummy"], 2), "n_envs": n_envs}


def bench_env(seconds: float = 5.0) -> dict:
    """``{"turns_per_s": {"agenda_template": float, "lm_template": float | None, ...}}``; a turn is one user
    utterance and one assistant response. ``lm_template`` is None until an LM simulator pack is installed; with a
    whole-dialogue pack, ``lm_template_no_turn_cache`` is the same STS user recomputing its whole prompt every
    turn, and ``turn_cache_speedup`` the ratio of the two. With a pack, ``vec_env`` compares 32 environments in
    :class:`~mtad_env.vector_env.BatchedUsersVecEnv` and in SB3's ``DummyVecEnv`` (:func:`vec_env_rates`)."""
    agenda = make(simulator="agenda", assistant="template", split="test", seed=0)
    result: dict = {"agenda_template": round(turns_per_second(agenda, seconds), 1), "lm_template": None}
    try:
        lm = make(simulator="sts", assistant="template", split="test", seed=0)
    except Exception:  # noqa: BLE001 - no LM simulator available in this installation
        return {"turns_per_s": result}
    out: dict = {"turns_per_s": result}
    if lm.simulator.turn_cache is None:  # a window-format pack: nothing to cache across turns
        result["lm_template"] = round(turns_per_second(lm, seconds), 2)
    else:
        rates = turn_cache_rates(seconds)
        out["turn_cache_speedup"] = rates.pop("turn_cache_speedup")
        result.update(rates)
    out["vec_env"] = vec_env_rates(seconds)
    return out
