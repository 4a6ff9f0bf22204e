"""How far apart live agenda users of low and high tolerance are, for the paper's stop factors and stronger ones.

    python examples/live_tolerance_factors.py --episodes 300

The agenda user applies tolerance through the paper's Eq. 8: after each system error, its stop intents' weights are
multiplied by a factor (Table 9: 10.0 for low, 1.0 for high; 3.0 for Regular, from the paper's public code). Without
the B.4 filter (``make(...)``, live), the paper's factors separate low from high by about a quarter of Regular's
standard deviation of the tolerance rate. This script measures that separation against ``template:0.1`` on test
recipes for the shipped factors and for stronger ones (registered in place of the built-in trait for the run),
and prints one JSON object per setting: the mean rate of each profile over the episodes that had a system error,
and ``high - low`` in Regular standard deviations.
"""

from __future__ import annotations

import argparse
import json
import logging

import numpy as np

import mtad_env
from mtad_env import metrics
from mtad_env.agenda_effects import ErrorScaledStop
from mtad_env.intents import STOP_INTENTS

STRONGER = [{"low": 30.0}, {"low": 100.0}, {"low": 1e9, "high": 0.0}]  # the last: stop at once after an error / never


def tolerance_rates(profile: str, episodes: int) -> np.ndarray:
    """The tolerance rate of every live episode of ``profile`` that had a system error."""
    env = mtad_env.make(profile=profile, simulator="agenda", assistant="template:0.1", split="test", seed=0)
    rates = [mtad_env.rollout(env, seed=e)["episode_metrics"]["tolerance"] for e in range(episodes)]
    return np.array([r for r in rates if r is not None])


def use_factors(factors: dict[str, float]) -> None:
    """Register the tolerance trait again with other Eq. 8 factors (same metric, aliases and description)."""
    trait = mtad_env.traits()["tolerance"]
    mtad_env.register_trait("tolerance", "dialogue", metrics.tolerance, agenda=ErrorScaledStop(STOP_INTENTS, factors),
                            aliases=trait.aliases, description=trait.description, replace=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=300, help="live episodes per profile")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    shipped = dict(mtad_env.traits()["tolerance"].agenda.factors)
    regular_std = float(np.std(tolerance_rates("regular", args.episodes)))
    try:
        for factors in [shipped, *({**shipped, **change} for change in STRONGER)]:
            use_factors(factors)
            means = {p: float(np.mean(tolerance_rates(p, args.episodes))) for p in ("tolerance=low", "tolerance=high")}
            separation = (means["tolerance=high"] - means["tolerance=low"]) / regular_std
            print(json.dumps({"factors": factors, "means": {p: round(m, 4) for p, m in means.items()},  # noqa: T201
                              "regular_std": round(regular_std, 4), "high_minus_low_in_std": round(separation, 3)}))
    finally:
        use_factors(shipped)


if __name__ == "__main__":
    main()
