"""The agenda simulator (Algorithm 1): each trait moves its own metric, the mechanisms of Tables 9-10, live use."""

import numpy as np
import pytest

from mtad_env.agenda_effects import ExplorationShift, UtteranceThreshold
from mtad_env.domain import load_tasks
from mtad_env.intents import NON_EXPLORATIVE
from mtad_env.profiles import Profile
from mtad_env.traits import dialogue_metrics
from simulators.agenda import AgendaUserSimulator
from simulators.dialogue_generator import GenerationConfig, generate_dialogue


@pytest.fixture(scope="module")
def user():
    return AgendaUserSimulator()


def _mean_metric(user, profile, trait, n=250, error_rate=0.1):
    tasks = load_tasks("train")
    values = []
    for i in range(n):
        rec = generate_dialogue(user, tasks[i % len(tasks)], Profile.parse(profile), np.random.default_rng(i),
                                GenerationConfig(error_rate=error_rate))
        value = dialogue_metrics(rec["dialog"])[trait]
        if value is not None:
            values.append(value)
    return float(np.mean(values))


@pytest.mark.parametrize("trait", ["engagement", "cooperativeness", "exploration", "verbosity", "emotion",
                                   "fluency", "repetition"])
def test_each_trait_orders_its_own_metric_low_regular_high_before_filtering(user, trait):
    low = _mean_metric(user, f"{trait}=low", trait)
    regular = _mean_metric(user, "regular", trait)
    high = _mean_metric(user, f"{trait}=high", trait)
    assert low < regular < high


def test_tolerance_low_lowers_its_metric_and_errors_scale_stopping(user):
    assert _mean_metric(user, "tolerance=low", "tolerance", error_rate=0.3) < \
        _mean_metric(user, "regular", "tolerance", error_rate=0.3)
    history = [{"intent": "start", "user": "start", "system_error": True},
               {"intent": "next", "user": "next", "system_error": True},
               {"intent": "next", "user": "next", "system_error": False}]
    stop_share = {}
    for level in ("low", "neutral", "high"):
        user.reset(Profile.parse(f"tolerance={level}"), load_tasks("train")[0], np.random.default_rng(0))
        names, weights = user.intent_weights(history)
        stop_share[level] = weights[names.index("stop")] / weights.sum()
    assert stop_share["low"] > stop_share["neutral"] > stop_share["high"]


def test_engagement_minimum_turns_forbid_an_early_stop(user):
    user.reset(Profile.parse("engagement=high"), load_tasks("train")[0], np.random.default_rng(0))
    names, weights = user.intent_weights([{"intent": "next", "user": "next", "system_error": False}] * 3)
    assert weights[names.index("stop")] == 0.0


def test_exploration_shift_moves_mass_between_top1_and_explorative_intents():
    row = {"next": 0.4, "question": 0.2, "stop": 0.15, "fun_fact": 0.1}
    shift = ExplorationShift(NON_EXPLORATIVE, 0.2)
    high, low = shift.apply(row, "high"), shift.apply(row, "low")
    assert high["next"] == pytest.approx(0.4 - 0.08) and high["question"] == pytest.approx(0.2 + 0.08 * 2 / 3)
    assert low["next"] == pytest.approx(0.4 + 0.06) and low["fun_fact"] == pytest.approx(0.1 - 0.02)
    assert high["stop"] == low["stop"] == 0.15
    assert sum(high.values()) == pytest.approx(sum(row.values()))


def test_utterance_threshold_keeps_bottom_or_top_half():
    values = np.arange(10.0)
    assert UtteranceThreshold().select(values, "low").tolist() == [True] * 5 + [False] * 5
    assert UtteranceThreshold().select(values, "high").tolist() == [False] * 5 + [True] * 5
    assert UtteranceThreshold().select(values, "neutral").all()


def test_high_repetition_reuses_earlier_utterances_exactly(user):
    rec = generate_dialogue(user, load_tasks("train")[0], Profile.parse("repetition=high"),
                            np.random.default_rng(5))
    said = [t["user"] for t in rec["dialog"]]
    assert len(said) - len(set(said)) >= len(said) // 3


def test_live_act_starts_fills_slots_and_is_deterministic(user):
    task = load_tasks("test")[0]
    runs = []
    for _ in range(2):
        user.reset(Profile.parse("exploration=high"), task, np.random.default_rng(11))
        history = []
        for _ in range(12):
            intent, utterance = user.act(history)
            assert "{" not in utterance
            history.append({"intent": intent, "user": utterance, "system": "ok", "system_error": False})
        runs.append(history)
    assert runs[0][0]["intent"] == "start" and runs[0] == runs[1]


def test_generated_dialogue_follows_design_format(user):
    rec = generate_dialogue(user, load_tasks("train")[1], Profile(), np.random.default_rng(2), dialog_id="x")
    assert set(rec) == {"dialog_id", "task", "user_profile", "dialog"}
    assert rec["user_profile"] == "regular" and rec["task"]["methods"]
    for turn in rec["dialog"]:
        assert {"intent", "current_step", "user", "system", "forced_system_error"} <= set(turn)
    assert rec["dialog"][-1]["intent"] == "stop" or len(rec["dialog"]) == 20


def test_forced_error_rate_is_configurable(user):
    tasks = load_tasks("train")
    flags = [t["forced_system_error"] for i in range(200) for t in generate_dialogue(
        user, tasks[i % len(tasks)], Profile(), np.random.default_rng(i), GenerationConfig(error_rate=0.3))["dialog"]
        if t["intent"] != "stop"]
    assert 0.25 < np.mean(flags) < 0.35
