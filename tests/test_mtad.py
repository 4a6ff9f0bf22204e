"""mTAD decoding: exactly the paper's reference loop's tokens, batch independence, weights, LA and Sampling."""

import numpy as np
import pytest

import mtad_env
from mtad_env import InvalidValueError, PackError
from simulators.lm_simulator import LMUserSimulator, load_pack_model
from simulators.mtad_engine import DecodeRequest, decode, normalise_weights, reference_decode
from simulators.prompting import build_prompt

ADAPTERS = ["regular", "verbosity=high", "engagement=low", "fluency=low"]
HISTORY = [{"intent": "start", "user": "let's start", "system": "Sure! Step 1: Boil the water in a pot."},
           {"intent": "next", "user": "next", "system": "Step 2: Add the pasta and stir."}]


def _prompts(lm):
    texts = [build_prompt([], None), build_prompt(HISTORY, None), build_prompt(HISTORY[:1], None)]
    return [lm.tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]


@pytest.mark.parametrize("engine", ["lean", "transformers"])
@pytest.mark.parametrize("k", [1, 2, 4])
def test_batched_cached_engine_gives_exactly_the_reference_tokens(micro_pack, k, engine):
    lm = load_pack_model(micro_pack, "cpu")
    prompts = _prompts(lm)
    weights = normalise_weights(np.arange(1, k + 1), k)
    batch = [DecodeRequest(p, ADAPTERS[:k], weights, np.random.default_rng(i)) for i, p in enumerate(prompts)]
    ours = decode(lm.model, batch, [lm.end_id], lm.tokenizer.pad_token_id, max_new_tokens=16, engine=engine)
    reference = [reference_decode(lm.model, DecodeRequest(p, ADAPTERS[:k], weights, np.random.default_rng(i)),
                                  [lm.end_id], max_new_tokens=16) for i, p in enumerate(prompts)]
    assert ours == reference
    assert all(len(t) > 1 for t in ours)


def test_a_dialogues_tokens_do_not_depend_on_the_rest_of_the_batch(micro_pack):
    lm = load_pack_model(micro_pack, "cpu")
    prompts = _prompts(lm)
    alone = decode(lm.model, [DecodeRequest(prompts[1], ADAPTERS[:2], np.array([0.5, 0.5]),
                                            np.random.default_rng(7))], [lm.end_id], lm.tokenizer.pad_token_id, 16)
    crowd = [DecodeRequest(p, ADAPTERS[i % 3:i % 3 + 2], np.array([0.5, 0.5]),
                           np.random.default_rng(100 + i)) for i, p in enumerate(prompts * 3)]
    crowd.insert(4, DecodeRequest(prompts[1], ADAPTERS[:2], np.array([0.5, 0.5]), np.random.default_rng(7)))
    assert decode(lm.model, crowd, [lm.end_id], lm.tokenizer.pad_token_id, 16)[4] == alone[0]


def test_mixing_changes_the_distribution_and_one_hot_weights_select_an_adapter(micro_pack):
    lm = load_pack_model(micro_pack, "cpu")
    prompt = _prompts(lm)[1]
    only_second = decode(lm.model, [DecodeRequest(prompt, ADAPTERS[:2], np.array([0.0, 1.0]),
                                                  np.random.default_rng(3))], [lm.end_id], lm.tokenizer.pad_token_id)
    single = decode(lm.model, [DecodeRequest(prompt, ADAPTERS[1:2], np.ones(1), np.random.default_rng(3))],
                    [lm.end_id], lm.tokenizer.pad_token_id)
    assert only_second == single


@pytest.mark.parametrize("weights, match", [
    ([1, -1], "non-negative"), ([0, 0], "not all zero"), ([1, float("nan")], "finite"), ([1, 2, 3], "must have 2"),
])
def test_bad_weights_are_refused(weights, match):
    with pytest.raises(InvalidValueError, match=match):
        normalise_weights(weights, 2, ["a", "b"])


