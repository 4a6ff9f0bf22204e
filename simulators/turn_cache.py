"""A dialogue's keys and values carried from one user turn to the next (prompt format ``dialogue``).

In the ``dialogue`` prompt format the prompt of turn k + 1 begins with the prompt of turn k and the user turn that
was generated from it, so the keys and values the lean decoder computed for them can be reused: the next decode
runs only the tokens that are new (the end of the user turn, the system response, ``<|user|>``). The cache is
matched by token ids, never assumed: a turn whose text re-tokenizes differently from what was sampled, or a
history that was edited, reuses only the common prefix, so a cached decode computes the same distributions as one
that recomputes everything (up to float rounding of a different blocking of the same products).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

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
