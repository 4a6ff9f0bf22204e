"""Token sampling: nucleus (top-p) sampling by inverse CDF at given uniforms.

Sampling with uniforms drawn from each dialogue's own numpy generator makes a dialogue's tokens depend only on
that generator, whatever else is decoded in the same batch.
"""

from __future__ import annotations

import torch

FIRST_CANDIDATES = 64


def nucleus_sample(probs: torch.Tensor, top_p: float, uniforms: torch.Tensor) -> torch.Tensor:
    """One token per row of ``probs`` (rows x vocab, any positive scale): among the most probable tokens whose
    mass before them is < ``top_p`` (the top token always), the one where the renormalised CDF, taken in order of
    decreasing probability, first exceeds the row's uniform.

    Only the top candidates are ranked (``topk``); the rows where they hold less than ``top_p`` of the mass are
    sorted whole. Either way the nucleus is exactly the one a full sort keeps, at a fraction of a full sort's cost
    for peaked distributions.
    """
    probs = probs / probs.sum(-1, keepdim=True)
    vocab = probs.shape[-1]
    k = min(vocab, FIRST_CANDIDATES)
    top, index = probs.topk(k, dim=-1)
    wide = ~(top.cumsum(-1)[:, -1] >= top_p) if k < vocab else torch.zeros(len(probs), dtype=torch.bool)
    tokens = _pick(top, index, _cut(top, top_p), uniforms)
    if bool(wide.any()):  # rows whose nucleus holds more than the first candidates: rank them all
        rows = wide.nonzero()[:, 0]
        top, index = probs[rows].sort(dim=-1, descending=True)
        tokens[rows] = _pick(top, index, _cut(top, top_p), uniforms[rows])
    return tokens


def _cut(top: torch.Tensor, top_p: float) -> torch.Tensor:
    """The kept share of ``top`` (sorted, descending): tokens whose mass before them is < ``top_p``."""
    return top * ((top.cumsum(-1) - top) < top_p) if top_p < 1.0 else top


def _pick(top: torch.Tensor, index: torch.Tensor, kept: torch.Tensor, uniforms: torch.Tensor) -> torch.Tensor:
    cdf = kept.double().cumsum(-1)
    pick = torch.searchsorted(cdf, (uniforms.double() * cdf[:, -1])[:, None]).clamp_max(top.shape[-1] - 1)
    return index.gather(-1, pick)[:, 0]
