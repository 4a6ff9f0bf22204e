"""``mtad-env bench``: benchmarks that print measured figures (see :mod:`evaluation.benchmarks`)."""

from __future__ import annotations

import argparse

from mtad_env.cli.output import emit


def add_arguments(sub: argparse._SubParsersAction) -> None:
    """Add ``bench``."""
    b = sub.add_parser("bench", help="benchmarks that print measured figures")
    b.add_argument("what", choices=("decode", "env", "generate", "train", "serve", "scale"),
                   help="decode: mTAD engine speed; env: turns/s through the PettingZoo API; "
                        "generate: Algorithm 1 dialogues/s; train: target tokens/s of the two training recipes; "
                        "serve: replies/s of the user server at 1 and 64 concurrent dialogues; "
                        "scale: episodes/s of generate and STS simulate on 1 and 2 Ray workers")
    b.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    b.add_argument("--seconds", type=float, default=5.0, help="time budget per measurement")


def run_bench(args: argparse.Namespace) -> int:
    from evaluation import benchmarks

    result = benchmarks.run(args.what, seconds=args.seconds)
    emit(result, args.json, "\n".join(f"{k}: {v}" for k, v in result.items()))
    return 0
