"""Word-constrained sampling: which tokens a lexicon allows, exact engine/reference agreement under the constraint,
and LM users that stop inventing words where the unconstrained model invents them."""

import numpy as np
import pytest
import torch

import mtad_env
from mtad_env.domain import load_tasks
from mtad_env.vocabulary import build_vocabulary
from evaluation.language_quality import turn_invented_words
from simulators.lm_simulator import LMUserSimulator, decode_actions, load_pack_model
from simulators.mtad_engine import DecodeRequest, decode, mix_and_sample, normalise_weights, reference_decode
from simulators.word_constraint import WordLexicon, WordState, drop_unfinished, lexicon_for

TEXTS = ["next", " step", "ste", "p", " don", "'", "t", "'s", " i", " nest", "xq", "<|end|>", ",", " "]
END = TEXTS.index("<|end|>")


def _lexicon():
    return WordLexicon(["next", "step", "don't", "i", "nest"], TEXTS, special_ids=[END])


def _allowed_after(*tokens):
    state = WordState(_lexicon())
    for token in tokens:
        state.advance(TEXTS.index(token))
    return {TEXTS[i] for i in state.allowed(len(TEXTS)).nonzero()[:, 0].tolist()}


def test_a_finished_known_word_may_be_followed_by_a_separator_and_an_unknown_one_may_not_start():
    assert _allowed_after() == set(TEXTS) - {"xq", "t", "p"}  # no known word starts with xq, t or p
    after_next = _allowed_after("next")
    assert {" step", ",", " ", "<|end|>", "'s"} <= after_next  # a known word ends; "next's" counts as known
    assert not {"ste", "p", "t", "xq"} & after_next  # "nextste", "nextp", ... are no known word


def test_the_stop_token_comes_only_between_words_and_a_word_grows_only_into_a_known_one():
    inside = _allowed_after("ste")  # the start of "step"
    assert "<|end|>" not in inside and "," not in inside and "p" in inside and "next" not in inside


def test_apostrophes_follow_the_figures_word_rule():
    assert "t" in _allowed_after(" don", "'")  # "don't"
    assert " step" not in _allowed_after(" don", "'")  # "don'" would close as "don", an unknown word
    assert " step" in _allowed_after(" i", "'")  # "i'" closes as "i"
    assert " step" in _allowed_after("next", "'s")  # "next's": a known word and 's


def test_a_word_cut_by_the_token_limit_is_dropped_and_a_finished_one_kept():
    finished, cut = WordState(_lexicon()), WordState(_lexicon())
    for state, tokens in ((finished, ("next", " step")), (cut, ("next", " don"))):
        for token in tokens:
            state.advance(TEXTS.index(token))
    assert finished.unfinished == "" and drop_unfinished("Next step", finished) == "Next step"
    assert cut.unfinished == "don" and drop_unfinished("Next Don", cut) == "Next"  # "don" only starts "don't"
    assert drop_unfinished("Next Don", None) == "Next Don"


def test_greedy_decoding_takes_the_most_probable_allowed_token_and_an_empty_mask_changes_nothing():
    logits = torch.tensor([[3.0, 2.0, 1.0, 0.0]])
    rows, weights, uniform = torch.zeros((1, 1), dtype=torch.long), torch.ones((1, 1)), torch.tensor([0.5])
    assert int(mix_and_sample(logits, rows, weights, uniform, 0.0, 1.0, torch.tensor([[False, True, True, False]]))) == 1
    assert int(mix_and_sample(logits, rows, weights, uniform, 0.0, 1.0, torch.zeros((1, 4), dtype=torch.bool))) == 0
    sampled = {int(mix_and_sample(logits, rows, weights, torch.tensor([u]), 1.0, 1.0,
                                  torch.tensor([[False, False, True, True]]))) for u in np.linspace(0, 0.999, 50)}
    assert sampled == {2, 3}


