"""``mtad-env generate`` (a profile-aware corpus) and ``mtad-env stats`` (its Table 13 analog)."""

from __future__ import annotations

import argparse
import math

from mtad_env.cli.output import emit, nonneg_int
from mtad_env.errors import InvalidValueError


def add_generate_arguments(sub: argparse._SubParsersAction) -> None:
    """Add ``generate``."""
    from simulators.scale_out import add_scale_arguments  # the flags only: Ray is imported when a run uses them

    g = sub.add_parser("generate", help="profile-aware corpus (Algorithm 1 + filtering), resumable")
    g.add_argument("--profiles", default="single", metavar="SET",
                   help="single (Regular + every trait low/high) | multi (the 14 multi-trait profiles) | all | "
                        "P[;P...] (profiles, e.g. 'Patient;verbosity=low')")
    for split in ("train", "valid", "test"):
        g.add_argument(f"--n-{split}", type=nonneg_int, default=0, metavar="N",
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


def add_stats_arguments(sub: argparse._SubParsersAction) -> None:
    """Add ``stats``."""
    s = sub.add_parser("stats", help="Table 13 analog: mean/std of the 8 identifying metrics per profile")
    s.add_argument("dir", metavar="DIR", help="a corpus folder written by `generate`, or a dialogue file (JSON "
                                              "lines, or the paper's public code's JSON list / object keyed by id)")
    s.add_argument("--split", default=None, choices=("train", "valid", "test"),
                   help="only this split (default: all splits together)")
    s.add_argument("--paper", action="store_true",
                   help="print the paper's Table 13 beside ours, each cell's deviation in paper Regular stds")
    s.add_argument("--json", action="store_true", help="print the statistics as one JSON object")

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
