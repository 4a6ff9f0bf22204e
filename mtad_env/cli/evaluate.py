"""``mtad-env evaluate``: compare simulated dialogues with a reference corpus (paper §5.1, §6).

::

    mtad-env evaluate --logs FILE.jsonl [FILE.jsonl ...] --reference DIR --out DIR [--json] [--split test]

Writes ``report.md``, ``results.json``, ``results.csv``, ``trends.png`` and ``violins.png`` into ``--out``.
``--json`` prints ``{"profiles": {P: {"distance": {TRAIT: float}, "metrics": {TRAIT: {"mean": float, ...}},
"language": {FIGURE: float}, ...}}, "degeneration_rate": float, "uniqueness_rate": float, "language": {FIGURE: float},
...}``; a distance is null where the reference lacks the profile or the values, and the uniqueness rate is null when
the reference has no train split. The ``language`` figures (per profile and over all dialogues) are those of
:mod:`evaluation.language_quality`.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from mtad_env.cli.output import emit

logger = logging.getLogger(__name__)


def add_arguments(sub: argparse._SubParsersAction) -> None:
    """Add the ``evaluate`` subcommand to ``sub``."""
    e = sub.add_parser("evaluate", help="distances, trends and rates of simulated dialogues against a reference")
    e.add_argument("--logs", nargs="+", required=True, metavar="FILE.jsonl",
                   help="episode logs written by `simulate --log` (or corpus split files)")
    e.add_argument("--reference", required=True, metavar="DIR", help="a corpus folder written by `generate`")
    e.add_argument("--out", required=True, metavar="DIR", help="folder for report.md, results.* and figures")
    e.add_argument("--split", default="test", choices=("train", "valid", "test"),
                   help="reference split (a profile missing there falls back to another split)")
    e.add_argument("--seed", type=int, default=0, help="seed of the bootstrap intervals")
    e.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples per interval")
    e.add_argument("--json", action="store_true", help="print the results as one JSON object")


def _table(summary: dict, written: dict) -> str:
    """A short text summary: the distance of every trait per profile, the rates and the files written."""
    from evaluation.language_quality import TABLE_HEADER, table_cells
    from evaluation.report import format_rate
    from mtad_env.traits import traits

    names = list(traits())
    header = f"{'profile':40s} {'n':>5s} " + " ".join(f"{n[:11]:>11s}" for n in names)
    rows = [header]
    for profile, entry in summary["profiles"].items():
        cells = ["n/a" if (d := entry["distance"][n]) is None else f"{d:.3f}" for n in names]
        rows.append(f"{profile:40s} {entry['n']:5d} " + " ".join(f"{c:>11s}" for c in cells))
    rows += ["(distance to the reference: Wasserstein for discrete traits, K-S otherwise)",
             f"degeneration rate: {format_rate(summary['degeneration_rate'])}",
             f"uniqueness rate: {format_rate(summary['uniqueness_rate'])}",
             "language: " + ", ".join(f"{h} {c}" for h, c in zip(TABLE_HEADER, table_cells(summary["language"]))),
             "wrote: " + ", ".join(str(p) for p in written.values())]
    return "\n".join(rows)


def run_evaluate(args: argparse.Namespace) -> int:
    """Evaluate the logs against the reference, write the report, print the summary."""
    from evaluation.dialogues import ReferenceCorpus, load_logs
    from mtad_env.errors import InvalidValueError

    if args.resamples < 1:
        raise InvalidValueError(f"--resamples {args.resamples} must be >= 1 (1000 is usual)")
    if Path(args.out).exists() and not Path(args.out).is_dir():
        raise InvalidValueError(f"output path {args.out!r} exists and is not a folder; choose another --out")
    dialogues = load_logs(args.logs)  # bad input fails here, before scipy and matplotlib are imported
    reference = ReferenceCorpus(args.reference, args.split)

    from evaluation.analysis import EvaluationConfig, evaluate
    from evaluation.report import write_report

    evaluation = evaluate(dialogues, reference, EvaluationConfig(seed=args.seed, n_resamples=args.resamples))
    written = write_report(evaluation, args.out)
    emit(evaluation.summary, args.json, _table(evaluation.summary, written))
    return 0