@pytest.mark.parametrize("k", [1, 2])
def test_the_batched_engine_gives_exactly_the_reference_tokens_under_the_constraint(micro_pack, k):
    lm = load_pack_model(micro_pack, "cpu")
    lexicon = lexicon_for(lm.tokenizer)
    adapters = ["regular", "verbosity=high"][:k]
    weights = normalise_weights(None, k)
    prompts = [lm.tokenizer(t, add_special_tokens=False)["input_ids"] for t in
               ("A user talks with a task assistant.<|user|>", "Task: pancakes.<|user|><|next|> next<|end|><|user|>")]

    def requests():
        return [DecodeRequest(p, adapters, weights, np.random.default_rng(i), words=WordState(lexicon),
                              temperature=1.5) for i, p in enumerate(prompts * 2)]
    ours = decode(lm.model, requests(), [lm.end_id], lm.tokenizer.pad_token_id, max_new_tokens=16)
    reference = [reference_decode(lm.model, r, [lm.end_id], max_new_tokens=16, temperature=1.5) for r in requests()]
    assert ours == reference
    free = decode(lm.model, [DecodeRequest(p, adapters, weights, np.random.default_rng(i), temperature=1.5)
                             for i, p in enumerate(prompts * 2)], [lm.end_id], lm.tokenizer.pad_token_id, 16)
    assert free != ours  # the micro model spells unknown words at this temperature; the constraint changed them


def _invented_share(word_constraint: bool, max_new_tokens: int = 40) -> float:
    """Share of 48 sampled Regular user turns (the shipped pack, temperature 1.6: a hot sampler that invents
    words often) holding a word the vocabulary lacks."""
    task = load_tasks("test")[0]
    sim = LMUserSimulator(mode="sts", temperature=1.6, word_constraint=word_constraint, max_new_tokens=max_new_tokens)
    history = [{"intent": "start", "user": "let's start", "system": "Step 1: " + task.methods[0]}]
    requests = []
    for seed in range(48):
        sim.reset(mtad_env.Profile(), task, np.random.default_rng(seed))
        requests.append(sim.request(history, use_cache=False))
    actions = decode_actions(sim.lm, requests)
    vocabulary = build_vocabulary()
    return float(np.mean([bool(turn_invented_words(a.utterance, vocabulary, frozenset())) for a in actions]))


def test_lm_users_under_the_constraint_say_only_known_words_where_the_model_alone_invents_them():
    assert _invented_share(word_constraint=False) > 0.1
    assert _invented_share(word_constraint=True) == 0.0
    assert _invented_share(word_constraint=True, max_new_tokens=5) == 0.0  # most turns cut, inside words too


def test_simulate_free_words_turns_the_constraint_off_and_is_refused_for_the_agenda_user(tmp_path, capsys):
    from mtad_env.cli import main
    from mtad_env.episode_log import load_episodes

    for flags, constrained in (([], True), (["--free-words"], False)):
        log = tmp_path / f"{constrained}.jsonl"
        assert main(["simulate", "--simulator", "sts", "--profile", "regular", "--episodes", "1", "--max-turns", "2",
                     "--log", str(log), "--json", *flags]) == 0
        assert load_episodes(log)[0]["decoding"]["word_constraint"] is constrained
    capsys.readouterr()
    assert main(["simulate", "--free-words", "--episodes", "1"]) != 0
    assert "--free-words has no effect with --simulator agenda" in capsys.readouterr().err


def test_the_fast_mask_equals_checking_every_token_on_the_shipped_tokenizer():
    lexicon = lexicon_for(load_pack_model().tokenizer)
    rng = np.random.default_rng(0)
    words = sorted(lexicon.words)
    runs = {w[:k] for w in rng.choice(words, 150, replace=False) for k in range(1, len(w) + 1)}
    runs |= {"don'", "i'", "it's", "i''", "'", "can'", "''"}
    joining = set(lexicon.joining)
    for run in sorted(runs):
        slow = torch.tensor([i in joining and lexicon.advance(run, i) is not None for i in range(len(lexicon))])
        if lexicon.closes(run):
            slow |= lexicon.from_start & lexicon.separates
        assert torch.equal(lexicon.mask(run), slow), run
