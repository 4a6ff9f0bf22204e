"""``mtad-env evaluate-suite paper``: every simulation and evaluation behind the analogues of the paper's Tables 2-5
and Figures 3, 8, 9 and 10, run on one pack, resumable stage by stage.

Stages (each skipped when its marker says it finished; a killed stage continues from its episode logs):

1. ``reference``: the agenda-simulator corpus of all 31 profiles (test recipes; a train split for uniqueness).
2. ``single``: STS and JTS on the 17 single-trait profiles (Table 2, Figure 3, Figure 8).
3. ``diy``: STS and JTS on the unseen DIY tasks (Table 3: trends only, no reference there).
4. ``multi``: Sampling, mTAD and mTAD-LA on the 14 Table 15 profiles (Table 4).
5. ``sweeps``: mTAD weight sweeps, opposite intensities of each trait (Figure 9) and engagement=high with
   verbosity=high (Figure 10).
6. ``evaluate``: distances with bootstrap intervals, trends and rates of every group; ``report``: the suite report.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from evaluation.suite_config import (FIGURE10_ADAPTERS, MULTI_SIMULATORS, QUICK, SINGLE_SIMULATORS, STAGE_NAMES,
                                     SUITES, SuiteConfig, SuiteRun, sweep_points, with_sizes)
from evaluation.suite_report import write_suite_report
from evaluation.suite_results import evaluate_suite
from mtad_env.errors import InvalidValueError
from mtad_env.profiles import profile_set

__all__ = ["FIGURE10_ADAPTERS", "MULTI_SIMULATORS", "QUICK", "SINGLE_SIMULATORS", "STAGES", "SUITES", "SuiteConfig",
           "SuiteRun", "run_suite", "sweep_points", "with_sizes"]

logger = logging.getLogger(__name__)


def _simulate(run: SuiteRun, log: str, profiles: list[str], episodes: int, **options: Any) -> None:
    """``episodes`` dialogues of every profile into one log, profiles mixed within batches, resumable."""
    from mtad_env.episode_runs import run_episodes

    jobs = [(run.config.seed + i, p) for p in profiles for i in range(episodes)]
    if run.pack:
        options["pack"] = run.pack
    if run.session is not None:
        from simulators.scale_out import run_episodes_scaled

        run_episodes_scaled(run.session, [s for s, _ in jobs], log=str(run.log(log)), resume=True,
                            batch_size=run.config.batch_size, profiles=[p for _, p in jobs],
                            assistant=run.config.assistant, **options)
        return
    run_episodes([s for s, _ in jobs], log=run.log(log), resume=True, batch_size=run.config.batch_size,
                 profiles=[p for _, p in jobs], desc=log, assistant=run.config.assistant, **options)


def stage_reference(run: SuiteRun) -> dict:
    from simulators.corpus import CorpusGenerator, CorpusSpec

    n = run.config.reference
    profiles = list(dict.fromkeys(profile_set(run.config.single_profiles) + profile_set(run.config.multi_profiles)))
    spec = CorpusSpec(tuple(str(p) for p in profiles), (("train", n), ("valid", 0), ("test", n)), seed=11)
    if run.session is not None:  # the open session's workers
        from simulators.scale_corpus import ScaledCorpusGenerator

        ScaledCorpusGenerator(spec, run.reference, run.session).run()
    else:
        CorpusGenerator(spec, run.reference).run()
    return {"profiles": len(profiles), "per_profile": run.config.reference}


def stage_single(run: SuiteRun) -> dict:
    for simulator in SINGLE_SIMULATORS:
        profiles = profile_set(run.config.single_profiles)
        _simulate(run, f"{simulator}_single", profiles, run.config.episodes, simulator=simulator, split="test")
    return {"simulators": list(SINGLE_SIMULATORS)}


def stage_diy(run: SuiteRun) -> dict:
    for simulator in SINGLE_SIMULATORS:
        profiles = profile_set(run.config.single_profiles)
        _simulate(run, f"{simulator}_diy", profiles, run.config.diy_episodes, simulator=simulator, split="diy")
    return {"simulators": list(SINGLE_SIMULATORS)}


def stage_multi(run: SuiteRun) -> dict:
    for simulator in MULTI_SIMULATORS:
        profiles = profile_set(run.config.multi_profiles)
        _simulate(run, f"{simulator}_multi", profiles, run.config.episodes, simulator=simulator, split="test")
    return {"simulators": list(MULTI_SIMULATORS)}


def stage_sweeps(run: SuiteRun) -> dict:
    points = sweep_points(run)
    for point in points:
        w = point["weight"]
        _simulate(run, point["log"], ["regular"], run.config.sweep_episodes, simulator="mtad",
                  adapters=point["adapters"], weights=[1.0 - w, w], split="test")
    return {"points": len(points)}


def stage_evaluate(run: SuiteRun) -> dict:
    return evaluate_suite(run)


def stage_report(run: SuiteRun) -> dict:
    return {"files": [str(p) for p in write_suite_report(run)]}


STAGES: dict[str, Callable[[SuiteRun], dict]] = {
    "reference": stage_reference, "single": stage_single, "diy": stage_diy, "multi": stage_multi,
    "sweeps": stage_sweeps, "evaluate": stage_evaluate, "report": stage_report}
assert tuple(STAGES) == STAGE_NAMES


def run_suite(name: str, out: str | Path, pack: str | None = None, quick: bool = False,
              config: SuiteConfig | None = None, scale: Any = None) -> dict[str, Any]:
    """Run (or resume) suite ``name`` into ``out``; returns the evaluation summary and the seconds per stage.

    ``scale`` (a :class:`simulators.scale_out.ScaleOptions`) runs the corpus and the simulations on Ray workers,
    with the same files as a run in this process; without it, Ray is not imported."""
    if name not in SUITES:
        raise InvalidValueError(f"unknown suite {name!r}; valid: {', '.join(SUITES)}")
    config = config or (QUICK if quick else SuiteConfig())
    run = SuiteRun(Path(out), pack, config)
    run.marker("x").parent.mkdir(parents=True, exist_ok=True)
    _check_config(run)
    if scale is not None and scale.enabled:
        from simulators.scale_out import ray_session

        with ray_session(scale) as session:
            run.session = session
            return _run_stages(run)
    return _run_stages(run)


def _run_stages(run: SuiteRun) -> dict[str, Any]:
    """Every stage not yet finished, in order; the results and the seconds per stage."""
    seconds = {}
    for stage, fn in STAGES.items():
        marker = run.marker(stage)
        if marker.exists() and stage not in ("evaluate", "report"):
            seconds[stage] = json.loads(marker.read_text())["seconds"]
            continue
        start = time.perf_counter()
        logger.info("suite stage %s", stage)
        result = fn(run)
        seconds[stage] = round(time.perf_counter() - start, 1)  # of this run (a resumed stage: its rest only)
        marker.write_text(json.dumps({"seconds": seconds[stage], "result": result}))
    return json.loads((run.out / "results.json").read_text()) | {"seconds": seconds}


def _check_config(run: SuiteRun) -> None:
    """A resumed run must use the sizes it started with; the first run records them."""
    path = run.out / "suite_config.json"
    current = json.loads(json.dumps({"config": asdict(run.config), "pack": run.pack}))  # tuples as lists
    if path.exists():
        before = json.loads(path.read_text())
        if before != current:
            raise InvalidValueError(f"{run.out} holds a suite run with other settings ({before}); use another --out "
                                    "or the same settings")
    else:
        path.write_text(json.dumps(current, indent=2))
