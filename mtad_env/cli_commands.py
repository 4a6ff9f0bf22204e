"""Arguments and handlers of the ``mtad-env`` subcommands (see :mod:`mtad_env.cli`)."""

from __future__ import annotations

import argparse
import importlib
import math

from mtad_env.cli import emit, subcommand
from mtad_env.errors import InvalidValueError

_COMMAND_MODULES: tuple[str, ...] = ("training.cli_train", "training.adapter_trainer", "evaluation.cli_evaluate",
                                     "evaluation.cli_suite", "evaluation.cli_judge", "mtad_env.cli_doctor")


def _nonneg_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} must be >= 0")
    return value


def add_arguments(sub: argparse._SubParsersAction) -> None:
    """Add every subcommand's parser to ``sub``."""
    g = sub.add_parser("generate", help="profile-aware corpus (Algorithm 1 + filtering), resumable")
    g.add_argument("--profiles", default="single", help="single | multi | all | P[;P...]")
    for split in ("train", "valid", "test"):
        g.add_argument(f"--n-{split}", type=_nonneg_int, default=0, help=f"accepted {split} dialogues per profile")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--out", required=True, help="output folder (re-run with the same arguments to resume)")
    g.add_argument("--tasks", default=None, help="task folder with train/valid/test sub-folders")
    g.add_argument("--utterances", default=None, help="utterance pool JSON file")
    g.add_argument("--json", action="store_true", help="print the report as one JSON object")

    s = sub.add_parser("stats", help="Table 13 analog: mean/std of the 8 identifying metrics per profile")
    s.add_argument("dir", help="a corpus folder written by `generate`, or a dialogue file (JSON lines, or the paper's "
                               "public code's JSON list / object keyed by id)")
    s.add_argument("--split", default=None, choices=("train", "valid", "test"))
    s.add_argument("--paper", action="store_true",
                   help="print the paper's Table 13 beside ours, each cell's deviation in paper Regular stds")
    s.add_argument("--json", action="store_true")

    add_simulate_arguments(sub)
    for module in _COMMAND_MODULES:  # subcommands that live beside the code they drive
        importlib.import_module(module).add_arguments(sub)

    b = sub.add_parser("bench", help="benchmarks that print measured figures")
    b.add_argument("what", choices=("decode", "env", "generate"))
    b.add_argument("--json", action="store_true")
    b.add_argument("--seconds", type=float, default=5.0, help="time budget per measurement")


@subcommand("generate")
def run_generate(args: argparse.Namespace) -> int:
    from mtad_env.profiles import profile_set
    from simulators.corpus import CorpusGenerator, CorpusSpec

    profiles = tuple(str(p) for p in profile_set(args.profiles))
    spec = CorpusSpec(profiles, (("train", args.n_train), ("valid", args.n_valid), ("test", args.n_test)),
                      seed=args.seed, tasks_dir=args.tasks, utterances=args.utterances)
    report = CorpusGenerator(spec, args.out).run()
    lines = [f"{split:5s} {p:50s} {r['accepted']:6d} accepted / {r['attempts']:7d} attempts "
             f"({r['acceptance_rate']:.1%})" for split, rows in report.items() for p, r in rows.items()]
    emit({"out": args.out, "report": report}, args.json, "\n".join(lines) or "nothing to generate")
    return 0


def _fmt(stat: dict) -> str:
    mean, std = stat["mean"], stat["std"]
    return "n/a" if math.isnan(mean) else f"{mean:.2f} ± {std:.2f}"


@subcommand("stats")
def run_stats(args: argparse.Namespace) -> int:
    from pathlib import Path

    from mtad_env.traits import traits
    from simulators.corpus import corpus_stats, read_records

    if not Path(args.dir).exists():
        raise InvalidValueError(f"corpus folder {args.dir!r} does not exist; create one with `mtad-env generate`")
    records = read_records(args.dir, args.split)
    if not records:
        raise InvalidValueError(f"corpus folder {args.dir!r} holds no dialogues"
                                + (f" in split {args.split!r}" if args.split else ""))
    stats = corpus_stats(records)
    if args.paper:
        from evaluation.table13 import compare, format_comparison
        from simulators.corpus import acceptance_rates

        comparison = compare(stats, acceptance_rates(args.dir, args.split))
        emit({"profiles": stats, "paper": comparison}, args.json, format_comparison(comparison))
        return 0
    names = list(traits())
    header = f"{'profile':45s} {'n':>6s} " + " ".join(f"{n[:13]:>14s}" for n in names)
    rows = [f"{p:45s} {s['n']:6d} " + " ".join(f"{_fmt(s['metrics'][n]):>14s}" for n in names)
            for p, s in sorted(stats.items())]
    emit({"profiles": stats}, args.json, "\n".join([header, *rows]))
    return 0


