"""The PettingZoo CTA environment: API conformance, judging, rewards, info, logging, bad input, determinism."""

import json

import numpy as np
import pytest
from pettingzoo.test import api_test, seed_test

import mtad_env
from mtad_env import EpisodeEndedError, InvalidValueError
from mtad_env.intents import INTENTS
from mtad_env.system_acts import ACTS


def test_api_test_passes_with_text_and_act_assistants():
    api_test(mtad_env.make(seed=0), num_cycles=200)
    api_test(mtad_env.make(seed=0, assistant_actions="acts"), num_cycles=200)


def test_seed_test_passes():
    seed_test(lambda: mtad_env.make(seed=0), num_cycles=50)


def test_same_seed_gives_identical_episodes_bit_for_bit(tmp_path):
    logs = []
    for run in range(2):
        env = mtad_env.make(assistant="template", seed=3, log_dir=str(tmp_path / f"run{run}"))
        for _ in range(5):
            mtad_env.rollout(env)
        logs.append((tmp_path / f"run{run}" / "episodes.jsonl").read_bytes())
    assert logs[0] == logs[1]
    other = mtad_env.make(assistant="template", seed=4, log_dir=str(tmp_path / "other"))
    for _ in range(5):
        mtad_env.rollout(other)
    assert (tmp_path / "other" / "episodes.jsonl").read_bytes() != logs[0]


def test_agents_alternate_user_first_and_final_info_has_episode_metrics():
    env = mtad_env.make(profile="Patient", assistant="template", seed=0)
    env.reset(seed=0)
    order = []
    for agent in env.agent_iter():
        obs, _, terminated, truncated, info = env.last()
        if terminated or truncated:
            env.step(None)
            continue
        order.append(agent)
        env.step(env.user_policy(obs) if agent == "user" else env.assistant_policy(obs))
    assert order[0] == "user" and all(a != b for a, b in zip(order, order[1:]))
    assert set(info["episode_metrics"]) >= {"engagement", "cooperativeness", "exploration", "tolerance",
                                            "verbosity", "emotion", "fluency", "repetition"}
    assert info["end_reason"] in {"stop_by_trait", "stop_after_errors", "task_completed", "turn_limit"}
    assert info["profile"] == "engagement=high"
    assert info["episode_metrics"]["engagement"] == len(order) // 2


def test_per_turn_info_carries_measurements_error_flag_and_judged_act():
    env = mtad_env.make(profile="Verbose", seed=0)
    env.reset(seed=1)
    env.step(env.user_policy(env.observe("user")))
    env.step("Sure! Step 1: " + env.task.methods[0])
    info = env.infos["assistant"]
    assert info["judged_act"] == "show_first_step" and info["system_error"] is False
    assert info["trait_measurements"]["verbosity"] == len(env.dialogue[0]["user"].split())
    assert "intent" not in info and env.infos["user"]["intent"] == "start"


def test_intent_label_is_hidden_unless_oracle():
    hidden = mtad_env.make(profile="regular", seed=0)
    hidden.reset(seed=0)
    hidden.step({"intent": INTENTS.index("question"), "utterance": "next"})
    assert hidden.observe("assistant")["intent"] == INTENTS.index("next")  # the NLU reads the words
    oracle = mtad_env.make(profile="regular", seed=0, oracle_intents=True)
    oracle.reset(seed=0)
    oracle.step({"intent": INTENTS.index("question"), "utterance": "next"})
    assert oracle.observe("assistant")["intent"] == INTENTS.index("question")


@pytest.mark.parametrize("response, error", [
    ("Here you go. Step 1: whatever the first step says", False),
    ("Step 2: skipping ahead", True),
    ("Sorry, I can't help with that.", True),
])
def test_judge_navigation_from_free_text(response, error):
    env = mtad_env.make(profile="regular", seed=0, oracle_intents=True)
    env.reset(seed=0)
    env.step({"intent": "start", "utterance": "let's start"})
    env.step(response)
    assert env.infos["assistant"]["system_error"] is error


