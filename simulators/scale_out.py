"""Scale-out on Ray: episodes split into shards, run by Ray actors, streamed back to a driver that writes the files.

Nothing here is imported unless ``--workers`` or ``--ray-address`` is given (or this module is used directly), so a
run without them neither needs nor imports Ray.

* :class:`ScaleOptions` says how many workers and which cluster: no address starts a local Ray cluster (the
  embedded default); an address joins an existing one. :func:`ray_session` starts or joins it once, keeps a pool
  of :class:`ScaleWorker` actors, and is re-entrant, so that the evaluation suite and the ``generate`` it runs
  share one cluster and one pool (each actor loads a pack once, whatever the stage).
* :func:`drive` is the driver loop: it keeps every actor busy with shards, takes results as they finish
  (``ray.wait``), hands them to the caller in any order, and reruns the shard of an actor that died (a SIGKILL,
  a lost node) on a fresh actor, so that nothing is lost and nothing is written twice.
* :func:`run_episodes_scaled` is :func:`mtad_env.episode_runs.run_episodes` on a pool: the shards are the batches
  a single process would run, each decoded in one lockstep batch by one actor; the driver appends them to the log
  in shard order, each episode's line as the process would have written it, so the log is byte-identical for 1,
  2 or N workers (and to a run without Ray). Resuming is the same as there.

Episode seeds depend on the job (reset seed, profile) only, never on the worker that runs it.
"""

from __future__ import annotations

import logging
import math
import os
import socket
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from mtad_env.errors import InvalidValueError, MtadError

logger = logging.getLogger(__name__)
INSTALL_HINT = 'pip install "mtad-env[ray]"'
CONNECT_TIMEOUT_S = 3.0  # an unreachable --ray-address fails after this, never hangs
ENV_SETS_KEPT = 2  # environment sets (one per simulator setting) an actor keeps between shards
SHARDS_IN_FLIGHT = 2  # per actor: one running, one queued behind it, so an actor never waits for the driver


class ScaleOutError(MtadError, RuntimeError):
    """The workers kept dying: the shard that killed them is named, and the run can be resumed."""


@dataclass(frozen=True)
class ScaleOptions:
    """How to scale out: ``workers`` Ray actors (None with an address: one per CPU of the cluster), on the
    cluster at ``address`` (None: a local one), each asking ``gpus_per_worker`` GPUs (None: the cluster's GPUs
    shared out evenly, fractions allowed; 0 where it has none)."""

    workers: int | None = None
    address: str | None = None
    gpus_per_worker: float | None = None

    @property
    def enabled(self) -> bool:
        return self.workers is not None or self.address is not None

    def check(self) -> None:
        """Refuse a worker count below 1 or a negative GPU share, naming the value and the fix."""
        if self.workers is not None and (isinstance(self.workers, bool) or self.workers < 1):
            raise InvalidValueError(f"--workers {self.workers} must be an integer >= 1 (the number of Ray actors); "
                                    "drop --workers to run in this process")
        if self.gpus_per_worker is not None and self.gpus_per_worker < 0:
            raise InvalidValueError(f"gpus_per_worker {self.gpus_per_worker} must be >= 0 (fractions share a GPU)")


def add_scale_arguments(parser: Any) -> None:
    """``--workers`` and ``--ray-address`` on a subcommand's parser (they import nothing)."""
    parser.add_argument("--workers", type=int, default=None, metavar="N",
                        help="run on N Ray workers (a local Ray cluster unless --ray-address); same output as "
                             f"without; needs `{INSTALL_HINT}`")
    parser.add_argument("--ray-address", default=None, metavar="ADDR",
                        help="join the Ray cluster at ADDR (HOST:PORT, ray://HOST:PORT or auto) instead of starting "
                             "one; without --workers, one worker per CPU of the cluster")


def scale_options(args: Any) -> ScaleOptions:
    """The :class:`ScaleOptions` of parsed ``--workers``/``--ray-address`` arguments, checked."""
    options = ScaleOptions(getattr(args, "workers", None), getattr(args, "ray_address", None))
    options.check()
    if options.enabled:  # refuse before the command writes anything
        import_ray()
        if options.address is not None:
            probe_address(options.address)
    return options


