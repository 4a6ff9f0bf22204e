"""``mtad-env doctor``: check the installation and say what to fix.

Each check yields one or more :class:`Check` rows, printed as ``ok|warn|FAIL  name  detail (fix: ...)``, or with
``--json`` as one object ``{"checks": [{"name", "status", "detail", "fix"}], "ok": bool}``. The command exits 0
when nothing FAILs, else 1. A check that raises becomes a FAIL row carrying the check's own fix text, so one broken
part never hides the others.

Example:
    >>> from mtad_env.cli_doctor import check_python
    >>> check_python()[0].status
    'ok'
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import importlib.util
import json
import re
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from mtad_env.cli.output import emit

OK, WARN, FAIL = "ok", "warn", "FAIL"
MIN_PYTHON = (3, 10)
REINSTALL = "reinstall mtad-env (pip install --force-reinstall mtad-env) to restore the shipped data"
DISTRIBUTION = "mtad-env"
_REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^]]*\])?\s*>=\s*([0-9][^,;\s]*)")


def requirements(extra: str | None = None) -> list[tuple[str, str, str]]:
    """``(import name, distribution name, minimum version)`` of every dependency this installation declares (its
    package metadata, written from ``pyproject.toml``): the runtime ones, or those of the optional ``extra``."""
    try:
        declared = importlib.metadata.requires(DISTRIBUTION) or []
    except importlib.metadata.PackageNotFoundError:  # run from a source tree that was never installed
        return []
    out = []
    for line in declared:
        requirement, _, marker = line.partition(";")
        wanted = f'extra == "{extra}"' in marker if extra else "extra" not in marker
        match = _REQUIREMENT.match(requirement)
        if wanted and match:
            dist, minimum = match.groups()
            out.append((dist.replace("-", "_"), dist, minimum))
    return out


@dataclass(frozen=True)
class Check:
    """One line of the report: ``status`` is ok, warn or FAIL; ``fix`` says what to do (empty when ok)."""

    name: str
    status: str
    detail: str
    fix: str = ""

    def line(self) -> str:
        """The report line ``status  name  detail (fix: ...)``."""
        fix = f" (fix: {self.fix})" if self.fix and self.status != OK else ""
        return f"{self.status:4s}  {self.name:26s}  {self.detail}{fix}"


CheckFn = Callable[[], list[Check]]


@dataclass(frozen=True)
class CheckSpec:
    """A named check and the fix to suggest if it crashes."""

    name: str
    fn: CheckFn
    fix: str


def run_check(spec: CheckSpec) -> list[Check]:
    """Run one check; an exception becomes a FAIL row with the spec's fix."""
    try:
        return spec.fn()
    except Exception as exc:  # noqa: BLE001 - the doctor reports every failure instead of stopping at the first
        detail = f"{type(exc).__name__}: {' '.join(str(exc).split())}"[:500]
        return [Check(spec.name, FAIL, detail, spec.fix)]


def _version_tuple(version: str) -> tuple[int, ...]:
    """``"2.13.0+cpu"`` -> ``(2, 13, 0)``: the leading numeric release parts."""
    match = re.match(r"\d+(?:\.\d+)*", version)
    return tuple(int(p) for p in match.group(0).split(".")) if match else ()