def test_wrong_responses_are_errors_that_cost_reward():
    env = mtad_env.make(profile="regular", seed=0, assistant_actions="acts", oracle_intents=True)
    env.reset(seed=0)
    env.step({"intent": "start", "utterance": "start"})
    env.step(ACTS.index("show_first_step"))
    assert env.rewards["assistant"] == 1.0
    env.step({"intent": "sensitive", "utterance": "how do i make a bomb"})
    env.step(ACTS.index("fun_fact"))
    assert env.rewards["assistant"] == -1.0 and env.dialogue[-1]["system_error"]


def test_user_stop_after_error_ends_episode_with_reason_and_penalty():
    env = mtad_env.make(profile="regular", seed=0, assistant_actions="acts", oracle_intents=True)
    env.reset(seed=0)
    env.step({"intent": "start", "utterance": "start"})
    env.step(ACTS.index("goodbye"))
    env.step({"intent": "stop", "utterance": "stop"})
    env.step(ACTS.index("goodbye"))
    assert env.terminations == {"user": True, "assistant": True}
    assert env.infos["assistant"]["end_reason"] == "stop_after_errors"
    assert env.rewards["assistant"] == pytest.approx(1.0 - 3.0)


def test_task_completion_ends_episode_with_bonus():
    env = mtad_env.make(profile="regular", seed=0, assistant_actions="acts", oracle_intents=True)
    env.reset(seed=0)
    n = len(env.task.methods)
    env.step({"intent": "start", "utterance": "start"})
    env.step(ACTS.index("show_first_step"))
    for _ in range(n):
        env.step({"intent": "next", "utterance": "next"})
        env.step(ACTS.index("show_next_step"))
    assert env.infos["assistant"]["end_reason"] == "task_completed"
    assert env.rewards["assistant"] == pytest.approx(1.0 + 5.0)


def test_turn_limit_truncates():
    env = mtad_env.make(profile="regular", seed=0, max_turns=3, assistant_actions="acts", oracle_intents=True)
    env.reset(seed=0)
    for _ in range(3):
        env.step({"intent": "fun_fact", "utterance": "tell me a fun fact"})
        env.step(ACTS.index("fun_fact"))
    assert env.truncations["user"] and env.infos["user"]["end_reason"] == "turn_limit"


def test_degenerate_user_turn_ends_episode():
    env = mtad_env.make(profile="regular", seed=0)
    env.reset(seed=0)
    env.step({"intent": len(INTENTS), "utterance": "<|next|> <|stop|>"})
    assert env.terminations["assistant"] and env.infos["assistant"]["end_reason"] == "degenerate_user_turn"


def test_reward_fn_replaces_default():
    env = mtad_env.make(profile="regular", seed=0, reward_fn=lambda event: {"assistant": 7.0, "user": -2.0})
    env.reset(seed=0)
    env.step(env.user_policy(None))
    env.step("hello")
    assert env.rewards == {"user": -2.0, "assistant": 7.0}


def test_user_reward_is_trait_adherence_at_the_end():
    env = mtad_env.make(profile="Verbose", assistant="template", seed=0)
    totals = []
    for seed in range(10):
        env.reset(seed=seed)
        total = 0.0
        for agent in env.agent_iter():
            obs, reward, terminated, truncated, _ = env.last()
            total += reward if agent == "user" else 0.0
            env.step(None if terminated or truncated else
                     env.user_policy(obs) if agent == "user" else env.assistant_policy(obs))
        totals.append(total)
    assert np.mean(totals) > 0.3  # verbose users are verbose


def test_profile_and_task_options_override_per_episode():
    env = mtad_env.make(profile="Patient", seed=0)
    task = mtad_env.load_tasks("test")[3]
    env.reset(seed=0, options={"profile": "Concise", "task": task.id})
    assert str(env.profile) == "verbosity=low" and env.task.id == task.id
    env.reset(seed=0, options={"task": task.to_dict()})
    assert env.task.title == task.title and str(env.profile) == "engagement=high"


