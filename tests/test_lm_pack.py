"""LM simulators: train the micro preset end to end, round-trip and validate the pack, simulate with STS/JTS."""

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

import mtad_env
from mtad_env import PackError
from mtad_env.packs import load_pack
from simulators.lm_simulator import LMUserSimulator, parse_action
from simulators.prompting import build_prompt, completion_text, parse_completion, prompt_text
from training.pack_builder import TrainConfig, build_pack, corpus_sha256


def test_micro_pack_has_tokenizer_base_17_sts_adapters_and_jts(micro_pack):
    pack = load_pack(micro_pack)
    assert pack.prompt_format == "task_dialogue"
    assert len(pack.adapters) == 17 and "regular" in pack.adapters
    assert (micro_pack / "adapters" / "verbosity=high" / "adapter_model.safetensors").exists()
    assert (micro_pack / "jts" / "adapter_config.json").exists()
    config = json.loads((micro_pack / "adapters" / "regular" / "adapter_config.json").read_text())
    assert {"q_proj", "k_proj", "v_proj", "o_proj", "embed_tokens", "lm_head"} <= set(config["target_modules"])
    m = pack.manifest
    assert m["preset"] == "micro" and m["seed"] == 0 and len(m["corpus_sha256"]) == 64
    assert all(np.isfinite(a["val_loss"]) for a in m["adapters"].values()) and np.isfinite(m["jts"]["val_loss"])
    assert not list(micro_pack.rglob("*.bin")) and not list(micro_pack.rglob("*.pt"))


def test_corpus_hash_follows_the_turns_not_only_the_dialogue_ids():
    records = [{"dialog_id": f"d{i}", "dialog": [{"user": "next", "system": f"Step {i}"}]} for i in range(3)]
    edited = json.loads(json.dumps(records))
    edited[1]["dialog"][0]["user"] = "what's next"
    assert corpus_sha256(records) == corpus_sha256(records[::-1])  # file order does not matter
    assert corpus_sha256(records) != corpus_sha256(edited)


def test_resume_after_a_finished_run_changes_nothing(micro_pack):
    before = (micro_pack / "manifest.json").read_text()
    build_pack(TrainConfig("micro", str(micro_pack), seed=0, resume=True, progress=False))
    assert (micro_pack / "manifest.json").read_text() == before


