"""The simulator LM's input and output text, in one of two prompt formats (a pack's manifest names its own).

``window`` (the paper's Appendix C, Figure 7): ``P ⊕ H ⊕ U ⊕ S`` -> completion.

* P, the preamble: one short sentence that sets the task.
* H, the history: the last ``n`` turns, each ``<|user|> <|intent|> utterance <|system|> response``; system
  responses are cut to their first words to keep prompts short.
* U, the profile: ``<|profile|>`` then one token per non-neutral trait intensity (``<|verbosity=high|>``), or
  ``<|regular|>``.
* S, the suffix: ``<|response|>``; the completion is ``<|intent|> utterance <|end|>`` and the loss covers it only.

``dialogue``: the whole dialogue so far is the context, and every user turn is written exactly as it was generated::

    P [U] <|user|><|intent|> utterance<|end|><|system|> response <|user|><|intent|> utterance<|end|><|system|> ...

The prompt of turn k is the dialogue's first k turns followed by ``<|user|>``; the completion is the same
``<|intent|> utterance <|end|>``.

``task_dialogue``: the ``dialogue`` format with the task written after the preamble (T, :func:`task_text`): its
title and the ingredient and tool names that user questions mention, so that a user asks about the task it is in
("how much butter do i need" in a recipe with butter) instead of one remembered from training. A training sequence is then one whole dialogue with the loss on every user turn
(each conditioned on everything before it), and at inference the prompt of turn k + 1 extends the prompt of turn k,
so a dialogue's key/value cache carries over from turn to turn.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from mtad_env.domain import Task
from mtad_env.errors import InvalidValueError, unknown
from mtad_env.intents import INTENTS
from mtad_env.profiles import Profile
from mtad_env.traits import traits

PREAMBLE = "A user talks with a task assistant and behaves as the profile says."
ROLE_TOKENS = ("<|user|>", "<|system|>", "<|profile|>", "<|response|>", "<|end|>", "<|pad|>", "<|unk|>")
END, PAD, UNK = "<|end|>", "<|pad|>", "<|unk|>"
HISTORY_TURNS = 4
SYSTEM_WORDS = 16
_SPECIAL = re.compile(r"<\|[^|]*\|>")
PROMPT_FORMATS = ("window", "dialogue", "task_dialogue")
DIALOGUE_FORMATS = ("dialogue", "task_dialogue")  # whole-dialogue formats: one training sequence per dialogue
TASK_INGREDIENTS, TASK_TOOLS = 10, 6
USER = "<|user|>"


def intent_token(intent: str) -> str:
    """``<|next|>`` for ``next``."""
    return f"<|{intent}|>"


INTENT_TOKENS: tuple[str, ...] = tuple(intent_token(i) for i in INTENTS)


def profile_tokens_for(trait_names: Iterable[str]) -> tuple[str, ...]:
    """Profile tokens for the given traits at low and high, plus ``<|regular|>``."""
    return ("<|regular|>", *(f"<|{n}={i}|>" for n in trait_names for i in ("low", "high")))


def special_tokens() -> tuple[str, ...]:
    """Every special token of the current trait registry, in a stable order."""
    return (*ROLE_TOKENS, *INTENT_TOKENS, *profile_tokens_for(traits()))


def profile_text(profile: Profile) -> str:
    """U: the profile as tokens."""
    return "<|profile|>" + "".join([f"<|{n}={i}|>" for n, i in profile.pairs] or ["<|regular|>"])


def _cut(text: str, n_words: int) -> str:
    return " ".join(_SPECIAL.sub(" ", text).split()[:n_words])


def history_text(turns: Sequence[Mapping[str, Any]], n_turns: int = HISTORY_TURNS) -> str:
    """H: the last ``n_turns`` turns with their intents."""
    parts = []
    for turn in turns[-n_turns:] if n_turns else []:
        intent = turn["intent"] if turn["intent"] in INTENTS else "fallback"
        parts.append(f"<|user|>{intent_token(intent)} {_cut(turn['user'], 40)}"
                     f"<|system|> {_cut(turn['system'], SYSTEM_WORDS)}")
    return "".join(parts)


def build_prompt(turns: Sequence[Mapping[str, Any]], profile: Profile | None, n_turns: int = HISTORY_TURNS) -> str:
    """``P ⊕ H ⊕ U ⊕ S``; ``profile=None`` leaves U out (STS adapters carry the profile themselves).

    Special tokens are written without surrounding spaces; each word run starts with one space.
    """
    return "".join([PREAMBLE, history_text(turns, n_turns), profile_text(profile) if profile else "",
                    "<|response|>"])


def dialogue_turn_text(turn: Mapping[str, Any]) -> str:
    """One past turn in the ``dialogue`` format: ``<|user|>`` + its completion + ``<|system|> response``."""
    intent = turn["intent"] if turn["intent"] in INTENTS else "fallback"
    return f"{USER}{completion_text(intent, turn['user'])}<|system|> {_cut(turn['system'], SYSTEM_WORDS)}"


def task_text(task: Task) -> str:
    """T: ``" Task: title. Ingredients: a, b. Tools: c, d."``, at most ``TASK_INGREDIENTS`` ingredient and
    ``TASK_TOOLS`` tool names; a list the task lacks is left out."""
    parts = [f" Task: {_cut(task.title, 16)}."]
    if task.ingredient_names:
        parts.append(" Ingredients: " + ", ".join(task.ingredient_names[:TASK_INGREDIENTS]) + ".")
    if task.tools:
        parts.append(" Tools: " + ", ".join(task.tools[:TASK_TOOLS]) + ".")
    return "".join(parts)


def dialogue_prompt_head(profile: Profile | None, task: Task | None = None) -> str:
    """What a whole-dialogue sequence starts with: P, then T when ``task`` is given (``task_dialogue``), then U
    when ``profile`` is given (JTS)."""
    return PREAMBLE + (task_text(task) if task is not None else "") + (profile_text(profile) if profile else "")


def prompt_text(turns: Sequence[Mapping[str, Any]], profile: Profile | None, prompt_format: str = "window",
                task: Task | None = None) -> str:
    """The prompt of the next user turn after ``turns`` in ``prompt_format`` (see the module docstring);
    ``task_dialogue`` needs the ``task``."""
    if prompt_format == "window":
        return build_prompt(turns, profile)
    if prompt_format in DIALOGUE_FORMATS:
        if prompt_format == "task_dialogue" and task is None:
            raise InvalidValueError("the task_dialogue prompt format writes the task into the prompt: pass task=")
        head = dialogue_prompt_head(profile, task if prompt_format == "task_dialogue" else None)
        return head + "".join(dialogue_turn_text(t) for t in turns) + USER
    raise unknown("prompt format", prompt_format, PROMPT_FORMATS)


def completion_text(intent: str, utterance: str) -> str:
    """The target: ``<|intent|> utterance <|end|>``."""
    return f"{intent_token(intent)} {_cut(utterance, 60)}{END}"


def parse_completion(text: str) -> tuple[str | None, str, bool]:
    """``(intent or None, utterance, degenerate)`` from generated text (special tokens kept in ``text``).

    Degenerate, as the paper defines it: no valid intent token first, special tokens inside the utterance, or an
    empty utterance.
    """
    text = text.split(END)[0].strip()
    match = re.match(r"<\|([a-z_]+)\|>", text)
    intent = match.group(1) if match and match.group(1) in INTENTS else None
    utterance = text[match.end():].strip() if match else text
    degenerate = intent is None or bool(_SPECIAL.search(utterance)) or not utterance
    return intent, _SPECIAL.sub(" ", utterance).strip() or "", degenerate
