"""A dialogue's keys and values carried from one user turn to the next (prompt format ``dialogue``).

In the ``dialogue`` prompt format the prompt of turn k + 1 begins with the prompt of turn k and the user turn that
was generated from it, so the keys and values the lean decoder computed for them can be reused: the next decode
runs only the tokens that are new (the end of the user turn, the system response, ``<|user|>``). The cache is
matched by token ids, never assumed: a turn whose text re-tokenizes differently from what was sampled, or a
history that was edited, reuses only the common prefix, so a cached decode computes the same distributions as one
that recomputes everything (up to float rounding of a different blocking of the same products).
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch


@dataclass
class _Entry:
    tokens: list[int]
    keys: list[torch.Tensor]    # per layer: kv heads x len(tokens) x head dim
    values: list[torch.Tensor]


class TurnCache:
    """Per adapter, the token ids a dialogue's last decode saw and their keys and values in every layer.

    One per simulated dialogue (an :class:`~simulators.lm_simulator.LMUserSimulator` clears it at ``reset``);
    :func:`simulators.mtad_engine.decode` reads and refreshes it through :meth:`reusable`, :meth:`fill` and
    :meth:`store`."""

    def __init__(self) -> None:
        self._entries: dict[str, _Entry] = {}
        self._owner: object | None = None

    def clear(self) -> None:
        self._entries.clear()

    @property
    def nbytes(self) -> int:
        """Memory held by the cached keys and values."""
        return sum(t.numel() * t.element_size() for e in list(self._entries.values()) for t in (*e.keys, *e.values))

    def reusable(self, owner: object, adapter: str, prompt: Sequence[int]) -> int:
        """How many leading tokens of ``prompt`` have cached keys and values for ``adapter`` (at most all but the
        last, whose logits the decode needs). ``owner``: the lean model the entries were computed with; entries
        of another (new weights) are dropped."""
        if owner is not self._owner:
            self._entries.clear()
            self._owner = owner
        entry = self._entries.get(adapter)
        if entry is None:
            return 0
        limit = min(len(entry.tokens), len(prompt) - 1)
        same = 0
        while same < limit and entry.tokens[same] == prompt[same]:
            same += 1
        return same

    def fill(self, keys: Sequence[torch.Tensor], values: Sequence[torch.Tensor], row: int, adapter: str,
             column: int, n: int) -> None:
        """Write the first ``n`` cached positions of ``adapter`` into batch row ``row`` from ``column`` on."""
        entry = self._entries[adapter]
        for k, v, ck, cv in zip(keys, values, entry.keys, entry.values):
            k[row, :, column:column + n] = ck[:, :n]
            v[row, :, column:column + n] = cv[:, :n]

    def store(self, keys: Sequence[torch.Tensor], values: Sequence[torch.Tensor], row: int, adapter: str,
              column: int, tokens: Sequence[int]) -> None:
        """Keep batch row ``row``'s keys and values for ``tokens``, which start at ``column``."""
        span = slice(column, column + len(tokens))
        self._entries[adapter] = _Entry(list(tokens), [k[row, :, span].clone() for k in keys],
                                        [v[row, :, span].clone() for v in values])


class TurnCachePool:
    """Turn caches of many dialogues, found by how their prompt starts: the cache of a server whose requests
    each carry a whole dialogue and no session id (an OpenAI-style chat endpoint).

    A dialogue's key is its prompt up to its second ``<|user|>`` token (the head and the first user and system
    turns), so the requests of one dialogue find the cache its earlier turns filled from the third turn on; two
    dialogues that begin alike share a cache, which costs them hits, never correctness (a cache is matched by token
    ids). The least recently used caches go once the pool holds more than ``max_bytes`` of keys and values.
    Thread-safe: requests look caches up on the server's thread while the decode thread fills them.
    """

    def __init__(self, user_id: int, max_bytes: int = 256 * 2 ** 20) -> None:
        self.user_id, self.max_bytes = user_id, max_bytes
        self._caches: OrderedDict[bytes, TurnCache] = OrderedDict()
        self._lock = threading.Lock()
        self.lookups = self.found = 0

    def get(self, prompt: Sequence[int]) -> TurnCache:
        """The cache of the dialogue whose next prompt is ``prompt`` (a new one if none is kept)."""
        ids = np.asarray(prompt, dtype=np.int64)
        users = np.flatnonzero(ids == self.user_id)
        head = ids[:users[1] + 1] if len(users) > 1 else ids
        key = hashlib.blake2b(head.tobytes(), digest_size=16).digest()
        with self._lock:
            self.lookups += 1
            cache = self._caches.get(key)
            if cache is not None:
                self.found += 1
                self._caches.move_to_end(key)
                return cache
            self._caches[key] = cache = TurnCache()
            self._evict()
            return cache

    def _evict(self) -> None:
        total = sum(c.nbytes for c in self._caches.values())
        while total > self.max_bytes and len(self._caches) > 1:
            _, oldest = self._caches.popitem(last=False)
            total -= oldest.nbytes

    def stats(self) -> dict[str, float]:
        """Lookups, the share that found a kept cache, caches kept and their megabytes."""
        with self._lock:
            held = sum(c.nbytes for c in self._caches.values())
            return {"lookups": self.lookups, "hit_rate": round(self.found / self.lookups, 3) if self.lookups else 0.0,
                    "dialogues": len(self._caches), "megabytes": round(held / 2 ** 20, 1)}
