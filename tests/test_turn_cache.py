"""The cross-turn key/value cache: a cached decode gives exactly the tokens of one that recomputes everything."""

import numpy as np
import pytest

from mtad_env.domain import load_tasks
from mtad_env.profiles import Profile
from simulators.agenda import AgendaUserSimulator
from simulators.dialogue_generator import generate_dialogue
from simulators.lean_mistral import lean_model
from simulators.lm_simulator import load_pack_model
from simulators.mtad_engine import DecodeRequest, decode, normalise_weights
from simulators.prompting import prompt_text
from simulators.turn_cache import TurnCache

ADAPTERS = ["regular", "verbosity=high", "engagement=low", "fluency=low"]


def _dialogue(seed: int) -> list[dict]:
    task = load_tasks("test")[seed]
    return generate_dialogue(AgendaUserSimulator(), task, Profile(), np.random.default_rng(seed))["dialog"]


def _turn_prompts(lm, turns: list[dict], n: int) -> list[list[int]]:
    texts = [prompt_text(turns[:t], None, "dialogue") for t in range(min(n, len(turns)))]
    return [lm.tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]


def _decode(lm, prompt, adapters, seed, cache=None):
    k = len(adapters)
    request = DecodeRequest(prompt, adapters, normalise_weights(np.arange(1, k + 1), k),
                            np.random.default_rng(seed), cache=cache)
    return decode(lm.model, [request], [lm.end_id], lm.tokenizer.pad_token_id, max_new_tokens=12)[0]


@pytest.mark.parametrize("k", [1, 2, 4])
def test_cached_turns_decode_the_same_tokens_as_recomputing_the_whole_dialogue(micro_pack, k):
    lm = load_pack_model(micro_pack, "cpu")
    prompts = _turn_prompts(lm, _dialogue(0), 6)
    cache, reused = TurnCache(), []
    for t, prompt in enumerate(prompts):
        lean = lean_model(lm.model, len(prompt) + 12)
        reused.append(cache.reusable(lean, ADAPTERS[0], prompt))
        assert _decode(lm, prompt, ADAPTERS[:k], t, cache) == _decode(lm, prompt, ADAPTERS[:k], t)
    # every turn after the first reuses at least the whole previous prompt: the cache is really read
    assert reused[0] == 0 and all(r >= len(p) for r, p in zip(reused[1:], prompts))


def test_a_batch_of_cached_dialogues_decodes_like_each_dialogue_recomputed_alone(micro_pack):
    lm = load_pack_model(micro_pack, "cpu")
    dialogues = [_turn_prompts(lm, _dialogue(seed), 5) for seed in (1, 2, 3)]
    caches = [TurnCache() for _ in dialogues]
    adapters = [ADAPTERS[:1], ADAPTERS[1:3], ADAPTERS[:4]]  # a different adapter count per dialogue
    for t in range(min(len(d) for d in dialogues)):
        batch = [DecodeRequest(d[t], a, normalise_weights(None, len(a)), np.random.default_rng(10 * t + i), cache=c)
                 for i, (d, a, c) in enumerate(zip(dialogues, adapters, caches))]
        cached = decode(lm.model, batch, [lm.end_id], lm.tokenizer.pad_token_id, max_new_tokens=12)
        alone = [decode(lm.model, [DecodeRequest(d[t], a, normalise_weights(None, len(a)),
                                                 np.random.default_rng(10 * t + i))],
                        [lm.end_id], lm.tokenizer.pad_token_id, max_new_tokens=12)[0]
                 for i, (d, a) in enumerate(zip(dialogues, adapters))]
        assert cached == alone


def test_an_edited_history_reuses_only_the_common_prefix(micro_pack):
    lm = load_pack_model(micro_pack, "cpu")
    turns = _dialogue(4)
    prompts = _turn_prompts(lm, turns, 4)
    cache = TurnCache()
    for t, prompt in enumerate(prompts[:3]):
        _decode(lm, prompt, ADAPTERS[:1], t, cache)
    edited = [dict(turn) for turn in turns[:3]]
    edited[0]["user"] = "something else entirely"
    prompt = lm.tokenizer(prompt_text(edited, None, "dialogue"), add_special_tokens=False)["input_ids"]
    lean = lean_model(lm.model, len(prompt) + 12)
    head = lm.tokenizer(prompt_text([], None, "dialogue"), add_special_tokens=False)["input_ids"]
    assert len(head) <= cache.reusable(lean, ADAPTERS[0], prompt) < len(prompts[1])
    assert _decode(lm, prompt, ADAPTERS[:1], 9, cache) == _decode(lm, prompt, ADAPTERS[:1], 9)
