"""Training data in the ``dialogue`` format, token-budget batches, the target-only loss and resumable training."""

import numpy as np
import pytest
import torch

from mtad_env.domain import load_tasks, task_from_dict
from mtad_env.errors import InvalidValueError
from mtad_env.profiles import Profile
from simulators.agenda import AgendaUserSimulator
from simulators.dialogue_generator import generate_dialogue
from simulators.lm_simulator import load_pack_model
from simulators.prompting import prompt_text
from training.lm_data import dialogue_segments, dialogue_sequences, token_batches
from training.trainer import batcher, target_loss, train_steps


def _records(n: int, profile: str = "verbosity=high") -> list[dict]:
    tasks, user = load_tasks("train"), AgendaUserSimulator()
    out = []
    for seed in range(n):
        rec = generate_dialogue(user, tasks[seed], Profile.parse(profile), np.random.default_rng(seed))
        out.append({**rec, "user_profile": profile})
    return out


@pytest.fixture(scope="module")
def tokenizer(micro_pack):
    return load_pack_model(micro_pack, "cpu").tokenizer


def test_a_dialogue_sequence_is_the_tokenized_text_with_targets_on_every_user_turn(tokenizer):
    record = _records(1)[0]
    (ids, labels), = dialogue_sequences([record], tokenizer, True, max_len=4096)
    whole = tokenizer("".join(dialogue_segments(record, True)), add_special_tokens=False)["input_ids"]
    assert ids == whole
    # the targets, read back, are exactly the user turns (intent token, utterance, end token), in order
    targets = tokenizer.decode([t for t in labels if t != -100], skip_special_tokens=False)
    expected = "".join(dialogue_segments(record, True)[1::2])
    assert targets.replace(" ", "") == expected.replace(" ", "")
    assert targets.count("<|end|>") == len(record["dialog"])
    # the prompt of turn k is a prefix of the sequence, ending just before turn k's target
    for k in (0, 3):
        prompt = tokenizer(prompt_text(record["dialog"][:k], Profile.parse("verbosity=high"), "dialogue"),
                           add_special_tokens=False)["input_ids"]
        assert ids[:len(prompt)] == prompt and labels[len(prompt)] != -100 and labels[len(prompt) - 1] == -100


def test_task_dialogue_sequences_carry_the_task_and_match_the_inference_prompt(tokenizer):
    record = _records(1, "regular")[0]
    task = task_from_dict(record["task"])
    (ids, labels), = dialogue_sequences([record], tokenizer, False, max_len=4096, with_task=True)
    head = tokenizer.decode(ids[:ids.index(tokenizer.convert_tokens_to_ids("<|user|>"))])
    assert f"Task: {task.title}." in head and task.ingredient_names[0] in head
    for k in (0, 2):
        prompt = tokenizer(prompt_text(record["dialog"][:k], None, "task_dialogue", task),
                           add_special_tokens=False)["input_ids"]
        assert ids[:len(prompt)] == prompt and labels[len(prompt)] != -100
    # without the task, the same dialogue is the plain dialogue format
    (plain, _), = dialogue_sequences([record], tokenizer, False, max_len=4096)
    assert len(plain) < len(ids) and "Task:" not in tokenizer.decode(plain)
    with pytest.raises(InvalidValueError, match="task"):
        prompt_text([], None, "task_dialogue")


def test_long_dialogues_lose_their_last_turns_not_their_start(tokenizer):
    record = _records(1, "engagement=high")[0]
    (full, _), = dialogue_sequences([record], tokenizer, False, max_len=4096)
    (cut, labels), = dialogue_sequences([record], tokenizer, False, max_len=len(full) // 2)
    assert len(cut) <= len(full) // 2 and cut == full[:len(cut)]
    assert 0 < tokenizer.decode([t for t in labels if t != -100]).count("<|end|>") < len(record["dialog"])


def test_token_batches_hold_every_sequence_once_within_the_budget(tokenizer):
    encoded = dialogue_sequences(_records(40), tokenizer, False, max_len=1024)
    seen = []
    for ids, labels in token_batches(encoded, 2048, tokenizer.pad_token_id, torch.Generator().manual_seed(0)):
        assert ids.numel() <= max(2048, ids.shape[1]) and ids.shape == labels.shape
        seen += [tuple(row[row != tokenizer.pad_token_id].tolist()) for row in ids]
    assert sorted(seen) == sorted(tuple(ids) for ids, _ in encoded)


def test_the_target_only_loss_equals_transformers_own_loss(micro_pack, tokenizer):
    model = load_pack_model(micro_pack, "cpu").model.get_base_model()
    encoded = dialogue_sequences(_records(6), tokenizer, False, max_len=1024)
    ids, labels = next(iter(token_batches(encoded, 4096, tokenizer.pad_token_id, None, shuffle=False)))
    with torch.no_grad():
        ours, n = target_loss(model, ids, labels)
        theirs = model(input_ids=ids, labels=labels).loss
    assert n == int((labels[:, 1:] != -100).sum()) > 0
    assert torch.allclose(ours, theirs, atol=1e-5)


def test_training_resumed_from_a_checkpoint_ends_where_an_uninterrupted_run_ends(micro_pack, tokenizer, tmp_path,
                                                                                 monkeypatch):
    from transformers import AutoModelForCausalLM

    import training.trainer

    calls = []
    real_loss = training.trainer.target_loss
    monkeypatch.setattr(training.trainer, "target_loss", lambda *a, **k: calls.append(1) or real_loss(*a, **k))

    data = batcher(dialogue_sequences(_records(30), tokenizer, False, max_len=1024), tokenizer.pad_token_id,
                   max_tokens=2048)

    def fresh():
        return AutoModelForCausalLM.from_pretrained(micro_pack / "base", use_safetensors=True)

    straight = fresh()
    train_steps(straight, data, 9, 1e-3, seed=0, progress=False)
    interrupted, checkpoint = fresh(), tmp_path / "run.pt"
    train_steps(interrupted, data, 9, 1e-3, seed=0, progress=False, checkpoint=checkpoint, every=4)
    assert checkpoint.exists()  # written at steps 4 and 8; now resume a fresh model from step 8
    resumed, calls[:] = fresh(), []
    train_steps(resumed, data, 9, 1e-3, seed=0, progress=False, checkpoint=checkpoint, every=4)
    assert len(calls) == 1  # only step 9 was run
    for a, b, c in zip(straight.parameters(), interrupted.parameters(), resumed.parameters()):
        assert torch.equal(a, b) and torch.allclose(a, c, atol=1e-6)


def test_bench_train_measures_both_recipes_on_the_same_model_shape():
    from evaluation.train_benchmarks import bench_train

    result = bench_train(seconds=0.1, rounds=2, dialogues_per_profile=1, preset_name="micro")["train"]
    assert result["window_target_tokens_per_s"] > 0 and result["dialogue_target_tokens_per_s"] > 0
    assert result["speedup"] == pytest.approx(
        result["dialogue_target_tokens_per_s"] / result["window_target_tokens_per_s"], rel=0.5)
    assert result["rounds"] == 2
