"""The paper suite's ``report.md``: our analogues of Tables 2-5 beside the paper's numbers, and the figures
(Figure 3 trends and Figure 8 violins per simulator, Figures 9-10 weight sweeps in ``sweeps.png``).

Cells read ``ours (paper)``. Every number comes from the suite's ``results.json``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from evaluation import paper_tables as paper
from evaluation.language_quality import TABLE_HEADER, TABLE_NOTE, table_cells
from evaluation.plots import plot_sweeps
from evaluation.report import png_bytes
from evaluation.suite_config import STAGE_NAMES, SuiteRun
from mtad_env.atomic_files import write_atomic

LEVELS = ("low", "regular", "high")


def _n(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header),
            *("| " + " | ".join(r) + " |" for r in rows), ""]


def _table2(t2: Mapping[str, Any]) -> list[str]:
    header = ["trait"] + [f"{lv} {sim.upper()}" for lv in LEVELS for sim in ("jts", "sts")]
    rows = []
    for trait, levels in t2.items():
        ref = paper.TABLE2.get(trait, {})
        rows.append([trait] + [f"{_n(levels[lv].get(sim))} ({_n(ref[lv][i]) if ref else '-'})"
                               for lv in LEVELS for i, sim in enumerate(("jts", "sts"))])
    return _table(header, rows)


def _table3(t3: Mapping[str, Any]) -> list[str]:
    header = ["trait", "JTS low < regular < high", "STS low < regular < high"]
    rows = []
    for trait, sims in t3.items():
        cells = [trait]
        for sim in ("jts", "sts"):
            v = sims.get(sim, {})
            mark = {True: "yes", False: "NO", None: "n/a"}[v.get("holds")]
            ref = paper.TABLE3.get(trait, {}).get(sim)
            cells.append(f"{_n(v.get('low'))} / {_n(v.get('regular'))} / {_n(v.get('high'))} {mark}"
                         + (f" (paper {ref[0]} / {ref[1]} / {ref[2]})" if ref else ""))
        rows.append(cells)
    return _table(header, rows)


def _table4(t4: Mapping[str, Any]) -> list[str]:
    header = ["group", "method", *paper.TRAIT_ORDER]
    rows = []
    for group in ("avg", "2", "3", "4"):
        for method in ("sampling", "mtad", "mtad-la"):
            ours = t4.get(group, {}).get(method)
            if ours is None:
                continue
            ref = paper.TABLE4[group][method]
            rows.append([group if group == "avg" else f"{group} traits", method]
                        + [f"{_n(ours.get(t))} ({ref[i]:.2f})" for i, t in enumerate(paper.TRAIT_ORDER)])
    return _table(header, rows)


def _table5(t5: Mapping[str, Any]) -> list[str]:
    rows = []
    for group, sims in t5.items():
        for sim, v in sims.items():
            rows.append([group, sim, str(v["dialogues"]), _n(v["degeneration_rate"], 3), _n(v["uniqueness_rate"])])
    ref = paper.TABLE5
    return [*_table(["group", "simulator", "dialogues", "degeneration", "uniqueness"], rows),
            f"Paper (single-trait STS / multi-trait mTAD-LA): degeneration {ref['degeneration'][0]} / "
            f"{ref['degeneration'][1]}, uniqueness {ref['uniqueness'][0]} / {ref['uniqueness'][1]}. Uniqueness here: "
            "user utterances not found in the reference corpus's train split (agenda dialogues of every profile, "
            "standing in for the pack's training corpus). System response quality needs an LLM judge: "
            "`mtad-env judge --task quality` on these logs.", ""]


def _language(lang: Mapping[str, Any]) -> list[str]:
    rows = [[group, sim, *table_cells(figures)] for group, sims in lang.items() for sim, figures in sims.items()]
    return [*_table(["group", "simulator", *TABLE_HEADER], rows),
            TABLE_NOTE + " The reference row: the agenda users of the reference corpus.", ""]


def _sweep_rows(sweeps: Mapping[str, Any]) -> list[str]:
    rows = []
    for trait, s in sweeps.get("figure9", {}).items():
        rows.append([f"{trait}=low -> {trait}=high", trait, " / ".join(_n(m) for m in s["means"]), s["expected"],
                     {True: "yes", False: "NO", None: "n/a"}[s["monotonic"]], _n(s["spearman"])])
    for f10 in sweeps.get("figure10", []):
        for trait, s in f10["series"].items():
            rows.append([" -> ".join(f10["adapters"]), trait, " / ".join(_n(m) for m in s["means"]),
                         s["expected"], {True: "yes", False: "NO", None: "n/a"}[s["monotonic"]], _n(s["spearman"])])
    return _table(["sweep (weight of the second adapter)", "metric", "means at each weight", "expected",
                   "monotonic", "Spearman rho (signed)"], rows)


def report_text(run: SuiteRun, results: Mapping[str, Any], seconds: Mapping[str, float]) -> str:
    c = run.config
    weights = ", ".join(f"{w:g}" for w in c.sweep_weights)
    lines = ["# mtad-env paper suite", "",
             f"Pack: `{run.pack or 'shipped'}`. {c.episodes} dialogues per profile and simulator on test recipes, "
             f"{c.diy_episodes} on DIY tasks, against `{c.assistant}`; reference: {c.reference} agenda dialogues per "
             f"profile; sweeps: weights {weights}, {c.sweep_episodes} dialogues each; {c.resamples} bootstrap "
             "resamples. Cells: ours (paper). Distances: Wasserstein for engagement and verbosity, K-S otherwise.", "",
             "## Table 2 analog: single-trait distances, JTS against STS", "", *_table2(results["table2"]),
             "## Table 3 analog: trends on unseen DIY tasks (means low / regular / high)", "",
             *_table3(results["table3"]),
             "## Table 4 analog: multi-trait combination (14 Table 15 profiles), mean distance", "",
             *_table4(results["table4"]),
             "## Table 5 analog: turn-level rates", "", *_table5(results["table5"]),
             "## Language quality per simulator", "", *_language(results.get("language", {})),
             "## Figures 9-10 analog: mTAD weight sweeps", "", *_sweep_rows(results["sweeps"]),
             "![sweeps](sweeps.png)", "",
             "## Figures 3 and 8 analog: trends and distributions against the reference", ""]
    for name in ("sts_single", "jts_single", "mtad-la_multi"):
        for fig in ("trends", "violins"):
            if (run.out / "reports" / name / f"{fig}.png").exists():
                lines.append(f"![{name} {fig}](reports/{name}/{fig}.png)")
    lines += ["", "Per-group details (every profile, means with 95% intervals, distances with intervals): "
              "`reports/<group>/report.md`.", "", "## Time per stage (seconds)", "",
              *_table(list(seconds), [[_n(v, 0) for v in seconds.values()]])]
    return "\n".join(lines)


def write_suite_report(run: SuiteRun) -> list[Path]:
    """Write ``report.md`` and ``sweeps.png`` into the run's folder; returns what was written."""
    results = json.loads((run.out / "results.json").read_text())
    seconds = {stage: json.loads(run.marker(stage).read_text())["seconds"] for stage in STAGE_NAMES
               if run.marker(stage).exists()}
    written = []
    fig = plot_sweeps(results["sweeps"])
    if fig is not None:
        write_atomic(run.out / "sweeps.png", png_bytes(fig))
        written.append(run.out / "sweeps.png")
    write_atomic(run.out / "report.md", report_text(run, results, seconds) + "\n")
    return [*written, run.out / "report.md"]
