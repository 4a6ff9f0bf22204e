"""The ``mtad-env`` command line: one entry point, one subcommand per job, listed in :data:`COMMANDS`.

Every subcommand exits 0 on success and 2 with a one-line message on bad input; ``--json`` prints one JSON object
on stdout while progress and logs go to stderr. This package is the top layer: it may import every other package
(simulators, agents, training, evaluation), and none of them imports it.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Callable, Sequence
from typing import NamedTuple

from mtad_env.cli.output import Parser
from mtad_env.errors import MtadError

logger = logging.getLogger("mtad_env")
Handler = Callable[[argparse.Namespace], int]
DESCRIPTION = ("User simulation for Conversational Task Assistants: corpora, simulated dialogues, LM user "
               "simulators and their evaluation.")
EPILOG = ("`mtad-env COMMAND --help` lists a command's options. Every command exits 0 on success and 2 with one "
          "line on bad input; --json prints one JSON object on stdout, progress goes to stderr.")


class Command(NamedTuple):
    """A subcommand: the function that adds its parser and the one that runs it, as ``"module:function"``."""

    name: str
    add_arguments: str
    run: str


def _in(module: str, add: str, run: str) -> tuple[str, str]:
    return f"mtad_env.cli.{module}:{add}", f"mtad_env.cli.{module}:{run}"


# The subcommands, in the order of `mtad-env --help`.
COMMANDS: tuple[Command, ...] = (
    Command("generate", *_in("corpus", "add_generate_arguments", "run_generate")),
    Command("stats", *_in("corpus", "add_stats_arguments", "run_stats")),
    Command("simulate", *_in("simulate", "add_arguments", "run_simulate")),
    Command("train", *_in("train", "add_arguments", "run_train")),
    Command("train-adapter", *_in("train_adapter", "add_arguments", "run_train_adapter")),
    Command("evaluate", *_in("evaluate", "add_arguments", "run_evaluate")),
    Command("evaluate-suite", *_in("evaluate_suite", "add_arguments", "run_evaluate_suite")),
    Command("judge", *_in("judge", "add_arguments", "run_judge")),
    Command("doctor", *_in("doctor", "add_arguments", "run_doctor")),
    Command("serve", *_in("serve", "add_arguments", "run_serve")),
    Command("bench", *_in("bench", "add_arguments", "run_bench")),
)


def _function(target: str) -> Callable:
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


def build_parser() -> argparse.ArgumentParser:
    """The argparse tree of every subcommand."""
    parser = Parser(prog="mtad-env", description=DESCRIPTION, epilog=EPILOG)
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO level on stderr")
    # not required=True: argparse's message for a missing command lists no commands; main() does
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for command in COMMANDS:
        _function(command.add_arguments)(sub)
    for choice in sub._choices_actions:  # `mtad-env COMMAND --help` opens with the line `mtad-env --help` shows
        command = sub.choices[choice.dest]
        command.description = command.description or choice.help
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.error(f"no command given; give one of {', '.join(c.name for c in COMMANDS)} "
                     "(`mtad-env --help` says what each does)")
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, stream=sys.stderr,
                        format="%(levelname)s %(name)s: %(message)s")
    handler = _function(next(c.run for c in COMMANDS if c.name == args.command))
    try:
        return handler(args)
    except MtadError as exc:
        sys.stderr.write(f"mtad-env {args.command}: error: {exc}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        return 130
