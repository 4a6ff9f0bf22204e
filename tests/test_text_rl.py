"""Text-policy RL with TRL: whole episodes as GRPO rollouts, the user's tokens masked, the environment's return as
the reward; the warm start; the one-line error without the ``rl`` extra; a smoke run of the example."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import mtad_env
from mtad_env.errors import MissingExtraError
from mtad_env.observations import MAX_RESPONSE_CHARS, clean_text
from mtad_env.packs import SHIPPED_PACK
from training.text_assistant_rl import (GRPORunConfig, WarmStartConfig, build_grpo_trainer, encoder_for, sft_loss,
                                        sft_rows, template_episodes, warm_start)
from mtad_env.domain import find_task
from training.text_dialogue import (DialogueConfig, EnvPool, EpisodeSpec, LMResponder, episode_specs, play_episodes,
                                    shown_step, user_text)

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "train_text_assistant.py"


def _length_reward(event):
    """A reward that tells the responses apart (a random model's are all wrong): a tenth per character."""
    return {"assistant": len(event.turn["system"]) / 10, "user": 0.0}


DIALOGUE = DialogueConfig(max_turns=6, max_new_tokens=6, make_kwargs={"reward_fn": _length_reward})
SPECS = episode_specs("train", ["Patient", "verbosity=high"], per_profile=1, seed=3)


@pytest.fixture(scope="module")
def policy():
    """A tiny random Mistral over the shipped pack's tokenizer."""
    from transformers import AutoTokenizer, MistralConfig, MistralForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(SHIPPED_PACK / "tokenizer")
    torch.manual_seed(0)
    config = MistralConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                           num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=1024,
                           pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id)
    return MistralForCausalLM(config).eval(), tokenizer


def _spans(mask: list[int]) -> list[tuple[int, int, int]]:
    """Maximal runs of equal mask values: ``(value, start, end)``."""
    runs, start = [], 0
    for i in range(1, len(mask) + 1):
        if i == len(mask) or mask[i] != mask[start]:
            runs.append((mask[start], start, i))
            start = i
    return runs


def _episodes(policy, dialogue=DIALOGUE):
    model, tokenizer = policy
    encoder = encoder_for(tokenizer, dialogue)
    respond = LMResponder(model, encoder, dialogue.max_new_tokens, temperature=1.0, seed=0)
    return play_episodes(SPECS, respond, encoder, EnvPool(dialogue, "train"), max_len=1024), encoder


