"""mTAD decoding (paper §3.3, §6.2): mix the next-token distributions of several LoRA adapters and sample.

One batched forward per step serves every (dialogue, adapter) row through PEFT's mixed-adapter batches
(``adapter_names``), with a KV cache; each dialogue mixes its own rows as ``P(w) = sum_i lambda_i P_i(w)`` and
samples with its own generator, so its tokens do not depend on what else is in the batch. A single adapter (STS,
JTS) is the k = 1 case; mTAD-LA uses per-phase weights (intent token: dialogue-level adapters; utterance:
utterance-level adapters).
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from mtad_env.errors import InvalidValueError
from simulators.decoding import filter_probs, sample_from


@dataclass
class DecodeRequest:
    """One dialogue's decoding job.

    Attributes:
        prompt_ids: the prompt's token ids.
        adapters: names of the active adapters (rows of the batch).
        weights: lambda per adapter for the first token (the intent) ...
        later_weights: ... and for the following tokens (the utterance); None = same as ``weights``.
        rng: the dialogue's own generator (one uniform per sampled token).
    """

    prompt_ids: Sequence[int]
    adapters: Sequence[str]
    weights: np.ndarray
    rng: np.random.Generator
    later_weights: np.ndarray | None = None
    tokens: list[int] = field(default_factory=list)

    def weights_at(self, step: int) -> np.ndarray:
        return self.weights if step == 0 or self.later_weights is None else self.later_weights


def normalise_weights(weights: Sequence[float] | None, n: int, names: Sequence[str] = ()) -> np.ndarray:
    """Validate and normalise lambda: ``n`` finite, non-negative numbers, not all zero (None = uniform)."""
    if weights is None:
        return np.full(n, 1.0 / n)
    w = np.asarray(list(weights), dtype=np.float64)
    label = f" for adapters {', '.join(names)}" if names else ""
    if w.shape != (n,):
        raise InvalidValueError(f"weights {list(weights)!r} must have {n} values{label}, one per active adapter")
    if not np.all(np.isfinite(w)) or (w < 0).any() or w.sum() == 0:
        raise InvalidValueError(f"weights {list(weights)!r} must be finite, non-negative and not all zero{label}")
    return w / w.sum()


def _mix(logits: torch.Tensor, weights: np.ndarray, temperature: float) -> torch.Tensor:
    """sum_i lambda_i softmax(logits_i / T) over the adapter rows of one dialogue."""
    if temperature <= 0:
        probs = torch.zeros_like(logits, dtype=torch.float32)
        probs.scatter_(-1, logits.argmax(-1, keepdim=True), 1.0)
    else:
        probs = torch.softmax(logits.float() / temperature, dim=-1)
    return (torch.as_tensor(weights, dtype=torch.float32)[:, None] * probs).sum(0)


def _sample(mixed: torch.Tensor, top_p: float, uniform: float) -> int:
    return sample_from(filter_probs(torch.log(mixed.clamp_min(1e-30)), 1.0, top_p), uniform)


def _left_pad(requests: Sequence[DecodeRequest], pad_id: int) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    rows = [(r.prompt_ids, a) for r in requests for a in r.adapters]
    width = max(len(ids) for ids, _ in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, (prompt, _) in enumerate(rows):
        ids[i, width - len(prompt):] = torch.tensor(list(prompt))
        mask[i, width - len(prompt):] = 1
    return ids, mask, [a for _, a in rows]


@contextlib.contextmanager
def routed(model, row_adapters: Sequence[str]):
    """Yield ``(forward, extra_kwargs)`` that run each batch row through its adapter for a whole decode.

    One adapter: activate it and call the underlying model (no per-row routing at all). Several: enter PEFT's
    mixed-batch hooks once for the whole decode instead of once per forward (its per-call set-up walks every
    module). A model without those hooks gets ``adapter_names`` on every call.
    """
    names = list(dict.fromkeys(row_adapters))
    hooks = getattr(getattr(model, "base_model", None), "_enable_peft_forward_hooks", None)
    if len(names) == 1 and hasattr(model, "set_adapter"):
        model.set_adapter(names[0])
        yield model.get_base_model(), {}
    elif hooks is not None:
        with hooks(adapter_names=list(row_adapters)):
            yield model.get_base_model(), {}
    else:
        yield model, {"adapter_names": list(row_adapters)}


@torch.no_grad()
def decode(model, requests: Sequence[DecodeRequest], stop_ids: Sequence[int], pad_id: int,
           max_new_tokens: int = 40, temperature: float = 1.0, top_p: float = 0.95) -> list[list[int]]:
    """Decode every request; returns each dialogue's new tokens (stop token included when reached)."""
    device = next(model.parameters()).device
    ids, mask, row_adapters = _left_pad(requests, pad_id)
    ids, mask = ids.to(device), mask.to(device)
    spans = np.cumsum([0] + [len(r.adapters) for r in requests])
    position = (mask.cumsum(-1) - 1).clamp_min(0)
    with routed(model, row_adapters) as (forward, extra):
        out = forward(input_ids=ids, attention_mask=mask, position_ids=position, use_cache=True,
                      **extra)                                       # 1. all prompts x adapters in one pass
        _steps(forward, extra, out, requests, spans, mask, position, stop_ids, pad_id, max_new_tokens,
               temperature, top_p)
    return [r.tokens for r in requests]


def _steps(forward, extra, out, requests, spans, mask, position, stop_ids, pad_id, max_new_tokens, temperature,
           top_p) -> None:
    """The token loop of :func:`decode`."""
    device = mask.device
    done = [False] * len(requests)
    for step in range(max_new_tokens):
        logits = out.logits[:, -1].float().cpu()
        next_ids = torch.full((mask.shape[0], 1), pad_id, dtype=torch.long)
        for d, req in enumerate(requests):
            if done[d]:
                continue
            mixed = _mix(logits[spans[d]:spans[d + 1]], req.weights_at(step), temperature)  # 2. mix
            token = _sample(mixed, top_p, float(req.rng.random()))  # 3. sample with the dialogue's stream
            req.tokens.append(token)
            next_ids[spans[d]:spans[d + 1]] = token
            done[d] = token in stop_ids
        if all(done):
            break
        mask = torch.cat([mask, torch.ones((mask.shape[0], 1), dtype=mask.dtype, device=device)], dim=1)
        position = position[:, -1:] + 1
        out = forward(input_ids=next_ids.to(device), attention_mask=mask, position_ids=position,
                      cache=out.cache, use_cache=True, **extra)      # 4. one token, cached


@torch.no_grad()
def reference_decode(model, request: DecodeRequest, stop_ids: Sequence[int], max_new_tokens: int = 40,
                     temperature: float = 1.0, top_p: float = 0.95) -> list[int]:
    """The paper's loop: for every token and every adapter, switch adapter and run the whole sequence without a
    cache; then mix and sample. Slow by design: the baseline of tests and benchmarks."""
    device = next(model.parameters()).device
    seq = list(request.prompt_ids)
    tokens: list[int] = []
    for step in range(max_new_tokens):
        rows = []
        for adapter in request.adapters:
            model.set_adapter(adapter)
            rows.append(model(input_ids=torch.tensor([seq], device=device)).logits[0, -1].float().cpu())
        token = _sample(_mix(torch.stack(rows), request.weights_at(step), temperature), top_p,
                        float(request.rng.random()))
        tokens.append(token)
        seq.append(token)
        if token in stop_ids:
            break
    return tokens
