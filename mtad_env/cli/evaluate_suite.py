"""``mtad-env evaluate-suite paper --pack PACK --out DIR [--quick] [--json]``: the paper's evaluation, end to end.

Generates the reference corpora, simulates every group the analogues of Tables 2-5 and Figures 3, 8, 9 and 10 need,
evaluates them and writes ``DIR/report.md`` (tables beside the paper's), ``DIR/results.json``, ``DIR/sweeps.png``
and one report folder per group under ``DIR/reports/``. Rerun the same command to resume after an interruption.
``--json`` prints the tables and the seconds per stage as one JSON object.
"""

from __future__ import annotations

import argparse
import logging

from mtad_env.cli.output import emit

logger = logging.getLogger(__name__)


def add_arguments(sub: argparse._SubParsersAction) -> None:
    """Add the ``evaluate-suite`` subcommand to ``sub``."""
    from evaluation.suite import SUITES

    e = sub.add_parser("evaluate-suite", help="run the paper's whole evaluation on a pack (resumable)")
    e.add_argument("suite", choices=SUITES, help="which suite (paper: Tables 2-5, Figures 3, 8-10)")
    e.add_argument("--pack", default=None, help="model pack folder (default: the shipped pack)")
    e.add_argument("--out", required=True, metavar="DIR", help="folder for logs, reports and report.md")
    e.add_argument("--quick", action="store_true", help="small sizes (about a tenth of the full run)")
    e.add_argument("--json", action="store_true", help="print the tables and stage times as one JSON object")
    from simulators.scale_out import add_scale_arguments

    add_scale_arguments(e)


def run_evaluate_suite(args: argparse.Namespace) -> int:
    from evaluation.suite import run_suite
    from simulators.scale_out import scale_options

    result = run_suite(args.suite, args.out, pack=args.pack, quick=args.quick, scale=scale_options(args))
    seconds = result["seconds"]
    emit(result, args.json, f"wrote {args.out}/report.md; seconds per stage: "
         + ", ".join(f"{k} {v:.0f}" for k, v in seconds.items()))
    return 0
