"""N assistant environments whose simulated users speak in one batch per step: ``BatchedUsersVecEnv`` for
stable-baselines3, ``BatchedUsersVectorEnv`` for Gymnasium's vector API.

A stable-baselines3 ``VecEnv`` (a :class:`~stable_baselines3.common.vec_env.DummyVecEnv` whose ``step`` and
``reset`` are split in two): every environment first applies its assistant's act, then the users of all the
environments that wait for one speak together, one :meth:`~mtad_env.user_simulator.UserSimulator.act_many` call per
simulator class. LM users over one pack thus decode in one batched forward per token (rows = dialogues x
adapters) instead of one decode per environment, each keeping its own dialogue's turn cache and sampling settings.
A user's turn is the one its simulator would give alone, so an episode is the same in this vector environment as in
``DummyVecEnv`` (same seeds, same actions; tested). Finished episodes are reset automatically, SB3 style: the
episode's last observation is in ``infos[i]["terminal_observation"]`` and the new episode's first user turns are
batched as well.

:class:`BatchedUsersVectorEnv` is the same for Gymnasium's vector API: a ``gymnasium.vector.SyncVectorEnv`` of the
same environments, with Gymnasium's autoreset modes (``next_step``, the default, ``same_step``, ``disabled``) and
its ``reset_mask``; its steps equal ``SyncVectorEnv``'s (tested).

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
from gymnasium.vector import AutoresetMode, SyncVectorEnv, VectorEnv
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
        _check_unwrapped(self.envs, "BatchedUsersVecEnv")

    def reset(self) -> VecEnvObs:
        for i, env in enumerate(self.envs):
            env.begin_reset(seed=self._seeds[i], options=self._options[i] or None)
        self._users_speak(range(self.num_envs))
        for i, env in enumerate(self.envs):
            self.reset_infos[i] = env.info()
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
                terminated, info = True, self.envs[i].info()
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
            self.reset_infos[i] = self.envs[i].info()
            self._save_obs(i, self.envs[i].observation())
        return self._obs_from_buf(), np.copy(self.buf_rews), np.copy(self.buf_dones), deepcopy(self.buf_infos)

    def _users_speak(self, indices: Sequence[int] | range) -> list[bool]:
        return users_speak(self.envs, indices)


def users_speak(envs: Sequence[AssistantEnv], indices: Sequence[int] | range) -> list[bool]:
    """Let the users of ``envs[i]`` for ``i`` in ``indices`` take their turn together (one batched decode per
    simulator class); whether each turn ended its episode."""
    from mtad_env.factory import user_turns

    indices = list(indices)
    actions = user_turns([envs[i].cta for i in indices])
    return [envs[i].user_turn(action) for i, action in zip(indices, actions)]


def _check_unwrapped(envs: Sequence[Any], vector_class: str) -> None:
    wrong = [type(env).__name__ for env in envs if not isinstance(env, AssistantEnv)]
    if wrong:
        raise InvalidValueError(f"{vector_class} needs unwrapped AssistantEnv instances, got {wrong[0]}; "
                                "wrap the vector environment instead")


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


class BatchedUsersVectorEnv(SyncVectorEnv):
    """A Gymnasium ``SyncVectorEnv`` of :class:`~mtad_env.assistant_env.AssistantEnv` instances whose users' turns
    are decoded together; ``reset`` and ``step`` return what ``SyncVectorEnv`` returns for the same environments.

    Args:
        env_fns: functions that each build a new ``AssistantEnv``.
        autoreset_mode: ``"next_step"`` (Gymnasium's default), ``"same_step"`` or ``"disabled"``.
    """

    def __init__(self, env_fns: Sequence[Callable[[], AssistantEnv]],
                 autoreset_mode: str | AutoresetMode = AutoresetMode.NEXT_STEP) -> None:
        modes = {m.name.lower(): m for m in AutoresetMode} | {m.value: m for m in AutoresetMode}
        if not isinstance(autoreset_mode, AutoresetMode) and autoreset_mode not in modes:
            raise InvalidValueError(f"autoreset_mode={autoreset_mode!r} is not one of {sorted(modes)}")
        super().__init__(list(env_fns), copy=True, autoreset_mode=modes.get(autoreset_mode, autoreset_mode))
        _check_unwrapped(self.envs, "BatchedUsersVectorEnv")

    def reset(self, *, seed: int | Sequence[int | None] | None = None,
              options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict[str, Any]]:
        seeds = [seed + i for i in range(self.num_envs)] if isinstance(seed, int) else \
            list(seed) if seed is not None else [None] * self.num_envs
        if len(seeds) != self.num_envs:
            raise InvalidValueError(f"{len(seeds)} seeds for {self.num_envs} environments")
        options = dict(options) if options else {}
        mask = np.asarray(options.pop("reset_mask", np.ones(self.num_envs, dtype=np.bool_)), dtype=np.bool_)
        if mask.shape != (self.num_envs,):
            raise InvalidValueError(f"reset_mask of shape {mask.shape}; expected ({self.num_envs},)")
        indices = [i for i in range(self.num_envs) if mask[i]]
        for i in indices:
            self.envs[i].begin_reset(seed=seeds[i], options=options or None)
            self._terminations[i] = self._truncations[i] = self._autoreset_envs[i] = False
        users_speak(self.envs, indices)
        infos: dict[str, Any] = {}
        for i in indices:
            self._env_obs[i] = self.envs[i].observation()
            infos = self._add_info(infos, self.envs[i].info(), i)
        return self._batched_observations(), infos

    def step(self, actions: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        next_step = self.autoreset_mode == AutoresetMode.NEXT_STEP
        resetting = [i for i in range(self.num_envs) if next_step and self._autoreset_envs[i]]
        if self.autoreset_mode == AutoresetMode.DISABLED and self._autoreset_envs.any():
            raise InvalidValueError("autoreset_mode='disabled': reset the finished environments "
                                    "(options={'reset_mask': ...}) before stepping them")
        turns = {i: self.envs[i].assistant_turn(a) for i, a in enumerate(actions) if i not in resetting}
        for i in resetting:
            self.envs[i].begin_reset()
        waiting = [i for i, (_, term, trunc, _) in turns.items() if not (term or trunc)]
        ended = dict(zip(waiting + resetting, users_speak(self.envs, waiting + resetting)))
        infos: dict[str, Any] = {}
        finished = []
        for i in range(self.num_envs):
            reward, terminated, truncated, info = turns.get(i, (0.0, False, False, None))
            if i in resetting or ended.get(i):
                info = self.envs[i].info()
                terminated = terminated or (i not in resetting)
            self._rewards[i], self._terminations[i], self._truncations[i] = reward, terminated, truncated
            self._env_obs[i] = self.envs[i].observation()
            if self.autoreset_mode == AutoresetMode.SAME_STEP and (terminated or truncated):
                infos = self._add_info(infos, {"final_obs": self._env_obs[i], "final_info": info}, i)
                self.envs[i].begin_reset()
                finished.append(i)
            else:
                infos = self._add_info(infos, info, i)
        users_speak(self.envs, finished)  # same_step: the new episodes' first user turns, in one batch too
        for i in finished:
            self._env_obs[i] = self.envs[i].observation()
            infos = self._add_info(infos, self.envs[i].info(), i)
        self._autoreset_envs = np.logical_or(self._terminations, self._truncations)
        return (self._batched_observations(), np.copy(self._rewards), np.copy(self._terminations),
                np.copy(self._truncations), infos)

    def _add_info(self, vector_infos: dict[str, Any], env_info: dict[str, Any], env_num: int) -> dict[str, Any]:
        """Gymnasium's info batching, except that a value that is sometimes None (``shown_step`` before any step
        was shown, a trait metric undefined for the dialogue) turns its array into an object array instead of
        failing on the first None after a number."""
        for key, value in env_info.items():
            array = vector_infos.get(key)
            if value is None and isinstance(array, np.ndarray) and array.dtype != object:
                vector_infos[key] = array.astype(object)
        return VectorEnv._add_info(self, vector_infos, env_info, env_num)

    def _batched_observations(self) -> np.ndarray:
        from gymnasium.vector.utils import concatenate

        self._observations = concatenate(self.single_observation_space, self._env_obs, self._observations)
        return deepcopy(self._observations)


def make_batched_vector_env(n_envs: int, autoreset_mode: str = "next_step", **env_kwargs: Any
                            ) -> BatchedUsersVectorEnv:
    """``n_envs`` :class:`AssistantEnv` (``env_kwargs`` as for :func:`make_batched_vec_env`) in a Gymnasium
    :class:`BatchedUsersVectorEnv`; seed it through ``reset(seed=...)``, Gymnasium style."""
    if not isinstance(n_envs, int) or n_envs < 1:
        raise InvalidValueError(f"n_envs={n_envs!r} must be a positive integer")
    return BatchedUsersVectorEnv([lambda: AssistantEnv(**env_kwargs) for _ in range(n_envs)], autoreset_mode)
