"""The package's exceptions: one home, each message names the bad value, what is valid, and the fix."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class MtadError(Exception):
    """Base class of every error this package raises on purpose."""


class InvalidValueError(MtadError, ValueError):
    """A name, number or record that is not one of the valid choices."""


class DataFormatError(InvalidValueError):
    """A task file, utterance pool or corpus line that does not follow the documented format."""


class EpisodeEndedError(MtadError, RuntimeError):
    """``step()`` was called with an action after the episode ended."""


class ResetNeededError(MtadError, RuntimeError):
    """An environment method was called before the first ``reset()`` (PettingZoo's order-enforcing rule)."""


class MissingExtraError(MtadError, ImportError):
    """A feature needs an optional extra that is not installed; the message names the ``pip install`` line."""


class PackError(InvalidValueError):
    """A model pack or adapter that is missing, corrupt or built for another tokenizer."""


def choices_message(kind: str, value: object, valid: Iterable[str]) -> str:
    """Build ``unknown kind 'x'; valid: a, b, c (did you mean 'y'?)``."""
    valid = list(valid)
    msg = f"unknown {kind} {value!r}; valid: {', '.join(valid)}"
    close = difflib.get_close_matches(str(value), valid, n=1)
    if close:
        msg += f" (did you mean {close[0]!r}?)"
    return msg


def unknown(kind: str, value: object, valid: Iterable[str]) -> InvalidValueError:
    """Return an :class:`InvalidValueError` for a value that is not among ``valid``."""
    return InvalidValueError(choices_message(kind, value, valid))