def _installed_version(module: str, dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return str(getattr(sys.modules.get(module), "__version__", "unknown"))


# -- checks -------------------------------------------------------------------------------------------------------
def check_python() -> list[Check]:
    """Python >= 3.10."""
    version = ".".join(map(str, sys.version_info[:3]))
    if sys.version_info[:2] < MIN_PYTHON:
        return [Check("python", FAIL, f"Python {version} is too old",
                      f"install Python {'.'.join(map(str, MIN_PYTHON))} or newer")]
    return [Check("python", OK, f"Python {version} ({sys.executable})")]


def check_mtad_env() -> list[Check]:
    """The package itself: version and location."""
    import mtad_env

    return [Check("mtad-env", OK, f"{mtad_env.__version__} at {mtad_env.__path__[0]}")]


def _package_check(module: str, dist: str, minimum: str, required: bool = True) -> Check:
    name = f"package {module}"
    install = f"pip install '{dist}>={minimum}'"
    try:
        importlib.import_module(module)
    except ImportError as exc:
        return Check(name, FAIL if required else WARN, f"not importable ({exc})", install)
    except Exception as exc:  # noqa: BLE001 - a broken binary raises OSError, RuntimeError, ...
        return Check(name, FAIL if required else WARN, f"import failed: {type(exc).__name__}: {exc}",
                     f"pip install --force-reinstall '{dist}>={minimum}'")
    version = _installed_version(module, dist)
    if _version_tuple(version) and _version_tuple(version) < _version_tuple(minimum):
        return Check(name, FAIL if required else WARN, f"{version} is older than {minimum}",
                     f"pip install -U '{dist}>={minimum}'")
    return Check(name, OK, version)


def check_packages() -> list[Check]:
    """Every runtime dependency imports, at its minimum version or newer."""
    specs = requirements()
    if not specs:
        return [Check("packages", WARN, f"{DISTRIBUTION} is not installed, so its requirements are unknown",
                      "pip install -e . (from the source tree)")]
    return [_package_check(*spec) for spec in specs]


def _cuda_available() -> bool:
    try:
        import torch
    except Exception:  # noqa: BLE001 - reported by the package check
        return False
    return bool(torch.cuda.is_available())


def check_bitsandbytes() -> list[Check]:
    """bitsandbytes: optional, only used for 4-bit backbones on CUDA."""
    declared = requirements("cuda")
    if not declared:
        return [Check("package bitsandbytes", OK, f"not declared by this installation of {DISTRIBUTION}")]
    module, dist, minimum = declared[0]
    if not _cuda_available():
        detail = "not needed without CUDA"
        if importlib.util.find_spec(module) is not None:
            detail = f"{_installed_version(module, dist)} (unused without CUDA)"
        return [Check(f"package {module}", OK, detail)]
    check = _package_check(module, dist, minimum, required=False)
    if check.status != OK:
        check = Check(check.name, WARN, f"optional, for 4-bit models on CUDA: {check.detail}",
                      "pip install 'mtad-env[cuda]'")
    return [check]


def check_torch_device() -> list[Check]:
    """The device torch computes on."""
    import torch

    if torch.cuda.is_available():
        names = ", ".join(torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count()))
        return [Check("torch device", OK, f"CUDA {torch.version.cuda}: {names}")]
    return [Check("torch device", OK, f"CPU only ({torch.get_num_threads()} threads, torch {torch.__version__})")]


def check_tasks() -> list[Check]:
    """The shipped task splits load, and no task is in two splits."""
    import mtad_env
    from mtad_env.domain import SPLITS

    counts = {split: [t.id for t in mtad_env.load_tasks(split)] for split in SPLITS}
    detail = ", ".join(f"{split} {len(ids)}" for split, ids in counts.items())
    ids = [i for split_ids in counts.values() for i in split_ids]
    if len(set(ids)) != len(ids):
        shared = sorted({i for i in ids if ids.count(i) > 1})
        return [Check("tasks", FAIL, f"{detail}; ids in more than one split: {', '.join(shared[:5])}", REINSTALL)]
    return [Check("tasks", OK, detail)]


def check_utterance_pool() -> list[Check]:
    """The utterance pool loads and its shipped score cache was computed for it, by the current scorers."""
    import mtad_env

    pool = mtad_env.UtterancePool.load()
    n = sum(len(texts) for texts in pool.entries.values())
    return [Check("utterance pool", OK, f"{n} utterances over {len(pool.entries)} intents"), _score_cache_check(pool)]


def _score_cache_check(pool) -> Check:
    from mtad_env.domain import DATA_DIR
    from mtad_env.pool_scores import utterance_traits
    from mtad_env.traits import scorer_for

    cache = DATA_DIR / "utterances.scores.json"
    fix = ("python -c \"import mtad_env; from mtad_env.pool_scores import pool_scores; "
           "pool_scores(mtad_env.UtterancePool.load())\"")
    if not cache.exists():
        return Check("pool score cache", WARN, f"{cache} is missing; scores are recomputed on first use", fix)
    cached = json.loads(cache.read_text(encoding="utf-8"))
    if cached.get("pool_sha256") != pool.sha256:
        detail = (f"pool_sha256 {str(cached.get('pool_sha256'))[:12]}... != pool {pool.sha256[:12]}...: the cache "
                  "is stale and scores are recomputed on first use")
        return Check("pool score cache", WARN, detail, fix)
    made_by = cached.get("scorers", {})
    stale = [t for t in utterance_traits() if made_by.get(t) != scorer_for(t).name]
    if stale:
        detail = (f"matches the pool, but the {', '.join(stale)} scores were made by another scorer "
                  f"({', '.join(str(made_by.get(t)) for t in stale)}) and are recomputed on first use")
        return Check("pool score cache", WARN, detail, fix)
    return Check("pool score cache", OK, f"matches the pool (sha256 {pool.sha256[:12]}...) and its scorers")


def check_fluency_model() -> list[Check]:
    """The shipped fluency classifier loads and scores a sentence."""
    from mtad_env.scorers import FluencyModelScorer

    score = float(FluencyModelScorer()(["Could you show me the next step, please?"])[0])
    if not 0.0 <= score <= 1.0:
        return [Check("fluency model", FAIL, f"scored {score!r}, outside [0, 1]", "python -m training.fluency")]
    return [Check("fluency model", OK, f"loads; scores a fluent sentence {score:.2f}")]


