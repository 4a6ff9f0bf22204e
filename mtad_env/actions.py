"""The agents' actions: a simulator's turn as an element of the user's action space, and the validation of
each agent's action (every refusal names the bad value and what is valid)."""

from __future__ import annotations

from typing import Any

import numpy as np

from mtad_env.errors import InvalidValueError, unknown
from mtad_env.intents import INTENTS
from mtad_env.observations import MAX_RESPONSE_CHARS, MAX_UTTERANCE_CHARS, NO_INTENT, clean_text
from mtad_env.system_acts import ACTS
from mtad_env.user_simulator import UserAction


def user_action(action: UserAction) -> dict[str, Any]:
    """A simulator's :class:`UserAction` as an element of the user's action space."""
    intent = INTENTS.index(action.intent) if action.intent in INTENTS else NO_INTENT
    return {"intent": intent, "utterance": action.utterance}


def parse_user_action(action: Any) -> tuple[str | None, str]:
    if isinstance(action, UserAction):
        action = {"intent": action.intent, "utterance": action.utterance}
    if not isinstance(action, dict) or set(action) != {"intent", "utterance"}:
        raise InvalidValueError(f"user action must be a dict with keys 'intent' and 'utterance', got {action!r:.200}")
    intent, utterance = action["intent"], action["utterance"]
    if not isinstance(intent, (str, int, np.integer)):
        raise InvalidValueError(f"user intent must be an intent name or index, got {type(intent).__name__}")
    if isinstance(intent, (int, np.integer)) and not isinstance(intent, bool) and 0 <= intent <= NO_INTENT:
        intent = INTENTS[intent] if intent < NO_INTENT else None
    elif intent not in INTENTS:
        raise unknown("user intent", intent, [*INTENTS, f"0..{NO_INTENT}"])
    if not isinstance(utterance, str) or not utterance.strip():
        raise InvalidValueError(f"user utterance must be a non-empty string, got {utterance!r:.200}")
    if len(utterance) > MAX_UTTERANCE_CHARS:
        raise InvalidValueError(f"user utterance has {len(utterance)} characters; at most {MAX_UTTERANCE_CHARS}")
    return intent, clean_text(utterance, MAX_UTTERANCE_CHARS)


def parse_act(action: Any) -> int:
    if isinstance(action, str) and action in ACTS:
        return ACTS.index(action)
    if isinstance(action, np.ndarray) and action.size == 1:
        action = action.item()
    if isinstance(action, (int, np.integer)) and not isinstance(action, bool) and 0 <= action < len(ACTS):
        return int(action)
    raise InvalidValueError(f"assistant act {action!r:.100} is not valid; give an index 0..{len(ACTS) - 1} "
                            f"or a name: {', '.join(ACTS)}")


def parse_text(action: Any) -> str:
    if not isinstance(action, str):
        raise InvalidValueError(f"assistant action must be a string response (assistant_actions='text'), "
                                f"got {type(action).__name__}; use assistant_actions='acts' for discrete acts")
    if not action.strip():
        raise InvalidValueError("assistant response is empty; give a non-empty string")
    if len(action) > MAX_RESPONSE_CHARS:
        raise InvalidValueError(f"assistant response has {len(action)} characters; at most {MAX_RESPONSE_CHARS}")
    return clean_text(action, MAX_RESPONSE_CHARS)
