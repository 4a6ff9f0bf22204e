"""The evaluation stage of the paper suite: per-group reports and the suite's tables (analogues of Tables 2-5 and
the weight sweeps of Figures 9-10, and how each simulator's users talk), written to ``results.json``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from evaluation.analysis import EvaluationConfig, evaluate
from evaluation.dialogues import ReferenceCorpus, load_logs, metric_values
from evaluation.language_quality import build_vocabulary, language_quality
from evaluation.report import write_report
from evaluation.sweeps import series, sweep_traits
from evaluation.suite_config import MULTI_SIMULATORS, SINGLE_SIMULATORS, SuiteRun, sweep_points
from mtad_env.atomic_files import write_json_atomic
from mtad_env.profiles import Profile
from mtad_env.traits import traits

logger = logging.getLogger(__name__)
LEVELS = ("low", "regular", "high")


def _evaluate_group(run: SuiteRun, name: str, reference: ReferenceCorpus) -> dict[str, Any]:
    """Evaluate one log against the reference and write its report folder; returns the summary."""
    evaluation = evaluate(load_logs([run.log(name)]), reference, EvaluationConfig(n_resamples=run.config.resamples,
                                                                                  seed=run.config.seed))
    write_report(evaluation, run.out / "reports" / name)
    return evaluation.summary


def table2(single: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, dict[str, float | None]]]:
    """trait -> level -> simulator -> distance to the reference of that single-trait profile."""
    out: dict[str, dict[str, dict[str, float | None]]] = {}
    for trait in traits():
        out[trait] = {}
        for level in LEVELS:
            profile = "regular" if level == "regular" else str(Profile(((trait, level),)))
            out[trait][level] = {sim: summary["profiles"].get(profile, {}).get("distance", {}).get(trait)
                                 for sim, summary in single.items()}
    return out


def table3(diy: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, dict[str, Any]]]:
    """trait -> simulator -> low/regular/high means on DIY tasks and whether low < regular < high."""
    return {trait: {sim: {k: summary["trends"].get(trait, {}).get(k) for k in (*LEVELS, "holds")}
                    for sim, summary in diy.items()} for trait in traits()}


def table4(multi: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, dict[str, float | None]]]:
    """group ("avg" or the number of combined traits) -> method -> trait -> mean distance over the profiles."""
    out: dict[str, dict[str, dict[str, float | None]]] = {}
    for method, summary in multi.items():
        groups: dict[str, list[Mapping[str, Any]]] = {"avg": []}
        for profile, entry in summary["profiles"].items():
            groups["avg"].append(entry)
            groups.setdefault(str(len(Profile.parse(profile).pairs)), []).append(entry)
        for group, entries in groups.items():
            out.setdefault(group, {})[method] = {t: _mean([e["distance"].get(t) for e in entries]) for t in traits()}
    return out


def _mean(values: Sequence[float | None]) -> float | None:
    kept = [v for v in values if v is not None]
    return float(np.mean(kept)) if kept else None


def language(groups: Mapping[str, Mapping[str, Mapping[str, Any]]],
             reference: ReferenceCorpus) -> dict[str, dict[str, dict[str, Any]]]:
    """group -> simulator -> language figures over all its dialogues (from the group summaries), after the
    reference corpus's agenda users as the baseline ("reference" -> "agenda")."""
    dialogues = [d for profile in reference.profiles() for d in reference.dialogues(profile)[1]]
    out = {"reference": {"agenda": language_quality(dialogues, build_vocabulary())}}
    return out | {group: {sim: summary["language"] for sim, summary in summaries.items()}
                  for group, summaries in groups.items()}


def sweeps(run: SuiteRun) -> dict[str, Any]:
    """Figure 9 (trait=low -> trait=high, per trait) and Figure 10 (engagement=high -> verbosity=high), one log per
    sweep point."""
    by_pair: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for point in sweep_points(run):
        by_pair.setdefault(tuple(point["adapters"]), []).append(point)
    figure9: dict[str, Any] = {}
    figure10: list[dict[str, Any]] = []
    for pair, points in by_pair.items():
        weights = [p["weight"] for p in points]
        dialogues = [load_logs([run.log(p["log"])]) for p in points]
        shown = {t: series(weights, [metric_values(d, t) for d in dialogues], expected, run.config.resamples,
                           run.config.seed) for t, expected in sweep_traits(pair).items()}
        if len(shown) == 1:
            figure9.update(shown)
        else:
            figure10.append({"adapters": list(pair), "series": shown})
    return {"figure9": figure9, "figure10": figure10}


def evaluate_suite(run: SuiteRun) -> dict[str, Any]:
    """Evaluate every group of the suite, write the per-group reports and ``results.json``; return the tables."""
    reference = ReferenceCorpus(run.reference)
    single = {sim: _evaluate_group(run, f"{sim}_single", reference) for sim in SINGLE_SIMULATORS}
    diy = {sim: _evaluate_group(run, f"{sim}_diy", reference) for sim in SINGLE_SIMULATORS}
    multi = {sim: _evaluate_group(run, f"{sim}_multi", reference) for sim in MULTI_SIMULATORS}
    groups = {"single": single, "diy": diy, "multi": multi}
    results = {
        "table2": table2(single), "table3": table3(diy), "table4": table4(multi),
        "table5": {group: {sim: {"degeneration_rate": s["degeneration_rate"], "uniqueness_rate": s["uniqueness_rate"],
                                 "dialogues": s["n_dialogues"]} for sim, s in summaries.items()}
                   for group, summaries in groups.items()},
        "trends": {f"{group}/{sim}": {t: v.get("holds") for t, v in s["trends"].items()}
                   for group, summaries in groups.items() for sim, s in summaries.items()},
        "sweeps": sweeps(run),
        "language": language(groups, reference),
    }
    write_json_atomic(run.out / "results.json", results)
    return {"groups": sorted(f"{g}/{s}" for g, v in groups.items() for s in v)}
