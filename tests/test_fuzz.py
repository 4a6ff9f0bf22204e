"""Property-based fuzzing of the CTA environment (hypothesis): random profiles, splits, action modes, oracle
intents, turn limits and action sequences, valid and invalid.

Invariants checked on every episode:
- an invalid action raises InvalidValueError (EpisodeEndedError once the episode is over), never anything else,
  and changes nothing: the next valid action works;
- agents alternate, the user first; every episode ends within ``max_turns`` user turns (truncated only at the limit);
- every observation lies in ``env.observation_space(agent)``, every reward is finite;
- the final info's episode metrics are None or finite and in range;
- ``load_episodes(log_dir)`` holds one record per finished episode, matching its final info.

Environments are cached per configuration (``make`` costs ~20-50 ms) and share one NLU classifier.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import mtad_env
from agents.template_assistant import TemplateAssistant
from mtad_env import EpisodeEndedError, InvalidValueError
from mtad_env.intents import INTENTS
from mtad_env.nlu import IntentClassifier
from mtad_env.observations import MAX_RESPONSE_CHARS, MAX_UTTERANCE_CHARS, NO_INTENT
from mtad_env.system_acts import ACTS

SPLITS = ("train", "valid", "test", "diy")
PROFILES = [str(p) for p in mtad_env.single_trait_profiles() + mtad_env.multi_trait_profiles()]
UNIT_METRICS = ("cooperativeness", "exploration", "tolerance", "emotion", "fluency", "repetition")
TRAITS = {"engagement", "verbosity", *UNIT_METRICS}
END_REASONS = {"stop_by_trait", "stop_after_errors", "task_completed", "turn_limit", "degenerate_user_turn"}
BIG = "x" * 100_000
BIG_UNICODE = "日本語のテキスト🙂" * 10_000  # 100,000 characters, 4-byte code points included
FUZZ = dict(deadline=None, derandomize=True, database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# -- action pools -------------------------------------------------------------------------------------------------
ODD_TEXTS = ["next", "  next  ", "日本語で次のステップ", "🙂🙂🙂", "\x00", "\u200b", "tab\tand\nnewline\r\n",
             "Ünïcödé ÇA VA ?", "Step 3: do it", "stop", "a" * MAX_UTTERANCE_CHARS, "é" * MAX_UTTERANCE_CHARS,
             "\U0001f600" * 50, "<degenerate>", "null", "{'intent': 1}"]
BLANK = ["", " ", "\n\t \r", "\u3000\u2028\u2029", "\x0b\x0c"]
text = st.text(max_size=40).map(lambda s: s if s.strip() else f"x{s}")
utterances = st.one_of(text, st.sampled_from(ODD_TEXTS))
intents = st.one_of(st.integers(0, NO_INTENT - 1), st.sampled_from(INTENTS),
                    st.integers(0, NO_INTENT - 1).map(np.int64))
bad_intents = st.sampled_from([-1, NO_INTENT + 1, 10**30, -(10**30), True, False, 3.0, float("nan"), "16", "Next",
                               "<degenerate>", "", None, [1], {"intent": 1}, np.float32(2.0), np.int64(-1)])
bad_utterances = st.sampled_from([*BLANK, "a" * (MAX_UTTERANCE_CHARS + 1), BIG, BIG_UNICODE, None, 3, b"next",
                                  ["next"], {"text": "next"}])
bad_user_actions = st.one_of(
    st.builds(lambda i, u: {"intent": i, "utterance": u}, bad_intents, utterances),
    st.builds(lambda i, u: {"intent": i, "utterance": u}, intents, bad_utterances),
    st.sampled_from([None, 3, "next", ["next", "next"], ("next", "next"), {}, {"intent": 1},
                     {"utterance": "next"}, {"intent": 1, "utterance": "next", "extra": 0}, BIG, 2.5]),
)
assistant_texts = st.one_of(text, st.sampled_from(ODD_TEXTS + ["a" * MAX_RESPONSE_CHARS, "é" * MAX_RESPONSE_CHARS,
                                                               "show_next_step", "Bye!", "Here is a fun fact: hi"]))
bad_texts = st.sampled_from([*BLANK, "a" * (MAX_RESPONSE_CHARS + 1), BIG, BIG_UNICODE, None, 3, -1, 3.5,
                             float("inf"), ["hi"], ("hi",), b"hi", {"text": "hi"}, True, np.int64(2)])
acts = st.one_of(st.integers(0, len(ACTS) - 1), st.sampled_from(ACTS),
                 st.integers(0, len(ACTS) - 1).map(np.int64), st.integers(0, len(ACTS) - 1).map(np.int32),
                 st.integers(0, len(ACTS) - 1).map(lambda k: np.array([k])),
                 st.integers(0, len(ACTS) - 1).map(np.array))
bad_acts = st.sampled_from([-1, len(ACTS), 10**20, -(10**20), None, 3.5, float("nan"), True, False, "Show_next_step",
                            "show next step", "", BIG, BIG_UNICODE, [1], (1,), np.array([1, 2]), np.array([]),
                            np.float32(2.0), {"act": 1}, b"goodbye"])


# -- environments -------------------------------------------------------------------------------------------------
@dataclass
class _Slot:
    env: Any
    log: Path


@dataclass
class EnvPool:
    """Environments per (split, assistant_actions, oracle_intents, max_turns), each logging to its own file."""

    root: Path
    nlu: IntentClassifier = field(default_factory=IntentClassifier)
    slots: dict = field(default_factory=dict)

    def get(self, split: str, mode: str, oracle: bool, max_turns: int) -> _Slot:
        key = (split, mode, oracle, max_turns)
        if key not in self.slots:
            log = self.root / f"{split}-{mode}-{oracle}-{max_turns}.jsonl"
            env = mtad_env.make(split=split, assistant_actions=mode, oracle_intents=oracle, max_turns=max_turns,
                                seed=len(self.slots), log_dir=str(log), nlu=self.nlu)
            self.slots[key] = _Slot(env, log)
        return self.slots[key]


@pytest.fixture(scope="module")
def pool(tmp_path_factory) -> EnvPool:
    return EnvPool(tmp_path_factory.mktemp("fuzz-logs"))


# -- checks -------------------------------------------------------------------------------------------------------
def _snapshot(env) -> tuple:
    agent = env.agent_selection
    obs = env.observe(agent)
    return (tuple(env.agents), agent, obs["text"], obs["history"], obs["task"], int(obs["step"]), int(obs["intent"]),
            obs["features"].tobytes(), dict(env.terminations), dict(env.truncations), repr(env.infos))


def assert_refused(env, action: Any, error: type[Exception] = InvalidValueError) -> None:
    """``action`` raises ``error`` (any other exception propagates and fails the test) and changes nothing."""
    before = _snapshot(env)
    with pytest.raises(error):
        env.step(action)
    assert _snapshot(env) == before


def assert_observation_ok(env, agent: str) -> None:
    obs, reward, *_ = env.last()
    assert env.observation_space(agent).contains(obs), {k: v for k, v in obs.items() if k != "task"}
    assert math.isfinite(reward)


def assert_metrics_ok(metrics: dict, valid_turns: int) -> None:
    assert set(metrics) >= TRAITS
    for name, value in metrics.items():
        assert value is None or (isinstance(value, float) and math.isfinite(value)), (name, value)
    for name in UNIT_METRICS:
        assert metrics[name] is None or 0.0 <= metrics[name] <= 1.0, (name, metrics[name])
    assert metrics["verbosity"] is None or metrics["verbosity"] >= 0.0
    engagement = metrics["engagement"]
    assert engagement == valid_turns and float(engagement).is_integer()  # 0 only when no turn was valid
    assert valid_turns == 0 or engagement >= 1


def assert_final(env, info: dict, ended: tuple[bool, bool], user_turns: int, degenerate: bool,
                 profile: str | None) -> None:
    assert user_turns <= env.max_turns
    assert info["end_reason"] in END_REASONS
    terminated, truncated = ended
    assert terminated != truncated and truncated == (info["end_reason"] == "turn_limit")
    if info["end_reason"] == "turn_limit":
        assert user_turns == env.max_turns
    assert (info["end_reason"] == "degenerate_user_turn") == degenerate
    assert_metrics_ok(info["episode_metrics"], user_turns - degenerate)
    assert info["task_id"] == env.task.id and isinstance(info["task_completed"], bool)
    if profile is not None:
        assert info["profile"] == str(mtad_env.Profile.parse(profile))


def _logged(slot: _Slot) -> int:
    return len(mtad_env.load_episodes(slot.log)) if slot.log.exists() else 0


def assert_logged(slot: _Slot, info: dict, user_turns: int, before: int) -> None:
    records = mtad_env.load_episodes(slot.log)
    assert len(records) == before + 1
    last = records[-1]
    assert (last["end_reason"], last["user_profile"], last["task"]["id"]) == \
        (info["end_reason"], info["profile"], info["task_id"])
    assert len(last["dialog"]) == user_turns and last["episode_metrics"] == info["episode_metrics"]


# -- one fuzzed episode -------------------------------------------------------------------------------------------
def _user_action(data, env, obs, degenerate_ok: bool) -> Any:
    kinds = ["policy"] * 6 + ["random"] * 3 + ["named_tuple"] + ["degenerate"] * degenerate_ok
    kind = data.draw(st.sampled_from(kinds))
    if kind == "policy":
        return env.user_policy(obs)
    utterance = data.draw(utterances)
    if kind == "named_tuple":
        return mtad_env.UserAction(data.draw(st.sampled_from(INTENTS)), utterance)
    return {"intent": NO_INTENT if kind == "degenerate" else data.draw(intents), "utterance": utterance}


def _assistant_action(data, env, obs, assistant: TemplateAssistant) -> Any:
    kind = data.draw(st.sampled_from(["template"] * 5 + ["random", "step"]))
    if kind == "template":
        return assistant(obs)
    if env.assistant_actions == "acts":
        return data.draw(acts)
    if kind == "step":
        k = data.draw(st.integers(-1, len(env.task.methods) + 1))
        return f"Sure! Step {k + 1}: {env.task.methods[min(max(k, 0), len(env.task.methods) - 1)]}"
    return data.draw(assistant_texts)


def _invalid(data, env, agent: str) -> Any:
    if agent == "user":
        return data.draw(bad_user_actions)
    return data.draw(bad_acts if env.assistant_actions == "acts" else bad_texts)


def play_episode(data, slot: _Slot, options: dict, seed: int | None, profile: str | None) -> dict:
    """Play one episode with fuzzed actions and check every invariant; returns the final info.

    Everything random comes from ``data`` or from ``seed`` (None only on a fresh env), so that hypothesis can replay
    an example exactly."""
    env, logged = slot.env, _logged(slot)
    env.reset(seed=seed, options=options)
    assistant = TemplateAssistant(mode=env.assistant_actions, seed=seed)
    order, user_turns, degenerate, info, ended = [], 0, False, {}, None
    degenerate_ok = data.draw(st.integers(0, 3)) == 0  # a degenerate user turn ends the episode: keep it rarer
    while env.agents:
        agent = env.agent_selection
        assert_observation_ok(env, agent)
        obs, _, terminated, truncated, info = env.last()
        if terminated or truncated:
            ended = ended or (terminated, truncated)
            if data.draw(st.booleans()):
                assert_refused(env, {"intent": 1, "utterance": "next"} if agent == "user" else "Okay.",
                               EpisodeEndedError)
            env.step(None)
            continue
        for _ in range(data.draw(st.integers(0, 2))):
            assert_refused(env, _invalid(data, env, agent))
        if agent == "user":
            env.step(_user_action(data, env, obs, degenerate_ok))
        else:
            env.step(_assistant_action(data, env, obs, assistant))
        order.append(agent)
        if agent == "user":
            user_turns += 1
            degenerate = env.agent_selection == "user"  # a degenerate turn ends the episode at once
            assert user_turns <= env.max_turns
        else:
            measurements = env.infos["assistant"]["trait_measurements"]
            assert all(v is None or math.isfinite(v) for v in measurements.values())
    assert order == ["user", "assistant"] * (len(order) // 2) + ["user"] * (len(order) % 2)
    assert_final(env, info, ended, user_turns, degenerate, profile)
    event(f"end_reason={info['end_reason']}")  # shown by pytest --hypothesis-show-statistics
    assert_logged(slot, info, user_turns, logged)
    for action in ({"intent": 1, "utterance": "next"}, "Sure! Step 1: go.", 0, None):
        with pytest.raises(EpisodeEndedError):
            env.step(action)
    return info


def _profile_option(data) -> Any:
    kind = data.draw(st.sampled_from(["named", "k_traits", "sampled"]))
    if kind == "named":
        return data.draw(st.sampled_from(PROFILES))
    if kind == "k_traits":
        k = data.draw(st.integers(1, 8))
        return str(mtad_env.ProfileSampler(k=k).sample(np.random.default_rng(data.draw(st.integers(0, 2**32)))))
    return None  # the environment's default sampler draws it


config = st.fixed_dictionaries({"split": st.sampled_from(SPLITS), "mode": st.sampled_from(["text", "acts"]),
                                "oracle": st.booleans(), "max_turns": st.integers(1, 20)})


@settings(max_examples=700, **FUZZ)
@given(cfg=config, data=st.data())
def test_fuzzed_episodes_keep_every_invariant(pool, cfg, data):
    slot = pool.get(cfg["split"], cfg["mode"], cfg["oracle"], cfg["max_turns"])
    profile = _profile_option(data)
    options = {} if profile is None else {"profile": profile}
    if data.draw(st.booleans()):
        options["task"] = data.draw(st.sampled_from([t.id for t in mtad_env.load_tasks(cfg["split"])]))
    info = play_episode(data, slot, options, data.draw(st.integers(0, 2**32 - 1)), profile)
    if "task" in options:
        assert info["task_id"] == options["task"]


@settings(max_examples=80, **FUZZ)
@given(k=st.integers(1, 8), split=st.sampled_from(SPLITS), mode=st.sampled_from(["text", "acts"]),
       oracle=st.booleans(), max_turns=st.integers(1, 20), seed=st.integers(0, 2**32 - 1), data=st.data())
def test_k_trait_sampler_episodes_and_abandoned_episodes(pool, tmp_path_factory, k, split, mode, oracle, max_turns,
                                                         seed, data):
    log = tmp_path_factory.mktemp("sampler") / "episodes.jsonl"
    env = mtad_env.make(split=split, assistant_actions=mode, oracle_intents=oracle, max_turns=max_turns, seed=seed,
                        log_dir=str(log), profile_sampler=mtad_env.ProfileSampler(k=k), nlu=pool.nlu)
    slot = _Slot(env, log)
    for episode in range(5):
        if data.draw(st.booleans()):  # abandon an episode midway: reset() starts over and nothing is logged
            env.reset()
            env.step(env.user_policy(env.observe("user")))
        info = play_episode(data, slot, {}, None if episode == 0 else seed + episode, None)
        assert len(mtad_env.Profile.parse(info["profile"]).pairs) == k


def test_step_after_the_episode_ended_raises(pool):
    env = mtad_env.make(assistant="template", seed=0, nlu=pool.nlu)
    mtad_env.rollout(env)
    assert env.agents == []
    for action in (env.user_policy(env.observe("user")), env.assistant_policy(env.observe("assistant")), None):
        with pytest.raises(EpisodeEndedError, match="call reset"):
            env.step(action)
    mtad_env.rollout(env)  # and the env is usable again after reset
    assert env.agents == []


# -- regressions of bugs the fuzzing found ----------------------------------------------------------------------------
def test_array_intent_raises_invalid_value_error(pool):
    env = mtad_env.make(seed=0, nlu=pool.nlu)
    env.reset(seed=0)
    with pytest.raises(InvalidValueError):
        env.step({"intent": np.array([1, 2]), "utterance": "next"})


def test_refused_action_keeps_the_pending_reward(pool):
    env = mtad_env.make(profile="regular", seed=0, nlu=pool.nlu)
    env.reset(seed=0)
    env.step({"intent": "start", "utterance": "let's start"})
    env.step("Sure! Step 1: " + env.task.methods[0])
    env.step({"intent": "next", "utterance": "next"})
    reward = env.last()[1]
    assert reward == 1.0
    with pytest.raises(InvalidValueError):
        env.step(None)
    assert env.last()[1] == reward


def test_long_task_observations_stay_in_the_space(pool):
    env = mtad_env.make(profile="regular", seed=0, nlu=pool.nlu)
    task = {"id": "long", "title": "Long", "methods": [f"Do thing number {i}." for i in range(60)]}
    env.reset(seed=0, options={"task": task})
    env.step({"intent": "start", "utterance": "start"})
    env.step("Sure! Step 50: Do thing number 49.")
    assert env.observation_space("user").contains(env.observe("user"))


def test_task_dict_with_non_json_extras_is_refused_up_front(pool, tmp_path):
    env = mtad_env.make(assistant="template", seed=0, log_dir=str(tmp_path), nlu=pool.nlu)
    with pytest.raises(InvalidValueError):
        mtad_env.rollout(env, options={"task": {"id": "t", "title": "T", "methods": ["a", "b"], "tags": {"a"}}})