def test_mtad_la_splits_weights_by_trait_level(micro_pack):
    sim = LMUserSimulator(micro_pack, mode="mtad-la")
    sim.reset(mtad_env.Profile.parse("engagement=high,verbosity=high"), mtad_env.load_tasks("test")[0],
              np.random.default_rng(0))
    req = sim.request(HISTORY)
    assert req.adapters == ["engagement=high", "verbosity=high"]
    assert req.weights.tolist() == [1.0, 0.0] and req.later_weights.tolist() == [0.0, 1.0]


def test_sampling_draws_one_adapter_per_turn_by_weight(micro_pack):
    sim = LMUserSimulator(micro_pack, mode="sampling", weights=[1, 3])
    sim.reset(mtad_env.Profile.parse("Patient & Verbose"), mtad_env.load_tasks("test")[0], np.random.default_rng(0))
    drawn = [sim.request(HISTORY).adapters for _ in range(400)]
    assert all(len(a) == 1 for a in drawn)
    assert 0.68 < np.mean([a == ["verbosity=high"] for a in drawn]) < 0.82


def test_opposite_intensities_of_one_trait_can_be_mixed(micro_pack):
    sim = LMUserSimulator(micro_pack, mode="mtad", adapters=["verbosity=low", "verbosity=high"], weights="0.2,0.8")
    sim.reset(mtad_env.Profile(), mtad_env.load_tasks("test")[0], np.random.default_rng(0))
    assert sim.request(HISTORY).weights.tolist() == pytest.approx([0.2, 0.8])


def test_make_and_cli_drive_every_lm_mode(micro_pack):
    from mtad_env.cli import main

    for simulator in ("mtad", "mtad-la", "sampling"):
        env = mtad_env.make(profile="Patient & Concise", simulator=simulator, pack=str(micro_pack),
                            assistant="template", seed=0, max_turns=2)
        assert mtad_env.rollout(env, seed=0)["end_reason"]
    assert main(["simulate", "--profile", "Patient & Concise", "--simulator", "mtad", "--weights", "2,1",
                 "--pack", str(micro_pack), "--episodes", "1", "--max-turns", "2", "--json"]) == 0


def test_missing_adapter_and_wrong_weight_count_are_refused(micro_pack):
    env = mtad_env.make(profile="Patient & Concise", simulator="mtad", pack=str(micro_pack), weights=[1, 2, 3])
    with pytest.raises(InvalidValueError, match="must have 2 values"):
        env.reset(seed=0)
    sim = LMUserSimulator(micro_pack, mode="mtad", adapters=["verbosity=high"])
    mtad_env.register_trait("politeness", "utterance", lambda u: float("please" in u))
    try:
        with pytest.raises(PackError, match="no adapter for politeness=high"):
            sim.fixed_adapters = ["politeness=high"]
            sim.reset(mtad_env.Profile(), mtad_env.load_tasks("test")[0], np.random.default_rng(0))
    finally:
        mtad_env.unregister_trait("politeness")


def _episodes(micro_pack, batch, n=4):
    envs = [mtad_env.make(profile="Patient & Concise", simulator="mtad", pack=str(micro_pack),
                          assistant="template", seed=0, max_turns=3) for _ in range(batch)]
    out = []
    for start in range(0, n, batch):
        chunk = envs[:min(batch, n - start)]
        mtad_env.rollout_many(chunk, seed=10 + start)
        out += [[(t["intent"], t["user"], t["system"]) for t in env.dialogue] for env in chunk]
    return out


def _dialogue(env):
    return [(t["intent"], t["user"], t["system"]) for t in env.dialogue]


@pytest.mark.parametrize("neighbour", [{"temperature": 1.5}, {"top_p": 0.5}, {"max_new_tokens": 3},
                                       {"temperature": 1.5, "top_p": 0.6, "max_new_tokens": 5}])
