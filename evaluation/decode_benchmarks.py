"""``mtad-env bench decode``: the paper's decoding loop against our batched, cached mTAD engine (DESIGN §6).

Every ratio is measured side by side in one run on the same model: the shipped pack when it is installed,
otherwise a randomly initialised tiny Mistral with four random LoRA adapters (the ratios are about the decoding
algorithm, not the weights). Prompt: 300 tokens; 24 new tokens per dialogue, no early stop.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import numpy as np
import torch

from simulators.mtad_engine import DecodeRequest, decode, reference_decode

logger = logging.getLogger(__name__)
PROMPT_TOKENS, NEW_TOKENS = 300, 24


def _random_model() -> tuple[torch.nn.Module, list[str], int]:
    from peft import LoraConfig, get_peft_model
    from transformers import MistralConfig, MistralForCausalLM

    torch.manual_seed(0)
    config = MistralConfig(vocab_size=2500, hidden_size=128, intermediate_size=384, num_hidden_layers=2,
                           num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=1024)
    lora = LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "embed_tokens",
                                                          "lm_head"], init_lora_weights=False)
    model = get_peft_model(MistralForCausalLM(config), lora, adapter_name="a0")
    for i in range(1, 4):
        model.add_adapter(f"a{i}", lora)
    return model.eval(), [f"a{i}" for i in range(4)], config.vocab_size


def _model() -> tuple[torch.nn.Module, list[str], int, str]:
    try:
        from simulators.lm_simulator import load_pack_model

        lm = load_pack_model(None, "cpu")
        names = [n for n in ("regular", "verbosity=high", "engagement=low", "fluency=low") if n in lm.adapter_names]
        return lm.model, names, len(lm.tokenizer), "shipped pack"
    except Exception as exc:  # noqa: BLE001 - no pack installed: fall back to a random model
        logger.info("no usable pack (%s); benchmarking a random tiny model", exc)
        model, names, vocab = _random_model()
        return model, names, vocab, "random tiny Mistral"


def _seconds(fn: Callable[[], object], repeats: int = 3) -> float:
    fn()  # warm-up
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def bench_decode(seconds: float = 5.0) -> dict:
    """The DESIGN §8 ``bench decode`` figures."""
    torch.set_num_threads(max(1, torch.get_num_threads()))
    model, adapters, vocab, source = _model()
    rng = np.random.default_rng(0)
    prompts = [rng.integers(50, vocab, PROMPT_TOKENS).tolist() for _ in range(32)]

    def req(prompt, k, seed=0):
        return DecodeRequest(prompt, adapters[:k], np.full(k, 1.0 / k), np.random.default_rng(seed))

    def ours(k: int, n: int = 1) -> float:
        return _seconds(lambda: decode(model, [req(p, k, i) for i, p in enumerate(prompts[:n])], [], 0, NEW_TOKENS))

    def reference(k: int) -> float:
        return _seconds(lambda: reference_decode(model, req(prompts[0], k), [], NEW_TOKENS), repeats=1)

    timings = {k: (reference(k), ours(k)) for k in (1, 2, 4)}
    one_at_a_time = _seconds(lambda: [decode(model, [req(p, 1, i)], [], 0, NEW_TOKENS) for i, p in
                                      enumerate(prompts)], repeats=1)
    batched = ours(1, 32)
    return {
        "reference_vs_batched": {f"k{k}": round(r / o, 2) for k, (r, o) in timings.items()},
        "tokens_per_s": {"reference_k1": round(NEW_TOKENS / timings[1][0], 1),
                         "ours_k1": round(NEW_TOKENS / timings[1][1], 1),
                         "ours_k4": round(NEW_TOKENS / timings[4][1], 1),
                         "ours_batch32_k1": round(32 * NEW_TOKENS / batched, 1)},
        "batch32_vs_batch1": round(one_at_a_time / batched, 2),
        "mtad_k4_vs_single": round(timings[4][1] / timings[1][1], 2),
        "model": source, "prompt_tokens": PROMPT_TOKENS, "new_tokens": NEW_TOKENS,
    }
