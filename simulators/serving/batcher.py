"""Continuous batching of the LM users' turns.

Requests queue as they arrive. Once one waits, the decode loop keeps collecting while more keep coming (until
no request arrived for ``window_s``, or for at most ``max_wait_s``), and decodes them together in one call of :func:`simulators.mtad_engine.decode` (one batched
forward per token over rows = dialogues x adapters), in a worker thread so that the server keeps accepting
requests meanwhile; what arrives during a decode forms the next batch. Requests with different sampling settings
decode in separate calls of the same round (one per ``(temperature, top_p)``); different ``max_tokens`` share a
call and are cut afterwards.

A request's tokens do not depend on the rest of its batch: each has its own generator and the engine's arithmetic
per row is the same alone or in a batch, and a dialogue's first n tokens are the same whatever the batch's token
limit (one uniform per token, none after the stop token). A request whose client went away before its batch
started is dropped; one that goes away during the decode is decoded and its reply discarded, so the others lose
nothing. A reply that is a pool line unfit for the request's task is drawn again in a later batch (see
:meth:`simulators.serving.users.Job.redraw`), with the generator going on from the first draw, so it too is the
same alone or in a batch.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from simulators.serving.protocol import Reply
from simulators.serving.users import Job

logger = logging.getLogger(__name__)


@dataclass
class BatchStats:
    """What the decode loop did: batches run, requests and rows decoded, the largest batch."""

    batches: int = 0
    requests: int = 0
    rows: int = 0
    largest: int = 0
    dropped: int = 0

    def record(self, jobs: list[Job]) -> None:
        self.batches += 1
        self.requests += len(jobs)
        self.rows += sum(len(j.decode.adapters) for j in jobs)
        self.largest = max(self.largest, len(jobs))

    def as_dict(self) -> dict[str, float]:
        mean = self.requests / self.batches if self.batches else 0.0
        return {"batches": self.batches, "requests": self.requests, "rows": self.rows,
                "largest_batch": self.largest, "mean_batch": round(mean, 2), "dropped": self.dropped}


class Batcher:
    """The decode loop of one pack model (a :class:`simulators.lm_simulator.PackModel`).

    Args:
        lm: the pack model. window_s: the quiet gap that closes a batch (no new request for that long).
        max_wait_s: the longest a waiting request waits for others. max_rows: the most rows (dialogues x
            adapters) per batch; the rest wait for the next one.
    """

    def __init__(self, lm, window_s: float = 0.002, max_wait_s: float = 0.02, max_rows: int = 512) -> None:
        self.lm, self.window_s, self.max_wait_s, self.max_rows = lm, window_s, max_wait_s, max_rows
        self.stats = BatchStats()
        self._waiting: collections.deque[tuple[Job, asyncio.Future]] = collections.deque()
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task | None = None
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="mtad-decode")

    def start(self) -> None:
        """Start the decode loop on the running event loop."""
        self._wake = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        """Stop the loop; waiting requests fail with :class:`asyncio.CancelledError`."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        for _, future in self._waiting:
            future.cancel()
        self._executor.shutdown(wait=True)

    async def submit(self, job: Job) -> Reply:
        """Queue an LM user's turn and wait for its reply."""
        if self._task is None or self._task.done():
            raise RuntimeError("the decode loop is not running; call start() inside the server's event loop")
        future = asyncio.get_running_loop().create_future()
        self._waiting.append((job, future))
        self._wake.set()
        return await future

    def _take(self) -> list[tuple[Job, asyncio.Future]]:
        batch, rows = [], 0
        while self._waiting:
            job, future = self._waiting[0]
            if future.done():  # its client went away: drop it
                self._waiting.popleft()
                self.stats.dropped += 1
                continue
            k = len(job.decode.adapters)
            if batch and rows + k > self.max_rows:
                break
            batch.append(self._waiting.popleft())
            rows += k
        if not self._waiting:
            self._wake.clear()
        return batch

    async def _gather(self, loop: asyncio.AbstractEventLoop) -> None:
        """Wait while requests keep arriving: until a quiet ``window_s``, ``max_wait_s`` or ``max_rows``."""
        deadline, seen = loop.time() + self.max_wait_s, -1
        while self.window_s > 0 and len(self._waiting) != seen and loop.time() < deadline:
            if sum(len(job.decode.adapters) for job, _ in self._waiting) >= self.max_rows:
                return
            seen = len(self._waiting)
            await asyncio.sleep(min(self.window_s, max(deadline - loop.time(), 0.0)))

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._wake.wait()
            await self._gather(loop)
            batch = self._take()
            if not batch:
                continue
            jobs = [job for job, _ in batch]
            try:
                tokens = await loop.run_in_executor(self._executor, self.decode, jobs)
                replies: list = [self._reply(job, t) for job, t in zip(jobs, tokens)]  # tokenizer: this thread only
            except Exception as exc:  # noqa: BLE001 - every waiting request gets the error, the loop goes on
                logger.exception("decoding a batch of %d requests failed", len(jobs))
                replies = [exc] * len(jobs)
            for (job, future), reply in zip(batch, replies):
                if future.done():
                    continue
                if isinstance(reply, Exception):
                    future.set_exception(reply)
                elif job.redraw(reply):  # a line unfit for the task: drawn again in the next batch
                    self._waiting.append((job, future))
                    self._wake.set()
                else:
                    future.set_result(reply)

    def decode(self, jobs: list[Job]) -> list[list[int]]:
        """Each job's new tokens, in one decode call per ``(temperature, top_p)`` (runs in the worker thread)."""
        from simulators.mtad_engine import decode

        self.stats.record(jobs)
        groups: dict[tuple[float, float], list[int]] = {}
        for i, job in enumerate(jobs):
            groups.setdefault((job.request.sampling.temperature, job.request.sampling.top_p), []).append(i)
        out: list[list[int]] = [[] for _ in jobs]
        lm = self.lm
        for (temperature, top_p), members in groups.items():
            limit = max(jobs[i].request.sampling.max_tokens for i in members)
            tokens = decode(lm.model, [jobs[i].decode for i in members], [lm.end_id], lm.tokenizer.pad_token_id,
                            limit, temperature, top_p)
            for i, toks in zip(members, tokens):
                out[i] = toks
        return out

    def _reply(self, job: Job, tokens: list[int]) -> Reply:
        from simulators.lm_simulator import parse_action
        from simulators.word_constraint import WordState, drop_unfinished

        tokens = tokens[:job.request.sampling.max_tokens]
        finish = "stop" if tokens and tokens[-1] == self.lm.end_id else "length"
        text = self.lm.tokenizer.decode(tokens, skip_special_tokens=False)
        if finish == "length" and job.decode.words is not None:  # cut by the token limit: drop a word cut short
            state = WordState(job.decode.words.lexicon)
            for token in tokens:
                state.advance(token)
            text = drop_unfinished(text, state)
        action = parse_action(text)
        return Reply(action.intent, action.utterance, finish, len(job.decode.prompt_ids), len(tokens))
