"""Token sampling for the simulator LMs: one prompt, a KV cache, and the caller's own random stream.

Sampling is inverse-CDF on the temperature- and top-p-filtered distribution with uniforms drawn from the
dialogue's numpy generator, so a dialogue's tokens depend only on its own generator.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch


def filter_probs(logits: torch.Tensor, temperature: float, top_p: float) -> torch.Tensor:
    """Softmax of ``logits / temperature`` restricted to the smallest set with mass >= ``top_p`` (last dim)."""
    if temperature <= 0:
        probs = torch.zeros_like(logits)
        probs.scatter_(-1, logits.argmax(-1, keepdim=True), 1.0)
        return probs
    probs = torch.softmax(logits.float() / temperature, dim=-1)
    if top_p < 1.0:
        sorted_p, order = probs.sort(dim=-1, descending=True)
        keep = sorted_p.cumsum(-1) - sorted_p < top_p  # always keeps the top token
        probs = torch.zeros_like(probs).scatter(-1, order, sorted_p * keep)
        probs = probs / probs.sum(-1, keepdim=True)
    return probs


def sample_from(probs: torch.Tensor, uniform: float) -> int:
    """The token whose cumulative probability first exceeds ``uniform`` (a 1-D distribution)."""
    cdf = probs.double().cumsum(0)
    index = int(torch.searchsorted(cdf, torch.tensor([uniform * float(cdf[-1])], dtype=torch.float64)).item())
    return min(index, probs.shape[0] - 1)


@torch.no_grad()
def generate(model, prompt_ids: Sequence[int], rng: np.random.Generator, stop_ids: Sequence[int],
             max_new_tokens: int = 40, temperature: float = 1.0, top_p: float = 0.95) -> list[int]:
    """Sample a continuation of ``prompt_ids`` until a stop token or ``max_new_tokens``."""
    device = next(model.parameters()).device
    ids = torch.tensor([list(prompt_ids)], device=device)
    out = model(input_ids=ids, use_cache=True)  # 1. run the prompt once, keeping its keys and values
    new: list[int] = []
    for _ in range(max_new_tokens):
        probs = filter_probs(out.logits[0, -1], temperature, top_p)  # 2. next-token distribution
        token = sample_from(probs.cpu(), float(rng.random()))         # 3. sample with the dialogue's stream
        new.append(token)
        if token in stop_ids:
            break
        out = model(input_ids=torch.tensor([[token]], device=device), cache=out.cache, use_cache=True)                                    # 4. feed the token, reuse the cache
    return new
