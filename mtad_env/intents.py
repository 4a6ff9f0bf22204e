"""User intents (paper Table 8 plus yes/no) and the intent sets the traits are defined on (DESIGN §1)."""

from __future__ import annotations

INTENTS: tuple[str, ...] = (
    "start", "next", "previous", "resume", "repeat", "stop", "question", "definition",
    "replacement", "fun_fact", "new_task", "chit_chat", "sensitive", "fallback", "yes", "no",
)
STOP_INTENTS: frozenset[str] = frozenset({"stop"})
NON_COOPERATIVE: frozenset[str] = frozenset({"fallback", "new_task", "chit_chat", "sensitive"})
NON_EXPLORATIVE: frozenset[str] = frozenset(
    {"stop", "fallback", "sensitive", "chit_chat", "new_task", "previous", "resume", "repeat"}
)
# Engagement scales the stop set and new_task (leaving for another task also ends engagement with this one).
ENGAGEMENT_INTENTS: frozenset[str] = STOP_INTENTS | {"new_task"}
