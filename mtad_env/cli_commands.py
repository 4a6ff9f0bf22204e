"""Arguments and handlers of the ``mtad-env`` subcommands (see :mod:`mtad_env.cli`)."""

from __future__ import annotations

import argparse
import importlib
import math
from collections.abc import Callable

from mtad_env.cli import emit, subcommand
from mtad_env.errors import InvalidValueError

_COMMAND_MODULES: tuple[str, ...] = ("training.cli_train", "training.adapter_trainer", "evaluation.cli_evaluate",
                                     "evaluation.cli_suite", "evaluation.cli_judge", "mtad_env.cli_doctor",
                                     "simulators.serving.cli")


def _int_at_least(minimum: int) -> Callable[[str], int]:
    """An argparse type: an integer >= ``minimum``, refused in one line naming the value."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{value} must be >= {minimum}")
        return value
    parse.__name__ = f"integer >= {minimum}"
    return parse


_nonneg_int = _int_at_least(0)
_positive_int = _int_at_least(1)


def add_arguments(sub: argparse._SubParsersAction) -> None:
    """Add every subcommand's parser to ``sub``."""
    from simulators.scale_out import add_scale_arguments  # the flags only: Ray is imported when a run uses them

    g = sub.add_parser("generate", help="profile-aware corpus (Algorithm 1 + filtering), resumable")
    g.add_argument("--profiles", default="single", metavar="SET",
                   help="single (Regular + every trait low/high) | multi (the 14 multi-trait profiles) | all | "
                        "P[;P...] (profiles, e.g. 'Patient;verbosity=low')")
    for split in ("train", "valid", "test"):
        g.add_argument(f"--n-{split}", type=_nonneg_int, default=0, metavar="N",
                       help=f"accepted {split} dialogues per profile")
    g.add_argument("--seed", type=int, default=0, metavar="S", help="seed of every dialogue (same seed, same corpus)")
    g.add_argument("--out", required=True, metavar="DIR",
                   help="output folder (re-run with the same arguments to resume)")
    g.add_argument("--tasks", default=None, metavar="DIR", help="task folder with train/valid/test sub-folders "
                                                                "(default: the shipped tasks)")
    g.add_argument("--utterances", default=None, metavar="FILE",
                   help="utterance pool JSON file (default: the shipped pool)")
    g.add_argument("--json", action="store_true", help="print the report as one JSON object")
    add_scale_arguments(g)

    s = sub.add_parser("stats", help="Table 13 analog: mean/std of the 8 identifying metrics per profile")
    s.add_argument("dir", metavar="DIR", help="a corpus folder written by `generate`, or a dialogue file (JSON "
                                              "lines, or the paper's public code's JSON list / object keyed by id)")
    s.add_argument("--split", default=None, choices=("train", "valid", "test"),
                   help="only this split (default: all splits together)")
    s.add_argument("--paper", action="store_true",
                   help="print the paper's Table 13 beside ours, each cell's deviation in paper Regular stds")
    s.add_argument("--json", action="store_true", help="print the statistics as one JSON object")

    add_simulate_arguments(sub)
    for module in _COMMAND_MODULES:  # subcommands that live beside the code they drive
        importlib.import_module(module).add_arguments(sub)

    b = sub.add_parser("bench", help="benchmarks that print measured figures")
    b.add_argument("what", choices=("decode", "env", "generate", "train", "serve", "scale"),
                   help="decode: mTAD engine speed; env: turns/s through the PettingZoo API; "
                        "generate: Algorithm 1 dialogues/s; train: target tokens/s of the two training recipes; "
                        "serve: replies/s of the user server at 1 and 64 concurrent dialogues; "
                        "scale: episodes/s of generate and STS simulate on 1 and 2 Ray workers")
    b.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    b.add_argument("--seconds", type=float, default=5.0, help="time budget per measurement")


