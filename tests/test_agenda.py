"""The agenda simulator (Algorithm 1): each trait moves its own metric, the mechanisms of Tables 9-10, live use."""

import numpy as np
import pytest

from mtad_env.agenda_effects import ExplorationShift, RepetitionChoice, UtteranceThreshold, top1
from mtad_env.domain import load_tasks, reference_top_successors
from mtad_env.intents import NON_EXPLORATIVE
from mtad_env.profiles import Profile
from mtad_env.traits import dialogue_metrics
from simulators.agenda import AgendaUserSimulator
from simulators.dialogue_generator import ERROR_INTENTS, GenerationConfig, generate_dialogue


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


def test_tolerance_orders_its_metric_and_errors_scale_stopping(user):
    # Unfiltered, tolerance separates at a high error rate: stop factors 10 (low), 3 (Regular), 1 (high).
    low, regular, high = (_mean_metric(user, p, "tolerance", error_rate=0.5)
                          for p in ("tolerance=low", "regular", "tolerance=high"))
    assert low < regular < high
    history = [{"intent": "start", "user": "start", "system_error": True},
               {"intent": "next", "user": "next", "system_error": True},
               {"intent": "next", "user": "next", "system_error": False}]
    stop_share = {}
    for level in ("low", "neutral", "high"):
        user.reset(Profile.parse(f"tolerance={level}"), load_tasks("train")[0], np.random.default_rng(0))
        names, weights = user.intent_weights(history)
        stop_share[level] = weights[names.index("stop")] / weights.sum()
    assert stop_share["low"] > stop_share["neutral"] > stop_share["high"]


@pytest.mark.parametrize("level, minimum", [("low", 2), ("neutral", 3), ("high", 4)])
def test_minimum_turns_forbid_a_stop_until_that_many_turns_were_taken(user, level, minimum):
    # The paper's public code: Impatient 2, Regular 3, Patient 4 turns before a stop may be sampled.
    user.reset(Profile.parse(f"engagement={level}"), load_tasks("train")[0], np.random.default_rng(0))
    turn = {"intent": "next", "user": "next", "system_error": False}
    names, weights = user.intent_weights([turn] * (minimum - 1))
    assert weights[names.index("stop")] == 0.0
    names, weights = user.intent_weights([turn] * minimum)
    assert weights[names.index("stop")] > 0.0


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


def test_utterance_threshold_ranks_candidates_so_ties_split_at_the_half():
    values = np.array([2.0, 1.0, 1.0, 1.0])
    assert UtteranceThreshold().select(values, "low").tolist() == [False, True, True, False]
    assert UtteranceThreshold().select(values, "high").tolist() == [True, False, False, True]
    assert UtteranceThreshold().select(np.array([5.0]), "low").tolist() == [True]


def test_top1_is_one_intent_the_first_listed_among_equal_weights():
    assert top1({"next": 0.15, "yes": 0.4, "no": 0.4}) == "yes"
    assert reference_top_successors()["new_task"] == frozenset({"yes"})
    shifted = ExplorationShift(NON_EXPLORATIVE, 0.2).apply({"yes": 0.4, "no": 0.4, "question": 0.2}, "high")
    assert shifted["yes"] == pytest.approx(0.32) and shifted["no"] == pytest.approx(0.4 + 0.08 * 0.4 / 0.6)


def test_sequential_thresholds_narrow_what_the_previous_trait_left(user):
    task = load_tasks("train")[0]
    user.reset(Profile.parse("verbosity=low"), task, np.random.default_rng(0))
    concise = set(user._candidates["verbosity=low"]["question"].texts)
    user.reset(Profile.parse("verbosity=low,emotion=high"), task, np.random.default_rng(0))
    both = user._candidates["verbosity=low,emotion=high"]["question"].texts
    assert set(both) < concise and abs(len(both) - len(concise) / 2) <= 1


def test_high_repetition_reuses_words_of_earlier_utterances_of_the_same_intent(user):
    # Table 10's r_e = r_o = 1, the overlap draw winning as in the paper's public code: every turn of an intent said
    # before shares a word with what the user said for that intent.
    from mtad_env.metrics import words

    repeated = 0
    for seed in range(5):
        rec = generate_dialogue(user, load_tasks("train")[seed], Profile.parse("repetition=high"),
                                np.random.default_rng(seed))
        for k, turn in enumerate(rec["dialog"]):
            earlier = {w for t in rec["dialog"][:k] if t["intent"] == turn["intent"] for w in words(t["user"])}
            if earlier:
                repeated += 1
                assert earlier & set(words(turn["user"])), (turn, earlier)
    assert repeated >= 5


def test_repetition_choice_overlap_wins_over_exact():
    choice = RepetitionChoice()
    rng = np.random.default_rng(0)
    assert choice.mode("high", rng) == "overlap"
    assert choice.mode("high", rng, has_overlap=False) == "exact"
    assert choice.mode("high", rng, has_exact=False, has_overlap=False) == "any"
    assert choice.mode("low", rng) == "avoid" and choice.mode("low", rng, has_overlap=False) == "any"


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


def test_forced_errors_hit_only_the_error_intents_at_the_configured_rate(user):
    # The paper's public code forces wrong answers on questions, fun facts and definitions only (0.2 by default).
    tasks = load_tasks("train")
    turns = [t for i in range(200) for t in generate_dialogue(
        user, tasks[i % len(tasks)], Profile(), np.random.default_rng(i), GenerationConfig(error_rate=0.3))["dialog"]]
    hit = [t["forced_system_error"] for t in turns if t["intent"] in ERROR_INTENTS]
    assert 0.25 < np.mean(hit) < 0.35
    assert not any(t["forced_system_error"] for t in turns if t["intent"] not in ERROR_INTENTS)
    everywhere = GenerationConfig(error_rate=0.3, error_intents=frozenset({"next"}))
    flags = [t["forced_system_error"] for i in range(50) for t in generate_dialogue(
        user, tasks[i], Profile(), np.random.default_rng(i), everywhere)["dialog"] if t["intent"] == "next"]
    assert 0.2 < np.mean(flags) < 0.4


def test_dialogue_ends_with_a_forced_stop_after_completion_or_at_the_turn_limit(user):
    tasks = load_tasks("train")
    for i in range(60):
        dialog = generate_dialogue(user, tasks[i], Profile.parse("engagement=high"), np.random.default_rng(i),
                                   GenerationConfig(max_turns=12))["dialog"]
        assert dialog[-1]["intent"] == "stop" and len(dialog) <= 12
        done = [k for k, t in enumerate(dialog) if t["task_completed"]]
        if done:
            assert done[0] >= len(dialog) - 2  # the turn after completion is the (forced) stop
