"""Shipped domain data (counts, splits, formats) and validation of users' own tasks and pools."""

import json
import re

import numpy as np
import pytest

from mtad_env import DataFormatError, InvalidValueError, UtterancePool, load_tasks
from mtad_env.domain import SPLITS, ingredient_name, load_knowledge, load_transitions
from mtad_env.intents import INTENTS
from mtad_env.metrics import words
from mtad_env.pool_scores import pool_scores


def test_recipes_are_many_unique_and_in_one_split_only():
    recipes = {s: load_tasks(s) for s in ("train", "valid", "test")}
    assert sum(len(v) for v in recipes.values()) >= 1000
    ids = [t.id for v in recipes.values() for t in v]
    titles = [t.title.lower() for v in recipes.values() for t in v]
    assert len(ids) == len(set(ids)) and len(titles) == len(set(titles))
    hand = [t for v in recipes.values() for t in v if t.extra.get("author") == "hand"]
    assert len(hand) >= 150
    assert all(t.extra.get("author") == "hand" for t in recipes["test"])


def test_recipes_have_ingredients_and_3_to_15_steps_that_use_them():
    for task in load_tasks("train") + load_tasks("test"):
        assert 3 <= len(task.methods) <= 15 and task.ingredients
        text = " ".join(task.methods).lower()
        used = [n for n in task.ingredient_names if n.split()[-1] in text]
        assert len(used) >= len(task.ingredient_names) // 2, task.title


def test_diy_tasks_are_hand_written_with_tools():
    diy = load_tasks("diy")
    assert len(diy) >= 40 and all(t.tools and t.data_source == "diy" for t in diy)


def test_utterance_pool_spans_what_the_traits_select_on():
    pool = UtterancePool.load()
    texts = [u for _, u in pool.all_texts()]
    assert len(set(texts)) >= 1500
    for intent in INTENTS:
        assert len(pool.entries[intent]) >= (15 if intent in ("yes", "no") else 30), intent
    lengths = [len(words(u)) for u in texts]
    assert min(lengths) == 1 and max(lengths) >= 15
    assert sum("{" in u for u in texts) >= 100
    counts = {i: pool.counts[i].sum() for i in INTENTS}
    assert max(counts, key=counts.get) == "next"
    scores = pool_scores(pool)
    emotion = np.concatenate(list(scores["emotion"].values()))
    assert (emotion < 0.35).mean() > 0.1 and (emotion > 0.65).mean() > 0.1
    disfluent = json.load(open("training/domain_sources/pool_disfluent_entries.json"))
    assert len(disfluent) / len(texts) >= 0.2


def test_knowledge_for_the_assistant():
    k = load_knowledge()
    assert len(k["fun_facts"]["cooking"]) + len(k["fun_facts"]["diy"]) >= 100
    assert len(k["definitions"]) >= 100 and len(k["substitutions"]) >= 100


def test_transitions_copy_the_reference_and_start_moves_like_next():
    ref = json.load(open("mtad_env/data/intent_transitions.json"))["weights"]
    table = load_transitions()
    assert table["start"] == ref["next"] and table["question"] == ref["question"]


@pytest.mark.parametrize("line, name", [
    ("2 cups all-purpose flour, sifted", "all-purpose flour"),
    ("1 medium onion, finely chopped", "onion"),
    ("1/2 tsp salt", "salt"),
    ("3 large eggs", "eggs"),
    ("salt and pepper, to taste", "salt and pepper"),
])
def test_ingredient_names(line, name):
    assert ingredient_name(line) == name


@pytest.mark.parametrize("content, match", [
    ("{not json", "not valid JSON"),
    ('{"id": "x", "title": "T"}', "'methods' must be a non-empty list"),
    ('{"id": "x", "title": "T", "methods": ["ok", 3]}', r"methods\[1\] must be a non-empty string"),
    ('["a list"]', "must be a JSON object"),
])
def test_bad_task_files_name_file_and_field(tmp_path, content, match):
    (tmp_path / "test").mkdir()
    (tmp_path / "test" / "bad.json").write_text(content)
    with pytest.raises(DataFormatError, match=match) as err:
        load_tasks("test", tmp_path)
    assert "bad.json" in str(err.value)


def test_user_task_folder_works(tmp_path):
    (tmp_path / "test").mkdir()
    task = {"id": "mine", "title": "Toast", "methods": ["Toast the bread.", "Butter it.", "Eat."]}
    (tmp_path / "test" / "mine.json").write_text(json.dumps(task))
    assert load_tasks("test", tmp_path)[0].methods[1] == "Butter it."


def test_unknown_split_lists_valid_ones():
    with pytest.raises(InvalidValueError, match="valid: " + ", ".join(SPLITS)):
        load_tasks("holdout")


def _pool(**override):
    entries = {i: {f"{i} please": 3} for i in INTENTS}
    entries.update(override)
    return entries


@pytest.mark.parametrize("entries, match", [
    (_pool(next={}), "intent 'next' has no utterances"),
    (_pool(dance={"x": 1}), "unknown intent 'dance'"),
    (_pool(next={"": 1}), "empty utterance"),
    (_pool(next={"go": 0}), "positive number"),
    (_pool(question={"how much {flour}": 1}), "unknown slot .*'flour'; valid: ingredient, tool, step_number"),
])
def test_bad_pools_are_refused(tmp_path, entries, match):
    path = tmp_path / "pool.json"
    path.write_text(json.dumps(entries))
    with pytest.raises(DataFormatError, match=match):
        UtterancePool.load(path)


def test_pool_scores_are_cached_beside_the_pool_and_keyed_by_its_hash(tmp_path):
    path = tmp_path / "pool.json"
    path.write_text(json.dumps(_pool()))
    scores = pool_scores(UtterancePool.load(path))
    cache = json.loads((tmp_path / "pool.scores.json").read_text())
    assert cache["pool_sha256"] == UtterancePool.load(path).sha256
    assert scores["verbosity"]["next"].tolist() == [2.0]
    path.write_text(json.dumps(_pool(next={"next step please now": 1})))
    rescored = pool_scores(UtterancePool.load(path))
    assert rescored["verbosity"]["next"].tolist() == [4.0]
    assert json.loads((tmp_path / "pool.scores.json").read_text())["pool_sha256"] != cache["pool_sha256"]


def test_shipped_pool_has_its_score_cache():
    cache = json.load(open("mtad_env/data/utterances.scores.json"))
    assert cache["pool_sha256"] == UtterancePool.load().sha256
    assert set(cache["scores"]) == {"verbosity", "emotion", "fluency"}
    assert re.match(r"vader", cache["scorers"]["emotion"])


def test_registering_a_trait_never_rewrites_the_shipped_score_cache(tmp_path, monkeypatch):
    import mtad_env
    from simulators.agenda import AgendaUserSimulator

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    shipped = open("mtad_env/data/utterances.scores.json", "rb").read()
    mtad_env.register_trait("shouting", "utterance", lambda u: float(u.isupper()))
    try:
        AgendaUserSimulator()
        assert "shouting" in pool_scores(UtterancePool.load())
    finally:
        mtad_env.unregister_trait("shouting")
    assert open("mtad_env/data/utterances.scores.json", "rb").read() == shipped
    assert list(tmp_path.rglob("*.scores.json"))