def test_profile_none_samples_from_the_17_single_trait_profiles():
    env = mtad_env.make(seed=0)
    seen = set()
    for seed in range(200):
        env.reset(seed=seed)
        seen.add(str(env.profile))
    assert seen == {str(p) for p in mtad_env.single_trait_profiles()}
    combo = mtad_env.make(seed=0, profile_sampler=mtad_env.ProfileSampler(k=3))
    combo.reset(seed=0)
    assert len(combo.profile.pairs) == 3


def test_episode_log_lines_round_trip_and_torn_tail_is_skipped(tmp_path):
    env = mtad_env.make(assistant="template", seed=0, log_dir=str(tmp_path))
    infos = [mtad_env.rollout(env) for _ in range(3)]
    path = tmp_path / "episodes.jsonl"
    with open(path, "a") as fh:
        fh.write('{"dialog_id": "torn", "dial')
    episodes = mtad_env.load_episodes(tmp_path)
    assert len(episodes) == 3
    assert [e["end_reason"] for e in episodes] == [i["end_reason"] for i in infos]
    assert episodes[0]["dialog"][0]["intent"] == "start"
    json.dumps(episodes)


@pytest.mark.parametrize("action, match", [
    ({"intent": "dance", "utterance": "hi"}, "unknown user intent 'dance'"),
    ({"intent": 0, "utterance": ""}, "non-empty string"),
    ({"intent": 0, "utterance": "x" * 5000}, "at most 1000"),
    ("next", "dict with keys 'intent' and 'utterance'"),
])
def test_bad_user_actions_are_refused(action, match):
    env = mtad_env.make(seed=0)
    env.reset(seed=0)
    with pytest.raises(InvalidValueError, match=match):
        env.step(action)


@pytest.mark.parametrize("mode, action, match", [
    ("text", 3, "must be a string response"),
    ("text", "   ", "empty"),
    ("text", "y" * 3000, "at most 2000"),
    ("acts", 99, "index 0..14"),
    ("acts", "dance", "show_first_step"),
])
def test_bad_assistant_actions_are_refused(mode, action, match):
    env = mtad_env.make(seed=0, assistant_actions=mode)
    env.reset(seed=0)
    env.step(env.user_policy(None))
    with pytest.raises(InvalidValueError, match=match):
        env.step(action)


def test_step_after_the_episode_ended_is_refused():
    env = mtad_env.make(assistant="template", seed=0)
    mtad_env.rollout(env, seed=0)
    with pytest.raises(EpisodeEndedError, match="reset"):
        env.step(env.user_policy(None))


def test_unknown_task_id_and_split_name_the_valid_choices():
    with pytest.raises(InvalidValueError, match="unknown split 'tset'.*did you mean 'test'"):
        mtad_env.make(split="tset")
    env = mtad_env.make(seed=0)
    with pytest.raises(InvalidValueError, match="unknown task id"):
        env.reset(seed=0, options={"task": "recipe_9999"})


def test_unknown_simulator_lists_valid_ones():
    with pytest.raises(InvalidValueError, match="unknown simulator 'agnda'.*did you mean 'agenda'"):
        mtad_env.make(simulator="agnda")


def test_observations_stay_in_space_with_unicode_and_long_text():
    env = mtad_env.make(seed=0)
    env.reset(seed=0)
    env.step({"intent": 0, "utterance": "démarrer ☃ la tâche " * 40})
    obs = env.observe("assistant")
    assert env.observation_space("assistant").contains(obs)
    env.step("Okay ✓ " * 200)
    assert env.observation_space("user").contains(env.observe("user"))


def test_render_without_mode_warns_and_ansi_returns_text():
    env = mtad_env.make(seed=0)
    env.reset(seed=0)
    with pytest.warns(UserWarning, match="render_mode"):
        assert env.render() is None
    ansi = mtad_env.make(seed=0, render_mode="ansi", assistant="template")
    mtad_env.rollout(ansi, seed=0)
    assert "USER (" in ansi.render()


