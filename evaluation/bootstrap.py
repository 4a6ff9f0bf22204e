"""Bootstrap confidence intervals for a sample mean and for distances between two samples (numpy only).

A bootstrap resample of ``n`` values is represented by how many times it draws each value (a row of counts), so a
thousand resamples are one ``(1000, n)`` integer array and every statistic below is computed for all resamples in
a few vectorised numpy operations. Distances are evaluated exactly on the empirical CDFs: a resample's support is a
subset of the original values, so the supremum (Kolmogorov-Smirnov) and the integral (Wasserstein-1) of the CDF
difference only change at the pooled original values.

Intervals are percentile intervals. For a distance between two samples drawn from one distribution the resampled
distances are biased upwards, so such an interval can lie above the point estimate; report both.

Example:
    >>> import numpy as np
    >>> low, high = bootstrap_mean_ci([1.0, 2.0, 3.0, 4.0], seed=0)
    >>> bool(low <= 2.5 <= high)
    True
    >>> bootstrap_distance_ci([1, 2, 3], [1, 2, 3], "wasserstein", seed=0)[0]
    0.0
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Union

import numpy as np

from mtad_env.errors import InvalidValueError, unknown

SeedLike = Union[int, Sequence[int], np.random.Generator]  # a seed, a seed sequence such as [seed, key], a Generator
DISTANCES: tuple[str, ...] = ("wasserstein", "ks")


def make_rng(seed: SeedLike) -> np.random.Generator:
    """A numpy Generator from a seed, a seed sequence such as ``[seed, key]``, or an existing Generator."""
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


def resample_counts(n: int, n_resamples: int, rng: np.random.Generator) -> np.ndarray:
    """``(n_resamples, n)`` counts: how often each of ``n`` values is drawn by each bootstrap resample."""
    idx = rng.integers(0, n, size=(n_resamples, n))
    rows = np.repeat(np.arange(n_resamples), n)
    return np.bincount(rows * n + idx.ravel(), minlength=n_resamples * n).reshape(n_resamples, n)


def percentile_interval(estimates: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """The central ``level`` percentile interval of bootstrap ``estimates``."""
    tail = 100.0 * (1.0 - level) / 2.0
    low, high = np.percentile(estimates, [tail, 100.0 - tail])
    return float(low), float(high)


def _check(n_resamples: int, level: float) -> None:
    if n_resamples < 1:
        raise InvalidValueError(f"n_resamples={n_resamples} must be >= 1 (1000 is usual)")
    if not 0.0 < level < 1.0:
        raise InvalidValueError(f"level={level} must be strictly between 0 and 1, e.g. 0.95")


def _as_array(values: Sequence[float]) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64).ravel()
    return arr[np.isfinite(arr)]


def bootstrap_mean_ci(values: Sequence[float], n_resamples: int = 1000, seed: SeedLike = 0,
                      level: float = 0.95) -> tuple[float | None, float | None]:
    """Percentile bootstrap interval of the mean of ``values`` (NaN dropped).

    Args:
        values: the sample.
        n_resamples: number of bootstrap resamples.
        seed: seed, seed sequence or Generator; the same seed gives the same interval.
        level: coverage of the interval.

    Returns:
        ``(low, high)``; ``(None, None)`` for an empty sample.
    """
    _check(n_resamples, level)
    arr = _as_array(values)
    if arr.size == 0:
        return None, None
    counts = resample_counts(arr.size, n_resamples, make_rng(seed))
    return percentile_interval(counts @ arr / arr.size, level)


def _cdf_on_grid(sorted_values: np.ndarray, counts: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Right-continuous empirical CDFs of every resample (rows of ``counts`` over ``sorted_values``) at ``grid``."""
    cum = np.cumsum(counts, axis=1) / sorted_values.size
    cum = np.concatenate([np.zeros((counts.shape[0], 1)), cum], axis=1)
    return cum[:, np.searchsorted(sorted_values, grid, side="right")]


def resampled_distances(a: np.ndarray, b: np.ndarray, kind: str, counts_a: np.ndarray,
                        counts_b: np.ndarray) -> np.ndarray:
    """The distance between every pair of resamples given as counts over sorted ``a`` and sorted ``b``.

    Args:
        a: first sample, sorted ascending.
        b: second sample, sorted ascending.
        kind: ``"wasserstein"`` (Wasserstein-1) or ``"ks"`` (two-sample Kolmogorov-Smirnov statistic).
        counts_a: ``(R, len(a))`` draw counts; a row of ones is the sample itself.
        counts_b: ``(R, len(b))`` draw counts.

    Returns:
        ``(R,)`` distances, equal to :func:`mtad_env.statistics.wasserstein` / ``ks_distance`` of the resamples.
    """
    if kind not in DISTANCES:
        raise unknown("distance", kind, DISTANCES)
    grid = np.unique(np.concatenate([a, b]))
    diff = np.abs(_cdf_on_grid(a, counts_a, grid) - _cdf_on_grid(b, counts_b, grid))
    if kind == "ks":
        return diff.max(axis=1)
    return diff[:, :-1] @ np.diff(grid)


def bootstrap_distance_ci(a: Sequence[float], b: Sequence[float], kind: str, n_resamples: int = 1000,
                          seed: SeedLike = 0, level: float = 0.95) -> tuple[float | None, float | None]:
    """Percentile bootstrap interval of the distance between two samples, resampling both.

    Args:
        a: first sample (NaN dropped).
        b: second sample (NaN dropped).
        kind: ``"wasserstein"`` or ``"ks"``.
        n_resamples: number of bootstrap resamples.
        seed: seed, seed sequence or Generator; the same seed gives the same interval.
        level: coverage of the interval.

    Returns:
        ``(low, high)``; ``(None, None)`` when either sample is empty.
    """
    _check(n_resamples, level)
    if kind not in DISTANCES:
        raise unknown("distance", kind, DISTANCES)
    a_arr, b_arr = np.sort(_as_array(a)), np.sort(_as_array(b))
    if a_arr.size == 0 or b_arr.size == 0:
        return None, None
    rng = make_rng(seed)
    counts_a = resample_counts(a_arr.size, n_resamples, rng)
    counts_b = resample_counts(b_arr.size, n_resamples, rng)
    return percentile_interval(resampled_distances(a_arr, b_arr, kind, counts_a, counts_b), level)
