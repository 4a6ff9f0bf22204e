"""The evaluation module (paper §5.1, §6): distances to a reference, bootstrap intervals, trends, rates, the CLI."""

import json
import subprocess
import sys

import numpy as np
import pytest

import mtad_env
from evaluation.analysis import (EvaluationConfig, degeneration_rate, distance_kind, evaluate, trait_distance,
                                 trend_check, uniqueness_rate)
from evaluation.bootstrap import bootstrap_distance_ci, bootstrap_mean_ci, resample_counts, resampled_distances
from evaluation.dialogues import ReferenceCorpus, from_record, load_logs
from mtad_env.statistics import ks_distance, wasserstein
from mtad_env.errors import DataFormatError
from simulators.corpus import CorpusGenerator, CorpusSpec

PROFILES = ("regular", "engagement=low", "engagement=high", "verbosity=high")
FAST = EvaluationConfig(seed=0, n_resamples=200)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """A small reference corpus with train and test splits."""
    out = tmp_path_factory.mktemp("eval") / "ref"
    spec = CorpusSpec(profiles=PROFILES, n=(("train", 40), ("test", 40)), seed=0, n_regular_stats=300)
    CorpusGenerator(spec, out, progress=False).run()
    return out


@pytest.fixture(scope="module")
def agenda_log(tmp_path_factory):
    """Episode logs of the agenda simulator against the template assistant, 30 episodes per profile."""
    log = tmp_path_factory.mktemp("logs") / "episodes.jsonl"
    for seed, profile in enumerate(PROFILES):
        env = mtad_env.make(profile=profile, assistant="template", seed=seed, log_dir=str(log))
        for _ in range(30):
            mtad_env.rollout(env)
    return log


def _relabel(src_folder, dest, mapping):
    """Write every record of a corpus split folder to ``dest`` with profiles renamed by ``mapping``."""
    lines = []
    for path in sorted(src_folder.glob("*.jsonl")):
        for line in path.read_text().splitlines():
            rec = json.loads(line)
            rec["user_profile"] = mapping.get(rec["user_profile"], rec["user_profile"])
            lines.append(json.dumps(rec))
    dest.write_text("\n".join(lines) + "\n")
    return dest


# (a) -------------------------------------------------------------------------------------------------------------
def test_same_distribution_is_close_and_swapped_labels_are_far(corpus, tmp_path):
    reference = ReferenceCorpus(corpus, "test")
    same = evaluate(load_logs([corpus / "train"]), reference, FAST).summary["profiles"]
    swap = {"engagement=low": "engagement=high", "engagement=high": "engagement=low"}
    swapped_log = _relabel(corpus / "train", tmp_path / "swapped.jsonl", swap)
    swapped = evaluate(load_logs([swapped_log]), reference, FAST).summary["profiles"]
    for profile in ("engagement=low", "engagement=high"):
        close, far = same[profile]["distance"]["engagement"], swapped[profile]["distance"]["engagement"]
        assert close < 2.0 and far > 8.0 and far > 5 * close, (profile, close, far)
        assert same[profile]["reference_split"] == "test"
    # the relabelling leaves untouched profiles alone
    assert swapped["verbosity=high"]["distance"] == same["verbosity=high"]["distance"]


def test_a_split_against_itself_has_zero_distance(corpus):
    reference = ReferenceCorpus(corpus, "test")
    profiles = evaluate(load_logs([corpus / "test"]), reference, FAST).summary["profiles"]
    assert set(profiles) == set(PROFILES)
    for entry in profiles.values():
        assert all(d == 0.0 for d in entry["distance"].values() if d is not None)


def test_a_profile_missing_from_the_reference_has_null_distances(corpus):
    rec = {"dialog_id": "n", "user_profile": "Negative", "dialog": [_turn("start", "ugh fine"), _turn("stop", "no")]}
    entry = evaluate([from_record(rec, "hand-made")], ReferenceCorpus(corpus), FAST).summary["profiles"]["emotion=low"]
    assert entry["reference_split"] is None and entry["reference_n"] == 0
    assert all(d is None for d in entry["distance"].values())
    assert entry["metrics"]["engagement"]["mean"] == 2.0 and entry["metrics"]["engagement"]["ref_mean"] is None


# (b) -------------------------------------------------------------------------------------------------------------
def test_wasserstein_for_discrete_traits_ks_for_the_others():
    kinds = {name: distance_kind(name) for name in mtad_env.traits()}
    assert {n for n, k in kinds.items() if k == "wasserstein"} == {"engagement", "verbosity"}
    assert all(k == "ks" for n, k in kinds.items() if n not in ("engagement", "verbosity"))
    a, b = [1.0, 2.0, 3.0, 9.0], [2.0, 2.0, 4.0]
    assert trait_distance("engagement", a, b) == pytest.approx(wasserstein(a, b))
    assert trait_distance("emotion", a, b) == pytest.approx(ks_distance(a, b))
    assert trait_distance("emotion", a, []) is None