def import_ray() -> Any:
    """The ``ray`` module, or a one-line error that says how to install it."""
    try:
        import ray
    except ImportError:
        raise InvalidValueError(f"--workers/--ray-address need Ray, which is not installed; install it with "
                                f"`{INSTALL_HINT}`, or drop --workers and --ray-address") from None
    return ray


def probe_address(address: str, timeout: float = CONNECT_TIMEOUT_S) -> None:
    """Fail fast when nothing listens at a ``HOST:PORT`` or ``ray://HOST:PORT`` address (``auto`` is left to
    Ray, which fails at once when it finds no cluster)."""
    if address == "auto":
        return
    hostport = address.split("://", 1)[1] if "://" in address else address
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        raise InvalidValueError(f"--ray-address {address!r} is not HOST:PORT, ray://HOST:PORT or auto; give the "
                                "address `ray start --head` printed (e.g. 10.0.0.5:6379)")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as exc:
        raise InvalidValueError(f"cannot reach a Ray cluster at --ray-address {address!r} ({exc.strerror or exc}); "
                                "start one there with `ray start --head`, fix the address, or drop --ray-address "
                                "to start a local cluster") from None


class ScaleWorker:
    """A Ray actor's state: environments (with their loaded pack) and corpus generators, built once and reused
    for every shard the actor runs."""

    def __init__(self) -> None:
        self._envs: dict[str, list] = {}
        self._corpora: dict[Any, Any] = {}

    def pid(self) -> int:
        """The actor's process id (tests kill it)."""
        return os.getpid()

    def warm(self, make_options: dict[str, Any], size: int) -> int:
        """Build ``size`` environments for ``make_options`` now (loading the pack), outside any timing."""
        return len(self._env_batch(make_options, size))

    def _env_batch(self, make_options: dict[str, Any], size: int) -> list:
        from mtad_env.factory import make

        key = repr(sorted(make_options.items()))
        envs = self._envs.pop(key, [])
        self._envs[key] = envs  # most recently used last; the oldest set goes when more than a few are kept
        while len(self._envs) > ENV_SETS_KEPT:
            self._envs.pop(next(iter(self._envs)))
        while len(envs) < size:
            envs.append(make(**make_options))
        return envs[:size]

    def episodes(self, make_options: dict[str, Any], jobs: Sequence[tuple[int, str | None]]) -> list[str]:
        """Play the jobs (reset seed, profile or None) in one lockstep batch; returns their log lines in the
        order the episodes finished, which is the order a single process appends them in."""
        from mtad_env.episode_log import encode_episode
        from mtad_env.factory import rollout_many

        lines: list[str] = []
        envs = self._env_batch(make_options, len(jobs))
        for env in envs:
            env.logger = _LineCollector(lines, encode_episode)
        options = [None if profile is None else {"profile": profile} for _, profile in jobs]
        rollout_many(envs, seeds=[seed for seed, _ in jobs], options=options)
        return lines

    def _corpus(self, spec: Any) -> Any:
        from simulators.corpus import CorpusGenerator

        if spec not in self._corpora:
            self._corpora[spec] = CorpusGenerator(spec, os.devnull, progress=False)
        return self._corpora[spec]

    def corpus_attempts(self, spec: Any, split: str, profile: str, start: int, stop: int,
                        stats: dict) -> list[tuple[int, str]]:
        """Attempts ``start..stop-1`` of a (split, profile): the accepted ones as (attempt, corpus line)."""
        from mtad_env.profiles import Profile
        from simulators.corpus import encode_record

        generator, parsed = self._corpus(spec), Profile.parse(profile)
        accepted = []
        for attempt in range(start, stop):
            record, passed = generator.attempt(split, parsed, attempt, stats)
            if passed:
                accepted.append((attempt, encode_record(record)))
        return accepted

    def regular_metrics(self, spec: Any, start: int, stop: int) -> list[dict]:
        """The metrics of Regular statistics dialogues ``start..stop-1``."""
        from simulators.corpus import regular_metrics

        generator = self._corpus(spec)
        return [regular_metrics(generator.user, generator.tasks["train"], spec.seed, generator.config, k)
                for k in range(start, stop)]


class _LineCollector:
    """Stands in for an environment's episode logger inside an actor: keeps the lines instead of writing them."""

    def __init__(self, lines: list[str], encode: Callable[[dict], str]) -> None:
        self.lines, self.encode = lines, encode

    def write(self, episode: dict[str, Any]) -> None:
        self.lines.append(self.encode(episode))


