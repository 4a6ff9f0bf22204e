"""Judging the assistant: which act a response performs, and whether it was the right one for the user's intent.

Discrete acts are judged directly. Free text is read with patterns: a repeat of the last response, a shown step
(``Step 3: ...`` at a sentence start, or a step's own words), a task-completion message, refusals, goodbyes,
clarifications, fun facts, substitutions, definitions and answers. A wrong response is a system error.

Beyond the act each intent expects (:data:`mtad_env.system_acts.EXPECTED_ACTS`), three rules follow what a person
would call wrong:

* a repeat request after a fallback refers to the response before the fallback(s): repeating "Sorry, I didn't
  catch that" is wrong, repeating what came before it (or showing the current step) is right;
* "yes" answers the assistant's last question: after a question proposing to stop or leave the task ("Should we
  stop X and look for something new?") the next step is wrong, and a goodbye or a new-task clarification is right;
* a definition stays in the task's domain: defining a term that only the other domain's glossary holds (a DIY term
  in a recipe, a cooking term in a DIY task) and that the task never uses is wrong.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from mtad_env.domain import load_knowledge
from mtad_env.metrics import words
from mtad_env.system_acts import (CANONICAL_ACT, EXPECTED_ACTS, NAVIGATION_ACTS, TaskState, target_step,
                                  task_domain, term_key)

_STEP = re.compile(r"(?:^|[.!?]\s+|\n)(?:(?:here(?:'s| is)|now|next(?: up)?|ok(?:ay)?|sure)[,!.]?\s+)?"
                   r"step (\d+)\s*(?:of \d+\s*)?[:.,-]", re.IGNORECASE)
_PATTERNS: tuple[tuple[str, re.Pattern], ...] = tuple((act, re.compile(p, re.IGNORECASE)) for act, p in (
    ("completion", r"\b(last step|all (the )?steps are done|you('re| are) (all )?done|finished (all|the task))"),
    ("refuse", r"\b(can't|cannot|can not|won't|unable to|not able to) (help|assist|do that|answer|talk about)"),
    ("goodbye", r"\b(good ?bye|bye|see you|farewell|stopping here)\b"),
    ("fallback", r"(didn't|did not|couldn't) (catch|understand|get) (that|you)|could you (rephrase|say that again)"),
    ("clarify_new_task", r"\b(different|new|another) (task|recipe|project)\b|\bsomething (new|else)\b"),
    ("fun_fact", r"\bfun fact\b|\bdid you know\b"),
    ("substitute", r"\binstead of\b|\bsubstitut|\byou can (use|replace|swap)\b|\bsomething similar\b"),
    ("redirect", r"\b(get|go) back to\b|\bback to (the|our)\b"),
    ("acknowledge", r"^\s*(okay|ok|alright|sure)[,.!]?\s+(no problem|let me know|take your time)"),
    ("define", r"^[\w' -]{2,40}: |\bmeans\b|\brefers to\b|\bis an? (type|kind|tool|technique)\b|\bwhich term\b"),
    ("answer_question", r"good question|\byou('ll| will)? need\b|\byou will use\b"),
))


_DEFINITION_MARK = re.compile(r": |\bmeans\b|\brefers to\b|\bis an? (type|kind|tool|technique)\b", re.IGNORECASE)
_STOP_QUESTION = re.compile(r"\b(stop|quit|end|leave|abandon|switch|drop)\b[^.!?]*\?", re.IGNORECASE)
YES_AFTER_STOP_QUESTION = frozenset({"goodbye", "clarify_new_task"})


@dataclass(frozen=True)
class Judgement:
    """What the response did: ``act``, the step it showed (or None) and whether it was correct."""

    act: str
    shown_step: int | None
    correct: bool


def _step_from_words(text: str, state: TaskState) -> int | None:
    said = set(words(text))
    best, best_score = None, 0.0
    for i, step in enumerate(state.task.methods):
        step_words = set(words(step))
        score = len(step_words & said) / max(len(step_words), 1)
        if score > best_score:
            best, best_score = i, score
    return best if best_score >= 0.8 else None


def _navigation_act(shown: int, state: TaskState) -> str:
    if shown >= state.n_steps:
        return "show_next_step"
    if state.step < 0 or shown == 0 and state.step != 1:
        return "show_first_step" if state.step < 0 else "show_current_step" if state.step == 0 else "show_first_step"
    return {state.step + 1: "show_next_step", state.step - 1: "show_previous_step"}.get(shown, "show_current_step")


def read_text(text: str, state: TaskState) -> tuple[str, int | None]:
    """The act a free-text response performs in ``state`` and the step it shows (None if none)."""
    if _PATTERNS[0][1].search(text):
        return "show_next_step", state.n_steps
    match = _STEP.search(text)
    if match:
        shown = int(match.group(1)) - 1
        if 0 <= shown < state.n_steps:
            return _navigation_act(shown, state), shown
    for act, pattern in _PATTERNS[1:]:
        if pattern.search(text):
            return act, None
    shown = _step_from_words(text, state)
    if shown is not None:
        return _navigation_act(shown, state), shown
    return "answer_question", None


def is_repeat(text: str, state: TaskState) -> bool:
    """Whether ``text`` repeats, word for word, the response a repeat request refers to (``state.repeatable``:
    the last one that was not a fallback)."""
    return bool(state.repeatable) and text.strip() == state.repeatable.strip()


def repeatable_response(responses: Sequence[str], state: TaskState) -> str:
    """The response a repeat request refers to among ``responses`` (oldest first): the last that does not read as
    a fallback; "" if there is none."""
    for text in reversed(responses):
        if read_text(text, state)[0] != "fallback":
            return text
    return ""


@lru_cache(maxsize=1)
def _glossary() -> dict[str, tuple[str, frozenset[str]]]:
    """``term_key(term) -> (term, domains holding it)`` over every defined term."""
    out: dict[str, tuple[str, set[str]]] = {}
    for domain, terms in load_knowledge()["definition_domains"].items():
        for term in terms:
            out.setdefault(term_key(term), (term, set()))[1].add(domain)
    return {key: (term, frozenset(domains)) for key, (term, domains) in out.items()}


def defined_term(text: str) -> str | None:
    """The glossary term a definition response defines: the longest one ending the words before its first
    definition mark (``X: ...``, ``X means``, ``X refers to``, ``X is a kind of``); None if none."""
    mark = _DEFINITION_MARK.search(text)
    said = words(text[:mark.start()]) if mark else []
    glossary = _glossary()
    for n in range(min(len(said), 4), 0, -1):
        key = " ".join(said[-n:])
        if key in glossary:
            return glossary[key][0]
    return None


def _out_of_domain(text: str, state: TaskState) -> bool:
    """Whether ``text`` defines a term only the other domain's glossary holds and that the task never uses."""
    term = defined_term(text)
    if term is None or task_domain(state.task) in _glossary()[term_key(term)][1]:
        return False
    task = state.task
    used = f" {term_key(' . '.join((task.title, *task.methods, *task.ingredients, *task.tools)))} "
    return f" {term_key(term)} " not in used


