"""Token sampling primitives: temperature/top-p filtering and inverse-CDF sampling from a given uniform.

Sampling with uniforms drawn from each dialogue's own numpy generator makes a dialogue's tokens depend only on
that generator, whatever else is decoded in the same batch.
"""

from __future__ import annotations

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
