"""Pool lines that fit the task: domain and needed-item tags, and agenda users that keep to them."""

import json

import pytest

import mtad_env
from mtad_env.domain import UtterancePool, load_tasks
from mtad_env.intents import INTENTS
from mtad_env.errors import DataFormatError
from mtad_env.pool_task_fit import TAGS_PATH, PoolTaskFit
from simulators.agenda import AgendaConfig, AgendaUserSimulator

POOL = UtterancePool({intent: {f"{intent} please": 1} for intent in INTENTS} | {
    "next": {"next": 3, "the onions are browned what's next": 1, "i sanded the board what now": 1,
             "this smells delicious next": 1}}, "<test pool>")


def _fit(tmp_path, entries):
    path = tmp_path / "tags.json"
    path.write_text(json.dumps({"version": 1, "entries": entries}))
    return PoolTaskFit.shipped(POOL, path)


def _task(source, ingredients=()):
    return mtad_env.domain.Task(f"t-{source}-{'-'.join(ingredients)}", "A test task", ("Mix it.", "Serve it."),
                                tuple(ingredients), data_source=source)


def test_domain_and_needed_items_decide_which_tagged_lines_fit(tmp_path):
    fit = _fit(tmp_path, {"next": {"the onions are browned what's next": {"domain": "cooking", "needs": ["onions"]},
                                   "i sanded the board what now": {"domain": "diy", "needs": []},
                                   "this smells delicious next": {"domain": "cooking", "needs": []}}})
    entry = {t: POOL.entries["next"].index(t) for t in POOL.entries["next"]}
    with_onion = fit.unfit(_task("recipe", ["1 large onion, diced"]))["next"]
    assert with_onion == {entry["i sanded the board what now"]}  # "onions" is met by "onion"
    without = fit.unfit(_task("recipe", ["2 cups flour"]))["next"]
    assert without == {entry["i sanded the board what now"], entry["the onions are browned what's next"]}
    assert fit.unfit(_task("diy"))["next"] == {entry["the onions are browned what's next"],
                                                entry["this smells delicious next"]}
    assert fit.unfit(_task("gardening"))["next"] == set(entry[t] for t in entry if t not in ("next",))
    assert fit.unfit(_task("diy"))["start"] == frozenset()  # untagged lines fit every task


@pytest.mark.parametrize("tag", [{"domain": "kitchen", "needs": []}, {"domain": None, "needs": "onions"}])
def test_a_malformed_tag_is_refused_naming_the_entry(tmp_path, tag):
    with pytest.raises(DataFormatError, match="i sanded the board"):
        _fit(tmp_path, {"next": {"i sanded the board what now": tag}})


def _said(config, split, episodes=150):
    """Every (intent, line) agenda users of sampled profiles said in ``episodes`` dialogues of ``split``."""
    env = mtad_env.make(simulator=AgendaUserSimulator(config=config), assistant="template", split=split)
    said = []
    for seed in range(episodes):
        mtad_env.rollout(env, seed=seed)
        said += [(t["intent"], t["user"]) for t in env.dialogue]
    return said


def test_agenda_users_say_no_line_of_the_other_domain_where_the_whole_pool_would():
    pool = UtterancePool.load()
    fit = PoolTaskFit.shipped(pool, TAGS_PATH)
    diy_only = {(i, pool.entries[i][k]) for i, tags in fit.tags.items() for k, (d, _) in tags.items() if d == "diy"}
    cooking_only = {(i, pool.entries[i][k]) for i, tags in fit.tags.items() for k, (d, _) in tags.items()
                    if d == "cooking"}
    assert diy_only and cooking_only
    assert not set(_said(AgendaConfig(), "test")) & diy_only  # test recipes
    assert set(_said(AgendaConfig(task_fit=False), "test")) & diy_only  # the whole pool: some DIY lines appear
    assert not set(_said(AgendaConfig(), "diy")) & cooking_only
    assert set(_said(AgendaConfig(task_fit=False), "diy")) & cooking_only



def test_the_tags_hash_is_the_files_and_changes_with_it(tmp_path):
    import hashlib

    first = _fit(tmp_path, {"next": {"i sanded the board what now": {"domain": "diy", "needs": []}}})
    assert first.sha256 == hashlib.sha256((tmp_path / "tags.json").read_bytes()).hexdigest()
    second = _fit(tmp_path, {"next": {"i sanded the board what now": {"domain": "diy", "needs": ["board"]}}})
    assert second.sha256 != first.sha256


UNFIT_IN_RECIPES = "i screwed in all four legs of the table so what's the next step in the instructions"


def test_line_fits_reads_the_tags_whatever_the_case_and_punctuation():
    from mtad_env.pool_task_fit import line_fits, task_fit_of

    recipe, diy = load_tasks("test")[0], load_tasks("diy")[0]
    assert not line_fits(UNFIT_IN_RECIPES.upper() + "?", task_fit_of(recipe))
    assert not line_fits(UNFIT_IN_RECIPES, task_fit_of(diy))  # a DIY line, but this job has no table legs
    assert line_fits("Let's return to the project!", task_fit_of(diy))
    assert not line_fits("let's return to the project", task_fit_of(recipe))
    assert line_fits("next step please", task_fit_of(recipe))  # untagged lines fit every task


@pytest.mark.parametrize("task_fit", [True, False])
def test_lm_users_redraw_turns_unfit_for_their_task_together(micro_pack, monkeypatch, task_fit):
    """Dialogue 0 first says a DIY-only line in a recipe, then a fitting one; dialogue 1 always fits. With the fit on,
    only dialogue 0 is decoded again; a user that never fits keeps its last draw after TASK_FIT_DECODES."""
    import numpy as np

    import simulators.lm_simulator as lm
    from mtad_env.profiles import Profile
    from mtad_env.user_simulator import UserAction

    draws = {0: [UNFIT_IN_RECIPES, "what's next"], 1: ["next please"]}
    calls: list[int] = []

    def fake_decode(model, requests):
        calls.append(len(requests))
        return [UserAction("next", draws[r.dialogue].pop(0) if len(draws[r.dialogue]) > 1 else draws[r.dialogue][0])
                for r in requests]

    users = [lm.LMUserSimulator(micro_pack, task_fit=task_fit) for _ in range(2)]
    for i, user in enumerate(users):
        user.reset(Profile(), load_tasks("test")[0], np.random.default_rng(i))
        original = user.request
        user.request = lambda history, cache=True, original=original, i=i: setattr(
            request := original(history, cache), "dialogue", i) or request
    monkeypatch.setattr(lm, "decode_actions", fake_decode)
    actions = lm.LMUserSimulator.act_many(users, [[], []])
    if task_fit:
        assert [a.utterance for a in actions] == ["what's next", "next please"] and calls == [2, 1]
        assert users[0].decoding()["task_fit"] is True
        draws[0] = [UNFIT_IN_RECIPES]
        calls.clear()
        assert users[0].act([]).utterance == UNFIT_IN_RECIPES and calls == [1] * lm.TASK_FIT_DECODES
    else:
        assert [a.utterance for a in actions] == [UNFIT_IN_RECIPES, "next please"] and calls == [2]
