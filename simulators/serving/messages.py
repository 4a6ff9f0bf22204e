"""Chat messages -> the task and the user simulator's turn history (the role convention of :mod:`simulators.serving`).

The simulated user's own earlier turns are the ``assistant`` messages, the responses of the assistant under test
are the ``user`` messages; each pair becomes a turn ``{"intent", "user", "system", "system_error",
"task_completed", ...}`` as the environment records it. The judge of :mod:`mtad_env.judge` is replayed over the
responses so that the agenda user sees the same errors and task progress as inside the environment.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from mtad_env.domain import SPLITS, Task, load_tasks, task_from_dict
from mtad_env.errors import MtadError
from mtad_env.intents import INTENTS
from mtad_env.judge import is_repeat, judge, read_text
from mtad_env.observations import MAX_RESPONSE_CHARS, MAX_UTTERANCE_CHARS, clean_text
from mtad_env.records import DEGENERATE
from mtad_env.system_acts import NAVIGATION_ACTS, TaskState, advance
from simulators.serving.protocol import RequestError

ROLES = ("system", "developer", "user", "assistant")
MAX_MESSAGES = 512
TASK_FORMS = ('a task id such as "recipe_0001"', '{"task_id": ID}', '{"task": {"id", "title", "methods", ...}}')


class TaskIndex:
    """Every shipped task (or those of ``tasks_dir``) by id, across the splits."""

    def __init__(self, tasks_dir: str | None = None) -> None:
        self.tasks: dict[str, Task] = {}
        for split in SPLITS:
            try:
                self.tasks.update({t.id: t for t in load_tasks(split, tasks_dir)})
            except MtadError:  # a custom folder may lack a split
                continue

    def find(self, task_id: str, param: str) -> Task:
        task = self.tasks.get(task_id)
        if task is not None:
            return task
        close = difflib.get_close_matches(task_id, list(self.tasks), n=3)
        examples = close or sorted(self.tasks)[:5]
        raise RequestError(param, f"unknown task id {task_id!r}; valid: one of the {len(self.tasks)} task ids, "
                                  f"e.g. {', '.join(examples)}", examples)


def message_text(message: Any, index: int) -> tuple[str, str]:
    """``(role, text)`` of one message; content may be a string or a list of ``{"type": "text"}`` parts."""
    param = f"messages[{index}]"
    if not isinstance(message, Mapping):
        raise RequestError(param, f"{param} must be an object with 'role' and 'content'")
    role = message.get("role")
    if role not in ROLES:
        raise RequestError(f"{param}.role", f"{param}.role {role!r} is not valid; valid: {', '.join(ROLES)}",
                           list(ROLES))
    content = message.get("content")
    if isinstance(content, list):
        if not all(isinstance(p, Mapping) and p.get("type") == "text" and isinstance(p.get("text"), str)
                   for p in content):
            raise RequestError(f"{param}.content", f"{param}.content parts must all be {{'type': 'text', "
                                                   "'text': str}}", ["string", "list of text parts"])
        content = "".join(p["text"] for p in content)
    if not isinstance(content, str) or not content.strip():
        raise RequestError(f"{param}.content", f"{param}.content must be a non-empty string",
                           ["string", "list of text parts"])
    return role, content


def read_task(text: str, index: int, tasks: TaskIndex) -> Task:
    """The task a system message names (see :data:`TASK_FORMS`)."""
    param = f"messages[{index}].content"
    text = text.strip()
    if not text.startswith("{"):
        return tasks.find(text, param)
    try:
        obj = json.loads(text)
    except json.JSONDecodeError:
        raise RequestError(param, f"{param} is not valid JSON; valid: {'; '.join(TASK_FORMS)}",
                           list(TASK_FORMS)) from None
    if isinstance(obj, dict) and isinstance(obj.get("task_id"), str):
        return tasks.find(obj["task_id"], f"{param}.task_id")
    if isinstance(obj, dict) and isinstance(obj.get("task"), dict):
        try:
            return task_from_dict(obj["task"], f"{param}.task")
        except MtadError as exc:
            raise RequestError(f"{param}.task", str(exc)) from None
    raise RequestError(param, f"{param} names no task; valid: {'; '.join(TASK_FORMS)}", list(TASK_FORMS))


def conversation(messages: Any, tasks: TaskIndex,
                 classify: Callable[[str], str]) -> tuple[Task, list[dict[str, Any]]]:
    """The task and the finished turns of a chat request; ``classify(text) -> intent`` labels the user's turns
    that came back without their ``mtad.intent``."""
    if not isinstance(messages, list) or not messages:
        raise RequestError("messages", "messages must be a non-empty list whose first message (role 'system') "
                                       f"names the task: {'; '.join(TASK_FORMS)}", list(TASK_FORMS))
    if len(messages) > MAX_MESSAGES:
        raise RequestError("messages", f"messages has {len(messages)} entries; at most {MAX_MESSAGES}")
    parsed = [message_text(m, i) for i, m in enumerate(messages)]
    if parsed[0][0] not in ("system", "developer"):
        raise RequestError("messages[0].role", "messages[0] must have role 'system' and name the task: "
                                               f"{'; '.join(TASK_FORMS)}", ["system"])
    task = read_task(parsed[0][1], 0, tasks)
    pairs = _pairs(messages, parsed, classify)
    return task, replay(task, pairs)


def _pairs(messages: list, parsed: Sequence[tuple[str, str]],
           classify: Callable[[str], str]) -> list[tuple[str, str, str]]:
    """``(intent, user turn, response)`` for each of the simulated user's turns, checking the role order."""
    pairs: list[list[str]] = []
    started = False
    for i, (role, text) in enumerate(parsed):
        if role in ("system", "developer"):
            if started or any(r not in ("system", "developer") for r, _ in parsed[:i]):
                raise RequestError(f"messages[{i}].role", f"messages[{i}]: system messages come first, before the "
                                                          "dialogue; valid here: user, assistant", ["user",
                                                                                                    "assistant"])
            continue
        if role == "assistant":
            if pairs and not pairs[-1][2]:
                raise RequestError(f"messages[{i}].role", f"messages[{i}]: two simulated-user turns in a row; "
                                   "each 'assistant' message must be answered by a 'user' message (the "
                                   "assistant-under-test's response)", ["user"])
            if len(text) > MAX_UTTERANCE_CHARS:
                raise RequestError(f"messages[{i}].content", f"messages[{i}].content has {len(text)} characters; "
                                                             f"at most {MAX_UTTERANCE_CHARS}")
            pairs.append([_intent(messages[i], i, text, classify), text, ""])
            started = True
        elif started:  # a response; several in a row are one response
            joined = f"{pairs[-1][2]}\n{text}" if pairs[-1][2] else text
            if len(joined) > MAX_RESPONSE_CHARS:
                raise RequestError(f"messages[{i}].content", f"the response ending at messages[{i}] has "
                                                             f"{len(joined)} characters; at most "
                                                             f"{MAX_RESPONSE_CHARS}")
            pairs[-1][2] = joined
    if pairs and not pairs[-1][2]:
        raise RequestError(f"messages[{len(parsed) - 1}].role", "messages end with the simulated user's own turn; "
                           "append the assistant-under-test's response as a 'user' message", ["user"])
    return [(intent, user, system) for intent, user, system in pairs]


