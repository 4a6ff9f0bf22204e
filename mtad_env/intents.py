"""User intents (paper Table 8 plus yes/no), the intent sets the traits are defined on, and the one alias table.

The paper's public code names intents after the Alexa TaskBot skill's (``NextStepIntent``, ``AMAZON.StopIntent``,
``ARTIFICIAL.SensitiveIntent``, ...). Its utterance pools, transition tables and dialogue files use those names;
:data:`INTENT_ALIASES` maps each to ours and :func:`canonical_intent` is how every reader (pools, transitions,
dialogue records, and so the command line) turns a name into an intent, refusing any other.
"""

from __future__ import annotations

from mtad_env.errors import DataFormatError, choices_message

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

# The paper's public code's intent names -> ours. Its stop set (stop, complete, cancel, terminate) is our stop; its
# two "previous" intents are our previous; its search for another task (IdentifyProcessIntent) is our new_task.
INTENT_ALIASES: dict[str, str] = {
    "StartStepsIntent": "start", "StartCookingIntent": "start",
    "NextStepIntent": "next", "AMAZON.NextIntent": "next",
    "PreviousStepIntent": "previous", "AMAZON.PreviousIntent": "previous",
    "ResumeTaskIntent": "resume", "AMAZON.RepeatIntent": "repeat",
    "AMAZON.StopIntent": "stop", "CompleteTaskIntent": "stop", "AMAZON.CancelIntent": "stop",
    "TerminateCurrentTaskIntent": "stop",
    "QuestionIntent": "question", "ARTIFICIAL.DefinitionQuestionIntent": "definition",
    "IngredientsReplacementIntent": "replacement", "GetCuriositiesIntent": "fun_fact",
    "IdentifyProcessIntent": "new_task", "CommonChitChatIntent": "chit_chat",
    "ARTIFICIAL.SensitiveIntent": "sensitive", "AMAZON.FallbackIntent": "fallback",
    "AMAZON.YesIntent": "yes", "AMAZON.NoIntent": "no",
}


def canonical_intent(name: object, where: str = "") -> str:
    """Our name of intent ``name`` (ours or an alias of :data:`INTENT_ALIASES`).

    Raises:
        DataFormatError: ``name`` is neither, naming ``where`` (file, record) and the valid names.

    Example:
        >>> canonical_intent("AMAZON.FallbackIntent")
        'fallback'
    """
    if isinstance(name, str):
        if name in INTENTS:
            return name
        if name in INTENT_ALIASES:
            return INTENT_ALIASES[name]
    msg = choices_message("intent", name, INTENTS) + (
        "; the paper's public code's names are accepted too: " + ", ".join(INTENT_ALIASES))
    raise DataFormatError(f"{where}: {msg}" if where else msg)
