"""Episode logs: one finished episode per JSON line, appended atomically; readers skip a torn last line.

Each line is written with a single ``write`` on a file opened with ``O_APPEND``, so concurrent writers never
interleave and a killed process leaves at most an incomplete final line, which :func:`load_episodes` drops.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path

from mtad_env.errors import DataFormatError
from mtad_env.records import DialogueRecord

logger = logging.getLogger(__name__)


class EpisodeLogger:
    """Appends episodes to ``<log_dir>/episodes.jsonl`` (or to ``path`` if it ends with ``.jsonl``)."""

    def __init__(self, path: str | Path) -> None:
        path = Path(path)
        self.path = path if path.suffix == ".jsonl" else path / "episodes.jsonl"
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def write(self, episode: DialogueRecord) -> None:
        """Append one episode as a JSON line."""
        append_lines(self.path, [encode_episode(episode)])


def encode_episode(episode: dict[str, Any]) -> str:
    """One episode as its log line (with the newline): the exact bytes every writer of a log uses."""
    return json.dumps(episode, ensure_ascii=False, allow_nan=False) + "\n"


def append_lines(path: str | Path, lines: list[str]) -> None:
    """Append whole lines to ``path`` with one ``write`` on an ``O_APPEND`` file, so that a killed writer leaves at
    most one torn final line and concurrent writers never interleave."""
    if not lines:
        return
    data = "".join(lines).encode("utf-8")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        view = memoryview(data)
        while view:  # a regular file takes it all at once; loop in case a signal cut the write short
            view = view[os.write(fd, view):]
    finally:
        os.close(fd)


def drop_torn_tail(path: str | Path) -> None:
    """Cut an incomplete last line (left by a killed writer) so that appending continues on a clean line."""
    path = Path(path)
    if not path.exists():
        return
    data = path.read_bytes()
    end = data.rfind(b"\n") + 1
    if end < len(data):
        with open(path, "r+b") as fh:
            fh.truncate(end)
            fh.flush()
            os.fsync(fh.fileno())


def iter_episodes(path: str | Path) -> Iterator[DialogueRecord]:
    """Yield the episodes of a log file (or of ``episodes.jsonl`` in a folder)."""
    path = Path(path)
    if path.is_dir():
        path = path / "episodes.jsonl"
    if not path.exists():
        raise DataFormatError(f"episode log {str(path)!r} does not exist")
    with open(path, encoding="utf-8") as fh:
        lines = fh.read().split("\n")
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            yield json.loads(line)
        except json.JSONDecodeError:
            if n == len(lines):  # a torn final line from a killed writer
                logger.warning("%s: skipping an incomplete last line", path)
                continue
            raise DataFormatError(f"{str(path)!r} line {n} is not valid JSON") from None


def load_episodes(path: str | Path) -> list[DialogueRecord]:
    """All episodes of a log file or folder."""
    return list(iter_episodes(path))
