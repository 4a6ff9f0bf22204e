"""System acts of a task assistant, what each user intent expects, and their rendering into text from the task.

This is the one home of the template system: the corpus generator answers with it, the template assistant and
RL policies act through it, and the environment judges responses against :data:`EXPECTED_ACTS`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import lru_cache

import numpy as np

from mtad_env.domain import Task, load_knowledge
from mtad_env.errors import unknown
from mtad_env.metrics import words

ACTS: tuple[str, ...] = (
    "show_first_step", "show_next_step", "show_previous_step", "show_current_step", "repeat_last",
    "answer_question", "define", "substitute", "fun_fact", "clarify_new_task", "redirect", "refuse",
    "goodbye", "fallback", "acknowledge",
)
EXPECTED_ACTS: dict[str, frozenset[str]] = {
    "start": frozenset({"show_first_step"}), "next": frozenset({"show_next_step"}),
    "previous": frozenset({"show_previous_step"}), "resume": frozenset({"show_current_step"}),
    "repeat": frozenset({"repeat_last", "show_current_step"}), "stop": frozenset({"goodbye"}),
    "question": frozenset({"answer_question"}), "definition": frozenset({"define"}),
    "replacement": frozenset({"substitute"}), "fun_fact": frozenset({"fun_fact"}),
    "new_task": frozenset({"clarify_new_task"}), "chit_chat": frozenset({"redirect"}),
    "sensitive": frozenset({"refuse"}), "fallback": frozenset({"fallback"}),
    "yes": frozenset({"show_next_step"}), "no": frozenset({"acknowledge", "show_current_step"}),
}
CANONICAL_ACT: dict[str, str] = {
    "start": "show_first_step", "next": "show_next_step", "previous": "show_previous_step",
    "resume": "show_current_step", "repeat": "repeat_last", "stop": "goodbye", "question": "answer_question",
    "definition": "define", "replacement": "substitute", "fun_fact": "fun_fact", "new_task": "clarify_new_task",
    "chit_chat": "redirect", "sensitive": "refuse", "fallback": "fallback", "yes": "show_next_step",
    "no": "acknowledge",
}
NAVIGATION_ACTS = frozenset({"show_first_step", "show_next_step", "show_previous_step", "show_current_step"})
_WRONG_ACTS = {intent: tuple(a for a in ACTS if a not in ok) for intent, ok in EXPECTED_ACTS.items()}
_OPENERS = ("Sure!", "Okay.", "Great.", "Alright!", "Here you go.", "Of course.")


@dataclass(frozen=True)
class TaskState:
    """Where the dialogue stands on the task: the shown step (-1 before starting), what was said last, and the
    last response a repeat request refers to (``repeatable``: the last one that was not a fallback, since "repeat
    that" after "Sorry, I didn't catch that" asks for what came before it)."""

    task: Task
    step: int = -1
    completed: bool = False
    last_system: str = ""
    history_steps: tuple[int, ...] = field(default=())
    repeatable: str = ""

    @property
    def n_steps(self) -> int:
        return len(self.task.methods)


def act_index(act: str) -> int:
    """Position of ``act`` in :data:`ACTS`; raises naming the valid acts."""
    try:
        return ACTS.index(act)
    except ValueError:
        raise unknown("system act", act, ACTS) from None


def target_step(act: str, state: TaskState) -> int:
    """The step an act leaves the dialogue on (navigation acts move; others stay)."""
    if act == "show_first_step":
        return 0
    if act == "show_next_step":
        return min(state.step + 1, state.n_steps)
    if act == "show_previous_step":
        return max(state.step - 1, 0)
    if act == "show_current_step":
        return max(state.step, 0)
    return state.step


def advance(state: TaskState, act: str, text: str) -> TaskState:
    """The state after the system performs ``act`` saying ``text``."""
    step = target_step(act, state)
    completed = state.completed or step >= state.n_steps
    return replace(state, step=min(step, state.n_steps - 1) if step >= 0 else step, completed=completed,
                   last_system=text, history_steps=state.history_steps + (step,),
                   repeatable=state.repeatable if act == "fallback" else text)


def task_domain(task: Task) -> str:
    """``"diy"`` for a DIY task, ``"cooking"`` for a recipe: the knowledge (definitions, fun facts) it may use."""
    return "diy" if task.data_source == "diy" else "cooking"


def domain_definitions(domain: str) -> dict[str, str]:
    """The defined terms of ``domain`` (``"cooking"`` or ``"diy"``) and their definitions."""
    knowledge = load_knowledge()
    return {term: knowledge["definitions"][term] for term in knowledge["definition_domains"][domain]}


def term_key(term: str) -> str:
    """A term as whole lower-case words joined by spaces ("Stir-fry" -> "stir fry"), the form utterances are
    matched in."""
    return " ".join(words(term))


def _pick(rng: np.random.Generator, options) -> str:
    options = list(options)
    return options[int(rng.integers(len(options)))]


@lru_cache(maxsize=64)
def _longest_first(terms: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    """``(term, term_key(term))`` pairs, longest term first."""
    return tuple((term, term_key(term)) for term in sorted(terms, key=len, reverse=True) if term_key(term))


def _find_term(utterance: str, table: dict, extra: tuple[str, ...] = ()) -> str | None:
    """The longest term of ``extra`` (first) or ``table`` that the utterance mentions as whole words (hyphens and
    case aside: "stir-fry" is found in "how do I stir fry")."""
    text = f" {term_key(utterance)} "
    for terms in (tuple(extra), tuple(table)):
        for term, key in _longest_first(terms):
            if f" {key} " in text:
                return term
    return None


def _show_step(state: TaskState, step: int, rng: np.random.Generator) -> str:
    if step >= state.n_steps:
        return f"{_pick(rng, ('Well done!', 'Congratulations!', 'All done!'))} That was the last step of " \
               f"{state.task.title}. Enjoy!"
    return f"{_pick(rng, _OPENERS)} Step {step + 1}: {state.task.methods[step]}"


def _answer(state: TaskState, utterance: str, rng: np.random.Generator) -> str:
    names = state.task.ingredient_names
    name = _find_term(utterance, {}, names + state.task.tools)
    if name in names:
        line = state.task.ingredients[names.index(name)]
        return f"You need {line} for {state.task.title}."
    if name:
        return f"Yes, you will use the {name} in this task."
    step = max(state.step, 0)
    return f"Good question. For step {step + 1}: {state.task.methods[step]}"


def _define(state: TaskState, utterance: str, rng: np.random.Generator) -> str:
    """A definition from the task's own domain only: a DIY term is no answer in a recipe. An unknown term gets a
    domain term the task itself uses (the current step's, else another step's), or a question asking which."""
    definitions = domain_definitions(task_domain(state.task))
    term = _find_term(utterance, definitions)
    if term:
        return f"{term.capitalize()}: {definitions[term]}"
    name = _find_term(utterance, {}, state.task.ingredient_names + state.task.tools)
    if name:
        return f"Here, {name} means the {name} listed for {state.task.title}."
    term = _term_in_task(state, definitions)
    if term:
        return f"I am not sure which term you mean. In {state.task.title}, {term} means: {definitions[term]}"
    return f"I am not sure which term you mean. Which technique, ingredient or tool of {state.task.title} should " \
           "I explain?"


def _term_in_task(state: TaskState, definitions: dict[str, str]) -> str | None:
    """A defined term the task uses: the longest in the current step, else in the other steps in order, else in
    its ingredient or tool lists."""
    task, current = state.task, max(state.step, 0)
    texts = [task.methods[current], *task.methods, *task.ingredients, *task.tools] if task.methods else []
    for text in texts:
        term = _find_term(text, definitions)
        if term:
            return term
    return None


def _substitute(state: TaskState, utterance: str, rng: np.random.Generator) -> str:
    subs = load_knowledge()["substitutions"]
    term = _find_term(utterance, subs, state.task.ingredient_names + state.task.tools)
    if term in subs:
        return f"Instead of {term}, you can use {_pick(rng, subs[term])}."
    if term:
        return f"If you have no {term}, use something similar you have at hand; the result will be close."
    return "Tell me which ingredient or tool is missing and I will suggest a substitute."


def choose_act(intent: str, rng: np.random.Generator, error_rate: float = 0.0) -> tuple[str, bool]:
    """The template system's act for ``intent``; with probability ``error_rate`` a wrong one (half of them a
    fallback). Returns ``(act, forced_error)``; a stop is always answered correctly."""
    if intent != "stop" and error_rate > 0 and rng.random() < error_rate:
        wrong = _WRONG_ACTS[intent]
        return ("fallback" if "fallback" in wrong and rng.random() < 0.5
                else wrong[int(rng.integers(len(wrong)))]), True
    return CANONICAL_ACT[intent], False


def render(act: str, state: TaskState, utterance: str, rng: np.random.Generator) -> str:
    """The system's words for ``act`` in ``state`` after the user said ``utterance``."""
    title = state.task.title
    if act in NAVIGATION_ACTS:
        return _show_step(state, target_step(act, state), rng)
    if act == "repeat_last":
        return state.repeatable or _show_step(state, max(state.step, 0), rng)
    if act == "answer_question":
        return _answer(state, utterance, rng)
    if act == "define":
        return _define(state, utterance, rng)
    if act == "substitute":
        return _substitute(state, utterance, rng)
    if act == "fun_fact":
        return f"Here is a fun fact: {_pick(rng, load_knowledge()['fun_facts'][task_domain(state.task)])}"
    if act == "clarify_new_task":  # a question that "yes" answers with the next step, as the user simulator expects
        return f"It sounds like you want a different task, but I can only guide you through {title} here. " \
               "Shall we carry on with it?"
    if act == "redirect":
        return f"{_pick(rng, ('Thanks!', 'That is kind of you.', 'Ha, nice.'))} Shall we get back to {title}?"
    if act == "refuse":
        return f"Sorry, I can't help with that. I can keep guiding you through {title}, though."
    if act == "goodbye":
        return _pick(rng, ("Happy to help! See you again soon!", "Goodbye, and enjoy!", "Okay, stopping here. Bye!"))
    if act == "fallback":
        return "Sorry, I didn't catch that. You can say next, repeat, or ask me a question about the task."
    if act == "acknowledge":
        return "Okay, no problem. Let me know when you are ready to continue."
    raise unknown("system act", act, ACTS)
