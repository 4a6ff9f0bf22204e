"""Language-quality figures of user turns: invented words, pool copies, distinct-n, self-repeats, and their wiring
into `simulate --json`, `evaluate` and the suite report."""

import json

import pytest

from evaluation.dialogues import from_record
from evaluation.language_quality import (FIGURES, TABLE_HEADER, build_vocabulary, distinct_n, language_quality,
                                         language_quality_by_group, normalise_utterance, table_cells,
                                         turn_invented_words)
from mtad_env import InvalidValueError
from mtad_env.cli import main

INVENTED = "paridicwviepffic"


def dialogue(*turns, profile="regular", task=None):
    """A record of (user, system) pairs, or (user, system, intent) triples."""
    record = {"dialog_id": "d", "user_profile": profile,
              "dialog": [{"intent": t[2] if len(t) > 2 else "next", "user": t[0], "system": t[1]} for t in turns]}
    return record | ({"task": task} if task else {})


@pytest.fixture(scope="module")
def vocab():
    return build_vocabulary()


def test_an_invented_word_flags_its_turn_once(vocab):
    record = dialogue(("next step", "Step 2: stir."), (f"{INVENTED} please {INVENTED}", "Sorry?"))
    assert turn_invented_words(f"{INVENTED} please {INVENTED}", vocab, frozenset()) == [INVENTED]
    assert turn_invented_words(f"the weather's {INVENTED}'s", vocab, frozenset()) == [f"{INVENTED}'s"]
    figures = language_quality([record], vocab)
    assert figures["user_turns"] == 2 and figures["invented_word_rate"] == 0.5


def test_a_word_of_the_dialogues_own_system_turn_is_not_invented_but_one_of_another_dialogue_is(vocab):
    told = dialogue(("what is a spurtle", "A spurtle is a Scottish stirring stick."))
    other = dialogue(("what is a spurtle", "Let me check."))
    assert "spurtle" not in vocab.words
    assert language_quality([told], vocab)["invented_word_rate"] == 0.0
    assert language_quality([other], vocab)["invented_word_rate"] == 1.0
    assert language_quality([told, other], vocab)["invented_word_rate"] == 0.5


def test_exact_pool_utterances_and_filled_templates_count(vocab):
    record = dialogue(("Next step!", ""), ("what is flour", ""), ("what is the point", ""),
                      ("next step and then some", ""))
    figures = language_quality([record], vocab)
    assert figures["pool_exact_rate"] == 0.5  # the slot of "what is {ingredient}" takes task words only
    assert normalise_utterance("  Next,   STEP! ") == "next step"


def test_distinct_1_and_2_on_a_known_example(vocab):
    figures = language_quality([dialogue(("next step", ""), ("next step please", ""))], vocab)
    assert figures["distinct_1"] == pytest.approx(3 / 5)  # next step next step please
    assert figures["distinct_2"] == pytest.approx(2 / 3)  # (next step) twice, (step please)
    assert distinct_n(["", "..."], 2) is None
    assert figures["distinct_utterances_per_1000"] == 1000.0


def test_self_repeats_count_once_per_repeating_turn_within_a_dialogue(vocab):
    first = dialogue(("next", ""), ("Next!", ""), ("repeat", ""), ("next", ""))
    second = dialogue(("next", ""), ("repeat", ""))  # repeats only across dialogues: none
    figures = language_quality([first, second], vocab)
    assert figures["self_repeat_rate"] == pytest.approx(2 / 6)
    assert figures["distinct_utterances_per_1000"] == pytest.approx(1000 * 2 / 6)


def test_degenerate_turns_are_scored_like_any_other(vocab):
    record = dialogue(("next", "Step 2."), (INVENTED, "", "<degenerate>"))
    figures = language_quality([from_record(record, "test")], vocab)
    assert figures["user_turns"] == 2 and figures["invented_word_rate"] == 0.5
    assert figures["pool_exact_rate"] == 0.5