@subcommand("generate")
def run_generate(args: argparse.Namespace) -> int:
    from mtad_env.profiles import profile_set
    from simulators.corpus import CorpusGenerator, CorpusSpec
    from simulators.scale_out import scale_options

    if not (args.n_train or args.n_valid or args.n_test):
        raise InvalidValueError("--n-train, --n-valid and --n-test are all 0, so there is nothing to generate; "
                                "give at least one of them N > 0")
    profiles = tuple(str(p) for p in profile_set(args.profiles))
    spec = CorpusSpec(profiles, (("train", args.n_train), ("valid", args.n_valid), ("test", args.n_test)),
                      seed=args.seed, tasks_dir=args.tasks, utterances=args.utterances)
    scale = scale_options(args)
    if scale.enabled:
        from simulators.scale_corpus import generate_corpus

        report = generate_corpus(spec, args.out, scale)
    else:
        report = CorpusGenerator(spec, args.out).run()
    lines = [f"{split:5s} {p:50s} {r['accepted']:6d} accepted / {r['attempts']:7d} attempts "
             f"({r['acceptance_rate']:.1%})" for split, rows in report.items() for p, r in rows.items()]
    total = sum(r["accepted"] for rows in report.values() for r in rows.values())
    where = f"corpus: {total} dialogues in {args.out} (their statistics: mtad-env stats {args.out})"
    emit({"out": args.out, "report": report}, args.json, "\n".join([*lines, where]))
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
    emit({"profiles": stats}, args.json, stats_table(stats, list(traits())))
    return 0


def stats_table(stats: dict[str, dict], names: list[str]) -> str:
    """The ``stats`` text table: Regular first, then each trait low before high, in the trait registry's order;
    every column as wide as its full name."""
    widths = [max(len(n), 14) for n in names]
    width = max([len("profile"), *map(len, stats)])
    header = f"{'profile':{width}s} {'n':>6s} " + " ".join(f"{n:>{w}s}" for n, w in zip(names, widths))
    rows = [f"{p:{width}s} {stats[p]['n']:6d} "
            + " ".join(f"{_fmt(stats[p]['metrics'][n]):>{w}s}" for n, w in zip(names, widths))
            for p in sorted(stats, key=_profile_order)]
    return "\n".join([header, *rows])


def _profile_order(name: str) -> tuple:
    """Sort key of a profile name: fewer traits first (Regular first of all), then by the traits' registry order
    and low before high; names that do not parse (an unregistered trait) last, alphabetically."""
    from mtad_env.profiles import Profile
    from mtad_env.traits import INTENSITIES, traits

    try:
        profile = Profile.parse(name)
    except InvalidValueError:
        return (1, (), name)
    order = list(traits())
    return (0, (len(profile.pairs), [(order.index(t), INTENSITIES.index(i)) for t, i in profile.pairs]), name)


@subcommand("bench")
def run_bench(args: argparse.Namespace) -> int:
    from evaluation import benchmarks

    result = benchmarks.run(args.what, seconds=args.seconds)
    emit(result, args.json, "\n".join(f"{k}: {v}" for k, v in result.items()))
    return 0


LM_SIMULATORS: tuple[str, ...] = ("sts", "jts", "mtad", "mtad-la", "sampling")
MIXING_SIMULATORS: tuple[str, ...] = ("mtad", "mtad-la", "sampling")  # the ones that weigh several adapters


def add_simulate_arguments(sub: argparse._SubParsersAction) -> None:
    """Arguments of ``simulate``."""
    from simulators.scale_out import add_scale_arguments

    s = sub.add_parser("simulate", help="run episodes of a simulated user against an assistant")
    s.add_argument("--profile", default=None, metavar="P",
                   help="profile, canonical or alias (e.g. 'Patient & Concise', 'engagement=high'); "
                        "default: sampled per episode")
    s.add_argument("--simulator", default="agenda", metavar="NAME", help="agenda | " + " | ".join(LM_SIMULATORS))
    s.add_argument("--weights", default=None, metavar="W1,W2,...",
                   help="adapter weights, one per non-neutral trait of the profile, for "
                        f"{', '.join(MIXING_SIMULATORS)} (default: uniform)")
    s.add_argument("--assistant", default="template", metavar="SPEC",
                   help="template | template:ERROR_RATE (a share in [0, 1] of deliberately wrong responses) | "
                        "planllm:PATH | http:URL")
    s.add_argument("--episodes", type=_positive_int, default=3, metavar="N", help="episodes to run")
    s.add_argument("--split", default="test", choices=("train", "valid", "test", "diy"),
                   help="task split the episodes draw from")
    s.add_argument("--tasks", default=None, metavar="DIR", help="task folder instead of the shipped tasks")
    s.add_argument("--pack", default=None, metavar="DIR",
                   help="model pack folder for the LM simulators (default: the shipped pack)")
    s.add_argument("--seed", type=int, default=0, metavar="S", help="episode i is reset with seed S + i")
    s.add_argument("--max-turns", type=_positive_int, default=20, metavar="N",
                   help="user turns before an episode is cut")
    s.add_argument("--log", default=None, metavar="FILE.jsonl", help="append episodes to this .jsonl file")
    s.add_argument("--batch-size", type=_positive_int, default=None, metavar="B",
                   help="episodes run in lockstep (LM users decode together); default 16 for LM simulators, 1 else")
    s.add_argument("--resume", action="store_true",
                   help="keep the episodes already in --log (after a kill) and run only the missing ones")
    s.add_argument("--json", action="store_true", help="print only the summary as one JSON object")
    add_scale_arguments(s)


