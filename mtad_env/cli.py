"""The ``mtad-env`` command line (DESIGN §8): one entry point, one subcommand per job.

Every subcommand exits 0 on success and 2 with a one-line message on bad input; ``--json`` prints one JSON object
on stdout while progress and logs go to stderr.
"""

from __future__ import annotations

import argparse
import difflib
import json
import logging
import math
import sys
from collections.abc import Callable, Sequence

from mtad_env.errors import MtadError, choices_message

logger = logging.getLogger("mtad_env")
Handler = Callable[[argparse.Namespace], int]
DESCRIPTION = ("User simulation for Conversational Task Assistants: corpora, simulated dialogues, LM user "
               "simulators and their evaluation.")
EPILOG = ("`mtad-env COMMAND --help` lists a command's options. Every command exits 0 on success and 2 with one "
          "line on bad input; --json prints one JSON object on stdout, progress goes to stderr.")
_HANDLERS: dict[str, Handler] = {}


class _HelpFormatter(argparse.HelpFormatter):
    """Help text that ends with ``(default: X)`` for every option whose default is a value (not None/False)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if "%(default)" in text or default is None or default is False or default == argparse.SUPPRESS \
                or not action.option_strings:
            return text
        return f"{text} (default: %(default)s)"


class _Parser(argparse.ArgumentParser):
    """argparse with the CLI contract: one-line errors, exit 2, a suggestion for a misspelt choice."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("formatter_class", _HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> None:  # one line, exit 2, no usage dump
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        raise SystemExit(2)

    def _check_value(self, action: argparse.Action, value: object) -> None:
        if action.choices is None or value in action.choices:
            return
        if isinstance(action, argparse._SubParsersAction):
            raise argparse.ArgumentError(None, choices_message("command", value, action.choices))
        try:
            super()._check_value(action, value)
        except argparse.ArgumentError as exc:
            close = difflib.get_close_matches(str(value), [str(c) for c in action.choices], n=1)
            if close:
                exc.message += f" (did you mean {close[0]!r}?)"
            raise


def subcommand(name: str) -> Callable[[Handler], Handler]:
    """Register a handler for subcommand ``name``."""
    def deco(fn: Handler) -> Handler:
        _HANDLERS[name] = fn
        return fn
    return deco


def _finite(obj: object) -> object:
    """``obj`` with NaN and infinities replaced by None, so that the output is strict JSON."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


def emit(obj: object, as_json: bool, table: str = "") -> None:
    """Print ``obj`` as one JSON object (``--json``) or ``table`` as text."""
    text = json.dumps(_finite(obj), ensure_ascii=False, allow_nan=False) if as_json else table
    sys.stdout.write(text.rstrip("\n") + "\n")


def build_parser() -> argparse.ArgumentParser:
    """The argparse tree of every subcommand."""
    from mtad_env import cli_commands

    parser = _Parser(prog="mtad-env", description=DESCRIPTION, epilog=EPILOG)
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO level on stderr")
    # not required=True: argparse's message for a missing command lists no commands; main() does
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    cli_commands.add_arguments(sub)
    for choice in sub._choices_actions:  # `mtad-env COMMAND --help` opens with the line `mtad-env --help` shows
        command = sub.choices[choice.dest]
        command.description = command.description or choice.help
    return parser


def _commands(parser: argparse.ArgumentParser) -> list[str]:
    """The subcommand names, in the order of ``--help``."""
    return [name for action in parser._actions if isinstance(action, argparse._SubParsersAction)
            for name in action.choices]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.error(f"no command given; give one of {', '.join(_commands(parser))} "
                     "(`mtad-env --help` says what each does)")
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, stream=sys.stderr,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        return _HANDLERS[args.command](args)
    except MtadError as exc:
        sys.stderr.write(f"mtad-env {args.command}: error: {exc}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        return 130


if __name__ == "__main__":  # `python -m mtad_env.cli`: run the importable module, whose registry is filled
    from mtad_env.cli import main as _main

    raise SystemExit(_main())
