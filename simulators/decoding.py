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

    Only the top candidates are ranked (``topk``, widened until they hold ``top_p`` of every row's mass), which
    keeps exactly the nucleus a full sort would keep at a fraction of a full sort's cost.
    """
    probs = probs / probs.sum(-1, keepdim=True)
    vocab = probs.shape[-1]
    k = min(vocab, FIRST_CANDIDATES)
    while True:  # widen 64 -> 256 -> everything (a full sort beats topk at that size)
        top, index = probs.topk(k, dim=-1) if k < vocab else probs.sort(dim=-1, descending=True)
        before = top.cumsum(-1) - top
        if k == vocab or bool((before[:, -1] + top[:, -1] >= top_p).all()):
            break
        k = vocab if 4 * k > vocab // 4 else 4 * k
    kept = top * (before < top_p) if top_p < 1.0 else top
    cdf = kept.double().cumsum(-1)
    pick = torch.searchsorted(cdf, (uniforms.double() * cdf[:, -1])[:, None]).clamp_max(k - 1)
    return index.gather(-1, pick)[:, 0]