def test_user_tokens_are_masked_exactly_on_the_user_turns(policy):
    episodes, encoder = _episodes(policy)
    for episode in episodes:
        turns, n_steps = episode.dialogue, len(find_task(episode.spec.task_id, "train").methods)
        assert len(episode.env_mask) == len(episode.completion_ids) == len(episode.logprobs)
        header = encoder.header(find_task(episode.spec.task_id, "train"))
        first = encoder.ids(user_text(turns[0]["user"], 0, n_steps, encoder.fmt))
        assert episode.prompt_ids == header + first  # the user's first turn is the prompt's end
        runs = _spans(episode.env_mask)
        assert [v for v, _, _ in runs] == [1, 0] * (len(turns) - 1) + [1]  # response, user, ..., response
        for k, (value, start, end) in enumerate(runs):
            ids = episode.completion_ids[start:end]
            if value == 0:  # the user's turn k // 2 + 1, exactly
                turn = k // 2 + 1
                assert ids == encoder.ids(user_text(turns[turn]["user"], shown_step(turns, turn), n_steps,
                                                    encoder.fmt))
                assert all(lp == 0.0 for lp in episode.logprobs[start:end])
            else:  # the policy's tokens: what the environment was told
                assert clean_text(encoder.text(ids), MAX_RESPONSE_CHARS) == turns[k // 2]["system"]
                assert all(lp <= 0.0 for lp in episode.logprobs[start:end])


@pytest.mark.parametrize("reward_fn", [None, _length_reward], ids=["reward table", "reward_fn"])
def test_reward_is_the_environments_episode_return(policy, reward_fn):
    dialogue = DialogueConfig(max_turns=6, max_new_tokens=6, make_kwargs={"reward_fn": reward_fn})
    episodes, _ = _episodes(policy, dialogue)
    for episode in episodes:
        env = mtad_env.make(split="train", max_turns=dialogue.max_turns, reward_fn=reward_fn)
        env.reset(seed=episode.spec.seed, options={"profile": episode.spec.profile, "task": episode.spec.task_id})
        responses, total = iter(t["system"] for t in episode.dialogue), 0.0
        for agent in env.agent_iter():
            obs, reward, terminated, truncated, info = env.last()
            total += reward if agent == "assistant" else 0.0
            if terminated or truncated:
                env.step(None)
                continue
            env.step(env.user_policy(obs) if agent == "user" else next(responses))
        assert episode.episode_return == total
        assert info["end_reason"] == episode.end_reason


def test_a_grpo_step_trains_on_the_policy_tokens_only_and_logs_returns_per_profile(policy, tmp_path):
    pytest.importorskip("trl")
    model, tokenizer = policy
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    config = GRPORunConfig(steps=1, num_generations=2, groups_per_step=2, lr=1e-2, output_dir=str(tmp_path))
    trainer = build_grpo_trainer(model, tokenizer, DIALOGUE, config)
    rollouts, losses = [], []
    rollout, compute_loss = trainer.rollout_func, trainer._compute_loss
    trainer.rollout_func = lambda prompts, t: rollouts.append(rollout(prompts, t)) or rollouts[-1]
    trainer._compute_loss = lambda m, inputs: losses.append(inputs) or compute_loss(m, inputs)
    trainer.train()
    assert [n for n, p in trainer.model.named_parameters() if not torch.equal(p.detach().cpu(), before[n])]
    (out,), (inputs,) = rollouts, losses
    assert out["episode_return"] == [float(r) for r in out["episode_return"]] and len(out["env_mask"]) == 4
    loss_mask = inputs["completion_mask"] * inputs["tool_mask"]  # what TRL's loss counts
    for ids, mask, length in zip(inputs["completion_ids"], loss_mask, inputs["completion_mask"].sum(1)):
        ids, mask = ids[:int(length)].tolist(), mask[:int(length)].tolist()
        row = out["completion_ids"].index(ids)  # the episode this row is
        assert mask == out["env_mask"][row] and 0 in mask  # zeros exactly on the user's tokens
    logged = {k for h in trainer.state.log_history for k in h}
    by_profile = {k[len("return/"):] for k in logged if k.startswith("return/")}  # the per-trait breakdown
    assert by_profile and by_profile <= {str(p) for p in mtad_env.single_trait_profiles()}
    assert "rewards/episode_return/mean" in logged


def test_warm_start_lowers_the_loss_on_template_responses(policy):
    model, tokenizer = policy
    model = type(model)(model.config)  # its own copy: the other tests keep theirs
    episodes = template_episodes(tokenizer, DIALOGUE, per_profile=1, seed=0)
    rows = sft_rows(episodes, 1024)
    with torch.no_grad():
        start = float(sft_loss(model, rows, tokenizer.pad_token_id))
    losses = warm_start(model, tokenizer, DIALOGUE, WarmStartConfig(steps=15, batch_size=4, lr=3e-3), rows=rows)
    with torch.no_grad():
        end = float(sft_loss(model, rows, tokenizer.pad_token_id))
    assert len(losses) == 15 and end < start - 0.5


def test_pooled_agenda_users_play_the_episodes_that_fresh_ones_play():
    from agents import TemplateAssistant

    pooled = EnvPool(DialogueConfig(), "train").take(3)  # the 2nd and 3rd share the 1st one's caches
    profiles = ["Patient", "Verbose", "Impatient", "Verbose", "Impatient", "Patient"]
    for seed, (env, profile) in enumerate(zip(pooled * 2, profiles)):
        fresh = mtad_env.make(split="train")
        for e in (env, fresh):
            mtad_env.rollout(e, TemplateAssistant(seed=0), seed=seed, options={"profile": profile})
        assert env.dialogue == fresh.dialogue


def test_without_trl_the_error_is_one_line_naming_the_extra(policy, monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "trl", None)  # makes `import trl` raise ImportError
    model, tokenizer = policy
    with pytest.raises(MissingExtraError) as err:
        build_grpo_trainer(model, tokenizer, DIALOGUE, GRPORunConfig(output_dir=str(tmp_path)))
    message = str(err.value)
    assert len(message.splitlines()) == 1 and 'pip install "mtad-env[rl]"' in message
    code = ("import sys; sys.modules['trl'] = sys.modules['datasets'] = None\n"
            "import mtad_env, training.text_assistant_rl; from mtad_env.cli import main\n"
            "env = mtad_env.make(seed=0); env.reset(seed=0); raise SystemExit(main(['simulate', '--episodes', '1']))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]  # the core and the CLI need no TRL


def test_on_python_3_10_the_missing_trl_error_says_which_python_it_needs(monkeypatch):
    from training import text_assistant_rl

    monkeypatch.setitem(sys.modules, "trl", None)
    monkeypatch.setattr(text_assistant_rl.sys, "version_info", (3, 10, 13))
    with pytest.raises(MissingExtraError, match=r"needs Python 3\.11 or newer \(this is 3\.10\)"):
        text_assistant_rl.import_trl()


def test_bad_settings_name_the_value_and_the_choices():
    from mtad_env.errors import InvalidValueError

    with pytest.raises(InvalidValueError, match="loss_type.*valid: dapo"):
        GRPORunConfig(loss_type="ppo")
    with pytest.raises(InvalidValueError, match="num_generations=1"):
        GRPORunConfig(num_generations=1)
    with pytest.raises(InvalidValueError, match="not an episode spec|no episode spec"):
        EpisodeSpec.from_prompt("hello")


def test_example_smoke_run_reports_start_and_trained_with_intervals(tmp_path):
    pytest.importorskip("trl")
    done = subprocess.run([sys.executable, str(EXAMPLE), "--warm-dialogues", "1", "--warm-steps", "2",
                           "--grpo-steps", "1", "--group-size", "2", "--groups-per-step", "1",
                           "--episodes-per-profile", "1", "--max-new-tokens", "8", "--device", "cpu",
                           "--out", str(tmp_path), "--json"], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["episodes"] == 17 and result["split"] == "test"
    for name in ("start", "trained", "template"):
        low, high = result[name]["ci95"]
        assert low <= result[name]["mean_return"] <= high and len(result[name]["by_profile"]) == 17
    assert json.loads((tmp_path / "results.json").read_text()) == result
    assert (tmp_path / "trained" / "config.json").exists()