def test_resume_retrains_a_missing_adapter_only(micro_pack, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(micro_pack, copy)
    progress = json.loads((copy / "checkpoints" / "progress.json").read_text())
    del progress["adapters"]["fluency=low"]
    (copy / "checkpoints" / "progress.json").write_text(json.dumps(progress))
    shutil.rmtree(copy / "adapters" / "fluency=low")
    build_pack(TrainConfig("micro", str(copy), seed=0, resume=True, progress=False))
    assert (copy / "adapters" / "fluency=low" / "adapter_model.safetensors").exists()
    assert (copy / "base" / "model.safetensors").read_bytes() == (micro_pack / "base" / "model.safetensors").read_bytes()


def test_existing_output_without_resume_is_refused(micro_pack):
    with pytest.raises(mtad_env.InvalidValueError, match="--resume"):
        build_pack(TrainConfig("micro", str(micro_pack), seed=0, progress=False))


def test_truncated_adapter_is_refused_naming_the_file(micro_pack, tmp_path):
    copy = tmp_path / "bad"
    shutil.copytree(micro_pack, copy)
    weights = copy / "adapters" / "emotion=low" / "adapter_model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(PackError, match="emotion=low/adapter_model.safetensors"):
        load_pack(copy)
    done = subprocess.run([sys.executable, "-m", "mtad_env", "simulate", "--simulator", "sts", "--pack", str(copy),
                           "--episodes", "1"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "adapter_model.safetensors" in done.stderr and "Traceback" not in done.stderr


def test_foreign_tokenizer_is_refused(micro_pack, tmp_path):
    copy = tmp_path / "foreign"
    shutil.copytree(micro_pack, copy)
    tok = json.loads((copy / "tokenizer" / "tokenizer.json").read_text())
    tok["model"]["vocab"]["zzzz"] = len(tok["model"]["vocab"]) + 1000
    (copy / "tokenizer" / "tokenizer.json").write_text(json.dumps(tok))
    with pytest.raises(PackError, match="tokenizer"):
        load_pack(copy)


def test_sts_and_jts_simulate_through_the_environment(micro_pack):
    for simulator, profile in (("sts", "Verbose"), ("jts", "Verbose & Impatient")):
        env = mtad_env.make(profile=profile, simulator=simulator, pack=str(micro_pack), assistant="template",
                            seed=0, max_turns=3)
        info = mtad_env.rollout(env, seed=0)
        assert info["end_reason"] in {"degenerate_user_turn", "turn_limit", "stop_by_trait", "stop_after_errors",
                                      "task_completed"}
        assert env.simulator.name == simulator


def test_same_seed_same_lm_episode(micro_pack):
    runs = []
    for _ in range(2):
        env = mtad_env.make(profile="regular", simulator="sts", pack=str(micro_pack), assistant="template", seed=4,
                            max_turns=3)
        mtad_env.rollout(env)
        runs.append([(t["intent"], t["user"]) for t in env.dialogue])
    assert runs[0] == runs[1]


def test_sts_refuses_profiles_without_an_adapter(micro_pack):
    sim = LMUserSimulator(micro_pack, mode="sts")
    with pytest.raises(mtad_env.InvalidValueError, match="single-trait profiles"):
        sim.reset(mtad_env.Profile.parse("Verbose & Patient"), mtad_env.load_tasks("test")[0],
                  np.random.default_rng(0))


def test_prompt_round_trip_and_degenerate_outputs():
    turns = [{"intent": "start", "user": "let's go", "system": "Step 1: Boil water."}]
    prompt = build_prompt(turns, mtad_env.Profile.parse("Concise"))
    assert prompt.endswith("<|profile|><|verbosity=low|><|response|>") and "<|start|> let's go" in prompt
    assert parse_completion(completion_text("next", "next step")) == ("next", "next step", False)
    assert parse_action("next step <|end|>").intent == "<degenerate>"
    assert parse_action("<|next|> go <|stop|> on<|end|>").intent == "<degenerate>"
    assert parse_action("<|next|><|end|>").intent == "<degenerate>"
    assert parse_action("<|question|> how much salt<|end|>") == ("question", "how much salt")


def _stop_probability(lm, adapter: str, prompts: list[str]) -> float:
    """Mean probability that the next completion starts with a stop intent under ``adapter``."""
    import torch

    from mtad_env.intents import STOP_INTENTS
    from simulators.prompting import intent_token

    stop_ids = [lm.tokenizer.convert_tokens_to_ids(intent_token(i)) for i in STOP_INTENTS]
    lm.model.set_adapter(adapter)
    with torch.no_grad():
        return float(np.mean([float(lm.model(input_ids=torch.tensor([lm.tokenizer(p, add_special_tokens=False)
                                                                     ["input_ids"][-768:]])).logits[0, -1]
                                             .softmax(-1)[stop_ids].sum()) for p in prompts]))


def test_shipped_tolerance_adapters_react_to_system_errors():
    """Eq. 8's behaviour is conditional: an intolerant user stops right after a system error. The shipped
    tolerance=low adapter must stop far more often there than elsewhere, and more than tolerance=high does there
    (rank-8 adapters trained 120 steps stopped as often everywhere, which flattened the Figure 9 sweep; the
    dialogue-format pack: 0.25 after errors, 0.08 elsewhere, tolerance=high 0.03)."""
    from mtad_env.domain import load_tasks
    from mtad_env.metrics import turn_had_error
    from simulators.agenda import AgendaUserSimulator
    from simulators.dialogue_generator import GenerationConfig, generate_dialogue
    from simulators.lm_simulator import load_pack_model

    lm, tasks, user = load_pack_model(None, "cpu"), load_tasks("test"), AgendaUserSimulator()
    after_error, elsewhere = [], []
    for seed in range(200):  # forced errors hit questions, fun facts and definitions only: about 1 turn in 8
        dialog = generate_dialogue(user, tasks[seed % len(tasks)], mtad_env.Profile(), np.random.default_rng(seed),
                                   GenerationConfig(error_rate=0.3))["dialog"]
        for t in range(1, len(dialog)):
            prompt = prompt_text(dialog[:t], None, lm.pack.prompt_format, tasks[seed % len(tasks)])
            (after_error if turn_had_error(dialog[t - 1]) else elsewhere).append(prompt)
    after_error, elsewhere = after_error[:60], elsewhere[:60]
    assert len(after_error) == len(elsewhere) == 60
    low_after, low_elsewhere = (_stop_probability(lm, "tolerance=low", p) for p in (after_error, elsewhere))
    high_after = _stop_probability(lm, "tolerance=high", after_error)
    assert low_after > 2 * low_elsewhere, (low_after, low_elsewhere)
    assert low_after > 2 * high_after, (low_after, high_after)