def test_a_registered_discrete_trait_uses_wasserstein():
    mtad_env.register_trait("shouting", "utterance", lambda u: float(u.isupper()), discrete=True, replace=True)
    try:
        assert distance_kind("shouting") == "wasserstein"
    finally:
        mtad_env.unregister_trait("shouting")


# (c) -------------------------------------------------------------------------------------------------------------
def test_bootstrap_mean_ci_contains_the_mean_and_is_seeded():
    values = np.random.default_rng(3).normal(5.0, 2.0, size=60)
    low, high = bootstrap_mean_ci(values, seed=7)
    assert low < values.mean() < high
    assert bootstrap_mean_ci(values, seed=7) == (low, high)
    assert bootstrap_mean_ci(values, seed=8) != (low, high)
    assert bootstrap_mean_ci([], seed=0) == (None, None)
    assert bootstrap_mean_ci([4.0], seed=0) == (4.0, 4.0)


def test_bootstrap_distance_ci_is_seeded_and_brackets_far_samples():
    rng = np.random.default_rng(0)
    a, b = rng.normal(0, 1, 50), rng.normal(3, 1, 40)
    for kind, point in (("wasserstein", wasserstein(a, b)), ("ks", ks_distance(a, b))):
        low, high = bootstrap_distance_ci(a, b, kind, seed=[1, 2])
        assert low <= point <= high
        assert bootstrap_distance_ci(a, b, kind, seed=[1, 2]) == (low, high)
    assert bootstrap_distance_ci(a, [], "ks") == (None, None)
    with pytest.raises(mtad_env.InvalidValueError, match="unknown distance 'kl'"):
        bootstrap_distance_ci(a, b, "kl")


def test_vectorised_resampled_distances_equal_scipy():
    rng = np.random.default_rng(1)
    a, b = np.sort(rng.integers(0, 8, 25).astype(float)), np.sort(rng.normal(size=17))
    counts_a, counts_b = resample_counts(a.size, 30, rng), resample_counts(b.size, 30, rng)
    for kind, reference in (("ks", ks_distance), ("wasserstein", wasserstein)):
        fast = resampled_distances(a, b, kind, counts_a, counts_b)
        slow = [reference(np.repeat(a, ca), np.repeat(b, cb)) for ca, cb in zip(counts_a, counts_b)]
        np.testing.assert_allclose(fast, slow, atol=1e-12)


def test_evaluation_intervals_do_not_depend_on_other_profiles(corpus):
    reference = ReferenceCorpus(corpus, "test")
    dialogues = load_logs([corpus / "train"])
    alone = [d for d in dialogues if d.profile == "verbosity=high"]
    full = evaluate(dialogues, reference, FAST).summary["profiles"]["verbosity=high"]
    single = evaluate(alone, reference, FAST).summary["profiles"]["verbosity=high"]
    assert full == single


# (d) -------------------------------------------------------------------------------------------------------------
def test_engagement_trend_holds_on_agenda_logs(agenda_log, corpus):
    summary = evaluate(load_logs([agenda_log]), ReferenceCorpus(corpus), FAST).summary
    row = summary["trends"]["engagement"]
    assert row["holds"] is True and row["low"] < row["regular"] < row["high"]
    assert row["reference_holds"] is True
    assert "verbosity" not in summary["trends"]  # verbosity=low was not evaluated


def test_trend_check_detects_a_broken_order():
    def entry(mean):
        return {"metrics": {name: {"mean": mean, "ref_mean": None} for name in mtad_env.traits()}}

    trends = trend_check({"regular": entry(5.0), "engagement=low": entry(6.0), "engagement=high": entry(9.0)})
    assert trends["engagement"]["holds"] is False and trends["engagement"]["reference_holds"] is None


# (e) -------------------------------------------------------------------------------------------------------------
def _turn(intent, user, error=False):
    return {"intent": intent, "user": user, "system": "ok", "system_error": error}


def test_degeneration_rate_and_metrics_ignore_degenerate_turns():
    rec = {"dialog_id": "d1", "user_profile": "Patient", "dialog": [
        _turn("start", "let's start"), _turn("<degenerate>", "##!!"), _turn("next", "next please"),
        _turn("<degenerate>", "what"), _turn("stop", "bye")]}
    dialogue = from_record(rec, "hand-made")
    assert dialogue.profile == "engagement=high"
    assert dialogue.metrics["engagement"] == 3.0  # the two degenerate turns are not counted
    other = from_record({"dialog_id": "d2", "user_profile": "regular", "dialog": [_turn("start", "go")]}, "x")
    assert degeneration_rate([dialogue, other]) == pytest.approx(2 / 6)


def test_an_unknown_intent_is_refused_not_counted_as_degenerate():
    # Only "<degenerate>" marks a turn without a parsable intent; any other unknown name would skew the metrics.
    rec = {"dialog_id": "d1", "user_profile": "regular", "dialog": [_turn("start", "go"), _turn("banana", "what")]}
    with pytest.raises(DataFormatError, match=r"hand-made \(dialog_id 'd1'\) turn 1: unknown intent 'banana'"):
        from_record(rec, "hand-made")


