"""A lean decoding forward for LoRA-adapted Mistral/Llama models: many rows, each through its own adapter, one KV cache.

Why not the ``transformers`` forward: for a model as small as the shipped pack's (a 1.0 M-parameter base), one
decoding step through ``MistralForCausalLM`` and PEFT's mixed-batch hooks is nearly all framework overhead (per-call
mask and cache objects, per-module adapter routing), many times the arithmetic (figures in ``docs/benchmarks.md``).
This module runs the same arithmetic straight on the model's own tensors: base weights are used in place (no
copies, so 7B weights cost nothing extra), each LoRA-adapted module keeps its adapters' A/B matrices stacked once,
and a decode gathers every row's matrices once, so routing a row through its adapter is two batched matmuls per
module, the rank-r product added into the base output by the GEMM itself.
The prompt pass skips the work that no later token reads (logits and the last layer's attention output and MLP are
computed for the last position only; the cache needs only that layer's keys and values) and runs the rows in
cache-sized blocks.

What it covers, checked by :func:`lean_model`: ``mistral``/``llama`` decoders with default RoPE, SiLU MLPs, plain
``nn.Linear``/``nn.Embedding`` base layers (so not 4-bit ones) and plain LoRA (no DoRA) on any of the embeddings,
attention and MLP projections and ``lm_head``. Anything else returns None and the caller uses ``transformers``.
"""

from __future__ import annotations

import logging
import weakref
from collections import OrderedDict
from collections.abc import Sequence
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

logger = logging.getLogger(__name__)
_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_ATTENTION = ("q_proj", "k_proj", "v_proj", "o_proj")
_MLP = ("gate_proj", "up_proj", "down_proj")
PREFILL_BLOCK_TOKENS = 2400
ROW_ROUTE_BYTES = 256 * 2**20  # sessions with several adapters gather each row's LoRA matrices up to this size
ROUTE_CACHE_ENTRIES, ROUTE_CACHE_BYTES = 8, 32 * 2**20  # recent row layouts' routes kept, each up to this size


def _lora_parts(module: nn.Module) -> tuple[nn.Module, dict | None]:
    """(base layer, {adapter: (A as in x r, B as r x out, scaling)}) of a module; None when it has no LoRA."""
    if not hasattr(module, "base_layer"):
        return module, None
    parts = {}
    if hasattr(module, "lora_embedding_A") and len(module.lora_embedding_A):
        for name, a in module.lora_embedding_A.items():
            parts[name] = (a.T, module.lora_embedding_B[name].T, float(module.scaling[name]))
    for name, a in getattr(module, "lora_A", {}).items():
        parts[name] = (a.weight.T, module.lora_B[name].weight.T, float(module.scaling[name]))
    return module.base_layer, parts


