"""An assistant that acts with a trained stable-baselines3 policy over the environment's feature vector."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from agents.base import Assistant
from mtad_env.observations import parse_task_text
from mtad_env.system_acts import ACTS, TaskState, render


class SB3Assistant(Assistant):
    """Wraps an SB3 model trained on :class:`mtad_env.AssistantEnv` (Box features -> Discrete acts).

    Args:
        model: a stable-baselines3 model, or a path to a saved ``.zip`` with ``algorithm`` naming its class.
        mode: ``"acts"`` returns the act index; ``"text"`` renders it with the templates.
        deterministic: take the policy's most likely act.
    """

    name = "sb3"

    def __init__(self, model: Any, mode: str = "acts", deterministic: bool = True, algorithm: str = "PPO",
                 seed: int | None = None) -> None:
        if isinstance(model, (str, Path)):
            import stable_baselines3

            model = getattr(stable_baselines3, algorithm).load(str(model), device="cpu")
        self.model, self.mode, self.deterministic = model, mode, deterministic
        self.rng = np.random.default_rng(seed)

    def __call__(self, observation: dict[str, Any]) -> Any:
        act, _ = self.model.predict(np.asarray(observation["features"], dtype=np.float32),
                                    deterministic=self.deterministic)
        act = int(np.asarray(act).item())
        if self.mode == "acts":
            return act
        state = TaskState(parse_task_text(observation["task"]), step=int(observation["step"]) - 1)
        return render(ACTS[act], state, observation["text"], self.rng)
