"""mTAD weight sweeps (paper Figures 9-10): a trait's metric against the weight of the second of two adapters.

A sweep is a set of mTAD dialogues over the same two adapters at two weights or more (episode logs record each LM
episode's ``decoding``: mode, adapters, weights). Over ``T=low`` and ``T=high`` the metric of T should rise with the
weight of ``T=high`` (Figure 9); over two traits the first one's metric should fall and the second one's rise
(Figure 10).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
from scipy.stats import spearmanr

from evaluation.bootstrap import bootstrap_mean_ci
from evaluation.dialogues import Dialogue, metric_values


def monotonic(weights: Sequence[float], means: Sequence[float | None]) -> dict[str, Any]:
    """Does the mean rise with the weight: strictly at every step, and Spearman's rho over the points."""
    if any(m is None for m in means) or len(means) < 2:
        return {"increasing": None, "spearman": None}
    rho = spearmanr(weights, means).statistic
    return {"increasing": bool(all(a < b for a, b in zip(means, means[1:]))),
            "spearman": None if np.isnan(rho) else float(rho)}


def series(weights: Sequence[float], samples: Sequence[Sequence[float]], expected: str, resamples: int = 1000,
           seed: int = 0) -> dict[str, Any]:
    """Mean (with a bootstrap interval) of one metric at every weight, and whether it moves strictly in the
    ``expected`` direction ("rise" or "fall") at every step; ``spearman`` is the plain (signed) correlation."""
    means = [float(np.mean(v)) if len(v) else None for v in samples]
    cis = [list(bootstrap_mean_ci(v, resamples, seed=seed)) for v in samples]
    trend = monotonic(weights, means if expected == "rise" else [None if m is None else -m for m in means])
    rho = trend["spearman"]
    return {"weights": list(weights), "means": means, "ci": cis, "expected": expected,
            "monotonic": trend["increasing"], "spearman": rho if rho is None or expected == "rise" else -rho}


def sweep_traits(adapters: Sequence[str]) -> dict[str, str]:
    """The traits a sweep over two adapters shows, with their expected direction as the weight moves to the second."""
    first, second = (a.split("=")[0] for a in adapters)
    return {first: "rise"} if first == second else {first: "fall", second: "rise"}


def find_sweeps(dialogues: Iterable[Dialogue], resamples: int = 1000, seed: int = 0) -> dict[str, Any]:
    """Every sweep among ``dialogues``: ``{"figure9": {trait: series}, "figure10": [{"adapters", "series"}]}``."""
    groups: dict[tuple[str, ...], dict[float, list[Dialogue]]] = {}
    for d in dialogues:
        dec: Mapping[str, Any] = d.decoding or {}
        if dec.get("mode") == "mtad" and len(dec.get("adapters", ())) == 2:
            groups.setdefault(tuple(dec["adapters"]), {}).setdefault(float(dec["weights"][1]), []).append(d)
    figure9: dict[str, Any] = {}
    figure10: list[dict[str, Any]] = []
    for adapters, by_weight in sorted(groups.items()):
        if len(by_weight) < 2:
            continue
        weights = sorted(by_weight)
        shown = {t: series(weights, [metric_values(by_weight[w], t) for w in weights], expected, resamples, seed)
                 for t, expected in sweep_traits(adapters).items()}
        if len(shown) == 1:
            figure9.update(shown)
        else:
            figure10.append({"adapters": list(adapters), "series": shown})
    return {"figure9": figure9, "figure10": figure10}
