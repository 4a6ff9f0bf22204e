"""``AssistantEnv``: a single-agent Gymnasium view of the CTA dialogue in which the assistant learns.

The user is simulated inside; the agent picks one of the discrete system acts (``Discrete(15)``) and observes the
numeric feature vector (``Box(0, 1, (41,))``). It vectorises with stable-baselines3's ``make_vec_env``.

Example:
    >>> import mtad_env
    >>> env = mtad_env.AssistantEnv(profile="Patient")
    >>> obs, info = env.reset(seed=0)
    >>> obs.shape
    (41,)
"""

from __future__ import annotations

from copy import deepcopy
from typing import Any

import gymnasium
import numpy as np

from mtad_env.actions import user_action
from mtad_env.factory import make
from mtad_env.observations import N_FEATURES
from mtad_env.system_acts import ACTS
from mtad_env.user_simulator import UserAction


class AssistantEnv(gymnasium.Env):
    """The assistant's side of :class:`mtad_env.env.CTAEnv` as a ``gymnasium.Env``.

    Args:
        profile: fixed profile, or None to sample one per episode.
        simulator: user simulator name or instance.
        **make_kwargs: passed to :func:`mtad_env.make` (split, max_turns, reward_fn, profile_sampler, ...).
    """

    metadata = {"render_modes": ["ansi"]}

    def __init__(self, profile: Any = None, simulator: Any = "agenda", render_mode: str | None = None,
                 **make_kwargs: Any) -> None:
        make_kwargs.setdefault("split", "train")
        self.cta = make(profile=profile, simulator=simulator, assistant_actions="acts",
                        render_mode=render_mode, **make_kwargs)
        self.render_mode = render_mode
        self.observation_space = gymnasium.spaces.Box(0.0, 1.0, shape=(N_FEATURES,), dtype=np.float32)
        self.action_space = gymnasium.spaces.Discrete(len(ACTS))

    def user_turn(self, action: UserAction | None = None) -> bool:
        """Let the simulated user act (``action``: its turn, decoded elsewhere, e.g. in a batch with other
        environments' users; default: ask the simulator); True if that ended the episode."""
        self.cta.step(user_action(action) if action is not None else self.cta.user_policy(self.cta.observe("user")))
        return self.cta.agent_selection != "assistant"

    def reset(self, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
        self.begin_reset(seed, options)
        self.user_turn()
        return self.observation(), self.info()

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict]:
        reward, terminated, truncated, info = self.assistant_turn(action)
        if not (terminated or truncated) and self.user_turn():
            terminated = True
            info = self.info()
        return self.observation(), reward, terminated, truncated, info

    # The two halves of reset and step, for vector environments that let their users speak in one batch
    # (:class:`mtad_env.vector_env.BatchedUsersVecEnv`); reset and step above are begin + user turn.
    def begin_reset(self, seed: int | None = None, options: dict | None = None) -> None:
        """Start a new dialogue; the user's first turn is still to come."""
        super().reset(seed=seed)
        self.cta.reset(seed=seed, options=options)

    def assistant_turn(self, action: Any) -> tuple[float, bool, bool, dict]:
        """Apply the assistant's act: ``(reward, terminated, truncated, info)``; unless the episode ended, the user
        speaks next. A user that ended the dialogue in its first turn (an LM user can) leaves nothing to act on:
        the step ends the episode with reward 0."""
        if self.cta.agent_selection != "assistant":
            return 0.0, True, False, self.info()
        self.cta.step(int(np.asarray(action).item()))
        reward = float(self.cta.rewards["assistant"])
        terminated, truncated = self.cta.terminations["assistant"], self.cta.truncations["assistant"]
        return reward, terminated, truncated, self.info()

    def info(self) -> dict:
        """The assistant's info now, a copy of its own: what was returned earlier is never changed later."""
        return deepcopy(self.cta.infos["assistant"])

    def observation(self) -> np.ndarray:
        """The assistant's feature vector now."""
        return self.cta.observe("assistant")["features"]

    def render(self) -> str | None:
        return self.cta.render()
