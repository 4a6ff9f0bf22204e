"""Statistics used across evaluation: distribution distances and classifier quality (numpy/scipy)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.stats


def wasserstein(a: Sequence[float], b: Sequence[float]) -> float:
    """Wasserstein-1 distance between two samples (discrete metrics: turns, words)."""
    return float(scipy.stats.wasserstein_distance(a, b))


def ks_distance(a: Sequence[float], b: Sequence[float]) -> float:
    """Two-sample Kolmogorov-Smirnov statistic (continuous metrics)."""
    return float(scipy.stats.ks_2samp(a, b).statistic)


def auroc(scores: Sequence[float], labels: Sequence[int]) -> float:
    """Area under the ROC curve of ``scores`` for binary ``labels`` (1 = positive), ties counted half."""
    scores, labels = np.asarray(scores, dtype=np.float64), np.asarray(labels).astype(bool)
    n_pos, n_neg = labels.sum(), (~labels).sum()
    if n_pos == 0 or n_neg == 0:
        raise ValueError("auroc needs both positive and negative labels")
    ranks = scipy.stats.rankdata(scores)
    return float((ranks[labels].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))
