"""Corpus generation on Ray workers, file for file the corpus :class:`simulators.corpus.CorpusGenerator` writes.

Attempt ``k`` of a (split, profile) depends on the seed and its indices only, so workers can run any range of
attempts. The driver hands out shards (ranges of attempts of one file), takes their accepted dialogues as they
come, and consumes each file's results in attempt order: it keeps the first ``n`` accepted dialogues, appends them
whole-line-at-a-time, and discards what it ran past them. The files, their order and the report are those of the
one-process run, whatever the number of workers; a killed driver leaves a prefix of each file, from which the
same resume logic continues. The Regular statistics are computed the same way, in ranges, and summarised in order.
"""

from __future__ import annotations

import logging
import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mtad_env.episode_log import append_lines
from mtad_env.profiles import Profile
from simulators.corpus import CorpusGenerator, CorpusSpec, Stats, fill_row, resume_point, summarise_metrics
from simulators.scale_out import RaySession, ScaleOptions, drive, ray_session

logger = logging.getLogger(__name__)
MAX_SHARD = 64  # attempts per shard at most (a few tenths of a second of work)
STATS_SHARD = 250  # Regular statistics dialogues per shard


@dataclass
class _FileCursor:
    """One (split, profile) file being filled: what was handed out, what came back, what was written."""

    split: str
    profile: Profile
    n: int
    cap: int
    path: Path
    accepted: int
    next_attempt: int  # the next attempt to consume (all before it are decided)
    dispatched: int  # the next attempt to hand out
    done: bool = False
    last_accepted: int = -1
    pending: dict[int, tuple[int, list[tuple[int, str]]]] = field(default_factory=dict)  # start -> (stop, accepted)
    seen: int = 0  # attempts consumed in this run
    seen_accepted: int = 0

    def rate(self) -> float:
        """The filter's acceptance rate so far (a prior of 1/2 before any attempt came back; Regular: 1)."""
        return 1.0 if self.profile.is_regular else (self.seen_accepted + 1) / (self.seen + 2)

    def wants(self) -> int:
        """Attempts worth handing out now: the expected number still needed less those already out."""
        if self.done or self.dispatched >= self.cap:
            return 0
        expected_out = (self.dispatched - self.next_attempt) * self.rate()
        return 0 if self.n - self.accepted - expected_out <= 0 else math.ceil(
            (self.n - self.accepted - expected_out) / self.rate())

    def consume(self) -> list[str]:
        """Lines to append from the results that continue the written prefix, in attempt order."""
        lines: list[str] = []
        while not self.done and self.next_attempt in self.pending:
            stop, accepted = self.pending.pop(self.next_attempt)
            for attempt, line in accepted:
                if self.accepted < self.n:
                    lines.append(line)
                    self.accepted += 1
                    self.last_accepted = attempt
                    self.seen_accepted += 1
            self.seen += stop - self.next_attempt
            self.next_attempt = stop
            if self.accepted >= self.n or self.next_attempt >= self.cap:
                self.done = True
        return lines

    def attempts(self) -> int:
        """The report's attempt count: up to the n-th accepted dialogue, or the cap."""
        return self.last_accepted + 1 if self.accepted >= self.n and self.last_accepted >= 0 else self.next_attempt


class ScaledCorpusGenerator(CorpusGenerator):
    """:class:`CorpusGenerator` whose Regular statistics and files are computed by the session's Ray workers."""

    def __init__(self, spec: CorpusSpec, out: str | Path, session: RaySession, progress: bool = True) -> None:
        super().__init__(spec, out, progress)
        self.session = session

    def _compute_regular_stats(self) -> Stats:
        n, spec = self.spec.n_regular_stats, self.spec
        shards = deque((start, min(start + STATS_SHARD, n)) for start in range(0, n, STATS_SHARD))
        rows: dict[int, list[dict]] = {}
        drive(self.session, lambda: shards.popleft() if shards else None,
              lambda actor, shard: actor.regular_metrics.remote(spec, *shard),
              lambda shard, result: rows.__setitem__(shard[0], result))
        return summarise_metrics([row for start in sorted(rows) for row in rows[start]])

    def _fill_all(self, items: Sequence[tuple[str, Profile, int]], stats: Stats) -> list[dict[str, Any]]:
        cursors = [self._cursor(split, profile, n) for split, profile, n in items]
        workers = self.session.workers

        turn = [0]  # the file the next shard is looked for in first

        def next_shard() -> tuple[int, int, int] | None:
            # Files take turns: shards in flight spread over files instead of piling up on one, whose last
            # shards would run past its n-th accepted dialogue (wasted) on every worker at once.
            for k in range(len(cursors)):
                index = (turn[0] + k) % len(cursors)
                cursor = cursors[index]
                wanted = cursor.wants()
                if wanted > 0:
                    size = min(MAX_SHARD, max(4, math.ceil(wanted / workers)), cursor.cap - cursor.dispatched)
                    start = cursor.dispatched
                    cursor.dispatched += size
                    turn[0] = index + 1
                    return index, start, start + size
            return None

        def on_result(shard: tuple[int, int, int], accepted: list[tuple[int, str]]) -> None:
            index, start, stop = shard
            cursor = cursors[index]
            if not cursor.done:
                cursor.pending[start] = (stop, accepted)
                append_lines(cursor.path, cursor.consume())

        ref_stats = self.session.ray.put(stats)
        drive(self.session, next_shard, lambda actor, shard: actor.corpus_attempts.remote(
            self.spec, cursors[shard[0]].split, str(cursors[shard[0]].profile), shard[1], shard[2], ref_stats),
            on_result)
        return [fill_row(c.split, c.profile, c.n, c.cap, c.accepted, c.attempts()) for c in cursors]

    def _cursor(self, split: str, profile: Profile, n: int) -> _FileCursor:
        path = self.path(split, profile)
        accepted, next_attempt = resume_point(path)
        cap = n * self.spec.max_attempts_factor
        cursor = _FileCursor(split, profile, n, cap, path, accepted, next_attempt, next_attempt)
        cursor.done = accepted >= n or next_attempt >= cap
        path.touch()  # an empty file for a profile whose filter accepts nothing, as the one-process run leaves
        return cursor


def generate_corpus(spec: CorpusSpec, out: str | Path, options: ScaleOptions, progress: bool = True) -> dict[str, Any]:
    """Generate (or resume) the corpus of ``spec`` into ``out`` on Ray workers; returns the report (the Python API
    beside ``generate --workers N [--ray-address ADDR]``)."""
    with ray_session(options) as session:
        return ScaledCorpusGenerator(spec, out, session, progress).run()
