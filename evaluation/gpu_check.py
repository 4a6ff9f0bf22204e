"""The mTAD engine's GPU check (for a session lent a CUDA machine): the ``bench decode`` ratios on a randomly
initialised Mistral-7B-shaped model in bf16 with four rank-16 LoRA adapters, and tokens/s beside the paper's
250 tokens/s for Mistral-7B with one adapter.

    python -m evaluation.gpu_check --out gpu_check.json          # on the GPU machine
    python -m evaluation.gpu_check --tiny --device cpu           # the same code on a tiny model (tests)

The weights are random (the figures are about the decoding algorithm, not the text), so nothing is downloaded.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import numpy as np
import torch

from evaluation.decode_benchmarks import PROMPT_TOKENS, measure_decode

logger = logging.getLogger(__name__)
PAPER_TOKENS_PER_S = 250.0  # paper §3.3: Mistral-7B with one adapter
SHAPES = {  # Mistral-7B-v0.1's shape, and a tiny one that runs the same code anywhere
    "7b": {"vocab_size": 32000, "hidden_size": 4096, "intermediate_size": 14336, "num_hidden_layers": 32,
           "num_attention_heads": 32, "num_key_value_heads": 8},
    "tiny": {"vocab_size": 512, "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
             "num_attention_heads": 4, "num_key_value_heads": 2},
}


def random_model(shape: str, device: str, dtype: torch.dtype, rank: int = 16, adapters: int = 4):
    """A randomly initialised Mistral of ``shape`` with ``adapters`` random LoRA adapters (``a0``, ``a1``, ...)."""
    from peft import LoraConfig, get_peft_model
    from transformers import MistralConfig, MistralForCausalLM

    torch.manual_seed(0)
    config = MistralConfig(max_position_embeddings=4096, **SHAPES[shape])
    with torch.device(device):
        model = MistralForCausalLM(config).to(dtype)
    lora = LoraConfig(r=rank, lora_alpha=2 * rank, target_modules=["q_proj", "k_proj", "v_proj", "o_proj"],
                      init_lora_weights=False)
    model = get_peft_model(model, lora, adapter_name="a0")
    for i in range(1, adapters):
        model.add_adapter(f"a{i}", lora)
    return model.to(device).eval(), [f"a{i}" for i in range(adapters)], config.vocab_size


def run(shape: str = "7b", device: str = "cuda", repeats: int = 3) -> dict:
    """Measure; returns the ``bench decode`` keys plus the model, device and the paper's tokens/s."""
    start = time.perf_counter()
    model, adapters, vocab = random_model(shape, device, torch.bfloat16 if device == "cuda" else torch.float32)
    logger.info("built the %s model in %.0f s", shape, time.perf_counter() - start)
    rng = np.random.default_rng(0)
    prompts = [rng.integers(50, vocab, PROMPT_TOKENS).tolist() for _ in range(32)]
    result = measure_decode(model, adapters, prompts, f"random {shape} Mistral, 4 rank-16 adapters", repeats)
    result["paper_tokens_per_s_k1"] = PAPER_TOKENS_PER_S
    if device == "cuda":
        result["gpu"] = torch.cuda.get_device_name()
        result["max_memory_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 1)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="a tiny model instead of the 7B shape")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default=None, help="also write the JSON here")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    result = run("tiny" if args.tiny else "7b", args.device, args.repeats)
    text = json.dumps(result, indent=2)
    if args.out:
        Path(args.out).write_text(text + "\n")
    print(text)  # noqa: T201 - the script's output


if __name__ == "__main__":
    main()
