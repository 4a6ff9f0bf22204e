"""``mtad-env bench decode``: the paper's decoding loop against our batched, cached mTAD engine
(:mod:`simulators.mtad_engine`): how much the batching, the key/value cache and the lean forward save.

Every ratio is measured side by side in one run on the same model: the shipped pack when it is installed,
otherwise a randomly initialised tiny Mistral with four random LoRA adapters (the ratios are about the decoding
algorithm, not the weights). Prompt: 300 tokens; 24 new tokens per dialogue, no early stop.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable

import numpy as np
import torch

from simulators.lean_mistral import lean_model
from simulators.mtad_engine import DecodeRequest, decode, reference_decode

logger = logging.getLogger(__name__)
PROMPT_TOKENS, NEW_TOKENS = 300, 24


def _random_model() -> tuple[torch.nn.Module, list[str], int]:
    from peft import get_peft_model
    from transformers import MistralForCausalLM

    from training.backbone import lora_config, small_mistral_config
    from training.presets import get_preset

    torch.manual_seed(0)
    tiny = get_preset("tiny")  # the shipped pack's shapes and LoRA rank
    config = small_mistral_config(tiny, tiny.vocab_size)
    lora = dataclasses.replace(lora_config(tiny), init_lora_weights=False)  # random B: adapters that differ
    model = get_peft_model(MistralForCausalLM(config), lora, adapter_name="a0")
    for i in range(1, 4):
        model.add_adapter(f"a{i}", lora)
    return model.eval(), [f"a{i}" for i in range(4)], config.vocab_size


def _dialogue_prompts(tokenizer, n: int) -> list[list[int]]:
    """``n`` prompts of real dialogues (agenda user, template system, test recipes) cut to the last
    ``PROMPT_TOKENS`` tokens, so that the next-token distributions are as peaked as in simulation."""
    from mtad_env.domain import load_tasks
    from mtad_env.profiles import Profile
    from simulators.agenda import AgendaUserSimulator
    from simulators.dialogue_generator import generate_dialogue
    from simulators.prompting import build_prompt

    tasks, user, prompts, seed = load_tasks("test"), AgendaUserSimulator(), [], 0
    while len(prompts) < n:
        record = generate_dialogue(user, tasks[seed % len(tasks)], Profile(),
                                   np.random.default_rng(seed))
        ids = tokenizer(build_prompt(record["dialog"], None, n_turns=len(record["dialog"])),
                        add_special_tokens=False)["input_ids"]
        if len(ids) >= PROMPT_TOKENS:
            prompts.append(ids[-PROMPT_TOKENS:])
        seed += 1
    return prompts


def _model() -> tuple[torch.nn.Module, list[str], object, str]:
    """(model, adapters, tokenizer of the pack or the vocabulary size of a random model, description)."""
    try:
        from simulators.lm_simulator import load_pack_model

        lm = load_pack_model(None, "cpu")
        names = [n for n in ("regular", "verbosity=high", "engagement=low", "fluency=low") if n in lm.adapter_names]
        return lm.model, names, lm.tokenizer, "shipped pack"
    except Exception as exc:  # noqa: BLE001 - no pack installed: fall back to a random model
        logger.info("no usable pack (%s); benchmarking a random tiny model", exc)
        model, names, vocab = _random_model()
        return model, names, vocab, "random tiny Mistral (random prompts)"


def _rounds(jobs: dict[str, Callable[[], object]], repeats: int) -> dict[str, np.ndarray]:
    """Wall times of ``repeats`` rounds of every job (one warm-up each), the jobs run one after the other within a
    round, so that a ratio taken inside one round compares runs made seconds apart."""
    times = {name: np.empty(repeats) for name in jobs}
    for fn in jobs.values():
        fn()
    for r in range(repeats):
        for name, fn in jobs.items():
            start = time.perf_counter()
            fn()
            times[name][r] = time.perf_counter() - start
    return times


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> float:
    """The median over rounds of the within-round ratio: this machine's speed drifts by up to 2x between rounds
    (measured), which a ratio of the fastest runs of each job, taken from different rounds, does not cancel."""
    return round(float(np.median(numerator / denominator)), 2)


def bench_decode(seconds: float = 5.0, repeats: int = 7) -> dict:
    """The ``bench decode`` figures (``seconds`` is not used: the runs are counted, ``repeats`` each)."""
    model, adapters, tokenizer, source = _model()
    if isinstance(tokenizer, int):
        rng = np.random.default_rng(0)
        prompts = [rng.integers(50, tokenizer, PROMPT_TOKENS).tolist() for _ in range(32)]
    else:
        prompts = _dialogue_prompts(tokenizer, 32)
    return measure_decode(model, adapters, prompts, source, repeats)


def measure_decode(model: torch.nn.Module, adapters: list[str], prompts: list[list[int]], source: str,
                   repeats: int = 7) -> dict:
    """Reference loop against our engine on ``model`` (k = 1, 2, 4 of ``adapters``), 32 ``prompts`` batched
    against one at a time, and tokens/s, all in this one call: our ratios are medians of within-round ratios
    (:func:`_ratio`), the reference's (one run each, it is slow) are taken against our median time; tokens/s
    from the fastest runs."""

    def req(prompt, k, seed=0):
        return DecodeRequest(prompt, adapters[:k], np.full(k, 1.0 / k), np.random.default_rng(seed))

    def ours(k: int, n: int = 1) -> Callable[[], object]:
        return lambda: decode(model, [req(p, k, i) for i, p in enumerate(prompts[:n])], [], 0, NEW_TOKENS)

    reference = _rounds({k: (lambda k=k: reference_decode(model, req(prompts[0], k), [], NEW_TOKENS))
                         for k in (1, 2, 4)}, repeats=1)
    t = _rounds({"k1": ours(1), "k2": ours(2), "k4": ours(4), "batch32": ours(1, 32),
                 "one_at_a_time": lambda: [decode(model, [req(p, 1, i)], [], 0, NEW_TOKENS)
                                           for i, p in enumerate(prompts)]}, repeats)
    fastest = {name: float(times.min()) for name, times in t.items()}
    return {
        "reference_vs_batched": {f"k{k}": round(float(reference[k][0] / np.median(t[f"k{k}"])), 2)
                                 for k in (1, 2, 4)},
        "tokens_per_s": {"reference_k1": round(NEW_TOKENS / float(reference[1][0]), 1),
                         "ours_k1": round(NEW_TOKENS / fastest["k1"], 1),
                         "ours_k4": round(NEW_TOKENS / fastest["k4"], 1),
                         "ours_batch32_k1": round(32 * NEW_TOKENS / fastest["batch32"], 1)},
        "batch32_vs_batch1": _ratio(t["one_at_a_time"], t["batch32"]),
        "mtad_k4_vs_single": _ratio(t["k4"], t["k1"]),
        "model": source, "prompt_tokens": PROMPT_TOKENS, "new_tokens": NEW_TOKENS, "repeats": repeats,
        "engine": "lean" if lean_model(model, PROMPT_TOKENS + NEW_TOKENS) is not None else "transformers",
        "device": str(next(model.parameters()).device), "dtype": str(next(model.parameters()).dtype),
    }
