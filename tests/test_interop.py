"""Reading the paper's public code's data as it is: its intent names, its dialogue files, its profile objects.

The fixtures in ``tests/data/public_code`` are written in that code's formats: dialogues as one JSON list or an
object keyed by dialogue id, profiles as objects (``user_custom_name``, ``trait_scale``), intents named after the
Alexa skill's (``StartStepsIntent``, ``AMAZON.FallbackIntent``), and a collected-utterances pool keyed the same way.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from mtad_env.dialogue_records import read_dialogue_file
from mtad_env.domain import UtterancePool, load_transitions
from mtad_env.errors import DataFormatError
from mtad_env.intents import INTENT_ALIASES, INTENTS, canonical_intent
from simulators.corpus import corpus_stats

DATA = Path(__file__).parent / "data" / "public_code"


def run(*args):
    return subprocess.run([sys.executable, "-m", "mtad_env", *args], capture_output=True, text=True, timeout=300)


def test_every_alias_names_one_of_our_intents_and_unknown_names_are_refused():
    assert set(INTENT_ALIASES.values()) == set(INTENTS)
    assert canonical_intent("GetCuriositiesIntent") == "fun_fact" and canonical_intent("next") == "next"
    with pytest.raises(DataFormatError, match=r"x\.json record 2: unknown intent 'GoToStepIntent'.*StartStepsIntent"):
        canonical_intent("GoToStepIntent", "x.json record 2")


def test_a_pool_keyed_by_the_public_codes_intent_names_loads_and_merges_aliases():
    pool = UtterancePool.load(DATA / "collected_utterances.json")
    assert pool.entries["next"] == ["next", "next step", "go on"]
    assert pool.counts["next"].tolist() == [55.0, 9.0, 1.0]  # NextStepIntent + AMAZON.NextIntent
    assert pool.entries["stop"] == ["stop", "i'm done"] and pool.entries["previous"] == ["go back", "previous"]


def test_a_pool_with_an_unknown_intent_is_refused_naming_file_and_value(tmp_path):
    raw = json.loads((DATA / "collected_utterances.json").read_text())
    raw["PlayMusicIntent"] = {"play some music": 1}
    path = tmp_path / "pool.json"
    path.write_text(json.dumps(raw))
    with pytest.raises(DataFormatError, match=r"pool\.json: unknown intent 'PlayMusicIntent'; valid: start"):
        UtterancePool.load(path)


def test_transition_rows_in_the_public_codes_names_merge_like_ours(tmp_path):
    path = tmp_path / "probs.json"
    path.write_text(json.dumps({"NextStepIntent": {"NextStepIntent": 0.4, "AMAZON.StopIntent": 0.05,
                                                  "CompleteTaskIntent": 0.1, "QuestionIntent": 0.2}}))
    rows = load_transitions(str(path))
    assert rows["next"] == pytest.approx({"next": 0.4, "stop": 0.15, "question": 0.2}) and rows["start"] == rows["next"]


@pytest.mark.parametrize("name", ["dialogues_list.json", "dialogues_by_id.json"])
def test_public_dialogue_files_read_with_canonical_profiles_and_intents(name):
    records = read_dialogue_file(DATA / name)
    assert [r["dialog_id"] for r in records][:2] == ["d1", "d2"]
    assert records[0]["user_profile"] == "regular" and records[1]["user_profile"] == "engagement=high"
    assert {t["intent"] for r in records for t in r["dialog"]} <= set(INTENTS)
    if name == "dialogues_list.json":
        assert records[2]["user_profile"] == "engagement=high,verbosity=high"


def test_metrics_of_public_records_count_their_fallbacks():
    stats = corpus_stats(read_dialogue_file(DATA / "dialogues_list.json"))
    regular = stats["regular"]["metrics"]
    assert regular["cooperativeness"]["mean"] == pytest.approx(7 / 15)  # 8 of 15 turns are fallbacks
    assert regular["tolerance"]["mean"] == pytest.approx(8 / 15)  # each fallback answered, never a stop after one
    assert stats["engagement=high"]["metrics"]["tolerance"]["mean"] == pytest.approx(1 / 5)


def test_stats_reads_a_public_file_and_refuses_an_unknown_intent_naming_file_record_and_value():
    done = run("stats", str(DATA / "dialogues_by_id.json"), "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["profiles"]["regular"]["metrics"]["cooperativeness"]["mean"] == pytest.approx(7 / 15)
    bad = run("stats", str(DATA / "dialogues_unknown_intent.json"))
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert "dialogues_unknown_intent.json (dialog_id 'd2bad') turn 3: unknown intent 'GoToStepIntent'" in bad.stderr


def test_evaluate_reads_public_json_and_refuses_unknown_intents(tmp_path):
    reference = tmp_path / "ref"
    assert run("generate", "--profiles", "regular", "--n-test", "5", "--seed", "0",
               "--out", str(reference)).returncode == 0
    done = run("evaluate", "--logs", str(DATA / "dialogues_list.json"), "--reference", str(reference),
               "--out", str(tmp_path / "eval"), "--resamples", "10", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["profiles"]["regular"]["metrics"]["cooperativeness"]["mean"] == \
        pytest.approx(7 / 15)
    bad = run("evaluate", "--logs", str(DATA / "dialogues_unknown_intent.json"), "--reference", str(reference),
              "--out", str(tmp_path / "eval2"))
    assert bad.returncode == 2 and "(dialog_id 'd2bad') turn 3: unknown intent 'GoToStepIntent'" in bad.stderr


def test_a_json_file_of_something_else_says_which_layouts_are_expected(tmp_path):
    path = tmp_path / "numbers.json"
    path.write_text("[1, 2]")
    with pytest.raises(DataFormatError, match=r"numbers\.json record 1: .*got a JSON int; expected one dialogue "
                                              r"record .* per line, or one JSON value"):
        read_dialogue_file(path)