def test_logged_episode_metrics_are_used_when_present():
    rec = {"dialog_id": "d", "user_profile": "regular", "dialog": [_turn("start", "go")],
           "episode_metrics": {name: 0.5 for name in mtad_env.traits()} | {"engagement": 99.0}}
    assert from_record(rec, "x").metrics["engagement"] == 99.0


def test_uniqueness_rate_against_training_utterances(tmp_path):
    utterances = ["Next  please", "a brand new line", "stop"]
    assert uniqueness_rate(utterances, {"next please", "stop"}) == pytest.approx(1 / 3)
    assert uniqueness_rate(["anything"], None) is None
    # a corpus without a train split has no training utterances; a profile only in train falls back to it
    (tmp_path / "test").mkdir()
    rec = {"dialog_id": "test/regular/0000000", "user_profile": "regular", "dialog": [_turn("start", "go")]}
    (tmp_path / "test" / "regular.jsonl").write_text(json.dumps(rec) + "\n")
    assert ReferenceCorpus(tmp_path).train_utterances() is None
    (tmp_path / "train").mkdir()
    (tmp_path / "train" / "emotion=low.jsonl").write_text(json.dumps({**rec, "user_profile": "Negative"}) + "\n")
    corpus = ReferenceCorpus(tmp_path)
    assert corpus.train_utterances() == {"go"}
    assert corpus.split_for("emotion=low") == "train" and corpus.split_for("regular") == "test"
    assert corpus.dialogues("verbosity=high") == (None, [])


# (f) -------------------------------------------------------------------------------------------------------------
def _cli(*args):
    return subprocess.run([sys.executable, "-m", "mtad_env", "evaluate", *map(str, args)], capture_output=True,
                          text=True, timeout=300)


def test_cli_json_contract_and_report_files(agenda_log, corpus, tmp_path):
    out = tmp_path / "report"
    done = _cli("--logs", agenda_log, "--reference", corpus, "--out", out, "--json", "--resamples", "200")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert set(result["profiles"]) == set(PROFILES)
    for entry in result["profiles"].values():
        assert set(entry["distance"]) == set(mtad_env.traits())
        assert all(isinstance(m["mean"], float) for m in entry["metrics"].values() if m["mean"] is not None)
    assert isinstance(result["profiles"]["engagement=low"]["distance"]["engagement"], float)
    assert 0.0 <= result["degeneration_rate"] <= 1.0 and 0.0 <= result["uniqueness_rate"] <= 1.0
    for name in ("report.md", "results.json", "results.csv"):
        assert (out / name).stat().st_size > 0
    assert json.loads((out / "results.json").read_text())["profiles"].keys() == result["profiles"].keys()
    header, *rows = (out / "results.csv").read_text().splitlines()
    assert header == "profile,trait,mean,ci_low,ci_high,ref_mean,distance,distance_ci_low,distance_ci_high"
    assert len(rows) == len(PROFILES) * len(mtad_env.traits())
    pngs = sorted(p.name for p in out.glob("*.png"))
    assert pngs == ["trends.png", "violins.png"]
    assert all((out / p).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs)
    assert "## Trends" in (out / "report.md").read_text()


@pytest.mark.parametrize("bad", ["log", "reference", "empty"])
def test_cli_bad_paths_exit_2_with_one_line(bad, agenda_log, corpus, tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    logs = {"log": tmp_path / "missing.jsonl", "empty": empty}.get(bad, agenda_log)
    reference = tmp_path / "no_corpus" if bad == "reference" else corpus
    done = _cli("--logs", logs, "--reference", reference, "--out", tmp_path / "out", "--json")
    assert done.returncode == 2 and done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr
    assert str(logs if bad != "reference" else reference) in lines[0]


def test_evaluate_finds_weight_sweeps_in_logged_decoding_settings():
    from evaluation.dialogues import Dialogue
    from evaluation.sweeps import find_sweeps

    def dialogue(adapters, weight, metrics):
        return Dialogue("d", "regular", (), metrics, "", {"mode": "mtad", "adapters": adapters,
                                                           "weights": [1 - weight, weight]})

    low_high = ["verbosity=low", "verbosity=high"]
    cross = ["engagement=high", "verbosity=high"]
    dialogues = [dialogue(low_high, w, {"verbosity": 3 + 4 * w + d}) for w in (0.0, 0.5, 1.0) for d in (0, 0.1)]
    dialogues += [dialogue(cross, w, {"engagement": 16 - 8 * w, "verbosity": 4 + 3 * w}) for w in (0.0, 1.0)]
    dialogues += [dialogue(["emotion=low", "emotion=high"], 0.5, {"emotion": 0.5})]  # one weight: no sweep
    sweeps = find_sweeps(dialogues, resamples=50)
    assert list(sweeps["figure9"]) == ["verbosity"]
    assert sweeps["figure9"]["verbosity"]["means"] == pytest.approx([3.05, 5.05, 7.05])
    assert sweeps["figure9"]["verbosity"]["monotonic"] is True
    (two,) = sweeps["figure10"]
    assert two["series"]["engagement"]["expected"] == "fall" and two["series"]["engagement"]["monotonic"] is True
    assert two["series"]["verbosity"]["spearman"] == pytest.approx(1.0)
