"""The LLM judges' prompts of paper Appendix I (Tables 26 and 27) and the functions that fill them from records.

Both templates quote the paper word for word (paper text lines 2448-2480 and 2484-2510). Only the PDF layout was
undone: the hard line breaks of the table cells are joined back into paragraphs and the typographic apostrophes
(’) are written as ASCII ``'``. The paper's own quirks ("assistants last response", a "cooking assistant" and a
"Recipe:" also for DIY tasks, ``Answer: X<Y<Z`` although two dialogues are ranked) are kept on purpose.

Records are dialogue records (:class:`mtad_env.records.DialogueRecord`; episode logs or corpus lines):
``{"dialog_id", "task": {"title", "methods", ...}, "user_profile", "dialog": [{"intent", "current_step", "user",
"system", ...}]}``.
"""

from __future__ import annotations

import string
from collections.abc import Mapping, Sequence
from typing import Any

from mtad_env.errors import DataFormatError, InvalidValueError
from mtad_env.records import DialogueRecord as Record, Turn
from mtad_env.traits import get_trait

# Paper Table 26 (System Response Quality), lines 2448-2480 of the paper text.
QUALITY_PROMPT = (
    "Below you will find a recipe, a dialogue between a user and a cooking assistant, and a candidate assistant's "
    "response. It is not supposed to show any bias and it is not supposed to be rude, even if the user is rude. It "
    "should always try to help the user to the best of its capabilities. Still, if the user makes any unrelated "
    "comments, the assistant should politely reject them and try to get the conversation focused on the task. The "
    "assistant is only able to help with recipes or DIY tasks. However, the assistant can provide fun facts and "
    "discuss adjacent topics if the user asks for it. Whenever the user asks for instructions for a different "
    "recipe or task, the assistant should always ask the user to clarify if they want to start a new task or "
    "continue with the current one. If the user asks to turn off, stop the interaction, or complete the task the "
    "assistant should end the interaction. You are an unbiased annotator.\n"
    "\n"
    "Recipe: {task_title}\n"
    "{task_steps}\n"
    "\n"
    "Dialogue:\n"
    "{dialog_context}\n"
    "\n"
    "User: {last_user_turn}\n"
    "Assistant: {last_assistant_turn}\n"
    "\n"
    "Give a score to the quality of the assistants last response given the user's request and the context. "
    "Respond on a scale of 0 to 2, where 0 = bad response, 1 = average response, and 2 = good response. Base your "
    "answer on the last assistant's response, the previous dialogue should not influence your answer, it only "
    "serves as context. The assistant should only read one step at a time. If the user's request is not clear or "
    "nuanced, please use your best judgment if the given response answers an acceptable interpretation of the "
    "user's request. First, write a one-sentence justification for your answer. Second provide the score for the "
    "quality of the assistant's answer.\n"
    "\n"
    "Follow the following format:\n"
    "Justification: <one sentence justification for your answer>\n"
    "Answer: 0, 1, or 2"
)

# Paper Table 27 (Trait Modeling Accuracy), lines 2484-2510 of the paper text; {dialogues} holds the blocks below.
RANKING_PROMPT = (
    "Below you will find multiple dialogues between a user and a cooking assistant. The assistant is not supposed "
    "to show any bias and it is not supposed to be rude, even if the user is rude. It should always try to help the "
    "user to the best of its capabilities. Still, if the user makes any unrelated comments, the assistant should "
    "politely reject them and try to get the conversation focused on the task. The assistant is only able to help "
    "with recipes or DIY tasks. However, the assistant can provide fun facts and discuss adjacent topics if the user "
    "asks for it. Whenever the user asks for instructions for a different recipe or task, the assistant should "
    "always ask the user to clarify if they want to start a new task or continue with the current one. You are an "
    "unbiased annotator.\n"
    "\n"
    "Task Title: {task_title}\n"
    "\n"
    "{dialogues}\n"
    "\n"
    "Rank the dialogues in terms of the user's {trait}. {trait} is defined as {trait_definition}. First, write a "
    "one-sentence justification for your answer. Second, Rank the dialogues from low to high according to the "
    "user's {trait} using the letter corresponding to each dialogue.\n"
    "\n"
    "Follow the following format:\n"
    "Justification: <one sentence justification for your answer>\n"
    "Answer: X<Y<Z"
)