class _Adapted:
    """One linear or embedding layer: the base weight in place plus every adapter's LoRA matrices, stacked."""

    def __init__(self, module: nn.Module, names: Sequence[str]) -> None:
        base, parts = _lora_parts(module)
        self.weight, self.bias = base.weight, getattr(base, "bias", None)
        self.embedding = isinstance(base, nn.Embedding)
        self.a = self.b = self.scale = None
        if parts:
            rank = max(a.shape[1] for a, _, _ in parts.values())
            zeros_a = self.weight.new_zeros(self.weight.shape[1 if not self.embedding else 0], rank)
            zeros_b = self.weight.new_zeros(rank, self.weight.shape[0 if not self.embedding else 1])
            stack_a, stack_b, scales = [], [], []
            for name in names:  # an adapter without this module (or of a lower rank) is padded with zeros: exact
                a, b, s = parts.get(name, (zeros_a, zeros_b, 0.0))
                stack_a.append(F.pad(a.detach(), (0, rank - a.shape[1])))
                stack_b.append(F.pad(b.detach(), (0, 0, 0, rank - b.shape[0])))
                scales.append(s)
            self.a, self.b = torch.stack(stack_a), torch.stack(stack_b)
            self.scale = torch.tensor(scales, dtype=self.weight.dtype, device=self.weight.device)

    def route(self, used: list[int], slots: torch.Tensor, per_row: bool) -> _Route | None:
        """How rows whose adapter is ``used[slots[row]]`` take their LoRA path (None without LoRA).

        One adapter: its A and B with the scaling as a number. Several, ``per_row``: each row's own A and B
        (scaled) gathered once, so a row costs one adapter's rank-r work (two batched matmuls). Several, not
        ``per_row`` (when the gathered copies would be too large): the used adapters' A side by side (in x u*r),
        their B stacked (u*r x out) and a per-row column mask holding the row's scaling on its own adapter's r
        columns and zeros elsewhere (the other adapters' terms are exact zeros)."""
        if self.a is None:
            return None
        u, rank = len(used), self.a.shape[-1]
        scale = self.scale[used]
        if u == 1:
            return _Route(self.a[used[0]], self.b[used[0]], float(scale[0]))
        if per_row:
            b = (self.b[used] * scale[:, None, None])[slots]
            if self.embedding:  # the used tables one after the other; a row looks up its ids in its own table
                return _Route(self.a[used].reshape(u * self.a.shape[1], rank), b, 1.0,
                              offsets=(slots * self.a.shape[1])[:, None])
            return _Route(self.a[used][slots], b, 1.0)
        a = self.a[used].permute(1, 0, 2).reshape(self.a.shape[1], u * rank)
        mask = (F.one_hot(slots, u).to(scale.dtype) * scale).repeat_interleave(rank, dim=1)[:, None, :]
        return _Route(a, self.b[used].reshape(u * rank, self.b.shape[-1]), 1.0, mask=mask)

    def row_route_size(self) -> int:
        """Elements of one row's gathered A and B (see :meth:`route`)."""
        if self.a is None:
            return 0
        return self.b[0].numel() + (0 if self.embedding else self.a[0].numel())

    def __call__(self, x: torch.Tensor, route: _Route | None) -> torch.Tensor:
        out = F.embedding(x, self.weight) if self.embedding else F.linear(x, self.weight, self.bias)
        if route is not None:
            route.add_to(out, x, self.embedding)
        return out


class _Route(NamedTuple):
    """One module's LoRA path for the rows of a session (see :meth:`_Adapted.route`)."""

    a: torch.Tensor
    b: torch.Tensor
    scale: float
    mask: torch.Tensor | None = None
    offsets: torch.Tensor | None = None

    def rows(self, rows: slice | torch.Tensor) -> _Route:
        """The route of the batch rows ``rows`` (a slice or an index tensor)."""
        if self.mask is not None:
            return self._replace(mask=self.mask[rows])
        if self.b.dim() == 3:
            offsets = None if self.offsets is None else self.offsets[rows]
            return self._replace(a=self.a if offsets is not None else self.a[rows], b=self.b[rows], offsets=offsets)
        return self

    def add_to(self, out: torch.Tensor, x: torch.Tensor, embedding: bool) -> None:
        """``out += scale * (x A) B`` row by row, the rank-r product added by the GEMM itself (no second pass)."""
        if embedding:
            low = F.embedding(x if self.offsets is None else x + self.offsets, self.a)
        else:
            low = torch.bmm(x, self.a) if self.a.dim() == 3 else x @ self.a
        if self.b.dim() == 3:  # each row its own (scaled) B
            out.baddbmm_(low, self.b)
            return
        if self.mask is not None:  # each row keeps its own adapter's columns, scaled
            low = low * self.mask
        out.view(-1, out.shape[-1]).addmm_(low.reshape(-1, low.shape[-1]), self.b, alpha=self.scale)


def _rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    h = x.float()
    h = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + eps)
    return weight * h.to(x.dtype)


def _rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    return x * cos + torch.cat((-x[..., half:], x[..., :half]), dim=-1) * sin


def _supported(model: nn.Module) -> str | None:
    """Why ``model`` cannot run here, or None when it can."""
    config = model.config
    rope = getattr(config, "rope_parameters", None) or getattr(config, "rope_scaling", None) or {}
    if config.model_type not in ("mistral", "llama"):
        return f"model_type {config.model_type!r}"
    if rope.get("rope_type", "default") != "default":
        return f"rope_type {rope.get('rope_type')!r}"
    if getattr(config, "hidden_act", "silu") != "silu":
        return f"hidden_act {config.hidden_act!r}"
    for name, module in model.named_modules():
        if hasattr(module, "modules_to_save"):
            return f"{name} is a {type(module).__name__}"
        if not hasattr(module, "base_layer"):
            continue
        if type(module.base_layer) not in (nn.Linear, nn.Embedding) or type(module).__name__ not in ("Linear",
                                                                                                   "Embedding"):
            return f"{name} is a {type(module).__name__} over a {type(module.base_layer).__name__}"
        if any(getattr(module, "use_dora", {}).values()):
            return f"{name} uses DoRA"
    return None


