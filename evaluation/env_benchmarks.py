"""Environment throughput: user+assistant turns per second through the PettingZoo API."""

from __future__ import annotations

import time

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


def bench_env(seconds: float = 5.0) -> dict:
    """``{"turns_per_s": {"agenda_template": float, "lm_template": float | None}}``; a turn is one user
    utterance and one assistant response. ``lm_template`` is None until an LM simulator pack is installed."""
    agenda = make(simulator="agenda", assistant="template", split="test", seed=0)
    result = {"agenda_template": round(turns_per_second(agenda, seconds), 1), "lm_template": None}
    try:
        lm = make(simulator="sts", assistant="template", split="test", seed=0)
    except Exception:  # noqa: BLE001 - no LM simulator available in this installation
        lm = None
    if lm is not None:
        result["lm_template"] = round(turns_per_second(lm, seconds), 2)
    return {"turns_per_s": result}