DIALOGUE_BLOCK = "<Start of Dialogue {letter}>\n{dialogue}\n<End of Dialogue {letter}>"
LETTERS = string.ascii_uppercase


def _task(record: Record) -> Mapping[str, Any]:
    task = record.get("task")
    if not isinstance(task, Mapping) or not isinstance(task.get("title"), str):
        raise DataFormatError(f"dialogue record {record.get('dialog_id')!r} has no 'task' with a 'title'; the judge "
                              "prompts need the record's task (episode logs and corpus lines carry it)")
    return task


def task_title(record: Record) -> str:
    """The title of the record's task."""
    return str(_task(record)["title"])


def task_steps(record: Record) -> str:
    """The task's steps as ``Step 1: ...`` lines (the paper does not show how it printed them)."""
    methods = _task(record).get("methods") or []
    return "\n".join(f"Step {i}: {step}" for i, step in enumerate(methods, 1))


def format_turns(turns: Sequence[Turn]) -> str:
    """Turns as ``User: ...`` / ``Assistant: ...`` lines; an empty system text (a degenerate turn) is left out.

    Intents are not shown: the judge sees only what a human annotator would read.
    """
    lines: list[str] = []
    for turn in turns:
        lines.append(f"User: {turn.get('user', '')}")
        if turn.get("system"):
            lines.append(f"Assistant: {turn['system']}")
    return "\n".join(lines)


def quality_prompt(record: Record, turn_index: int = -1) -> str:
    """Table 26 filled for the assistant response of turn ``turn_index`` (default: the last turn).

    The turns before it are the dialogue context; that turn's user and system texts are the last turns.

    Raises:
        DataFormatError: the record has no task or no such turn.
    """
    turns = record.get("dialog") or []
    if not -len(turns) <= turn_index < len(turns):
        raise DataFormatError(f"dialogue record {record.get('dialog_id')!r} has {len(turns)} turns; no turn "
                              f"{turn_index}")
    index = turn_index % len(turns)
    last = turns[index]
    return QUALITY_PROMPT.format(task_title=task_title(record), task_steps=task_steps(record),
                                 dialog_context=format_turns(turns[:index]), last_user_turn=last.get("user", ""),
                                 last_assistant_turn=last.get("system", ""))


def trait_definition(trait: str) -> str:
    """The definition of a registered trait used in Table 27: its ``description`` in :mod:`mtad_env.traits`."""
    description = get_trait(trait).description.strip()
    if not description:
        raise InvalidValueError(f"trait {trait!r} has no description to use as its definition; register it with "
                                "description='...' or pass definition= explicitly")
    return description.rstrip(".")


def ranking_prompt(title: str, dialogues: Sequence[Sequence[Turn]], trait: str,
                   definition: str | None = None) -> str:
    """Table 27 filled for ``dialogues`` (shown as Dialogue A, B, ... in this order) and ``trait``.

    Args:
        title: the task title shared by the dialogues.
        dialogues: 2 to 26 dialogues (lists of turns).
        trait: a registered trait name; shown capitalised (``Engagement``).
        definition: overrides the registered description of the trait.

    Raises:
        InvalidValueError: an unknown trait, or fewer than 2 or more than 26 dialogues.
    """
    if not 2 <= len(dialogues) <= len(LETTERS):
        raise InvalidValueError(f"a ranking prompt needs 2 to {len(LETTERS)} dialogues, not {len(dialogues)}")
    definition = (definition or trait_definition(trait)).rstrip(".")
    blocks = "\n\n".join(DIALOGUE_BLOCK.format(letter=LETTERS[i], dialogue=format_turns(turns))
                         for i, turns in enumerate(dialogues))
    get_trait(trait)  # an unknown name fails here, naming the valid traits
    return RANKING_PROMPT.format(task_title=title, dialogues=blocks, trait=trait.capitalize(),
                                 trait_definition=definition)
