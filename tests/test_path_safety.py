"""Profile names, trait names, splits and task ids never make a corpus or log path leave its folder."""

import itertools
import re

import pytest

import mtad_env
from mtad_env import InvalidValueError, Profile
from mtad_env.traits import BUILTIN_TRAIT_NAMES, INTENSITIES
from simulators.corpus import CorpusGenerator, CorpusSpec, profile_filename

SAFE_STEM = re.compile(r"[a-z0-9_=+]+")
PATHS = ["../../etc=high", "../x=low", "/etc/passwd=high", "verbosity=../high", "verbosity=high/../../x",
         "a/b=low", "..", "../..", "/tmp/x", "verbosity=high,../../etc=low", "regular/../../x", "~/x=high",
         "verbosity\\..\\x=high", "verbosity=high\x00", {"../x": "high"}, {"verbosity": "../../high"}]
TASK = {"title": "Escape", "methods": ["Do one thing.", "Do another thing."]}


@pytest.mark.parametrize("value", PATHS, ids=repr)
def test_path_like_profiles_are_refused(value):
    with pytest.raises(InvalidValueError):
        Profile.parse(value)


@pytest.mark.parametrize("name", ["../x", "a/b", "x.y", "", "Upper"])
def test_path_like_trait_names_cannot_be_registered(name):
    with pytest.raises(InvalidValueError, match="lowercase identifier"):
        mtad_env.register_trait(name, "dialogue", lambda turns: 0.0)


def test_every_builtin_profile_has_a_safe_file_stem():
    named = mtad_env.single_trait_profiles() + mtad_env.multi_trait_profiles()
    combos = [Profile.parse(dict(zip(BUILTIN_TRAIT_NAMES, levels, strict=True)))
              for levels in itertools.product(INTENSITIES, repeat=len(BUILTIN_TRAIT_NAMES))]
    stems = [profile_filename(p) for p in named + combos]
    assert len(set(stems)) == 3 ** len(BUILTIN_TRAIT_NAMES)  # distinct profiles never share a file
    assert all(SAFE_STEM.fullmatch(s) for s in stems)


def test_corpus_files_stay_in_the_output_folder(tmp_path):
    out = tmp_path / "a" / "corpus"
    spec = CorpusSpec(("regular", "Verbose & Impatient"), (("train", 2), ("test", 1)), seed=0, n_regular_stats=20)
    CorpusGenerator(spec, out, progress=False).run()
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert written and all(p.resolve().is_relative_to(out.resolve()) for p in written)
    assert {p.name for p in (out / "train").iterdir()} == {"regular.jsonl", "engagement=low+verbosity=high.jsonl"}


@pytest.mark.parametrize("task_id", ["../../x", "/etc/passwd", "..", "a/../../../b", "C:\\x"])
def test_task_ids_only_land_inside_the_log_file(tmp_path, task_id):
    log_dir = tmp_path / "logs" / "run"
    env = mtad_env.make(assistant="template", seed=0, log_dir=str(log_dir))
    mtad_env.rollout(env, options={"task": {"id": task_id, **TASK}})
    assert [p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()] == \
        ["logs/run/episodes.jsonl"]
    [record] = mtad_env.load_episodes(log_dir)
    assert record["task"]["id"] == task_id


@pytest.mark.parametrize("bad", ["../../x", "/etc/passwd", "../test"])
def test_path_like_task_ids_and_splits_are_refused_by_lookup(bad):
    env = mtad_env.make(seed=0)
    with pytest.raises(InvalidValueError, match="unknown task id"):
        env.reset(options={"task": bad})
    with pytest.raises(InvalidValueError, match="unknown split"):
        mtad_env.load_tasks(bad)


def test_corpus_spec_refuses_path_like_splits(tmp_path):
    out = tmp_path / "a" / "b" / "corpus"
    spec = CorpusSpec(("regular",), (("../../escaped", 1),), seed=0)
    with pytest.raises(InvalidValueError):
        CorpusGenerator(spec, out, progress=False).run()
    assert not (tmp_path / "a" / "escaped").exists()
