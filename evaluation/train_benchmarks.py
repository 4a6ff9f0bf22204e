"""``mtad-env bench train``: supervised target tokens per second, the paper's recipe against ours, in one run.

Both train the same freshly initialised base of the shipped shape (the ``tiny`` preset) on the same agenda
dialogues (17 single-trait profiles, train tasks) with the same tokenizer (the shipped pack's, else one fitted on
those dialogues):

* ``window``, the recipe the shipped packs were first trained with: one example per user turn (the last 4 turns as
  the prompt, the completion as the target), 16 padded rows per batch, ``transformers``' own loss over every
  position's logits, float32;
* ``dialogue``, the recipe of :mod:`training.lm_data`: one sequence per dialogue with a target on every user turn,
  batches of the preset's token budget, the LM head run on target positions only, bfloat16 autocast where the
  preset asks for it.

A target token is a position whose next token carries the loss. Rounds interleave the two recipes, so the speedup
is the median of ratios taken seconds apart (this machine's speed drifts between rounds).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator

import numpy as np
import torch

logger = logging.getLogger(__name__)


def _records(n_per_profile: int) -> list[dict]:
    from mtad_env.domain import load_tasks
    from mtad_env.profiles import single_trait_profiles
    from simulators.agenda import AgendaUserSimulator
    from simulators.dialogue_generator import generate_dialogue

    tasks, user, out = load_tasks("train"), AgendaUserSimulator(), []
    for i in range(n_per_profile):
        for j, profile in enumerate(single_trait_profiles()):
            rec = generate_dialogue(user, tasks[(i * 17 + j) % len(tasks)], profile, np.random.default_rng(i * 17 + j))
            out.append({**rec, "user_profile": str(profile)})
    return out


def _tokenizer(records: list[dict]):
    try:
        from mtad_env.packs import load_pack
        from training.tokenizer import load_tokenizer

        return load_tokenizer(load_pack().path / "tokenizer")
    except Exception as exc:  # noqa: BLE001 - no shipped pack: fit a tokenizer on the benchmark's dialogues
        import tempfile
        from pathlib import Path

        from training.tokenizer import train_tokenizer

        logger.info("no usable pack (%s); fitting a tokenizer", exc)
        texts = [t[k] for r in records for t in r["dialog"] for k in ("user", "system")]
        return train_tokenizer(texts, 2500, Path(tempfile.mkdtemp()) / "tokenizer")


def _steps(batches: Iterator, step: Callable) -> Callable[[int], tuple[int, float]]:
    """``run(n)``: ``n`` optimizer steps on the next batches; returns (target tokens, seconds)."""
    def run(n: int) -> tuple[int, float]:
        targets, start = 0, time.perf_counter()
        for _ in range(n):
            targets += step(next(batches))
        return targets, time.perf_counter() - start
    return run


def _recipes(records: list[dict], tokenizer, preset) -> dict[str, Callable[[int], tuple[int, float]]]:
    from training.backbone import new_backbone
    from training.lm_data import batches, build_examples, dialogue_sequences, encode, token_batches
    from training.trainer import target_loss

    pad = tokenizer.pad_token_id
    window = encode(build_examples(records, False, 0), tokenizer, 192)
    dialogue = dialogue_sequences(records, tokenizer, False, preset.max_len)
    recipes = {}
    for name in ("window", "dialogue"):
        torch.manual_seed(0)
        model = new_backbone(preset, tokenizer).train()
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)

        def update(loss, model=model, optimizer=optimizer):
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)

        if name == "window":
            def step(batch, model=model, update=update):
                ids, mask, labels = batch
                update(model(input_ids=ids, attention_mask=mask, labels=labels).loss)
                return int((labels[:, 1:] != -100).sum())
            stream = _forever(lambda g: batches(window, 16, pad, g))
        else:
            def step(batch, model=model, update=update):
                loss, n = target_loss(model, *batch, bf16=preset.bf16)
                update(loss)
                return n
            stream = _forever(lambda g: token_batches(dialogue, preset.batch_tokens, pad, g))
        recipes[name] = _steps(stream, step)
    return recipes


def _forever(make: Callable[[torch.Generator], Iterator]) -> Iterator:
    generator = torch.Generator().manual_seed(0)
    while True:
        yield from make(generator)


def bench_train(seconds: float = 5.0, rounds: int = 5, dialogues_per_profile: int = 12,
                preset_name: str = "tiny") -> dict:
    """``{"train": {...}}``: target tokens/s of each recipe and the speedup; each round runs each recipe for about
    ``seconds`` / 2."""
    from training.presets import get_preset
    from training.trainer import bf16_native

    preset = get_preset(preset_name)
    records = _records(dialogues_per_profile)
    recipes = _recipes(records, _tokenizer(records), preset)
    for run in recipes.values():  # warm-up
        run(2)
    per_step = {name: run(3)[1] / 3 for name, run in recipes.items()}
    steps = {name: max(2, int(seconds / 2 / t)) for name, t in per_step.items()}
    rates: dict[str, list[float]] = {name: [] for name in recipes}
    for _ in range(rounds):
        for name, run in recipes.items():
            targets, elapsed = run(steps[name])
            rates[name].append(targets / elapsed)
    ratio = np.array(rates["dialogue"]) / np.array(rates["window"])
    return {"train": {"window_target_tokens_per_s": round(float(np.median(rates["window"])), 1),
                      "dialogue_target_tokens_per_s": round(float(np.median(rates["dialogue"])), 1),
                      "speedup": round(float(np.median(ratio)), 2), "rounds": rounds,
                      "threads": torch.get_num_threads(), "bf16": preset.bf16 and bf16_native("cpu")}}
