"""Run many episodes into an episode log: batched in lockstep, one reset seed per episode, resumable after a kill.

``mtad-env simulate`` and the evaluation suite share this. Episode ``i`` is reset with its own seed whatever the
batch, so a run killed half-way continues with ``resume=True`` from the episodes already in its log and ends with
the same log as an uninterrupted run.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from mtad_env.episode_log import drop_torn_tail, load_episodes


Job = tuple[int, "str | None"]  # (reset seed, profile for that episode or None: the environment's own)


def _key(seed: int, profile: str | None) -> tuple[int, str | None]:
    from mtad_env.profiles import Profile

    return seed, None if profile is None else str(Profile.parse(profile))


def logged_episodes(path: str | Path | None, jobs: Sequence[Job]) -> dict[tuple[int, str | None], dict]:
    """Episodes of an earlier, interrupted run found in ``path``, keyed like ``jobs`` (by reset seed, and by
    profile where the job names one); drops a torn last line."""
    if not path or not Path(path).exists():
        return {}
    drop_torn_tail(path)
    wanted = {_key(*job) for job in jobs}
    found = {}
    for record in load_episodes(path):
        for key in ((record.get("reset_seed"), record.get("user_profile")), (record.get("reset_seed"), None)):
            if key in wanted:
                found[key] = record
    return found


def run_episodes(seeds: Sequence[int], log: str | Path | None = None, resume: bool = False, batch_size: int = 16,
                 on_episode: Callable[[Any, dict], None] | None = None, progress: bool = True,
                 desc: str = "episodes", profiles: Sequence[str | None] | None = None,
                 **make_options: Any) -> list[dict]:
    """Play one episode per seed with environments built by ``mtad_env.make(**make_options)``, appending each
    finished episode to ``log``; returns the episode records in the order of ``seeds``.

    ``profiles`` (aligned with ``seeds``) gives episodes their own profiles, so one batch can hold many profiles.
    ``on_episode(env, info)`` is called after every new episode (the CLI prints it); ``resume`` keeps the
    episodes already in ``log`` and plays only the missing ones.
    """
    from tqdm.auto import tqdm

    from mtad_env.factory import make, rollout_many

    jobs = [_key(seed, profile) for seed, profile in zip(seeds, profiles or [None] * len(seeds))]
    records = logged_episodes(log, jobs) if resume else {}
    todo = [job for job in jobs if job not in records]
    batch = max(1, min(batch_size, len(todo) or 1))
    envs = [make(log_dir=str(log) if log else None, **make_options) for _ in range(batch if todo else 0)]
    with tqdm(total=len(jobs), initial=len(jobs) - len(todo), desc=desc, disable=not progress or len(jobs) < 5,
              file=sys.stderr, leave=False) as bar:
        for start in range(0, len(todo), batch):
            chunk = todo[start:start + batch]
            options = [None if profile is None else {"profile": profile} for _, profile in chunk]
            infos = rollout_many(envs[:len(chunk)], seeds=[seed for seed, _ in chunk], options=options)
            for env, job, info in zip(envs, chunk, infos):
                records[job] = env.episode_record(info["end_reason"], info["episode_metrics"])
                if on_episode is not None:
                    on_episode(env, info)
            bar.update(len(chunk))
    return [records[job] for job in jobs]
