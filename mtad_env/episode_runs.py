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


def logged_episodes(path: str | Path | None, seeds: set[int]) -> dict[int, dict]:
    """Episodes of an earlier, interrupted run (by reset seed) found in ``path``; drops a torn last line."""
    if not path or not Path(path).exists():
        return {}
    drop_torn_tail(path)
    return {r["reset_seed"]: r for r in load_episodes(path) if r.get("reset_seed") in seeds}


def run_episodes(seeds: Sequence[int], log: str | Path | None = None, resume: bool = False, batch_size: int = 16,
                 on_episode: Callable[[Any, dict], None] | None = None, progress: bool = True,
                 desc: str = "episodes", **make_options: Any) -> list[dict]:
    """Play one episode per seed with environments built by ``mtad_env.make(**make_options)``, appending each
    finished episode to ``log``; returns the episode records in the order of ``seeds``.

    ``on_episode(env, info)`` is called after every new episode (the CLI prints it); ``resume`` keeps the
    episodes of ``seeds`` already in ``log`` and plays only the missing ones.
    """
    from tqdm.auto import tqdm

    from mtad_env.factory import make, rollout_many

    records = logged_episodes(log, set(seeds)) if resume else {}
    todo = [s for s in seeds if s not in records]
    batch = max(1, min(batch_size, len(todo) or 1))
    envs = [make(log_dir=str(log) if log else None, **make_options) for _ in range(batch if todo else 0)]
    with tqdm(total=len(seeds), initial=len(records), desc=desc, disable=not progress or len(seeds) < 5,
              file=sys.stderr, leave=False) as bar:
        for start in range(0, len(todo), batch):
            chunk_seeds = todo[start:start + batch]
            chunk = envs[:len(chunk_seeds)]
            for env, seed, info in zip(chunk, chunk_seeds, rollout_many(chunk, seeds=chunk_seeds)):
                records[seed] = env.episode_record(info["end_reason"], info["episode_metrics"])
                if on_episode is not None:
                    on_episode(env, info)
            bar.update(len(chunk))
    return [records[s] for s in seeds]