def test_a_dialogue_is_the_same_alone_and_batched_beside_a_differently_configured_user(micro_pack, neighbour):
    """Each row decodes with its own sampling settings: a greedy user batched after (and before) a user with other
    settings says what it says alone, and so does that neighbour."""
    def make(**settings):
        return mtad_env.make(profile="Patient & Concise", simulator="mtad", pack=str(micro_pack),
                             assistant="template", seed=0, max_turns=4, **settings)

    greedy = {"temperature": 0.0}
    alone, alone_neighbour = make(**greedy), make(**neighbour)
    mtad_env.rollout(alone, seed=5)
    mtad_env.rollout(alone_neighbour, seed=6)
    for order in ((neighbour, greedy), (greedy, neighbour)):
        envs = [make(**settings) for settings in order]
        seeds = [6, 5] if order[0] is neighbour else [5, 6]
        mtad_env.rollout_many(envs, seeds=seeds)
        batched = dict(zip(seeds, envs))
        assert _dialogue(batched[5]) == _dialogue(alone)
        assert _dialogue(batched[6]) == _dialogue(alone_neighbour)
    assert _dialogue(alone) != _dialogue(alone_neighbour)


def test_episodes_do_not_depend_on_batch_size_or_thread_count(micro_pack):
    import torch

    one_by_one = _episodes(micro_pack, 1)
    assert _episodes(micro_pack, 4) == one_by_one
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        assert _episodes(micro_pack, 2) == one_by_one
    finally:
        torch.set_num_threads(threads)


@pytest.mark.parametrize("row_route_bytes, block_tokens", [(2**30, 2400), (0, 1)])
def test_lean_forward_matches_the_transformers_forward_row_by_row(micro_pack, monkeypatch, row_route_bytes,
                                                                  block_tokens):
    """Both ways of routing rows through several adapters (gathered per-row matrices; masked columns), and the
    prompt pass in one block or row by row."""
    import torch

    from simulators import lean_mistral
    from simulators.lean_mistral import lean_model

    monkeypatch.setattr(lean_mistral, "ROW_ROUTE_BYTES", row_route_bytes)
    monkeypatch.setattr(lean_mistral, "PREFILL_BLOCK_TOKENS", block_tokens)

    lm = load_pack_model(micro_pack, "cpu")
    prompts = _prompts(lm)
    width = max(len(p) for p in prompts)
    rows = [(p, a) for p in prompts for a in ADAPTERS[:3]]
    ids = torch.tensor([[0] * (width - len(p)) + p for p, _ in rows])
    mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p, _ in rows])
    session = lean_model(lm.model, width + 2).session([a for _, a in rows], width + 2)
    prefill = session.prefill(ids, mask)
    step = session.step(torch.full((len(rows), 1), 7))
    for i, (prompt, adapter) in enumerate(rows):
        lm.model.set_adapter(adapter)
        expected = lm.model(input_ids=torch.tensor([prompt + [7]])).logits[0].float()
        assert torch.allclose(prefill[i], expected[-2], atol=1e-4)
        assert torch.allclose(step[i], expected[-1], atol=1e-4)


def test_lean_sessions_reuse_the_routes_of_a_recent_row_layout(micro_pack):
    """A dialogue decodes every turn with the same adapters: its rows' gathered LoRA matrices are built once and
    reused (same tokens); other layouts get their own, and only the last few layouts are kept."""
    from simulators import lean_mistral
    from simulators.lean_mistral import lean_model

    lm = load_pack_model(micro_pack, "cpu")
    prompts = _prompts(lm)
    lean = lean_model(lm.model, 64)
    first = lean.session(ADAPTERS, 64).layer_routes
    assert lean.session(ADAPTERS, 64).layer_routes is first
    assert lean.session(ADAPTERS[::-1], 64).layer_routes is not first

    def tokens():
        return decode(lm.model, [DecodeRequest(prompts[1], ADAPTERS, np.full(4, 0.25), np.random.default_rng(3))],
                      [lm.end_id], lm.tokenizer.pad_token_id, 16)

    assert tokens() == tokens()
    for i in range(lean_mistral.ROUTE_CACHE_ENTRIES + 2):
        lean.session([ADAPTERS[0]] + [ADAPTERS[1]] * (i + 1), 64)
    assert len(lean._route_cache) == lean_mistral.ROUTE_CACHE_ENTRIES
    assert lean.session(ADAPTERS, 64).layer_routes is not first  # evicted: built again