class LeanMistral:
    """The decoder's arithmetic over the weights of ``model`` (a PEFT model or a plain causal LM) for ``adapters``."""

    def __init__(self, model: nn.Module, adapters: Sequence[str]) -> None:
        inner = model.get_base_model() if hasattr(model, "get_base_model") else model
        config = inner.config
        self.adapters = list(adapters)
        self.heads, self.kv_heads = config.num_attention_heads, config.num_key_value_heads
        self.head_dim = getattr(config, "head_dim", None) or config.hidden_size // self.heads
        self.eps = config.rms_norm_eps
        self.window = getattr(config, "sliding_window", None)
        rotary = inner.model.rotary_emb
        self.inv_freq, self.rope_scale = rotary.inv_freq, float(getattr(rotary, "attention_scaling", 1.0))
        self.embed = _Adapted(inner.model.embed_tokens, adapters)
        self.head = _Adapted(inner.lm_head, adapters)
        self.norm = inner.model.norm.weight
        self.layers = [self._layer(layer) for layer in inner.model.layers]
        self.row_bytes = self._row_route_bytes()
        self._route_cache: OrderedDict[tuple, tuple[dict, list[dict]]] = OrderedDict()

    def _layer(self, layer: nn.Module) -> dict:
        parts = {name: _Adapted(getattr(layer.self_attn, name), self.adapters) for name in _ATTENTION}
        parts.update({name: _Adapted(getattr(layer.mlp, name), self.adapters) for name in _MLP})
        parts["input_norm"], parts["post_norm"] = layer.input_layernorm.weight, layer.post_attention_layernorm.weight
        return parts

    def _row_route_bytes(self) -> int:
        """Bytes of one row's gathered LoRA matrices, over every module (see :meth:`_Adapted.route`)."""
        modules = [self.embed, self.head] + [layer[name] for layer in self.layers for name in _ATTENTION + _MLP]
        return sum(m.row_route_size() for m in modules) * self.embed.weight.element_size()

    def session(self, row_adapters: Sequence[str], total_length: int) -> LeanSession:
        """A decoding session whose row ``i`` runs through adapter ``row_adapters[i]``."""
        return LeanSession(self, row_adapters, total_length)

    def routes(self, row_adapters: Sequence[str]) -> tuple[dict, list[dict]]:
        """Every module's route for rows whose adapters are ``row_adapters`` (embedding and head; each layer's).

        A simulated dialogue decodes every turn with the same adapters, so the routes of the last few row layouts
        are kept (when small): with several adapters, gathering each row's LoRA matrices is a visible share of a
        small model's decode (``docs/benchmarks.md``). The routes are never written to."""
        size = len(row_adapters) * self.row_bytes  # of the gathered per-row copies
        per_row = size <= ROW_ROUTE_BYTES
        key = (*row_adapters, per_row)
        cached = self._route_cache.get(key)
        if cached is not None:
            self._route_cache.move_to_end(key)
            return cached
        unknown = sorted(set(row_adapters) - set(self.adapters))
        if unknown:
            raise KeyError(f"adapters {unknown} are not loaded; loaded: {self.adapters}")
        used = list(dict.fromkeys(self.adapters.index(a) for a in row_adapters))
        slots = torch.tensor([used.index(self.adapters.index(a)) for a in row_adapters],
                             device=self.embed.weight.device)
        routes = ({"embed": self.embed.route(used, slots, per_row), "head": self.head.route(used, slots, per_row)},
                  [{name: parts[name].route(used, slots, per_row) for name in _ATTENTION + _MLP}
                   for parts in self.layers])
        if len(used) == 1 or (per_row and size <= ROUTE_CACHE_BYTES):
            self._route_cache[key] = routes
            if len(self._route_cache) > ROUTE_CACHE_ENTRIES:
                self._route_cache.popitem(last=False)
        return routes