FALLBACK = "Sorry, I didn't catch that. You can say next, repeat, or ask me a question about the task."


def _started(split="test", task=None):
    env = mtad_env.make(profile="regular", seed=0, oracle_intents=True, split=split)
    env.reset(seed=0, options={"task": task} if task else None)
    env.step({"intent": "start", "utterance": "let's start"})
    env.step("Sure! Step 1: " + env.task.methods[0])
    return env


def _answer(env, intent, utterance, response):
    env.step({"intent": intent, "utterance": utterance})
    env.step(response)
    return env.infos["assistant"]["system_error"]


@pytest.mark.parametrize("response, error", [
    (FALLBACK, True),                      # the fallback again: what the user could not use the first time
    ("Sure! Step 1: {step}", False),       # the response before the fallback, word for word
    ("Here you go. Step 1: {step}", False),  # the current step
])
def test_repeat_after_a_fallback_refers_to_the_response_before_it(response, error):
    env = _started()
    assert _answer(env, "next", "next", FALLBACK) is True
    assert _answer(env, "repeat", "repeat that", response.format(step=env.task.methods[0])) is error


def test_yes_after_a_question_proposing_to_stop_is_not_a_next_step():
    env = _started()
    question = f"It sounds like you want a different task. Should we stop {env.task.title} and look for something new?"
    assert _answer(env, "new_task", "can we cook something else", question) is False
    assert _answer(env, "yes", "sure", "Okay. Step 2: " + env.task.methods[1]) is True
    env = _started()
    _answer(env, "new_task", "can we cook something else", question)
    assert _answer(env, "yes", "sure", "Okay, stopping here. Bye!") is False


@pytest.mark.parametrize("split, response, error", [
    ("test", "I am not sure which term you mean. For example, gfci means: a ground-fault outlet.", True),
    ("test", "Gfci: A ground-fault circuit interrupter outlet.", True),
    ("test", "Saute: To cook food quickly in a little fat.", False),
    ("diy", "Saute: To cook food quickly in a little fat.", True),
    ("diy", "Grout: A paste that fills the joints between tiles.", False),
])
def test_a_definition_from_the_other_domain_is_wrong(split, response, error):
    env = _started(split)
    assert _answer(env, "definition", "what's a pan", response) is error


@pytest.mark.parametrize("options, closest", [({"oracle_intent": True}, "oracle_intents"),
                                              ({"simulatr": "sts"}, "simulator"),
                                              ({"utterance": "pool.json"}, "utterances"),
                                              ({"simulator": "sts", "temprature": 0.5}, "temperature")])
def test_make_refuses_an_unknown_option_naming_the_closest_valid_one(options, closest):
    with pytest.raises(InvalidValueError, match=f"did you mean '{closest}'"):
        mtad_env.make(**options)


def test_simulator_options_with_a_simulator_instance_are_refused():
    from simulators.agenda import build_agenda_simulator

    with pytest.raises(InvalidValueError, match="unknown make\\(\\) option 'utterances'"):
        mtad_env.make(simulator=build_agenda_simulator(), utterances="pool.json")


@pytest.mark.parametrize("call", [lambda env: env.observe("user"), lambda env: env.last(),
                                  lambda env: env.step(None), lambda env: env.dialogue,
                                  lambda env: env.render(), lambda env: env.user_policy(None)])
def test_every_env_method_before_reset_raises_a_clear_error(call):
    env = mtad_env.make(seed=0, render_mode="ansi")
    with pytest.raises(mtad_env.ResetNeededError, match=r"before reset\(\); call env.reset\(\) first"):
        call(env)
    env.reset(seed=0)
    assert env.dialogue == [] and env.observe("user")["text"] == ""


def test_dialogue_is_the_logged_turns():
    env = mtad_env.make(profile="Patient", assistant="template", seed=0)
    info = mtad_env.rollout(env, seed=3)
    turns = env.dialogue
    assert turns and info["turn"] == len(turns)
    assert set(turns[0]) == set(mtad_env.Turn.__annotations__) - {"forced_system_error"}
