"""Token sampling: nucleus (top-p) sampling by inverse CDF at given uniforms.

Sampling with uniforms drawn from each dialogue's own numpy generator makes a dialogue's tokens depend only on
that generator, whatever else is decoded in the same batch.
"""

from __future__ import annotations

import numpy as np
import torch

FIRST_CANDIDATES = 32  # ranked by topk first: enough to hold most nuclei, few enough to rank fast (docs/benchmarks.md)
VALUE_HEAD = 512  # the flat rows' CDF walk stops here when every nucleus ends before it


def nucleus_sample(probs: torch.Tensor, top_p: float, uniforms: torch.Tensor) -> torch.Tensor:
    """One token per row of ``probs`` (rows x vocab, any positive scale): among the most probable tokens whose
    mass before them is < ``top_p`` (the top token always), the one where the renormalised CDF, taken in order of
    decreasing probability, first exceeds the row's uniform.

    Only the top candidates are ranked (``topk``). The rows where they hold less than ``top_p`` of the mass rank
    all their values instead (no index sort): the CDF walk finds the chosen token's probability and its place among
    equal ones, and the token is looked up by that value. Either way the nucleus is exactly the one a full sort
    keeps, at a fraction of its cost.
    """
    probs = probs / probs.sum(-1, keepdim=True)
    vocab = probs.shape[-1]
    top, index = probs.topk(min(vocab, FIRST_CANDIDATES), dim=-1)
    tokens = index.gather(-1, _place(top, top_p, uniforms))[:, 0]
    wide = top.cumsum(-1)[:, -1] < top_p if top.shape[-1] < vocab else torch.zeros(len(probs), dtype=torch.bool)
    if bool(wide.any()):  # rows whose nucleus holds more than the first candidates: rank all their values
        rows = wide.nonzero()[:, 0].to(probs.device)
        tokens[rows] = _pick_by_value(probs[rows], top_p, uniforms[rows])
    return tokens


def _place(top: torch.Tensor, top_p: float, uniforms: torch.Tensor) -> torch.Tensor:
    """Where each row's uniform falls in the renormalised CDF over the nucleus of ``top`` (sorted, descending)."""
    kept = top * ((top.cumsum(-1) - top) < top_p) if top_p < 1.0 else top
    cdf = kept.double().cumsum(-1)
    place = torch.searchsorted(cdf, (uniforms.double().to(cdf.device) * cdf[:, -1])[:, None])
    return place.clamp_max(top.shape[-1] - 1)


def _pick_by_value(probs: torch.Tensor, top_p: float, uniforms: torch.Tensor) -> torch.Tensor:
    """:func:`nucleus_sample` over every token, by value: the chosen token is the one holding the chosen place's
    probability (equal probabilities taken in increasing token id)."""
    top = _descending_values(probs)
    head = top[:, :VALUE_HEAD]
    if top_p < 1.0 and head.shape[-1] < top.shape[-1] and bool((head.cumsum(-1)[:, -1] >= top_p).all()):
        top = head  # every nucleus ends inside the head: the CDF walk needs no more
    place = _place(top, top_p, uniforms)
    value = top.gather(-1, place)
    tie = place - (top > value).sum(-1, keepdim=True)  # equal values before it (every larger value is in top)
    equal = probs == value
    tokens = equal.int().argmax(-1)  # the first equal value: right unless equal values come before the chosen one
    if bool(tie.any()):
        rows = tie[:, 0].nonzero()[:, 0]
        tokens[rows] = (equal[rows] & (equal[rows].cumsum(-1) == tie[rows] + 1)).int().argmax(-1)
    return tokens


def _descending_values(probs: torch.Tensor) -> torch.Tensor:
    """Every row's values in decreasing order: on the CPU through numpy's vectorised sort, several times faster
    than ``torch.sort`` (``docs/benchmarks.md``)."""
    if probs.device.type != "cpu":
        return probs.sort(dim=-1, descending=True).values
    return torch.from_numpy(np.ascontiguousarray(np.sort(probs.contiguous().numpy(), axis=-1)[:, ::-1]))
