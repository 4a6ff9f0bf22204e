"""mTAD decoding (paper §3.3, §6.2): mix the next-token distributions of several LoRA adapters and sample.

One batched forward per step serves every (dialogue, adapter) row, each through its own adapter, with a KV cache
(the lean forward of :mod:`simulators.lean_mistral` where it covers the model, otherwise the model's own forward
with PEFT's mixed-adapter batches); each dialogue mixes its own rows as ``P(w) = sum_i lambda_i P_i(w)`` and
samples with its own generator, so its tokens do not depend on what else is in the batch. A single adapter (STS,
JTS) is the k = 1 case; mTAD-LA uses per-phase weights (intent token: dialogue-level adapters; utterance:
utterance-level adapters).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from mtad_env.errors import InvalidValueError
from simulators.decoding import nucleus_sample
from simulators.lean_mistral import LeanSession, lean_model
from simulators.turn_cache import TurnCache
from simulators.word_constraint import WordState

ENGINES = ("auto", "lean", "transformers")
STEP_THREAD_ROWS = 8
PREFILL_THREAD_TOKENS = 32  # a prompt pass of at most 8 x 32 new tokens (a cached turn's) runs on one thread too


@dataclass
class DecodeRequest:
    """One dialogue's decoding job.

    Attributes:
        prompt_ids: the prompt's token ids.
        adapters: names of the active adapters (rows of the batch).
        weights: lambda per adapter for the first token (the intent) ...
        later_weights: ... and for the following tokens (the utterance); None = same as ``weights``.
        rng: the dialogue's own generator (one uniform per sampled token).
        cache: the dialogue's keys and values from earlier turns (lean decoder only; None: compute everything).
        words: the utterance's :class:`~simulators.word_constraint.WordState`: only tokens that spell known words
            are sampled (None: every token).
        temperature, top_p, max_new_tokens: this dialogue's sampling settings (None: those given to
            :func:`decode`); dialogues with different settings decode in separate batches, each with its own.
    """

    prompt_ids: Sequence[int]
    adapters: Sequence[str]
    weights: np.ndarray
    rng: np.random.Generator
    later_weights: np.ndarray | None = None
    cache: TurnCache | None = None
    words: WordState | None = None
    tokens: list[int] = field(default_factory=list)
    temperature: float | None = None
    top_p: float | None = None
    max_new_tokens: int | None = None

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


def mix_and_sample(logits: torch.Tensor, rows: torch.Tensor, weights: torch.Tensor, uniforms: torch.Tensor,
                   temperature: float, top_p: float, allowed: torch.Tensor | None = None) -> torch.Tensor:
    """One token per dialogue: ``P(w) = sum_i lambda_i softmax(logits_i / T)`` over the dialogue's adapter rows,
    restricted to the ``allowed`` tokens (dialogues x vocab, None: all), top-p filtered, sampled by inverse CDF at
    the dialogue's uniform (:func:`nucleus_sample`). A dialogue whose allowed tokens all have probability 0 samples
    from its unrestricted distribution.

    ``rows``/``weights`` are dialogues x max adapters (shorter dialogues padded with weight 0, which adds exact
    zeros), so a dialogue's arithmetic is the same alone or in a batch.
    """
    picked = logits[rows].float()
    if temperature <= 0:  # greedy: the most probable allowed token
        if allowed is not None:
            picked = torch.where(allowed.any(-1)[:, None, None], picked.masked_fill(~allowed[:, None], -torch.inf),
                                 picked)
        probs = torch.zeros_like(picked).scatter_(-1, picked.argmax(-1, keepdim=True), 1.0)
    else:
        probs = torch.softmax(picked if temperature == 1 else picked / temperature, dim=-1)
    if rows.shape[1] == 1 and bool((weights == 1).all()):  # one adapter each: the mixture is the distribution
        mixed = probs[:, 0]
    else:
        mixed = (weights[..., None] * probs).sum(1)
    if allowed is not None:
        kept = mixed * allowed
        mixed = torch.where((kept.sum(-1) > 0)[:, None], kept, mixed)
    return nucleus_sample(mixed, top_p, uniforms)


def allowed_tokens(requests: Sequence[DecodeRequest], dialogues: Sequence[int], vocab: int) -> torch.Tensor | None:
    """The allowed-token masks of ``dialogues`` (indices into ``requests``), one row each; None when none of them
    has a word constraint."""
    states = [requests[d].words for d in dialogues]
    if all(state is None for state in states):
        return None
    every = torch.ones(vocab, dtype=torch.bool)
    return torch.stack([every if state is None else state.allowed(vocab) for state in states])


def _take(requests: Sequence[DecodeRequest], dialogues: Sequence[int], tokens: Sequence[int]) -> None:
    """Append each dialogue's sampled token (and move its word constraint on)."""
    for d, token in zip(dialogues, tokens):
        requests[d].tokens.append(token)
        if requests[d].words is not None:
            requests[d].words.advance(token)