def test_a_user_task_folder_adds_its_words_and_slot_values(tmp_path):
    (tmp_path / "test").mkdir()
    task = {"id": "mine", "title": "Quizzlewump toast", "ingredients": ["2 cups snorkelberries"],
            "methods": ["Toast the bread.", "Butter it."]}
    (tmp_path / "test" / "mine.json").write_text(json.dumps(task))
    record = dialogue(("quizzlewump toast", ""), ("what is snorkelberries", ""))
    shipped, mine = build_vocabulary(), build_vocabulary([tmp_path])
    assert mine is build_vocabulary([str(tmp_path)])  # cached per folder set
    assert language_quality([record], shipped)["invented_word_rate"] == 1.0
    assert language_quality([record], shipped)["pool_exact_rate"] == 0.0
    assert language_quality([record], mine)["invented_word_rate"] == 0.0
    assert language_quality([record], mine)["pool_exact_rate"] == 0.5
    # the dialogue's own task counts as well, whatever the folders
    with_task = dialogue(("quizzlewump toast", ""), ("what is snorkelberries", ""), task=task)
    assert language_quality([with_task], shipped)["invented_word_rate"] == 0.0
    assert language_quality([with_task], shipped)["pool_exact_rate"] == 0.5


def test_a_task_folder_without_splits_is_refused(tmp_path):
    with pytest.raises(InvalidValueError, match="none of the split folders train, valid, test, diy"):
        build_vocabulary([tmp_path])


def test_groups_follow_the_canonical_profiles_and_empty_groups_are_undefined(vocab):
    groups = language_quality_by_group([dialogue(("next", "")), dialogue((INVENTED, ""), profile="Verbose")],
                                       vocab)
    assert list(groups) == ["regular", "verbosity=high"]
    assert groups["verbosity=high"]["invented_word_rate"] == 1.0
    empty = language_quality([], vocab)
    assert empty["user_turns"] == 0 and empty["invented_word_rate"] is None
    assert table_cells(empty)[1] == "n/a" and len(table_cells(empty)) == len(TABLE_HEADER) == len(FIGURES)


def test_simulate_json_has_the_language_figures_and_agenda_users_invent_nothing(capsys):
    assert main(["simulate", "--profile", "regular", "--simulator", "agenda", "--assistant", "template",
                 "--episodes", "6", "--seed", "2", "--split", "test", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert {"episodes", "metrics", "degeneration_rate", "end_reasons", "task_completion_rate"} < set(summary)
    language = summary["language"]
    assert list(language) == list(FIGURES) and language["user_turns"] > 0
    assert language["invented_word_rate"] == 0.0 and language["pool_exact_rate"] == 1.0


def test_the_evaluation_report_has_a_language_section(tmp_path, capsys):
    corpus, log = tmp_path / "corpus", tmp_path / "episodes.jsonl"
    assert main(["simulate", "--profile", "regular", "--episodes", "3", "--seed", "1", "--log", str(log),
                 "--json"]) == 0
    capsys.readouterr()
    (corpus / "test").mkdir(parents=True)
    (corpus / "test" / "regular.jsonl").write_text(log.read_text())  # the logs as their own reference
    assert main(["evaluate", "--logs", str(log), "--reference", str(corpus), "--out", str(tmp_path / "eval"),
                 "--resamples", "10", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["language"]["invented_word_rate"] == 0.0
    assert summary["profiles"]["regular"]["language"] == summary["language"]
    report = (tmp_path / "eval" / "report.md").read_text()
    assert "## Language" in report and "| all profiles | " in report


def test_the_suite_report_has_a_language_table():
    from evaluation.suite_report import _language

    figures = language_quality([dialogue(("next", ""))], build_vocabulary())
    lines = _language({"reference": {"agenda": figures}, "single": {"sts": figures}})
    assert lines[0] == "| group | simulator | " + " | ".join(TABLE_HEADER) + " |"
    assert lines[2] == "| reference | agenda | 1 | 0.0% | 100.0% | 0.0% | 1.000 | n/a | 0.0% | 1000 |"


def test_a_pool_line_of_the_other_domain_or_about_a_missing_item_counts_as_off_task(vocab):
    from mtad_env.domain import load_tasks

    recipe = next(t for t in load_tasks("test") if t.data_source == "recipe" and "onion" not in str(t.to_dict()))
    diy = load_tasks("diy")[0].to_dict()
    legs = "I screwed in all four legs of the table, so what's the next step in the instructions?"
    onions = "done with the cutting of the uh the onions next step please"
    in_recipe = language_quality([dialogue((legs, ""), (onions, ""), ("next", ""), ("let's cook", ""),
                                           task=recipe.to_dict())], vocab)
    assert in_recipe["off_task_rate"] == 0.5  # the DIY line and the onions the recipe lacks; not "next" or cooking
    assert language_quality([dialogue(("let's cook", ""), ("next", ""), task=diy)], vocab)["off_task_rate"] == 0.5
    assert language_quality([dialogue((legs, ""))], vocab)["off_task_rate"] == 0.0  # no task: cannot be judged
