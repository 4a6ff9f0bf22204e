"""Observation and action spaces of the CTA environment, and how observations are built from the dialogue.

Text travels in Gymnasium ``Text`` spaces whose charset admits real sentences (printable ASCII plus common
accented letters and typographic symbols); characters outside it are replaced by ``?`` and over-long text is cut.
"""

from __future__ import annotations

import re
import string
from collections.abc import Sequence
from typing import Any

import numpy as np
from gymnasium import spaces

from mtad_env.domain import Task
from mtad_env.intents import INTENTS
from mtad_env.system_acts import ACTS

CHARSET = "".join(sorted(set(string.printable) - set("\x0b\x0c\r") | set(
    "°½¼¾⅓⅔×–—‘’“”…éèêëáàâäãåçíìîïñóòôöõúùûüýÿæœøßÉÈÁÀÇÑÓÚÜ€£¥")))
_OUTSIDE = re.compile(f"[^{re.escape(CHARSET)}]")
MAX_UTTERANCE_CHARS = 1_000
MAX_RESPONSE_CHARS = 2_000
MAX_HISTORY_CHARS = 8_000
MAX_TASK_CHARS = 8_000
MAX_STEPS = 40
NO_INTENT = len(INTENTS)  # index meaning "no intent": before the first turn, or a degenerate user turn
N_FEATURES = 8 + (len(INTENTS) + 1) + (len(ACTS) + 1)


def clean_text(text: str, limit: int) -> str:
    """``text`` restricted to the charset and cut to ``limit`` characters (keeping the end for histories)."""
    text = _OUTSIDE.sub("?", text)
    return text if len(text) <= limit else text[-limit:]


def text_space(limit: int) -> spaces.Text:
    """A Text space of up to ``limit`` characters of :data:`CHARSET`."""
    return spaces.Text(max_length=limit, min_length=0, charset=CHARSET)


def observation_space() -> spaces.Dict:
    """The observation space shared by both agents."""
    return spaces.Dict({
        "text": text_space(MAX_RESPONSE_CHARS),
        "history": text_space(MAX_HISTORY_CHARS),
        "task": text_space(MAX_TASK_CHARS),
        "step": spaces.Discrete(MAX_STEPS + 1),
        "intent": spaces.Discrete(len(INTENTS) + 1),
        "features": spaces.Box(0.0, 1.0, shape=(N_FEATURES,), dtype=np.float32),
    })


def user_action_space() -> spaces.Dict:
    """The user's turn: an intent index (:data:`NO_INTENT` for a degenerate turn) and the utterance."""
    return spaces.Dict({"intent": spaces.Discrete(len(INTENTS) + 1),
                        "utterance": spaces.Text(max_length=MAX_UTTERANCE_CHARS, min_length=1, charset=CHARSET)})


def assistant_action_space(mode: str) -> spaces.Space:
    """Free text (``"text"``) or a discrete system act (``"acts"``)."""
    if mode == "acts":
        return spaces.Discrete(len(ACTS))
    return spaces.Text(max_length=MAX_RESPONSE_CHARS, min_length=1, charset=CHARSET)


def task_text(task: Task) -> str:
    """The task as the assistant reads it: title, ingredients or tools, numbered steps."""
    lines = [f"Title: {task.title}"]
    lines += [f"Ingredient: {i}" for i in task.ingredients]
    lines += [f"Tool: {t}" for t in task.tools]
    lines += [f"Step {k}: {s}" for k, s in enumerate(task.methods, 1)]
    return "\n".join(lines)


def parse_task_text(text: str) -> Task:
    """Inverse of :func:`task_text` (used by assistants that only see observations); a task that lists tools and
    no ingredients is read as a DIY task, any other as a recipe."""
    fields: dict[str, list[str]] = {"Title": [], "Ingredient": [], "Tool": [], "Step": []}
    for line in text.splitlines():
        head, _, rest = line.partition(": ")
        key = head.split(" ")[0]
        if key in fields:
            fields[key].append(rest)
    title = fields["Title"][0] if fields["Title"] else "the task"
    diy = bool(fields["Tool"]) and not fields["Ingredient"]  # recipes list ingredients, DIY jobs only tools
    return Task("observed", title, tuple(fields["Step"]) or ("Follow the task.",), tuple(fields["Ingredient"]),
                tuple(fields["Tool"]), data_source="diy" if diy else "recipe")


def turn_lines(turn: dict[str, Any]) -> str:
    """One finished turn as ``USER: ...`` and ``SYSTEM: ...`` lines (charset-clean)."""
    return clean_text(f"USER: {turn['user']}\nSYSTEM: {turn['system']}", 2 * MAX_RESPONSE_CHARS)


def history_text(lines: Sequence[str], pending_user: str | None = None) -> str:
    """The dialogue so far from :func:`turn_lines` blocks, plus the pending user utterance, cut from the left."""
    text = "\n".join(lines if pending_user is None else [*lines, f"USER: {pending_user}"])
    return text if len(text) <= MAX_HISTORY_CHARS else text[-MAX_HISTORY_CHARS:]


def features(step: int, n_steps: int, turn: int, max_turns: int, errors: int, completed: bool,
             intent: int, intent_confidence: float, last_act: int | None) -> np.ndarray:
    """The numeric feature vector (all in [0, 1])."""
    vec = np.zeros(N_FEATURES, dtype=np.float32)
    vec[:8] = [min(max((step + 1) / max(n_steps, 1), 0.0), 1.0), min(n_steps / MAX_STEPS, 1.0),
               min(turn / max_turns, 1.0), min(errors / max_turns, 1.0), float(completed), float(step >= 0),
               float(step >= n_steps - 1), min(max(intent_confidence, 0.0), 1.0)]
    vec[8 + intent] = 1.0
    vec[8 + len(INTENTS) + 1 + (len(ACTS) if last_act is None else last_act)] = 1.0
    return vec
