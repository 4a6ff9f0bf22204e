"""mtad-env: multi-trait user simulation (mTAD, EMNLP 2024 Findings) as a gym-style environment for task assistants.

Quick start::

    import mtad_env
    env = mtad_env.make(profile="exploration=high,verbosity=low", assistant="template", seed=0)
    info = mtad_env.rollout(env)
    info["episode_metrics"], info["end_reason"]
"""

from __future__ import annotations

import logging

from mtad_env.domain import Task, UtterancePool, find_task, load_tasks
from mtad_env.episode_log import load_episodes
from mtad_env.errors import (DataFormatError, EpisodeEndedError, InvalidValueError, MtadError, PackError,
                             ResetNeededError)
from mtad_env.metrics import MetricContext
from mtad_env.records import DEGENERATE, DialogueRecord, Turn
from mtad_env.profiles import Profile, ProfileSampler, multi_trait_profiles, single_trait_profiles
from mtad_env.traits import (Trait, dialogue_metrics, get_trait, register_trait, set_scorer, traits,
                             unregister_trait)
from mtad_env.user_simulator import UserAction, UserSimulator
from mtad_env.assistants import Assistant
from mtad_env.env import CTAEnv  # noqa: E402  (after the modules it builds on)
from mtad_env.factory import make, register_simulator, rollout, rollout_many
from mtad_env.packs import default_pack_path
from mtad_env.assistant_env import AssistantEnv

logging.getLogger(__name__).addHandler(logging.NullHandler())

__version__ = "0.1.0"
__all__ = [
    "DEGENERATE", "Assistant", "AssistantEnv", "CTAEnv", "DataFormatError", "DialogueRecord", "EpisodeEndedError",
    "InvalidValueError", "MetricContext", "MtadError", "PackError", "Profile", "ProfileSampler", "ResetNeededError",
    "Task", "Trait", "Turn", "UserAction", "UserSimulator", "UtterancePool", "default_pack_path",
    "dialogue_metrics", "find_task", "get_trait", "load_episodes", "load_tasks", "make",
    "multi_trait_profiles", "register_simulator", "register_trait", "rollout", "rollout_many", "set_scorer",
    "single_trait_profiles", "traits", "unregister_trait",
]
