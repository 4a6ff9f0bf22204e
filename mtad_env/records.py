"""The dialogue record: the one schema of a turn and of a dialogue, shared by the environment, the metrics, the
episode logs, the corpus generator, the evaluation and the judges.

Records stay plain JSON objects (dicts) so that logs, corpora and the paper's public code's files read and write
them as they are; these ``TypedDict`` classes only name their keys and types. A turn written by the environment
carries every :class:`Turn` key; a corpus turn carries ``forced_system_error`` instead of ``system_error``, and a
record read from elsewhere may carry fewer keys (hence ``total=False``).

Example:
    >>> turn = new_turn("next", "next step please", "Step 2: ...", system_error=False, act="next_step",
    ...                 current_step=1, task_completed=False, predicted_intent="next")
    >>> turn["intent"], is_degenerate(turn)
    ('next', False)
"""

from __future__ import annotations

from typing import Any, TypedDict

# The intent an environment logs for a turn the simulator could not produce (no parsable intent, nothing said):
# kept in records for the degeneration rate, never a real intent, left out of the identifying metrics.
DEGENERATE = "<degenerate>"


class Turn(TypedDict, total=False):
    """One user turn and the system's response to it.

    Keys:
        intent: the user's intent (a name of :data:`mtad_env.intents.INTENTS`, or :data:`DEGENERATE`).
        user: what the user said. system: the assistant's response ("" when the episode ended on the user turn).
        system_error: whether the response was judged wrong (episode logs); ``forced_system_error``: whether the
            corpus generator forced an error on this turn (corpora).
        act: the system act the response was read as (None when none was judged).
        current_step: the task step shown after the response (0-based). task_completed: whether the task is done.
        predicted_intent: what the NLU read from the utterance (None with oracle intents or a degenerate turn).
    """

    intent: str
    user: str
    system: str
    system_error: bool
    forced_system_error: bool
    act: str | None
    current_step: int
    task_completed: bool
    predicted_intent: str | None


class DialogueRecord(TypedDict, total=False):
    """One dialogue as a log or corpus line: the paper's public code's fields plus the episode's outcome.

    Keys:
        dialog_id: the dialogue's id. task: the task as a dict (``Task.to_dict``). user_profile: the canonical
        profile string (or the paper's profile object, when read from its files). dialog: the turns.
        simulator, episode_seed, reset_seed: who simulated the user and from which seeds (episode logs).
        episode_metrics: the identifying metric of every trait. end_reason: why the episode ended.
        task_completed: whether the task was completed. decoding: an LM user's mode, adapters and weights.
    """

    dialog_id: str
    task: dict[str, Any]
    user_profile: Any
    dialog: list[Turn]
    simulator: str
    episode_seed: int
    reset_seed: int | None
    episode_metrics: dict[str, float | None]
    end_reason: str
    task_completed: bool
    decoding: dict[str, Any]


def new_turn(intent: str, user: str, system: str, *, system_error: bool, act: str | None, current_step: int,
             task_completed: bool, predicted_intent: str | None) -> Turn:
    """A turn as the environment records it (every key, in the logged order)."""
    return {"intent": intent, "user": user, "system": system, "system_error": system_error, "act": act,
            "current_step": current_step, "task_completed": task_completed, "predicted_intent": predicted_intent}


def is_degenerate(turn: Turn) -> bool:
    """Whether a turn is the environment's record of a user turn the simulator could not produce."""
    return turn.get("intent") == DEGENERATE
