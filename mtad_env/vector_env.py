"""``BatchedUsersVecEnv``: N assistant environments whose simulated users speak in one batch per step.

A stable-baselines3 ``VecEnv`` (a :class:`~stable_baselines3.common.vec_env.DummyVecEnv` whose ``step`` and
``reset`` are split in two): every environment first applies its assistant's act, then the users of all the
environments that wait for one speak together, one :meth:`~mtad_env.user_simulator.UserSimulator.act_many` call per
simulator class. LM users over one pack thus decode in one batched forward per token (rows = dialogues x
adapters) instead of one decode per environment, each keeping its own dialogue's turn cache and sampling settings.
A user's turn is the one its simulator would give alone, so an episode is the same in this vector environment as in
``DummyVecEnv`` (same seeds, same actions; tested). Finished episodes are reset automatically, SB3 style: the
episode's last observation is in ``infos[i]["terminal_observation"]`` and the new episode's first user turns are
batched as well.

Example:
    >>> from mtad_env.vector_env import make_batched_vec_env
    >>> from stable_baselines3.common.vec_env import VecMonitor
    >>> venv = VecMonitor(make_batched_vec_env(4, simulator="agenda", seed=0))
    >>> venv.reset().shape
    (4, 41)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from copy import deepcopy
from typing import Any

import numpy as np
from stable_baselines3.common.vec_env import DummyVecEnv
from stable_baselines3.common.vec_env.base_vec_env import VecEnvObs, VecEnvStepReturn

from mtad_env.assistant_env import AssistantEnv
from mtad_env.errors import InvalidValueError


class BatchedUsersVecEnv(DummyVecEnv):
    """An SB3 vector environment of :class:`~mtad_env.assistant_env.AssistantEnv` instances (unwrapped: wrap the
    vector environment itself, e.g. in ``VecMonitor``) whose users' turns are decoded together.

    Args:
        env_fns: functions that each build a new ``AssistantEnv``.
    """

    def __init__(self, env_fns: Sequence[Callable[[], AssistantEnv]]) -> None:
        super().__init__(list(env_fns))
        wrong = [type(env).__name__ for env in self.envs if not isinstance(env, AssistantEnv)]
        if wrong:
            raise InvalidValueError(f"BatchedUsersVecEnv needs unwrapped AssistantEnv instances, got {wrong[0]}; "
                                    "wrap the vector environment instead (VecMonitor, VecNormalize)")

    def reset(self) -> VecEnvObs:
        for i, env in enumerate(self.envs):
            env.begin_reset(seed=self._seeds[i], options=self._options[i] or None)
        self._users_speak(range(self.num_envs))
        for i, env in enumerate(self.envs):
            self.reset_infos[i] = dict(env.cta.infos["assistant"])
            self._save_obs(i, env.observation())
        self._reset_seeds()
        self._reset_options()
        return self._obs_from_buf()

    def step_wait(self) -> VecEnvStepReturn:
        turns = [env.assistant_turn(action) for env, action in zip(self.envs, self.actions)]
        waiting = [i for i, (_, terminated, truncated, _) in enumerate(turns) if not (terminated or truncated)]
        ended = dict(zip(waiting, self._users_speak(waiting)))
        finished = []
        for i, (reward, terminated, truncated, info) in enumerate(turns):
            if ended.get(i):
                terminated, info = True, dict(self.envs[i].cta.infos["assistant"])
            self.buf_rews[i], self.buf_dones[i] = reward, terminated or truncated
            info["TimeLimit.truncated"] = truncated and not terminated
            self.buf_infos[i] = info
            if self.buf_dones[i]:
                info["terminal_observation"] = self.envs[i].observation()
                self.envs[i].begin_reset()
                finished.append(i)
            else:
                self._save_obs(i, self.envs[i].observation())
        self._users_speak(finished)  # the new episodes' first user turns, in one batch too
        for i in finished:
            self.reset_infos[i] = dict(self.envs[i].cta.infos["assistant"])
            self._save_obs(i, self.envs[i].observation())
        return self._obs_from_buf(), np.copy(self.buf_rews), np.copy(self.buf_dones), deepcopy(self.buf_infos)

    def _users_speak(self, indices: Sequence[int] | range) -> list[bool]:
        """Let the users of environments ``indices`` take their turn together; whether each turn ended its
        episode."""
        from mtad_env.factory import user_turns

        indices = list(indices)
        actions = user_turns([self.envs[i].cta for i in indices])
        return [self.envs[i].user_turn(action) for i, action in zip(indices, actions)]


def make_batched_vec_env(n_envs: int, seed: int | None = None, **env_kwargs: Any) -> BatchedUsersVecEnv:
    """``n_envs`` :class:`AssistantEnv` (``env_kwargs``: profile, simulator, split, ...) in a
    :class:`BatchedUsersVecEnv`, environment ``i`` seeded with ``seed + i`` at the first reset (as SB3's
    ``make_vec_env`` does). LM simulators given by name share one loaded pack."""
    if not isinstance(n_envs, int) or n_envs < 1:
        raise InvalidValueError(f"n_envs={n_envs!r} must be a positive integer")
    venv = BatchedUsersVecEnv([lambda: AssistantEnv(**env_kwargs) for _ in range(n_envs)])
    if seed is not None:
        venv.seed(seed)
    return venv
