"""``mtad_env.make``: build the CTA environment from names, and play episodes with ``rollout``/``rollout_many``.

Simulators and assistants are looked up by name in :mod:`mtad_env.registry` (entry-point strings imported on first
use, as in Gymnasium), so this module imports nothing from the packages that implement them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from mtad_env.actions import user_action
from mtad_env.assistants import build_assistant
from mtad_env.env import CTAEnv
from mtad_env.errors import InvalidValueError, choices_message
from mtad_env.profiles import ProfileSampler
from mtad_env.registry import SIMULATORS
from mtad_env.user_simulator import UserAction, UserSimulator

logger = logging.getLogger(__name__)
SimulatorBuilder = Callable[..., UserSimulator]
# make()'s own arguments and the options it passes to the environment; every other option goes to the simulator.
MAKE_ARGUMENTS: tuple[str, ...] = ("profile", "simulator", "assistant", "split", "tasks", "max_turns", "seed",
                                   "log_dir")
ENV_OPTIONS: tuple[str, ...] = ("assistant_actions", "oracle_intents", "reward_fn", "profile_sampler",
                                "render_mode", "nlu")


def register_simulator(name: str, builder: SimulatorBuilder | str, replace: bool = False, **kwargs: Any) -> None:
    """Make ``make(simulator=name)`` build a user simulator with ``builder(**kwargs, **simulator_options)``;
    ``builder`` is a callable or a ``"module:attribute"`` entry point, imported when first used."""
    SIMULATORS.register(name, builder, replace=replace, **kwargs)


def build_simulator(simulator: str | UserSimulator, **options: Any) -> UserSimulator:
    """A user simulator from a registered name or an instance."""
    if isinstance(simulator, UserSimulator):
        if options:
            raise InvalidValueError(f"simulator options {sorted(options)} have no effect with a simulator instance "
                                    f"({type(simulator).__name__}); configure the instance instead")
        return simulator
    if simulator not in SIMULATORS:
        raise InvalidValueError(choices_message("simulator", simulator, SIMULATORS.names()))
    return SIMULATORS.build(simulator, **options)


def _check_options(simulator: str | UserSimulator, options: dict[str, Any]) -> None:
    """Refuse an option neither the environment nor the simulator takes, naming the closest valid one."""
    sim_options: tuple[str, ...] | None = ()
    if isinstance(simulator, str) and simulator in SIMULATORS:
        sim_options = SIMULATORS.entry(simulator).options()
    if sim_options is None:
        return
    valid = [*MAKE_ARGUMENTS, *ENV_OPTIONS, *sim_options]
    for key in options:
        if key not in valid:
            where = f" (simulator {simulator!r})" if isinstance(simulator, str) else ""
            raise InvalidValueError(choices_message(f"make() option{where}", key, valid))


def make(profile: Any = None, simulator: str | UserSimulator = "agenda", assistant: Any = None,
         split: str = "test", tasks: str | None = None, max_turns: int = 20, seed: int | None = None,
         log_dir: str | None = None, **options: Any) -> CTAEnv:
    """Build the CTA PettingZoo environment (see :mod:`mtad_env.env` for spaces, rewards and info).

    Args:
        profile: a profile (str, dict, Profile), or None to sample one per episode (``profile_sampler=``,
            default uniform over the 17 single-trait profiles).
        simulator: ``"agenda"`` or another registered name, or a :class:`UserSimulator`.
        assistant: None (you act for "assistant"), or a spec (``"template"``, ``"planllm:PATH"``, ``"http:URL"``)
            or an Assistant; it becomes ``env.assistant_policy``.
        split: task split (train, valid, test, diy); tasks: a task folder instead of the shipped tasks.
        max_turns: user turns before truncation (paper: 20). seed: seeds the environment's generator.
        log_dir: append every finished episode to ``<log_dir>/episodes.jsonl`` (or to a ``.jsonl`` path).
        **options: ``assistant_actions`` ("text" | "acts"), ``oracle_intents``, ``reward_fn``,
            ``profile_sampler``, ``render_mode``, and simulator options (``utterances``, ``pack``, ``weights``).
            An option that neither the environment nor the simulator takes raises :class:`InvalidValueError`
            naming the closest valid one (``oracle_intent`` -> ``oracle_intents``).

    Example:
        >>> import mtad_env
        >>> env = mtad_env.make(profile="exploration=high,verbosity=low", seed=0)
        >>> env.reset(seed=1)
        >>> env.agent_selection
        'user'
    """
    _check_options(simulator, options)
    env_options = {k: v for k, v in options.items() if k in ENV_OPTIONS}
    sim_options = {k: v for k, v in options.items() if k not in ENV_OPTIONS}
    sampler = env_options.pop("profile_sampler", None)
    if sampler is not None and not isinstance(sampler, ProfileSampler):
        sampler = ProfileSampler(sampler)
    user = build_simulator(simulator, **sim_options)
    env = CTAEnv(user, profile=profile, split=split, tasks=tasks, max_turns=max_turns, seed=seed,
                 log_dir=log_dir, profile_sampler=sampler, **env_options)
    if assistant is not None:
        env.assistant_policy = build_assistant(assistant, mode=env.assistant_actions, seed=seed)
    return env


def rollout(env: CTAEnv, assistant: Callable | None = None, seed: int | None = None,
            options: dict | None = None) -> dict[str, Any]:
    """Play one episode with ``env.user_policy`` and ``assistant`` (default ``env.assistant_policy``);
    returns the final info of the assistant (episode metrics, end reason, ...)."""
    policy = assistant or getattr(env, "assistant_policy", None)
    if policy is None:
        raise InvalidValueError("rollout needs an assistant: pass one, or make(..., assistant='template')")
    env.reset(seed=seed, options=options)
    _reset_policy(policy, seed)
    info: dict[str, Any] = {}
    for agent in env.agent_iter():
        obs, _, terminated, truncated, info = env.last()
        if terminated or truncated:
            env.step(None)
            continue
        env.step(env.user_policy(obs) if agent == "user" else policy(obs))
    return info


def rollout_many(envs: Sequence[CTAEnv], assistant: Callable | None = None, seed: int | None = None,
                 seeds: Sequence[int] | None = None, options: Sequence[dict | None] | None = None) -> list[dict]:
    """Play one episode in each environment in lockstep; LM users that share a pack decode their turns in one
    batch (rows = dialogues x adapters). Environment ``i`` is reset with ``seeds[i]`` (or ``seed + i``) and
    ``options[i]`` (e.g. ``{"profile": ...}``). Returns each environment's final assistant info."""
    if seeds is None:
        seeds = [None if seed is None else seed + i for i in range(len(envs))]
    for env, episode_seed, episode_options in zip(envs, seeds, options or [None] * len(envs)):
        env.reset(seed=episode_seed, options=episode_options)
        _reset_policy(assistant or getattr(env, "assistant_policy", None), episode_seed)
    infos: list[dict] = [{} for _ in envs]
    while any(env.agents for env in envs):
        waiting = [i for i, env in enumerate(envs) if env.agents and env.agent_selection == "user"
                   and not (env.terminations["user"] or env.truncations["user"])]
        for i, action in zip(waiting, user_turns([envs[i] for i in waiting])):
            envs[i].step(user_action(action))
        for i, env in enumerate(envs):
            while env.agents and (env.agent_selection == "assistant" or env.terminations[env.agent_selection]
                                  or env.truncations[env.agent_selection]):
                obs, _, terminated, truncated, info = env.last()
                infos[i] = info
                policy = assistant or env.assistant_policy
                env.step(None if terminated or truncated else policy(obs))
    return infos


def _reset_policy(policy: Any, seed: int | None) -> None:
    """Reseed an assistant per episode so that an episode does not depend on the ones before it."""
    if seed is not None and hasattr(policy, "reset"):
        policy.reset(seed=seed)


def user_turns(envs: Sequence[CTAEnv]) -> list[UserAction]:
    """The next turn of each environment's user (every one waiting to speak): one :meth:`UserSimulator.act_many`
    call per simulator class, so LM users of one pack decode in one batch."""
    by_class: dict[type, list[int]] = {}
    for i, env in enumerate(envs):
        by_class.setdefault(type(env.simulator), []).append(i)
    actions: list[UserAction] = [UserAction("", "")] * len(envs)
    for cls, members in by_class.items():
        turns = cls.act_many([envs[i].simulator for i in members], [envs[i].dialogue for i in members])
        for i, action in zip(members, turns):
            actions[i] = action
    return actions