def _asks_to_stop(state: TaskState) -> bool:
    """Whether the last response asks whether to stop or leave the task (the task's title aside: "Shall we get
    back to Replace a Light Switch?" proposes no switch)."""
    return bool(_STOP_QUESTION.search(state.last_system.replace(state.task.title, "")))


def judge(intent: str, act: str, shown_step: int | None, state: TaskState, repeated: bool = False,
          text: str = "") -> Judgement:
    """Whether ``act`` (showing ``shown_step``) is a right response to ``intent`` in ``state``; ``repeated``
    marks a response that repeats the one a repeat request refers to (right for a repeat request); ``text`` is the
    response's words, for the rules that read them (definitions). See the module docstring for the rules."""
    if intent == "repeat":
        if repeated:
            return Judgement("repeat_last", shown_step, True)
        if act in NAVIGATION_ACTS:  # showing the current step (the first, before starting) is a right repeat
            shown = target_step(act, state) if shown_step is None else shown_step
            return Judgement(act, shown, shown == max(state.step, 0))
    if intent not in EXPECTED_ACTS:  # a degenerate user turn: any polite response is fine
        return Judgement(act, shown_step, act in {"fallback", "acknowledge", "redirect"})
    if intent == "yes" and _asks_to_stop(state):
        return Judgement(act, shown_step, act in YES_AFTER_STOP_QUESTION)
    if act == "define" and text and _out_of_domain(text, state):
        return Judgement(act, shown_step, False)
    expected = EXPECTED_ACTS[intent]
    canonical = CANONICAL_ACT[intent]
    if canonical in NAVIGATION_ACTS and act in NAVIGATION_ACTS:
        shown = target_step(act, state) if shown_step is None else shown_step
        right = target_step(canonical, state)
        return Judgement(act, shown, shown == right or (act in expected and shown_step is None))
    return Judgement(act, shown_step, act in expected)