class LeanSession:
    """Prompt pass and cached one-token steps for a fixed set of rows (see :meth:`LeanMistral.session`)."""

    def __init__(self, lean: LeanMistral, row_adapters: Sequence[str], total_length: int) -> None:
        self.lean, self.device = lean, lean.embed.weight.device
        self.routes, self.layer_routes = lean.routes(row_adapters)
        weight = lean.embed.weight
        shape = (len(row_adapters), lean.kv_heads, total_length, lean.head_dim)
        self.keys = [weight.new_zeros(shape) for _ in lean.layers]
        self.values = [weight.new_zeros(shape) for _ in lean.layers]
        self.valid = torch.zeros((len(row_adapters), total_length), dtype=torch.bool, device=weight.device)
        self.length = 0
        self.next_position: torch.Tensor | None = None

    def _rope(self, positions: torch.Tensor, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
        freqs = positions[..., None].float() * self.lean.inv_freq.float()
        emb = torch.cat((freqs, freqs), dim=-1)
        scale = self.lean.rope_scale
        return (emb.cos() * scale).to(dtype)[:, None], (emb.sin() * scale).to(dtype)[:, None]

    def prefill(self, ids: torch.Tensor, mask: torch.Tensor, start: int = 0) -> torch.Tensor:
        """Run the left-padded prompts ``ids`` (rows x T, ``mask`` 1 on real tokens); the last position's logits.

        ``start``: the columns before it already hold every row's keys and values (written into :attr:`keys` and
        :attr:`values` by the caller, e.g. from a dialogue's earlier turns), so only columns ``start:`` are run.

        On the CPU the rows go through in blocks of about :data:`PREFILL_BLOCK_TOKENS` tokens: a block's
        activations stay in the CPU's cache, which is faster than one pass over every row
        (``docs/benchmarks.md``), and a long batch never holds every row's activations at once."""
        width = ids.shape[1]
        self.valid[:, :width] = mask.bool()
        positions = (mask.long().cumsum(-1) - 1).clamp_min(0)
        self.next_position = positions[:, -1:] + 1
        causal = None
        if start or not bool(mask.all()):  # an explicit mask (otherwise the causal kernel, no mask to read)
            causal = torch.ones((width - start, width), dtype=torch.bool, device=ids.device).tril(diagonal=start)
        block = max(1, PREFILL_BLOCK_TOKENS // (width - start)) if self.device.type == "cpu" else len(ids)
        logits = []
        self.length = start
        for first in range(0, len(ids), block):
            rows = slice(first, first + block)
            allowed = None if causal is None else causal & self.valid[rows, None, None, :width]
            logits.append(self._forward(ids[rows, start:], positions[rows, start:], allowed, rows, last_only=True,
                                        routes=self._block_routes(rows) if block < len(ids) else None))
        self.length = width
        return torch.cat(logits)

    def step(self, ids: torch.Tensor) -> torch.Tensor:
        """Feed one token per row (rows x 1); that position's logits."""
        self.valid[:, self.length] = True
        positions, self.next_position = self.next_position, self.next_position + 1
        logits = self._forward(ids, positions, self.valid[:, None, None, :self.length + 1], slice(None),
                               last_only=False)
        self.length += 1
        return logits

    def keep(self, rows: torch.Tensor) -> None:
        """Hold only the batch rows ``rows`` (indices, in the order given) from now on: their keys, values, masks,
        positions and LoRA routes; the other rows (finished dialogues) are dropped."""
        self.keys = [k[rows] for k in self.keys]
        self.values = [v[rows] for v in self.values]
        self.valid, self.next_position = self.valid[rows], self.next_position[rows]
        self.routes, self.layer_routes = self._block_routes(rows)

    def _block_routes(self, rows: slice | torch.Tensor) -> tuple[dict, list[dict]]:
        """The session's routes restricted to the batch rows ``rows`` (for a block of the prompt pass)."""
        return ({name: _rows(route, rows) for name, route in self.routes.items()},
                [{name: _rows(route, rows) for name, route in layer.items()} for layer in self.layer_routes])

    def _forward(self, ids: torch.Tensor, positions: torch.Tensor, allowed: torch.Tensor | None, rows: slice,
                 last_only: bool, routes: tuple[dict, list[dict]] | None = None) -> torch.Tensor:
        """Rows ``rows`` of the batch from position ``self.length`` on, through ``routes`` (default: every row's);
        the last position's logits."""
        lean = self.lean
        outer, layer_routes = routes or (self.routes, self.layer_routes)
        x = lean.embed(ids, outer["embed"])
        cos, sin = self._rope(positions, x.dtype)
        for i, (parts, layer) in enumerate(zip(lean.layers, layer_routes)):
            final = last_only and i == len(lean.layers) - 1
            x = self._layer(i, parts, layer, x, (cos, sin), allowed, rows, final)
        h = _rms_norm(x[:, -1:], lean.norm, lean.eps)
        return lean.head(h, outer["head"])[:, 0].float()

    def _layer(self, i: int, parts: dict, routes: dict, x: torch.Tensor, rope: tuple, allowed: torch.Tensor | None,
               batch_rows: slice, final: bool) -> torch.Tensor:
        """One decoder layer; ``final``: only the last position's output is needed (keys/values for all)."""
        lean, (cos, sin), start = self.lean, rope, self.length
        rows, width, _ = x.shape
        h = _rms_norm(x, parts["input_norm"], lean.eps)
        k = parts["k_proj"](h, routes["k_proj"]).view(rows, width, lean.kv_heads, -1).transpose(1, 2)
        v = parts["v_proj"](h, routes["v_proj"]).view(rows, width, lean.kv_heads, -1).transpose(1, 2)
        keys, values = self.keys[i][batch_rows], self.values[i][batch_rows]
        keys[:, :, start:start + width] = _rotate(k, cos, sin)
        values[:, :, start:start + width] = v
        if final:  # the last query only: it sees every real key
            h, x, cos, sin = h[:, -1:], x[:, -1:], cos[:, :, -1:], sin[:, :, -1:]
            allowed = None if allowed is None else allowed[:, :, -1:]
        q = parts["q_proj"](h, routes["q_proj"]).view(rows, h.shape[1], lean.heads, -1).transpose(1, 2)
        causal = allowed is None and h.shape[1] > 1
        attn = F.scaled_dot_product_attention(_rotate(q, cos, sin), keys[:, :, :start + width],
                                              values[:, :, :start + width], attn_mask=allowed,
                                              is_causal=causal, scale=lean.head_dim ** -0.5, enable_gqa=True)
        x = x + parts["o_proj"](attn.transpose(1, 2).reshape(rows, h.shape[1], -1), routes["o_proj"])
        h = _rms_norm(x, parts["post_norm"], lean.eps)
        gate = F.silu(parts["gate_proj"](h, routes["gate_proj"]), inplace=True)
        return x.add_(parts["down_proj"](gate.mul_(parts["up_proj"](h, routes["up_proj"])), routes["down_proj"]))


def _rows(route: _Route | None, rows: slice | torch.Tensor) -> _Route | None:
    return None if route is None else route.rows(rows)


def _lora_parameters(model: nn.Module) -> list[torch.Tensor]:
    return [p for n, p in model.named_parameters() if "lora_" in n]


def lean_model(model: nn.Module, total_length: int) -> LeanMistral | None:
    """The lean forward of ``model`` (checked and built once per adapter set, rebuilt when LoRA weights change in
    place), or None where it does not apply."""
    names = tuple(getattr(model, "peft_config", None) or ())
    cached = _CACHE.get(model)
    if cached is None or cached["names"] != names:  # new adapters: check the model and list its LoRA tensors again
        inner = model.get_base_model() if hasattr(model, "get_base_model") else model
        cached = {"names": names, "why": _supported(inner) if names else "not a PEFT model",
                  "window": getattr(inner.config, "sliding_window", None), "lora": _lora_parameters(model),
                  "version": None, "lean": None}
        _CACHE[model] = cached
    why = cached["why"]
    if why is None and cached["window"] is not None and total_length > cached["window"]:
        why = f"{total_length} tokens exceed the sliding window of {cached['window']}"
    if why is not None:
        logger.debug("decoding through transformers: %s", why)
        return None
    version = sum(p._version for p in cached["lora"])
    if cached["version"] != version:
        cached["version"], cached["lean"] = version, LeanMistral(model, list(names))
    return cached["lean"]
