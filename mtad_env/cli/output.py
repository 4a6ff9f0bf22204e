"""What every ``mtad-env`` command shares: the argparse classes of the CLI contract (one-line errors, exit 2, a
suggestion for a misspelt choice, defaults in the help), argument types, and ``emit`` for text or ``--json`` output.
"""

from __future__ import annotations

import argparse
import difflib
import json
import math
import sys
from collections.abc import Callable

from mtad_env.errors import choices_message


class HelpFormatter(argparse.HelpFormatter):
    """Help text that ends with ``(default: X)`` for every option whose default is a value (not None/False)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if "%(default)" in text or default is None or default is False or default == argparse.SUPPRESS \
                or not action.option_strings:
            return text
        return f"{text} (default: %(default)s)"


class Parser(argparse.ArgumentParser):
    """argparse with the CLI contract: one-line errors, exit 2, a suggestion for a misspelt choice."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
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


def int_at_least(minimum: int) -> Callable[[str], int]:
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


nonneg_int = int_at_least(0)
positive_int = int_at_least(1)
