"""Our Table 13 analog beside the paper's (Appendix B.5): ``mtad-env stats DIR --paper``.

Each cell's deviation is ``(ours - paper) / s`` with ``s`` the paper's Regular standard deviation of that metric, so
that one scale serves every profile; a cell is *close* when ``|deviation| <= 0.5``. The filter's acceptance rate of
each profile is printed beside the paper's (its ``# Dial`` column over the 9,000 Regular train dialogues).

Example:
    >>> ours = {"regular": {"n": 2, "metrics": {"engagement": {"mean": 10.0, "std": 4.0}}}}
    >>> compare(ours)["profiles"]["regular"]["metrics"]["engagement"]["deviation"]
    0.14
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from evaluation.paper_tables import TABLE13, TABLE13_SCORER_FREE, TRAIT_ORDER

CLOSE = 0.5  # deviation, in paper Regular standard deviations, within which a cell counts as close
_PAPER_REGULAR_N = TABLE13["regular"]["n"]


def paper_regular_std(trait: str) -> float:
    """The paper's Regular standard deviation of ``trait``'s identifying metric (Table 13)."""
    return TABLE13["regular"]["metrics"][trait][1]


def _cell(ours: Mapping[str, float] | None, paper: tuple[float, float], scale: float) -> dict[str, Any]:
    mean = None if ours is None else ours.get("mean")
    if mean is None or (isinstance(mean, float) and math.isnan(mean)):
        return {"mean": None, "std": None, "paper_mean": paper[0], "paper_std": paper[1], "deviation": None,
                "close": None}
    deviation = round((mean - paper[0]) / scale, 2)
    return {"mean": mean, "std": ours.get("std"), "paper_mean": paper[0], "paper_std": paper[1],
            "deviation": deviation, "close": abs(deviation) <= CLOSE}


def compare(stats: Mapping[str, Mapping[str, Any]],
            acceptance: Mapping[str, float] | None = None) -> dict[str, Any]:
    """Our statistics (``corpus_stats`` form) beside Table 13, for the profiles both have.

    Args:
        stats: ``{profile: {"n": int, "metrics": {trait: {"mean", "std"}}}}``.
        acceptance: the filter's acceptance rate per profile (a corpus' ``report.json``), if known.

    Returns:
        ``{"profiles": {P: {"n", "paper_n", "acceptance_rate", "paper_acceptance_rate", "metrics": {trait: cell}}},
        "far": [[P, trait, deviation], ...], "order": {trait: {...}}}``; ``far`` lists the scorer-free cells
        farther than :data:`CLOSE` from the paper.
    """
    profiles: dict[str, Any] = {}
    far: list[list[Any]] = []
    for profile, paper in TABLE13.items():
        if profile not in stats:
            continue
        ours = stats[profile]
        cells = {t: _cell(ours["metrics"].get(t), paper["metrics"][t], paper_regular_std(t)) for t in TRAIT_ORDER}
        rate = (acceptance or {}).get(profile)
        profiles[profile] = {"n": ours["n"], "paper_n": paper["n"], "acceptance_rate": rate,
                             "paper_acceptance_rate": round(paper["n"] / _PAPER_REGULAR_N, 3), "metrics": cells}
        far += [[profile, t, c["deviation"]] for t, c in cells.items()
                if t in TABLE13_SCORER_FREE and c["close"] is False]
    return {"profiles": profiles, "far": far, "order": trait_order(stats)}


def trait_order(stats: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per trait: whether low < regular < high on its own metric, and high - low in our Regular stds."""
    out = {}
    for trait in TRAIT_ORDER:
        rows = [stats.get(p) for p in (f"{trait}=low", "regular", f"{trait}=high")]
        if any(r is None for r in rows):
            continue
        low, reg, high = (r["metrics"][trait]["mean"] for r in rows)
        std = rows[1]["metrics"][trait]["std"]
        ordered = low < reg < high
        gap = (high - low) / std if std else None
        out[trait] = {"low": low, "regular": reg, "high": high, "ordered": ordered,
                      "gap_in_regular_std": None if gap is None else round(gap, 2)}
    return out


def _fmt_cell(cell: Mapping[str, Any]) -> str:
    if cell["mean"] is None:
        return f"n/a | {cell['paper_mean']:.2f}"
    mark = "" if cell["close"] else "*"
    return f"{cell['mean']:.2f} | {cell['paper_mean']:.2f} {cell['deviation']:+.2f}{mark}"


def _fmt_rate(rate: float | None) -> str:
    return "  n/a" if rate is None else f"{rate:5.1%}"


def format_comparison(comparison: Mapping[str, Any]) -> str:
    """A text table: per profile and trait ``ours | paper deviation``, acceptance rates, then the trait order."""
    lines = ["ours | paper, then (ours - paper) in paper Regular stds; * marks |deviation| > "
             f"{CLOSE} (emotion and fluency: other scorers, other scale)",
             f"{'profile':22s} {'accepted':>8s} {'paper':>6s} " + " ".join(f"{t[:19]:>20s}" for t in TRAIT_ORDER)]
    for profile, row in comparison["profiles"].items():
        cells = " ".join(f"{_fmt_cell(row['metrics'][t]):>20s}" for t in TRAIT_ORDER)
        lines.append(f"{profile:22s} {_fmt_rate(row['acceptance_rate']):>8s} "
                     f"{_fmt_rate(row['paper_acceptance_rate']):>6s} {cells}")
    lines.append("trait order (low < regular < high; high - low in our Regular stds):")
    for trait, o in comparison["order"].items():
        gap = "n/a" if o["gap_in_regular_std"] is None else f"{o['gap_in_regular_std']:.2f}"
        lines.append(f"  {trait:16s} {o['low']:.3f} < {o['regular']:.3f} < {o['high']:.3f}  "
                     f"{'ordered' if o['ordered'] else 'NOT ORDERED'}, gap {gap}")
    far = comparison["far"]
    lines.append(f"scorer-free cells farther than {CLOSE} paper Regular std: "
                 + (", ".join(f"{p} {t} {d:+.2f}" for p, t, d in far) if far else "none"))
    return "\n".join(lines)