@subcommand("bench")
def run_bench(args: argparse.Namespace) -> int:
    from evaluation import benchmarks

    result = benchmarks.run(args.what, seconds=args.seconds)
    emit(result, args.json, "\n".join(f"{k}: {v}" for k, v in result.items()))
    return 0


def add_simulate_arguments(sub: argparse._SubParsersAction) -> None:
    """Arguments of ``simulate``."""
    s = sub.add_parser("simulate", help="run episodes of a simulated user against an assistant")
    s.add_argument("--profile", default=None, help="profile (canonical or alias); default: sampled per episode")
    s.add_argument("--simulator", default="agenda", help="agenda | sts | jts | mtad | mtad-la | sampling")
    s.add_argument("--weights", default=None, help="mTAD adapter weights w1,w2,...")
    s.add_argument("--assistant", default="template", help="template | planllm:PATH | http:URL")
    s.add_argument("--episodes", type=_nonneg_int, default=3)
    s.add_argument("--split", default="test", choices=("train", "valid", "test", "diy"))
    s.add_argument("--tasks", default=None, help="task folder instead of the shipped tasks")
    s.add_argument("--pack", default=None, help="model pack folder for LM simulators")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--max-turns", type=int, default=20)
    s.add_argument("--log", default=None, help="append episodes to this .jsonl file")
    s.add_argument("--batch-size", type=int, default=None,
                   help="episodes run in lockstep (LM users decode together); default 16 for LM simulators, 1 else")
    s.add_argument("--resume", action="store_true",
                   help="keep the episodes already in --log (after a kill) and run only the missing ones")
    s.add_argument("--json", action="store_true", help="print only the summary as one JSON object")


def summarise_episodes(records: list[dict]) -> dict:
    """The ``simulate --json`` summary of finished episodes (episode-log records)."""
    import numpy as np

    from mtad_env.traits import traits

    summary_metrics = {}
    for name in traits():
        values = [r["episode_metrics"][name] for r in records if r["episode_metrics"].get(name) is not None]
        summary_metrics[name] = {"mean": float(np.mean(values)) if values else None,
                                 "std": float(np.std(values)) if values else None}
    turns = [t for r in records for t in r["dialog"]]
    degenerate = sum(t["intent"] == "<degenerate>" for t in turns)
    reasons: dict[str, int] = {}
    for rec in records:
        reasons[rec["end_reason"]] = reasons.get(rec["end_reason"], 0) + 1
    return {"episodes": len(records), "metrics": summary_metrics,
            "degeneration_rate": degenerate / max(len(turns), 1), "end_reasons": reasons,
            "task_completion_rate": float(np.mean([r["task_completed"] for r in records])) if records else 0.0}


@subcommand("simulate")
def run_simulate(args: argparse.Namespace) -> int:
    from mtad_env.episode_runs import run_episodes

    options = {"weights": args.weights} if args.weights else {}
    if args.pack:
        options["pack"] = args.pack
    records = run_episodes([args.seed + i for i in range(args.episodes)], log=args.log, resume=args.resume,
                           batch_size=args.batch_size or (1 if args.simulator == "agenda" else 16),
                           on_episode=None if args.json else _print_episode, progress=args.json,
                           profile=args.profile, simulator=args.simulator, assistant=args.assistant,
                           split=args.split, tasks=args.tasks, max_turns=args.max_turns, seed=args.seed, **options)
    if args.json:
        emit(summarise_episodes(records), True)
    return 0


def _print_episode(env, info: dict) -> None:
    lines = [f"=== {env.task.title} ({env.task.id}) | profile {info['profile']} ==="]
    for turn in env._turns:
        flag = "  [system error]" if turn["system_error"] else ""
        lines += [f"USER [{turn['intent']}]: {turn['user']}", f"SYSTEM{flag}: {turn['system']}"]
    metrics = ", ".join(f"{k}={v:.2f}" for k, v in info["episode_metrics"].items() if v is not None)
    lines += [f"--- end: {info['end_reason']}; {metrics}", ""]
    emit({}, False, "\n".join(lines))