def _intent(message: Mapping, index: int, text: str, classify: Callable[[str], str]) -> str:
    extra = message.get("mtad")
    if extra is not None and not isinstance(extra, Mapping):
        raise RequestError(f"messages[{index}].mtad", f"messages[{index}].mtad must be an object such as "
                                                      '{"intent": "next"}, as the server returned it')
    intent = (extra or {}).get("intent")
    if intent is None:
        return classify(text)
    valid = (*INTENTS, DEGENERATE)
    if intent not in valid:
        raise RequestError(f"messages[{index}].mtad.intent", f"messages[{index}].mtad.intent {intent!r} is not "
                                                             f"valid; valid: {', '.join(valid)}", list(valid))
    return intent


def replay(task: Task, pairs: Sequence[tuple[str, str, str]]) -> list[dict[str, Any]]:
    """Turn records as :class:`mtad_env.env.CTAEnv` writes them for text responses: the judge's verdict on each
    response and the task progress it leaves."""
    state, turns = TaskState(task), []
    for intent, user, system in pairs:
        system = clean_text(system, MAX_RESPONSE_CHARS)
        act, shown = read_text(system, state)
        verdict = judge(intent, act, shown, state, repeated=is_repeat(system, state))
        if verdict.shown_step is None or act not in NAVIGATION_ACTS:
            state = advance(state, act, system)
        else:
            completed = state.completed or verdict.shown_step >= state.n_steps
            state = replace(state, step=min(verdict.shown_step, state.n_steps - 1), completed=completed,
                            last_system=system)
        turns.append({"intent": intent, "user": user, "system": system, "system_error": not verdict.correct,
                      "act": act, "current_step": state.step, "task_completed": state.completed})
    return turns