class WorkerPool:
    """The session's actors; a dead one is replaced by a fresh actor (which reloads what it needs)."""

    def __init__(self, ray: Any, size: int, gpus: float) -> None:
        self.ray, self.gpus = ray, gpus
        self._cls = ray.remote(num_cpus=1, num_gpus=gpus, max_restarts=0)(ScaleWorker)
        self.actors = [self._cls.remote() for _ in range(size)]
        self.replaced = 0

    def replace(self, index: int) -> None:
        self.ray.kill(self.actors[index], no_restart=True)
        self.actors[index] = self._cls.remote()
        self.replaced += 1


@dataclass
class RaySession:
    """A started or joined Ray cluster and its worker pool."""

    ray: Any
    pool: WorkerPool
    started_here: bool
    start_s: float

    @property
    def workers(self) -> int:
        return len(self.pool.actors)


_ACTIVE: RaySession | None = None


@contextmanager
def ray_session(options: ScaleOptions) -> Iterator[RaySession]:
    """Start (no address) or join (an address) a Ray cluster with a pool of ``options.workers`` actors; inside an
    open session, yield that one. A cluster started here is shut down on exit; a joined one keeps running."""
    global _ACTIVE
    if _ACTIVE is not None:
        yield _ACTIVE
        return
    options.check()
    ray = import_ray()
    started = time.perf_counter()
    mode = _connect(ray, options)
    pool = None
    try:
        size = _pool_size(ray, options)
        pool = WorkerPool(ray, size, _gpus_per_worker(ray, options, size))
        _ACTIVE = RaySession(ray, pool, mode == "started", time.perf_counter() - started)
        logger.info("Ray: %d workers (%.2f GPU each) on %s", size, pool.gpus, options.address or "a local cluster")
        yield _ACTIVE
    finally:
        _ACTIVE = None
        for actor in pool.actors if pool is not None and mode != "started" else []:
            ray.kill(actor, no_restart=True)  # on a cluster that outlives this run, free the actors' CPUs and GPUs
        if mode != "borrowed":
            ray.shutdown()  # stops a cluster started here; disconnects from a joined one, which keeps running


