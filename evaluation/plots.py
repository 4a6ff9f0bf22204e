"""Figures of an evaluation: trait trends across intensities (paper Figure 3) and metric violins (Figure 8).

Figures are built as :class:`matplotlib.figure.Figure` objects on the Agg canvas, so the global pyplot state and
backend are never touched; :mod:`evaluation.report` saves them. Each figure shows only what the evaluated data
holds, and a builder returns None when there is nothing to draw.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from evaluation.analysis import TREND_LEVELS, Evaluation, trend_profiles
from evaluation.dialogues import profile_sort_key
from mtad_env.profiles import Profile
from mtad_env.traits import get_trait, traits

logger = logging.getLogger(__name__)
EVALUATED, REFERENCE = "tab:blue", "tab:orange"


def _grid(n: int, width: float = 3.6, height: float = 3.0, max_cols: int = 4) -> tuple[Figure, list[Axes]]:
    cols = min(max_cols, n)
    rows = math.ceil(n / cols)
    fig = Figure(figsize=(width * cols, height * rows), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(rows, cols, squeeze=False).ravel().tolist()
    for ax in axes[n:]:
        ax.set_visible(False)
    return fig, axes[:n]


def _label(trait: str) -> str:
    t = get_trait(trait)
    return f"{trait}\n({t.description})" if t.description else trait


def _trend_points(profiles: Mapping[str, Any], trait: str, key: str) -> list[tuple[int, float]]:
    names = trend_profiles(trait)
    points = []
    for x, level in enumerate(TREND_LEVELS):
        entry = profiles.get(names[level])
        value = entry["metrics"][trait][key] if entry else None
        if value is not None:
            points.append((x, value))
    return points


def plot_trends(evaluation: Evaluation) -> Figure | None:
    """Per trait, evaluated and reference means across low / regular / high; traits with two levels or more."""
    profiles = evaluation.summary["profiles"]
    shown = [t for t in traits() if len(_trend_points(profiles, t, "mean")) >= 2]
    if not shown:
        logger.info("no trait has two intensities among the evaluated profiles; no trend figure")
        return None
    fig, axes = _grid(len(shown))
    names_of = {t: trend_profiles(t) for t in shown}
    for ax, trait in zip(axes, shown):
        points = _trend_points(profiles, trait, "mean")
        xs, ys = zip(*points)
        cis = [profiles[names_of[trait][TREND_LEVELS[x]]]["metrics"][trait]["ci"] for x in xs]
        err = np.array([[y - ci[0], ci[1] - y] if ci else [0.0, 0.0] for y, ci in zip(ys, cis)]).T
        handles = [ax.errorbar(xs, ys, yerr=err, color=EVALUATED, marker="o", capsize=3, label="evaluated")]
        ref = _trend_points(profiles, trait, "ref_mean")
        if ref:
            rx, ry = zip(*ref)
            handles += ax.plot(rx, ry, color=REFERENCE, marker="s", linestyle="--", label="reference")
        ax.set_xticks(range(len(TREND_LEVELS)), TREND_LEVELS)
        ax.set_xlim(-0.3, len(TREND_LEVELS) - 0.7)
        ax.set_title(_label(trait), fontsize=9)
        ax.grid(alpha=0.3)
        if ax is axes[0]:
            ax.legend(handles=handles, fontsize=8)
    fig.suptitle("Identifying metric by trait intensity (mean, 95% bootstrap CI)", fontsize=11)
    return fig


def _violin_profiles(samples: Mapping[str, Mapping[str, Any]], trait: str) -> list[str]:
    """Profiles that involve ``trait`` (or are regular) and have values for it."""
    chosen = [p for p in samples if (p == "regular" or Profile.parse(p).intensity(trait) != "neutral")
              and (samples[p][trait][0] or samples[p][trait][1])]
    return sorted(chosen, key=lambda p: (_trend_position(p, trait), profile_sort_key(p)))


def _trend_position(profile: str, trait: str) -> int:
    """0, 1, 2 for ``trait=low``, ``regular``, ``trait=high``; 3 for any other profile."""
    return next((i for i, p in enumerate(trend_profiles(trait).values()) if p == profile), 3)


def _short(profile: str, trait: str) -> str:
    pairs = Profile.parse(profile).pairs
    if len(pairs) == 1 and pairs[0][0] == trait:
        return pairs[0][1]
    return profile.replace(",", ",\n")


def _violin(ax: Axes, values: Sequence[float], x: float, color: str) -> None:
    if not values:
        return
    if len(values) < 2 or np.ptp(values) == 0:  # a KDE needs spread: draw the points
        ax.scatter([x] * len(values), values, color=color, marker="_", s=200)
        return
    parts = ax.violinplot([values], positions=[x], widths=0.35, showmeans=True)
    for body in parts["bodies"]:
        body.set_facecolor(color)
        body.set_edgecolor(color)
        body.set_alpha(0.5)
    for key in ("cbars", "cmins", "cmaxes", "cmeans"):
        parts[key].set_color(color)


def plot_violins(evaluation: Evaluation) -> Figure | None:
    """Per trait, violins of evaluated vs reference metric values for the profiles involving the trait."""
    samples = evaluation.samples
    shown = {t: _violin_profiles(samples, t) for t in traits()}
    shown = {t: ps for t, ps in shown.items() if ps}
    if not shown:
        logger.info("no metric values to draw; no violin figure")
        return None
    most = max(len(p) for p in shown.values())  # widest subplot: one slot per profile
    fig, axes = _grid(len(shown), width=max(3.6, 1.1 * most), height=3.0 if most <= 3 else 3.6,
                      max_cols=4 if most <= 3 else 2 if most <= 10 else 1)
    for ax, (trait, profiles) in zip(axes, shown.items()):
        for i, profile in enumerate(profiles):
            evaluated, reference = samples[profile][trait]
            _violin(ax, evaluated, i - 0.2, EVALUATED)
            _violin(ax, reference, i + 0.2, REFERENCE)
        ax.set_xticks(range(len(profiles)), [_short(p, trait) for p in profiles], fontsize=7)
        ax.set_xlim(-0.6, len(profiles) - 0.4)
        ax.set_title(_label(trait), fontsize=9)
        ax.grid(alpha=0.3, axis="y")
    axes[0].legend(handles=[Patch(color=EVALUATED, alpha=0.5, label="evaluated"),
                            Patch(color=REFERENCE, alpha=0.5, label="reference")], fontsize=8)
    fig.suptitle("Identifying metric distributions: evaluated vs reference", fontsize=11)
    return fig


def _sweep_axis(ax: Axes, series: Mapping[str, Any], label: str, color: str) -> None:
    pts = [(w, m, ci) for w, m, ci in zip(series["weights"], series["means"], series["ci"]) if m is not None]
    if not pts:
        return
    w, m, ci = zip(*pts)
    low = [m_ - c[0] if c[0] is not None else 0.0 for m_, c in zip(m, ci)]
    high = [c[1] - m_ if c[1] is not None else 0.0 for m_, c in zip(m, ci)]
    ax.errorbar(w, m, yerr=[low, high], marker="o", capsize=3, color=color, label=label)


def plot_sweeps(sweeps: Mapping[str, Any]) -> Figure | None:
    """Figures 9 and 10: the metric mean (95% bootstrap interval) against the mTAD weight of the second adapter;
    one panel per trait's low -> high sweep, and one per two-trait sweep (a second axis for its second trait)."""
    figure9, figure10 = sweeps.get("figure9", {}), sweeps.get("figure10", [])
    n = len(figure9) + len(figure10)
    if n == 0:
        return None
    fig, axes = _grid(n)
    for ax, (trait, series) in zip(axes, figure9.items()):
        _sweep_axis(ax, series, trait, EVALUATED)
        ax.set_title(f"{trait}: low -> high", fontsize=9)
        ax.set_xlabel(f"weight of {trait}=high")
        ax.set_ylabel(_label(trait), fontsize=8)
    for ax, sweep in zip(axes[len(figure9):], figure10):
        (first_trait, first), (second_trait, second) = sweep["series"].items()
        _sweep_axis(ax, first, first_trait, EVALUATED)
        twin = ax.twinx()
        _sweep_axis(twin, second, second_trait, REFERENCE)
        ax.set_title(" -> ".join(sweep["adapters"]), fontsize=9)
        ax.set_xlabel(f"weight of {sweep['adapters'][1]}")
        ax.set_ylabel(first_trait, color=EVALUATED)
        twin.set_ylabel(second_trait, color=REFERENCE)
    return fig