def _plan(requests: Sequence[DecodeRequest]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Row index and weights (intent token, later tokens) per dialogue, padded to the largest adapter count."""
    width = max(len(r.adapters) for r in requests)
    rows = torch.zeros((len(requests), width), dtype=torch.long)
    first = torch.zeros((len(requests), width), dtype=torch.float32)
    later = torch.zeros_like(first)
    start = 0
    for d, req in enumerate(requests):
        k = len(req.adapters)
        for w in (req.weights, req.later_weights):
            if w is not None and np.shape(w) != (k,):
                raise InvalidValueError(f"weights {list(np.ravel(w))} must have {k} values, one per adapter of "
                                        f"{list(req.adapters)}")
        rows[d] = start
        rows[d, :k] = torch.arange(start, start + k)
        first[d, :k] = torch.as_tensor(req.weights_at(0), dtype=torch.float32)
        later[d, :k] = torch.as_tensor(req.weights_at(1), dtype=torch.float32)
        start += k
    return rows, first, later


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


class _TransformersSession:
    """Prompt pass and cached steps through the ``transformers`` forward (models the lean forward does not cover)."""

    def __init__(self, forward, extra: dict, device: torch.device) -> None:
        self.forward, self.extra, self.out, self.device = forward, extra, None, device
        self.mask = self.position = None

    def prefill(self, ids: torch.Tensor, mask: torch.Tensor, start: int = 0) -> torch.Tensor:
        self.mask, self.position = mask, (mask.cumsum(-1) - 1).clamp_min(0)
        self.out = self.forward(input_ids=ids, attention_mask=mask, position_ids=self.position, use_cache=True,
                                logits_to_keep=1, **self.extra)
        return self.out.logits[:, -1].float()

    def step(self, ids: torch.Tensor) -> torch.Tensor:
        self.mask = torch.cat([self.mask, torch.ones_like(self.mask[:, :1])], dim=1)
        self.position = self.position[:, -1:] + 1
        self.out = self.forward(input_ids=ids, attention_mask=self.mask, position_ids=self.position,
                                cache=self.out.cache, use_cache=True, **self.extra)
        return self.out.logits[:, -1].float()


@contextlib.contextmanager
def _session(model, row_adapters: Sequence[str], total_length: int, engine: str):
    if engine not in ENGINES:
        raise InvalidValueError(f"engine {engine!r} is not one of {', '.join(ENGINES)}")
    lean = lean_model(model, total_length) if engine in ("auto", "lean") else None
    if engine == "lean" and lean is None:
        raise InvalidValueError("engine 'lean' does not cover this model (see simulators.lean_mistral)")
    if lean is not None:
        yield lean.session(row_adapters, total_length)
    else:
        with routed(model, row_adapters) as (forward, extra):
            yield _TransformersSession(forward, extra, next(model.parameters()).device)


@torch.no_grad()
def decode(model, requests: Sequence[DecodeRequest], stop_ids: Sequence[int], pad_id: int,
           max_new_tokens: int = 40, temperature: float = 1.0, top_p: float = 0.95,
           engine: str = "auto") -> list[list[int]]:
    """Decode every request; returns each dialogue's new tokens (stop token included when reached).

    ``engine``: ``lean`` (:mod:`simulators.lean_mistral`), ``transformers`` (the model's own forward with PEFT
    mixed batches), or ``auto`` (lean where it covers the model). A request's own ``temperature``, ``top_p`` and
    ``max_new_tokens`` replace the arguments for that dialogue.
    """
    groups = _settings_groups(requests, (max_new_tokens, temperature, top_p))
    if len(groups) > 1:  # each group of equal settings in its own batch (a dialogue's tokens are the same)
        out: list[list[int]] = [[] for _ in requests]
        for (n, t, p), members in groups.items():
            for i, tokens in zip(members, decode(model, [requests[i] for i in members], stop_ids, pad_id, n, t, p,
                                                 engine)):
                out[i] = tokens
        return out
    (max_new_tokens, temperature, top_p), = groups or [(max_new_tokens, temperature, top_p)]
    device = next(model.parameters()).device
    ids, mask, row_adapters = _left_pad(requests, pad_id)
    rows, first, later = _plan(requests)
    row_dialogue = torch.repeat_interleave(torch.arange(len(requests)), torch.tensor([len(r.adapters)
                                                                                      for r in requests]))
    stops = torch.tensor(list(stop_ids) or [-1])
    with _session(model, row_adapters, ids.shape[1] + max_new_tokens, engine) as session:
        start = _reuse_cached(session, requests) if isinstance(session, LeanSession) else 0
        with _step_threads(len(row_adapters) * (ids.shape[1] - start) // PREFILL_THREAD_TOKENS, device):
            logits = session.prefill(ids.to(device), mask.to(device), start).cpu()  # 1. all prompts x adapters
        cached = isinstance(session, LeanSession) and any(r.cache is not None for r in requests)
        store = (lambda rows, at: _store_cached(session, requests, ids.shape[1], rows, at)) if cached else None
        with _step_threads(len(row_adapters), device):
            held = _token_loop(session, logits, requests, rows, (first, later), row_dialogue, stops, pad_id,
                               max_new_tokens, temperature, top_p, store)
        if store is not None:
            store(held, torch.arange(len(held)))
    return [r.tokens for r in requests]


def _settings_groups(requests: Sequence[DecodeRequest], default: tuple[int, float, float]
                     ) -> dict[tuple[int, float, float], list[int]]:
    """Indices of the requests by their ``(max_new_tokens, temperature, top_p)``, a request's own or ``default``."""
    groups: dict[tuple[int, float, float], list[int]] = {}
    for i, req in enumerate(requests):
        own = (req.max_new_tokens, req.temperature, req.top_p)
        groups.setdefault(tuple(d if o is None else o for o, d in zip(own, default)), []).append(i)
    return groups


def _row_spans(requests: Sequence[DecodeRequest]):
    """``(row, request, adapter)`` for every batch row, in :func:`_left_pad`'s order."""
    row = 0
    for req in requests:
        for adapter in req.adapters:
            yield row, req, adapter
            row += 1


def _reuse_cached(session: LeanSession, requests: Sequence[DecodeRequest]) -> int:
    """Copy every row's cached keys/values into the session; the first column the prompt pass must run.

    Rows are left-padded to a common width, so the prompt pass runs the last ``max(new tokens)`` columns for
    every row; a row with fewer new tokens recomputes a few cached positions (the same values)."""
    width = max(len(r.prompt_ids) for r in requests)
    reuse = {row: req.cache.reusable(session.lean, adapter, req.prompt_ids) if req.cache is not None else 0
             for row, req, adapter in _row_spans(requests)}
    start = width - max(len(req.prompt_ids) - reuse[row] for row, req, _ in _row_spans(requests))
    for row, req, adapter in _row_spans(requests):
        column = width - len(req.prompt_ids)
        if reuse[row] and start > column:
            req.cache.fill(session.keys, session.values, row, adapter, column, start - column)
    return start


def _store_cached(session: LeanSession, requests: Sequence[DecodeRequest], width: int, rows: torch.Tensor,
                  positions: torch.Tensor) -> None:
    """Keep each cached dialogue's keys/values for its prompt and the tokens it generated, but the last (fed back
    only when other rows went on decoding), for the batch rows ``rows``, which the session holds at ``positions``
    (rows of dialogues that finish early leave the session: see :func:`_token_loop`)."""
    at = dict(zip(rows.tolist(), positions.tolist()))
    for row, req, adapter in _row_spans(requests):
        if req.cache is not None and row in at:
            tokens = list(req.prompt_ids) + req.tokens[:-1]
            req.cache.store(session.keys, session.values, at[row], adapter, width - len(req.prompt_ids), tokens)


def _token_loop(session, logits: torch.Tensor, requests: Sequence[DecodeRequest], rows: torch.Tensor,
                weights: tuple[torch.Tensor, torch.Tensor], row_dialogue: torch.Tensor, stops: torch.Tensor,
                pad_id: int, max_new_tokens: int, temperature: float, top_p: float,
                store: Callable[[torch.Tensor, torch.Tensor], None] | None = None) -> torch.Tensor:
    """Mix, sample and feed back one token per dialogue until every dialogue stopped (steps 2-4 of :func:`decode`).

    Once half the rows the session holds belong to finished dialogues, a session that can (the lean one) lets
    them go, so later steps compute only rows still decoding; ``store(rows, positions)`` first keeps the leaving
    rows' turn caches.
    A row's arithmetic does not depend on the other rows, so this changes no token. Returns the batch rows the
    session holds at the end, in its order."""
    active = torch.arange(len(requests))
    held = torch.arange(len(row_dialogue))  # batch rows in the session, in session order
    at = torch.arange(len(row_dialogue))    # batch row -> its index in the session
    last = torch.full((len(requests),), pad_id, dtype=torch.long)
    for step in range(max_new_tokens):
        uniforms = torch.tensor([requests[d].rng.random() for d in active.tolist()], dtype=torch.float64)
        tokens = mix_and_sample(logits, at[rows[active]], weights[min(step, 1)][active], uniforms, temperature,
                                top_p, allowed_tokens(requests, active.tolist(), logits.shape[-1]))
        _take(requests, active.tolist(), tokens.tolist())
        last.fill_(pad_id)[active] = tokens
        active = active[~torch.isin(tokens, stops)]
        if len(active) == 0 or step == max_new_tokens - 1:
            return held
        needed = torch.isin(row_dialogue[held], active)
        if hasattr(session, "keep") and int(needed.sum()) <= len(held) // 2:
            if store is not None:
                store(held[~needed], (~needed).nonzero()[:, 0])
            session.keep(needed.nonzero()[:, 0].to(session.device))
            held = held[needed]
            at[held] = torch.arange(len(held))
        logits = session.step(last[row_dialogue[held]][:, None].to(session.device)).cpu()
    return held


@contextlib.contextmanager
def _step_threads(rows: int, device: torch.device):
    """One CPU thread for the one-token steps of at most :data:`STEP_THREAD_ROWS` rows, and for prompt passes as
    small: their matmuls are too small to split, and on 2 cores the split costs more than it saves (measured: a
    4 x 128 @ 128 x 384 product takes 31 us on 2 threads, 16 on 1). Worse, on a busy machine every split product
    waits for its slowest thread: a cached turn's 25-token prompt pass took from 2.5 to 540 ms on 2 threads beside
    a training job. Larger prompt passes keep every thread."""
    before = torch.get_num_threads()
    if device.type != "cpu" or rows > STEP_THREAD_ROWS or before == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@torch.no_grad()
def reference_decode(model, request: DecodeRequest, stop_ids: Sequence[int], max_new_tokens: int = 40,
                     temperature: float = 1.0, top_p: float = 0.95) -> list[int]:
    """The paper's loop: for every token and every adapter, switch adapter and run the whole sequence without a
    cache; then mix and sample. Slow by design: the baseline of tests and benchmarks."""
    device = next(model.parameters()).device
    seq = list(request.prompt_ids)
    tokens: list[int] = []
    plan_rows, first, later = _plan([request])
    for step in range(max_new_tokens):
        rows = []
        for adapter in request.adapters:
            model.set_adapter(adapter)
            rows.append(model(input_ids=torch.tensor([seq], device=device)).logits[0, -1].float().cpu())
        logits = torch.stack(rows)
        token = int(mix_and_sample(logits, plan_rows, first if step == 0 else later,
                                   torch.tensor([request.rng.random()], dtype=torch.float64), temperature, top_p,
                                   allowed_tokens([request], [0], logits.shape[-1]))[0])
        tokens.append(token)
        seq.append(token)
        if request.words is not None:
            request.words.advance(token)
        if token in stop_ids:
            break
    return tokens