def test_models_the_lean_forward_does_not_cover_fall_back_to_transformers(micro_pack):
    from peft import LoraConfig, get_peft_model
    from transformers import MistralConfig, MistralForCausalLM

    from simulators.lean_mistral import lean_model

    lm = load_pack_model(micro_pack, "cpu")
    assert lean_model(lm.model, 64) is not None
    config = MistralConfig(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                           num_attention_heads=2, num_key_value_heads=1, sliding_window=16)
    assert lean_model(MistralForCausalLM(config), 8) is None  # no adapters: not a PEFT model
    dora = get_peft_model(MistralForCausalLM(config), LoraConfig(r=2, target_modules=["q_proj"], use_dora=True))
    assert lean_model(dora, 8) is None
    plain = get_peft_model(MistralForCausalLM(config), LoraConfig(r=2, target_modules=["q_proj"]))
    assert lean_model(plain, 8) is not None and lean_model(plain, 17) is None  # past the sliding window
    req = DecodeRequest([1, 2, 3], ["default"], np.ones(1), np.random.default_rng(0))
    with pytest.raises(InvalidValueError, match="engine 'lean' does not cover"):
        decode(dora, [req], [], 0, 2, engine="lean")
    with pytest.raises(InvalidValueError, match="not one of auto, lean, transformers"):
        decode(plain, [req], [], 0, 2, engine="fast")
    assert len(decode(dora, [req], [], 0, 3)) == 1  # auto: through transformers


def test_nucleus_sampling_keeps_exactly_the_full_sort_nucleus():
    import torch

    from simulators.decoding import nucleus_sample

    gen = torch.Generator().manual_seed(0)
    for scale in (0.5, 3.0, 8.0):  # flat to peaked: the topk candidates and the by-value path of flat rows
        probs = torch.softmax(torch.randn(16, 2500, generator=gen) * scale, -1)
        uniforms = torch.rand(16, generator=gen, dtype=torch.float64)
        sorted_p, order = probs.sort(-1, descending=True)
        kept = sorted_p * ((sorted_p.cumsum(-1) - sorted_p) < 0.9)
        cdf = kept.double().cumsum(-1)
        pick = torch.searchsorted(cdf, (uniforms * cdf[:, -1])[:, None])
        assert torch.equal(nucleus_sample(probs, 0.9, uniforms), order.gather(-1, pick)[:, 0])


def test_nucleus_sampling_takes_equal_probabilities_in_token_order():
    import torch

    from simulators.decoding import nucleus_sample

    flat = torch.full((2, 1024), 1 / 1024)  # exact in binary: the nucleus of 0.5 is tokens 0..511, in id order
    assert nucleus_sample(flat, 0.5, torch.tensor([0.0, 0.999], dtype=torch.float64)).tolist() == [0, 511]
    peaked = torch.zeros((2, 1024))
    peaked[:, 700], peaked[:, :512] = 0.5, 1 / 1024  # nucleus of 0.75: token 700, then tokens 0..255
    assert nucleus_sample(peaked, 0.75, torch.tensor([0.5, 0.9], dtype=torch.float64)).tolist() == [700, 179]


def test_gpu_check_measures_every_bench_decode_ratio_on_a_tiny_model():
    from evaluation.gpu_check import run

    result = run("tiny", "cpu", repeats=1)
    assert set(result["reference_vs_batched"]) == {"k1", "k2", "k4"}
    assert all(r > 0 for r in result["reference_vs_batched"].values())
    assert result["batch32_vs_batch1"] > 0 and result["mtad_k4_vs_single"] > 0
    assert result["engine"] == "lean" and result["paper_tokens_per_s_k1"] == 250.0


def test_episode_logs_record_how_an_lm_user_decoded(micro_pack):
    env = mtad_env.make(profile="regular", simulator="mtad", pack=str(micro_pack), assistant="template", seed=0,
                        max_turns=1, adapters=["verbosity=low", "verbosity=high"], weights=[1, 3])
    mtad_env.rollout(env, seed=0)
    record = env.episode_record("test", {})
    assert record["decoding"] == {"mode": "mtad", "adapters": ["verbosity=low", "verbosity=high"],
                                  "weights": [0.25, 0.75], "word_constraint": True, "task_fit": True}