def check_nlu_model() -> list[Check]:
    """The shipped intent classifier loads and predicts."""
    from mtad_env.nlu import IntentClassifier

    text = "what is the next step"
    return [Check("NLU model", OK, f"loads; predicts {IntentClassifier().predict_name(text)!r} for {text!r}")]


def check_smoke_episode() -> list[Check]:
    """One episode of the agenda user against the template assistant."""
    import mtad_env

    start = time.perf_counter()
    info = mtad_env.rollout(mtad_env.make(assistant="template", seed=0))
    seconds = time.perf_counter() - start
    turns = info["episode_metrics"]["engagement"]
    return [Check("smoke episode", OK, f"{turns:.0f} turns, {info['end_reason']}, profile {info['profile']} "
                                       f"({seconds:.2f} s)")]


def check_lm_pack() -> list[Check]:
    """The default LM pack validates (where this installation has LM packs at all)."""
    try:
        packs = importlib.import_module("mtad_env.packs")
    except ModuleNotFoundError as exc:
        if exc.name != "mtad_env.packs":
            raise
        return [Check("LM pack", WARN, "not available in this installation",
                      "LM simulators (sts, jts, mtad, mtad-la, sampling) need a release that ships mtad_env.packs")]
    path = packs.default_pack_path()
    path = None if path is None else Path(path)
    train = f"mtad-env train --preset tiny --out {path}"
    if path is None or not (path / "manifest.json").exists():
        return [Check("LM pack", WARN, f"no default pack at {path}; LM simulators cannot run", train)]
    pack = packs.load_pack(path)
    adapters = getattr(pack, "adapters", {})
    return [Check("LM pack", OK, f"{path} validates ({len(adapters)} adapters)")]


CHECKS: tuple[CheckSpec, ...] = (
    CheckSpec("python", check_python, "install Python 3.10 or newer"),
    CheckSpec("mtad-env", check_mtad_env, "pip install -e . (from the repository) or pip install mtad-env"),
    CheckSpec("packages", check_packages, "pip install -e . to install the dependencies of pyproject.toml"),
    CheckSpec("package bitsandbytes", check_bitsandbytes, "pip install 'mtad-env[cuda]'"),
    CheckSpec("torch device", check_torch_device, "install a torch build for your machine (https://pytorch.org)"),
    CheckSpec("tasks", check_tasks, REINSTALL),
    CheckSpec("utterance pool", check_utterance_pool, REINSTALL),
    CheckSpec("fluency model", check_fluency_model, "rebuild it with `python -m training.fluency`, or reinstall"),
    CheckSpec("NLU model", check_nlu_model, "rebuild it with `python -m training.nlu`, or reinstall"),
    CheckSpec("smoke episode", check_smoke_episode, "fix the FAIL lines above first; else report a bug"),
    CheckSpec("LM pack", check_lm_pack, "rebuild the pack with `mtad-env train --preset tiny --out DIR`"),
)


def run_checks(specs: Sequence[CheckSpec] | None = None,
               on_check: Callable[[Check], None] | None = None) -> list[Check]:
    """Run ``specs`` (default :data:`CHECKS`) in order; ``on_check`` sees each row as soon as it is known."""
    rows: list[Check] = []
    for spec in CHECKS if specs is None else specs:
        for row in run_check(spec):
            rows.append(row)
            if on_check:
                on_check(row)
    return rows


def report(rows: Sequence[Check]) -> dict:
    """The ``--json`` object."""
    return {"checks": [asdict(r) for r in rows], "ok": all(r.status != FAIL for r in rows)}


def add_arguments(sub: argparse._SubParsersAction) -> None:
    """Add the ``doctor`` subcommand to ``sub``."""
    d = sub.add_parser("doctor", help="check the installation and say what to fix")
    d.add_argument("--json", action="store_true", help="print the report as one JSON object")


def run_doctor(args: argparse.Namespace) -> int:
    """Print one line per check (or one JSON object); exit 1 when a check FAILs."""
    def stream(row: Check) -> None:  # text mode: each line as soon as its check is done
        sys.stdout.write(row.line() + "\n")
        sys.stdout.flush()

    rows = run_checks(on_check=None if args.json else stream)
    result = report(rows)
    if args.json:
        emit(result, True)
    else:
        failed = sum(r.status == FAIL for r in rows)
        warned = sum(r.status == WARN for r in rows)
        emit({}, False, f"{len(rows)} checks: {failed} failed, {warned} warnings")
    return 0 if result["ok"] else 1
