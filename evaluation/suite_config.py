"""What a paper-suite run is: its sizes (:class:`SuiteConfig`, :data:`QUICK`), where it writes (:class:`SuiteRun`),
its simulator groups, stages and sweep points. The stages themselves are in :mod:`evaluation.suite`; the results
(:mod:`evaluation.suite_results`) and the report (:mod:`evaluation.suite_report`) read a run through this module.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from mtad_env.traits import traits

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


# The stages in the order they run (each writes a marker when it finished; see :mod:`evaluation.suite`).
STAGE_NAMES: tuple[str, ...] = ("reference", "single", "diy", "multi", "sweeps", "evaluate", "report")


def sweep_points(run: SuiteRun) -> list[dict[str, Any]]:
    """Every sweep point: the log name, the two adapters and the weight of the second one."""
    pairs = [(f"{t}=low", f"{t}=high") for t in run.config.sweep_traits or traits()] + [FIGURE10_ADAPTERS]
    return [{"log": f"sweep_{a}+{b}_{w:.2f}", "adapters": [a, b], "weight": w, "figure": 10 if (a, b) ==
             FIGURE10_ADAPTERS else 9} for a, b in pairs for w in run.config.sweep_weights]


def with_sizes(config: SuiteConfig, **sizes: Any) -> SuiteConfig:
    """``config`` with some sizes replaced (tests use tiny ones)."""
    return replace(config, **sizes)