def _connect(ray: Any, options: ScaleOptions) -> str:
    """``ray.init`` for the options; returns "started" (a local cluster started here), "joined" (the cluster at
    the address) or "borrowed" (Ray was already initialised by the caller, e.g. a test: used, left running)."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    quiet = {"log_to_driver": False, "logging_level": logging.WARNING, "configure_logging": False}
    if options.address is not None:
        probe_address(options.address)
    if ray.is_initialized():
        return "borrowed"
    if options.address is None:
        ray.init(num_cpus=options.workers, include_dashboard=False, **quiet)
        return "started"
    try:
        ray.init(address=options.address, **quiet)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InvalidValueError(f"cannot join the Ray cluster at --ray-address {options.address!r} ({first}); "
                                "check the address `ray start --head` printed, or drop --ray-address") from None
    return "joined"


def _pool_size(ray: Any, options: ScaleOptions) -> int:
    """``options.workers``, or one per CPU of the cluster; more workers than CPUs would leave actors waiting for
    a CPU forever (each asks for one), so that is refused."""
    cpus = int(ray.cluster_resources().get("CPU", 0))
    if options.workers is None:
        return max(1, cpus)
    if options.workers > cpus:
        raise InvalidValueError(f"--workers {options.workers} is more than the {cpus} CPUs of the Ray cluster "
                                f"(each worker takes one); give --workers {max(cpus, 1)} or fewer, or add nodes")
    return options.workers


def _gpus_per_worker(ray: Any, options: ScaleOptions, workers: int) -> float:
    """GPUs each actor asks for: the option, else the cluster's GPUs shared out evenly (at most one each,
    rounded down to hundredths so that the shares fit), else 0."""
    if options.gpus_per_worker is not None:
        return float(options.gpus_per_worker)
    total = float(ray.cluster_resources().get("GPU", 0))
    return 0.0 if total <= 0 else min(1.0, math.floor(100 * total / workers) / 100)


def drive(session: RaySession, next_shard: Callable[[], Any | None], submit: Callable[[Any, Any], Any],
          on_result: Callable[[Any, Any], None], max_deaths: int | None = None) -> None:
    """Keep every actor busy with shards from ``next_shard()`` (None: nothing to hand out now), started with
    ``submit(actor, shard)``; call ``on_result(shard, result)`` as each finishes. A shard whose actor died is
    rerun on a replacement actor; an error raised by the work itself is re-raised here as it was raised there."""
    ray, pool = session.ray, session.pool
    in_flight: dict[Any, tuple[int, Any, Any]] = {}  # ref -> (actor index, actor handle, shard)
    retry: deque = deque()
    deaths, limit = 0, max_deaths if max_deaths is not None else 3 * len(pool.actors) + 2
    while True:
        for index in range(len(pool.actors)):
            while sum(1 for i, _, _ in in_flight.values() if i == index) < SHARDS_IN_FLIGHT:
                shard = retry.popleft() if retry else next_shard()
                if shard is None:
                    break
                in_flight[submit(pool.actors[index], shard)] = (index, pool.actors[index], shard)
        if not in_flight:
            return
        ready, _ = ray.wait(list(in_flight), num_returns=1)
        index, actor, shard = in_flight.pop(ready[0])
        try:
            result = ray.get(ready[0])
        except ray.exceptions.RayActorError as exc:
            if pool.actors[index] is actor:  # the first of its shards to fail: replace the actor once
                deaths += 1
                logger.warning("a Ray worker died (%s); its shards run again on a fresh one", type(exc).__name__)
                if deaths > limit:
                    raise ScaleOutError(f"Ray workers died {deaths} times (last running shard {_label(shard)}); "
                                        "look for workers killed for memory, then re-run the same command to "
                                        "resume") from None
                pool.replace(index)
            retry.append(shard)
            continue
        except ray.exceptions.RayTaskError as exc:
            cause = getattr(exc, "cause", None)
            raise (cause if isinstance(cause, Exception) else exc) from None
        on_result(shard, result)


def _label(shard: Any) -> str:
    text = repr(shard)
    return text if len(text) < 80 else text[:77] + "..."


def run_episodes_scaled(session: RaySession, seeds: Sequence[int], log: str | None = None, resume: bool = False,
                        batch_size: int = 16, on_record: Callable[[dict], None] | None = None,
                        profiles: Sequence[str | None] | None = None, **make_options: Any) -> list[dict]:
    """:func:`mtad_env.episode_runs.run_episodes` on the session's workers (same arguments, same log, same
    return value); ``on_record(record)`` is called for every new episode, in log order."""
    import json

    from mtad_env.episode_log import append_lines
    from mtad_env.episode_runs import _key, logged_episodes

    jobs = [_key(seed, profile) for seed, profile in zip(seeds, profiles or [None] * len(seeds))]
    records = logged_episodes(log, jobs) if resume else {}
    todo = [job for job in jobs if job not in records]
    batch = max(1, min(batch_size, len(todo) or 1))
    shards = deque(enumerate(todo[start:start + batch] for start in range(0, len(todo), batch)))
    done: dict[int, list[str]] = {}
    written = [0]

    def on_result(shard: tuple[int, list], lines: list[str]) -> None:
        done[shard[0]] = lines
        while written[0] in done:  # shards are written in order, so the log does not depend on the workers
            ready = done.pop(written[0])
            if log:
                append_lines(log, ready)
            for line in ready:
                record = json.loads(line)
                records[_key(record["reset_seed"], record["user_profile"] if profiles else None)] = record
                if on_record is not None:
                    on_record(record)
            written[0] += 1

    if log:
        os.makedirs(os.path.dirname(os.path.abspath(log)), exist_ok=True)
    drive(session, lambda: shards.popleft() if shards else None,
          lambda actor, shard: actor.episodes.remote(make_options, shard[1]), on_result)
    return [records[job] for job in jobs]


def run_episodes_distributed(options: ScaleOptions, seeds: Sequence[int], **kwargs: Any) -> list[dict]:
    """:func:`run_episodes_scaled` in a session opened for ``options`` (the Python API beside
    ``simulate --workers N [--ray-address ADDR]``)."""
    with ray_session(options) as session:
        return run_episodes_scaled(session, seeds, **kwargs)
