"""Each identifying metric on a hand-computed dialogue (paper Table 7)."""

import pytest

from mtad_env import metrics
from mtad_env.domain import reference_top_successors
from mtad_env.metrics import MetricContext
from mtad_env.traits import dialogue_metrics

TURNS = [
    {"intent": "start", "user": "start the task", "system_error": False},
    {"intent": "next", "user": "next step please", "system_error": True},
    {"intent": "question", "user": "how much sugar do i need for this step", "system_error": False},
    {"intent": "chit_chat", "user": "thanks for the help", "system_error": True},
    {"intent": "stop", "user": "stop", "system_error": False},
]


def test_engagement_counts_turns():
    assert metrics.engagement(TURNS) == 5


def test_cooperativeness_excludes_non_cooperative_intents():
    assert metrics.cooperativeness(TURNS) == pytest.approx(4 / 5)


def test_exploration_counts_non_top1_explorative_successors():
    # only next -> question is explorative: question is not non-explorative and next's top-1 successor is next
    assert metrics.exploration(TURNS, reference_top_successors()) == pytest.approx(1 / 5)


def test_exploration_top1_successor_is_not_explorative():
    turns = [{"intent": "start", "user": "a"}, {"intent": "next", "user": "b"}, {"intent": "next", "user": "c"}]
    assert metrics.exploration(turns, reference_top_successors()) == 0.0


def test_tolerance_counts_non_stop_turns_after_errors_over_all_turns():
    # errors after turns 2 and 4; turn 3 (question) continues, turn 5 stops
    assert metrics.tolerance(TURNS) == pytest.approx(1 / 5)


def test_tolerance_is_undefined_without_errors():
    assert metrics.tolerance([dict(t, system_error=False) for t in TURNS]) is None


def test_tolerance_reads_forced_system_error_of_generated_dialogues():
    turns = [{"intent": "next", "user": "x", "forced_system_error": True}, {"intent": "next", "user": "y"}]
    assert metrics.tolerance(turns) == pytest.approx(1 / 2)


def test_repetition_is_mean_overlap_with_previous_utterance():
    expected = (0 + 1 / 9 + 1 / 4 + 0) / 4
    assert metrics.repetition(TURNS) == pytest.approx(expected)
    assert metrics.repetition(TURNS[:1]) is None


def test_overlap_uses_word_sets_of_current_utterance():
    assert metrics.overlap("next next step", "next") == pytest.approx(1 / 2)
    assert metrics.overlap("", "next") == 0.0


def test_dialogue_metrics_covers_all_traits_with_stub_scores():
    ctx = MetricContext(score=lambda name, texts: [0.25 * (i % 5) for i, _ in enumerate(texts)])
    values = dialogue_metrics(TURNS, ctx)
    assert list(values)[:8] == ["engagement", "cooperativeness", "exploration", "tolerance", "verbosity",
                                "emotion", "fluency", "repetition"]
    assert values["verbosity"] == pytest.approx((0 + 0.25 + 0.5 + 0.75 + 1.0) / 5)
    assert values["engagement"] == 5


def test_verbosity_is_mean_words_per_utterance():
    assert dialogue_metrics(TURNS)["verbosity"] == pytest.approx((3 + 3 + 9 + 4 + 1) / 5)


def test_emotion_is_higher_for_positive_utterances():
    pos = [{"intent": "next", "user": "awesome i love this, great recipe"}]
    neg = [{"intent": "next", "user": "ugh this is terrible and annoying"}]
    assert dialogue_metrics(pos)["emotion"] > 0.7 > 0.3 > dialogue_metrics(neg)["emotion"]


def test_a_fallback_response_counts_as_a_system_error():
    # The paper (B.3.2) lists the fallback response among system errors; its public code counts it in the rate.
    turns = [{"intent": i, "user": "x", "system_error": False} for i in ("start", "fallback", "next", "stop")]
    assert metrics.turn_had_error(turns[1]) and not metrics.turn_had_error(turns[2])
    assert metrics.tolerance(turns) == pytest.approx(1 / 4)
