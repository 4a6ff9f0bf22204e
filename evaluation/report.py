"""Writes an evaluation into a folder: ``report.md``, ``results.json``, ``results.csv`` and PNG figures.

``results.csv`` has one row per profile and trait with the columns of :data:`CSV_COLUMNS` (empty where a value is
undefined); ``results.json`` is the evaluation summary (the ``evaluate --json`` object). Every file is written
through a temporary file and a rename, so a reader never sees half a report.

Example:
    >>> from evaluation.analysis import evaluate  # doctest: +SKIP
    >>> write_report(evaluate(dialogues, reference), "eval_out")  # doctest: +SKIP
    {'report.md': PosixPath('eval_out/report.md'), ...}
"""

from __future__ import annotations

import csv
import io
import json
import logging
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from evaluation.analysis import TREND_LEVELS, Evaluation
from evaluation.language_quality import TABLE_HEADER, TABLE_NOTE, table_cells
from evaluation.plots import plot_sweeps, plot_trends, plot_violins
from mtad_env.atomic_files import write_atomic
from mtad_env.errors import InvalidValueError

logger = logging.getLogger(__name__)
CSV_COLUMNS: tuple[str, ...] = ("profile", "trait", "mean", "ci_low", "ci_high", "ref_mean", "distance",
                                "distance_ci_low", "distance_ci_high")


def png_bytes(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    return buf.getvalue()


def _num(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _with_ci(value: float | None, ci: list[float] | None) -> str:
    if value is None:
        return "n/a"
    return _num(value) + (f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else "")


def csv_rows(summary: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """One row per profile and trait, keyed by :data:`CSV_COLUMNS` (None where undefined)."""
    for profile, entry in summary["profiles"].items():
        for trait, stats in entry["metrics"].items():
            ci, dci = stats["ci"] or [None, None], entry["distance_ci"][trait] or [None, None]
            yield {"profile": profile, "trait": trait, "mean": stats["mean"], "ci_low": ci[0], "ci_high": ci[1],
                   "ref_mean": stats["ref_mean"], "distance": entry["distance"][trait],
                   "distance_ci_low": dci[0], "distance_ci_high": dci[1]}


def results_csv(summary: Mapping[str, Any]) -> str:
    """The text of ``results.csv``."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: ("" if v is None else v) for k, v in row.items()} for row in csv_rows(summary))
    return buf.getvalue()


def _profile_table(profile: str, entry: Mapping[str, Any]) -> list[str]:
    split = entry["reference_split"] or "none"
    lines = [f"### {profile}", "",
             f"{entry['n']} evaluated dialogues; reference: {entry['reference_n']} dialogues (split {split}).", "",
             "| trait | n | mean [95% CI] | reference mean | distance | distance [95% CI] |",
             "|---|---:|---|---:|---|---|"]
    for trait, stats in entry["metrics"].items():
        kind = "Wasserstein" if entry["distance_kind"][trait] == "wasserstein" else "K-S"
        lines.append(f"| {trait} | {stats['n']} | {_with_ci(stats['mean'], stats['ci'])} | "
                     f"{_num(stats['ref_mean'])} | {kind} | "
                     f"{_with_ci(entry['distance'][trait], entry['distance_ci'][trait])} |")
    return lines + [""]


def _trend_table(trends: Mapping[str, Any]) -> list[str]:
    if not trends:
        return ["No trait has its low, regular and high profiles all evaluated.", ""]
    lines = ["| trait | low | regular | high | Low < Regular < High | in the reference |",
             "|---|---:|---:|---:|---|---|"]
    for trait, row in trends.items():
        means = " | ".join(_num(row[level]) for level in TREND_LEVELS)
        lines.append(f"| {trait} | {means} | {_yes_no(row['holds'])} | {_yes_no(row['reference_holds'])} |")
    return lines + [""]


def _language_table(summary: Mapping[str, Any]) -> list[str]:
    rows = [[profile, *table_cells(entry["language"])] for profile, entry in summary["profiles"].items()]
    rows.append(["all profiles", *table_cells(summary["language"])])
    return [TABLE_NOTE, "",
            "| profile | " + " | ".join(TABLE_HEADER) + " |", "|---|" + "---:|" * len(TABLE_HEADER),
            *("| " + " | ".join(row) + " |" for row in rows), ""]


def format_rate(rate: float | None) -> str:
    """A rate as a percentage; a missing uniqueness rate says why."""
    return "n/a (no train split)" if rate is None else f"{rate:.2%}"


def _yes_no(flag: bool | None) -> str:
    return "n/a" if flag is None else ("yes" if flag else "no")


def report_markdown(summary: Mapping[str, Any], figures: list[str]) -> str:
    """The text of ``report.md``: rates, language figures, per-profile tables, the trend table and the figures."""
    ref, boot = summary["reference"], summary["bootstrap"]
    lines = ["# Simulator evaluation", "",
             f"{summary['n_dialogues']} dialogues in {len(summary['profiles'])} profiles, against the reference "
             f"corpus `{ref['folder']}` (split {ref['split']}). Distances: Wasserstein for discrete traits, "
             f"Kolmogorov-Smirnov otherwise; intervals: {boot['level']:.0%} percentile bootstrap, "
             f"{boot['n_resamples']} resamples, seed {boot['seed']} (resampled distances are biased upwards, so a "
             "distance interval can lie above its point estimate).", "",
             "## Rates", "", "| degeneration rate | uniqueness rate |", "|---:|---:|",
             f"| {format_rate(summary['degeneration_rate'])} | {format_rate(summary['uniqueness_rate'])} |",
             "", "## Language", "", *_language_table(summary), "## Profiles", ""]
    for profile, entry in summary["profiles"].items():
        lines += _profile_table(profile, entry)
    lines += ["## Trends", "", *_trend_table(summary["trends"])]
    if figures:
        lines += ["## Figures", "", *(f"![{Path(f).stem}]({f})" for f in figures), ""]
    return "\n".join(lines)


def write_report(evaluation: Evaluation, out: str | Path) -> dict[str, Path]:
    """Write ``report.md``, ``results.json``, ``results.csv``, ``trends.png``, ``violins.png`` and, where the
    dialogues hold mTAD weight sweeps, ``sweeps.png`` into ``out``.

    Figures are written only when the data holds something to draw. Returns file name -> path of what was written.

    Raises:
        InvalidValueError: ``out`` exists and is not a folder.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InvalidValueError(f"output path {str(out)!r} exists and is not a folder; choose another --out")
    out.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    plots = {"trends.png": plot_trends, "violins.png": plot_violins,
             "sweeps.png": lambda e: plot_sweeps(e.summary.get("sweeps", {}))}
    for name, plot in plots.items():
        fig = plot(evaluation)
        if fig is not None:
            write_atomic(out / name, png_bytes(fig))
            written[name] = out / name
    summary = evaluation.summary
    texts = {"results.json": json.dumps(summary, ensure_ascii=False, allow_nan=False, indent=2) + "\n",
             "results.csv": results_csv(summary),
             "report.md": report_markdown(summary, [n for n in written if n.endswith(".png")])}
    for name, text in texts.items():
        write_atomic(out / name, text)
        written[name] = out / name
    logger.info("wrote %s into %s", ", ".join(sorted(written)), out)
    return written
