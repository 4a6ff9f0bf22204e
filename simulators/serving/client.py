"""The client side of the user server: chat messages from a turn history, and a :class:`UserSimulator` whose turns
come from ``mtad-env serve`` over HTTP, so that the environment's users can be served from another process."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np

from agents.http_assistant import EndpointError, chat_completions_url, post_json
from mtad_env.domain import Task
from mtad_env.profiles import Profile
from mtad_env.user_simulator import Turn, UserAction, UserSimulator


def task_message(task: Task | str) -> dict[str, str]:
    """The system message that names the task: its id (a shipped task) or the whole task object."""
    if isinstance(task, str):
        return {"role": "system", "content": task}
    return {"role": "system", "content": json.dumps({"task": task.to_dict()})}


def user_messages(task: Task | str, history: Sequence[Turn]) -> list[dict[str, Any]]:
    """The request messages for the next user turn after ``history`` (turns ``{"intent", "user", "system"}``):
    the user's turns as ``assistant`` messages carrying their intent, the responses as ``user`` messages."""
    messages: list[dict[str, Any]] = [task_message(task)]
    for turn in history:
        messages.append({"role": "assistant", "content": turn["user"], "mtad": {"intent": turn["intent"]}})
        messages.append({"role": "user", "content": turn["system"]})
    return messages


class RemoteUserSimulator(UserSimulator):
    """A simulated user answered by a user server (``mtad-env serve``).

    Args:
        base_url: the server, e.g. ``http://127.0.0.1:8000``. simulator: the model name's simulator part
            (``agenda``, ``sts``, ``jts``, ``mtad``, ``mtad-la``, ``sampling``); the profile part comes from
            ``reset``. sampling: extra request fields (``temperature``, ``top_p``, ``max_tokens``, ``mtad``).
        timeout, retries, api_key_env: as for :class:`agents.http_assistant.OpenAICompatibleAssistant`.
    """

    def __init__(self, base_url: str, simulator: str = "agenda", timeout: float = 60.0, retries: int = 2,
                 api_key_env: str | None = None, **sampling: Any) -> None:
        self.url, self.simulator = chat_completions_url(base_url), simulator
        self.name = f"remote-{simulator}"
        self.timeout, self.retries, self.api_key_env, self.sampling = timeout, retries, api_key_env, sampling
        self.model, self.task, self.seed = f"{simulator}/regular", None, 0

    def reset(self, profile: Profile, task: Task, rng: np.random.Generator) -> None:
        self.model, self.task = f"{self.simulator}/{profile}", task
        self.seed = int(rng.integers(2**62))

    def act(self, history: Sequence[Turn]) -> UserAction:
        if self.task is None:
            raise RuntimeError("call reset(profile, task, rng) before act()")
        payload = {"model": self.model, "messages": user_messages(self.task, history), "seed": self.seed,
                   **self.sampling}
        reply = post_json(self.url, payload, self.timeout, self.retries, 0.5, self.api_key_env)
        try:
            message = reply["choices"][0]["message"]
            return UserAction(message["mtad"]["intent"], message["content"])
        except (KeyError, IndexError, TypeError):
            raise EndpointError(f"endpoint {self.url} returned no choices[0].message with content and "
                                "mtad.intent") from None
