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

import contextlib
import io
import json
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from mtad_env.errors import InvalidValueError
from mtad_env.profiles import profile_set
from mtad_env.traits import traits

logger = logging.getLogger(__name__)
SUITES: tuple[str, ...] = ("paper",)
SINGLE_SIMULATORS: tuple[str, ...] = ("sts", "jts")
MULTI_SIMULATORS: tuple[str, ...] = ("sampling", "mtad", "mtad-la")
FIGURE10_ADAPTERS: tuple[str, str] = ("engagement=high", "verbosity=high")


@dataclass(frozen=True)
class SuiteConfig:
    """Sizes of the suite (the defaults are the full run; :data:`QUICK` is the ``--quick`` one)."""

    episodes: int = 100  # simulated dialogues per profile and simulator, test recipes (the paper's 100)
    diy_episodes: int = 40  # per profile and simulator on DIY tasks
    reference: int = 100  # reference dialogues per profile (test split; as many in a train split)
    sweep_weights: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75, 1.0)  # weight of the second adapter
    sweep_episodes: int = 60  # per sweep point (30 left steps of about one standard error unresolved)
    resamples: int = 500  # bootstrap resamples per interval
    batch_size: int = 32  # dialogues decoded together
    assistant: str = "template:0.1"  # 10% wrong responses, like the reference corpus, so tolerance shows
    seed: int = 0
    single_profiles: str = "single"  # profile_set() spec of the single-trait groups (tests use fewer)
    multi_profiles: str = "multi"  # ... of the multi-trait group (the 14 of Table 15)
    sweep_traits: tuple[str, ...] | None = None  # Figure 9 traits (None: every registered trait)


QUICK = SuiteConfig(episodes=6, diy_episodes=4, reference=30, sweep_weights=(0.0, 0.5, 1.0), sweep_episodes=6,
                    resamples=100)


@dataclass
class SuiteRun:
    """Where one suite run writes, and with what."""

    out: Path
    pack: str | None
    config: SuiteConfig
    session: Any = None  # a simulators.scale_out.RaySession when the suite runs on Ray workers

    @property
    def reference(self) -> Path:
        return self.out / "reference"

    def log(self, name: str) -> Path:
        return self.out / "logs" / f"{name}.jsonl"

    def marker(self, stage: str) -> Path:
        return self.out / "stages" / f"{stage}.json"


def _quiet_cli(args: list[str]) -> None:
    """Run one ``mtad-env`` command in this process, its stdout swallowed; raise on failure."""
    from mtad_env.cli import main

    with contextlib.redirect_stdout(io.StringIO()):
        status = main(args)
    if status != 0:
        raise InvalidValueError(f"mtad-env {' '.join(args)} failed with exit status {status}")


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
    n = str(run.config.reference)
    profiles = list(dict.fromkeys(profile_set(run.config.single_profiles) + profile_set(run.config.multi_profiles)))
    workers = ["--workers", str(run.session.workers)] if run.session is not None else []  # the open session's
    _quiet_cli(["generate", "--profiles", ";".join(map(str, profiles)), "--n-train", n, "--n-valid", "0",
                "--n-test", n, "--seed", "11", "--out", str(run.reference), *workers])
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


def sweep_points(run: SuiteRun) -> list[dict[str, Any]]:
    """Every sweep point: the log name, the two adapters and the weight of the second one."""
    pairs = [(f"{t}=low", f"{t}=high") for t in run.config.sweep_traits or traits()] + [FIGURE10_ADAPTERS]
    return [{"log": f"sweep_{a}+{b}_{w:.2f}", "adapters": [a, b], "weight": w, "figure": 10 if (a, b) ==
             FIGURE10_ADAPTERS else 9} for a, b in pairs for w in run.config.sweep_weights]


def stage_sweeps(run: SuiteRun) -> dict:
    points = sweep_points(run)
    for point in points:
        w = point["weight"]
        _simulate(run, point["log"], ["regular"], run.config.sweep_episodes, simulator="mtad",
                  adapters=point["adapters"], weights=[1.0 - w, w], split="test")
    return {"points": len(points)}


def stage_evaluate(run: SuiteRun) -> dict:
    from evaluation.suite_results import evaluate_suite

    return evaluate_suite(run)


def stage_report(run: SuiteRun) -> dict:
    from evaluation.suite_report import write_suite_report

    return {"files": [str(p) for p in write_suite_report(run)]}


STAGES: dict[str, Callable[[SuiteRun], dict]] = {
    "reference": stage_reference, "single": stage_single, "diy": stage_diy, "multi": stage_multi,
    "sweeps": stage_sweeps, "evaluate": stage_evaluate, "report": stage_report}


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


def with_sizes(config: SuiteConfig, **sizes: Any) -> SuiteConfig:
    """``config`` with some sizes replaced (tests use tiny ones)."""
    return replace(config, **sizes)