def check_simulate_options(args: argparse.Namespace) -> None:
    """Refuse options that would be accepted and then do nothing, naming the option and the fix."""
    if args.pack and args.simulator == "agenda":
        raise InvalidValueError(f"--pack {args.pack!r} has no effect with --simulator agenda (it uses no model); "
                                f"drop --pack, or choose an LM simulator: {', '.join(LM_SIMULATORS)}")
    if args.weights and args.simulator in ("agenda", "sts", "jts"):
        raise InvalidValueError(f"--weights {args.weights!r} has no effect with --simulator {args.simulator} "
                                f"(it mixes no adapters); drop --weights, or choose one of "
                                f"{', '.join(MIXING_SIMULATORS)}")
    if args.resume and not args.log:
        raise InvalidValueError("--resume needs --log FILE.jsonl: the log whose episodes it keeps")


def summarise_episodes(records: list[dict], tasks: str | None = None) -> dict:
    """The ``simulate --json`` summary of finished episodes (episode-log records); ``language`` holds the
    language-quality figures of their user turns, against a vocabulary that includes the task folder ``tasks``."""
    import numpy as np

    from evaluation.language_quality import build_vocabulary, language_quality
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
            "task_completion_rate": float(np.mean([r["task_completed"] for r in records])) if records else 0.0,
            "language": language_quality(records, build_vocabulary([tasks] if tasks else ()))}


@subcommand("simulate")
def run_simulate(args: argparse.Namespace) -> int:
    from mtad_env.episode_runs import run_episodes
    from simulators.scale_out import scale_options

    check_simulate_options(args)
    options = {"weights": args.weights} if args.weights else {}
    if args.pack:
        options["pack"] = args.pack
    scale = scale_options(args)
    seeds = [args.seed + i for i in range(args.episodes)]
    batch_size = args.batch_size or (1 if args.simulator == "agenda" else 16)
    options.update(profile=args.profile, simulator=args.simulator, assistant=args.assistant, split=args.split,
                   tasks=args.tasks, max_turns=args.max_turns, seed=args.seed)
    if scale.enabled:
        from simulators.scale_out import run_episodes_distributed

        records = run_episodes_distributed(scale, seeds, log=args.log, resume=args.resume, batch_size=batch_size,
                                           on_record=None if args.json else _print_record, **options)
    else:
        records = run_episodes(seeds, log=args.log, resume=args.resume, batch_size=batch_size,
                               on_episode=None if args.json else _print_episode, progress=args.json, **options)
    if args.json:
        emit(summarise_episodes(records, args.tasks), True)
    return 0


def _print_episode(env, info: dict) -> None:
    _print_record(env.episode_record(info["end_reason"], info["episode_metrics"]))


def _print_record(record: dict) -> None:
    """Print one finished episode (an episode-log record) as the ``simulate`` transcript."""
    lines = [f"=== {record['task']['title']} ({record['task']['id']}) | profile {record['user_profile']} ==="]
    for turn in record["dialog"]:
        flag = "  [system error]" if turn["system_error"] else ""
        lines += [f"USER [{turn['intent']}]: {turn['user']}", f"SYSTEM{flag}: {turn['system']}"]
    metrics = ", ".join(f"{k}={v:.2f}" for k, v in record["episode_metrics"].items() if v is not None)
    lines += [f"--- end: {record['end_reason']}; {metrics}", ""]
    emit({}, False, "\n".join(lines))
