"""# Conversational Task Assistant (CTA) environment

A user and an assistant talk turn by turn about one manual task (a recipe or a DIY job). The user is simulated
with controllable traits (mTAD); the assistant is the agent under test or in training.

| Import             | `import mtad_env; env = mtad_env.make(profile="Patient")`            |
|--------------------|-----------------------------------------------------------------------|
| Actions            | user: Dict(intent: Discrete(17), utterance: Text); assistant: Text, or Discrete(15) system acts |
| Agents             | `agents = ["user", "assistant"]`, the user first, alternating          |
| Observation space  | Dict(text, history, task: Text; step, intent: Discrete; features: Box(0, 1, (41,))) |
| Parallel API       | no                                                                    |

## Observations
`text` is the other agent's last message; `history` the dialogue as `USER:`/`SYSTEM:` lines; `task` the task's
title, ingredients or tools and numbered steps; `step` the shown step + 1 (0 before starting); `intent` the
user's intent: for the user its own last intent, for the assistant the NLU's prediction (the true label with
`oracle_intents=True`; 16 means none); `features`: step progress, step count, turn, errors, completed, started,
on-last-step, intent confidence, intent one-hot (17), last system act one-hot (16).

## Actions
The user's action is `{"intent": index into mtad_env.intents.INTENTS (16 = degenerate), "utterance": str}`;
`env.user_policy(obs)` returns it from the simulator. The assistant's action is a response string, or with
`assistant_actions="acts"` an index into `mtad_env.system_acts.ACTS` rendered by the environment's templates.

## Judging
Each assistant response is read as one of the system acts (a free-text response by patterns, see
`mtad_env.judge`) and is correct when it is an act the user's intent expects (`mtad_env.system_acts.EXPECTED_ACTS`:
the right step for navigation, an answer for a question, a refusal for a sensitive request, ...), with three rules
for what a person would call wrong even when the act fits:
* repeat after a fallback: "repeat that" refers to the last response that was not a fallback, so repeating
  "Sorry, I didn't catch that" is wrong, and repeating the response before it (or showing the current step, the
  first one before starting) is right;
* yes and no answer the assistant's last question: "yes" is right with the next step, so the template's new-task
  clarification asks a question that "yes" answers that way ("It sounds like you want a different task, but I can
  only guide you through X here. Shall we carry on with it?"); after a question proposing to stop or leave the
  task ("Should we stop X and look for something new?") a next step is wrong, a goodbye or a new-task clarification
  right;
* definitions stay in the task's domain: the template looks terms up only in the task's domain glossary (cooking
  for recipes, DIY for DIY tasks; `mtad_env/data/knowledge/definition_domains.json`), and a definition of a term
  that only the other domain's glossary holds, and that the task never uses, is wrong.
The template assistant (`assistant="template"`) is right by these rules on every turn unless an `error_rate` forces
a wrong act.

## Rewards
See `mtad_env.rewards`: the assistant gets +1 per correct response, -1 per system error, +5 for completing the
task and -3 when the user quits early; the user gets its trait adherence at the end. `reward_fn=` replaces it.

## Info
After each assistant response both agents' info holds `turn`, `judged_act`, `system_error`, `shown_step`,
`trait_measurements` ({trait: value}); the user's info also holds the true `intent`. The final info adds
`episode_metrics` (all identifying metrics), `end_reason` (stop_by_trait, stop_after_errors, task_completed,
turn_limit, degenerate_user_turn), `profile` and `task_id`.

## Arguments
`make(profile=None, simulator="agenda", assistant=None, split="test", tasks=None, max_turns=20, seed=None,
log_dir=None, assistant_actions="text", oracle_intents=False, reward_fn=None, profile_sampler=None,
render_mode=None)`; `reset(seed=None, options={"profile": ..., "task": id | dict | Task | None})`.

## Version history
* v0: initial release.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

import gymnasium
import numpy as np
from pettingzoo import AECEnv

from mtad_env.actions import parse_act, parse_text, parse_user_action, user_action
from mtad_env.domain import Task, find_task, load_tasks, task_from_dict
from mtad_env.episode_log import EpisodeLogger
from mtad_env.errors import EpisodeEndedError, InvalidValueError, ResetNeededError, unknown
from mtad_env.intents import INTENTS
from mtad_env.judge import is_repeat, judge, read_text
from mtad_env.nlu import IntentClassifier
from mtad_env.observations import (MAX_RESPONSE_CHARS, MAX_STEPS, MAX_TASK_CHARS, NO_INTENT,
                                   assistant_action_space, clean_text, features, history_text, observation_space,
                                   task_text, turn_lines, user_action_space)
from mtad_env.profiles import Profile, ProfileSampler
from mtad_env.records import DEGENERATE, DialogueRecord, Turn, new_turn
from mtad_env.rewards import DefaultReward, RewardFn, TurnEvent
from mtad_env.metrics import MetricContext, overlap
from mtad_env.system_acts import ACTS, NAVIGATION_ACTS, TaskState, act_index, advance, render
from mtad_env.traits import default_score, dialogue_metrics, traits
from mtad_env.user_simulator import UserSimulator

logger = logging.getLogger(__name__)
AGENTS = ("user", "assistant")


class CTAEnv(AECEnv):
    """The CTA dialogue as a PettingZoo AEC environment (see the module docstring)."""

    metadata = {"name": "mtad_cta_v0", "render_modes": ["human", "ansi"], "is_parallelizable": False}

    def __init__(self, simulator: UserSimulator, profile: Any = None, split: str = "test",
                 tasks: str | None = None, max_turns: int = 20, seed: int | None = None,
                 log_dir: str | None = None, assistant_actions: str = "text", oracle_intents: bool = False,
                 reward_fn: RewardFn | None = None, profile_sampler: ProfileSampler | None = None,
                 render_mode: str | None = None, nlu: IntentClassifier | None = None) -> None:
        super().__init__()
        if assistant_actions not in ("text", "acts"):
            raise unknown("assistant_actions", assistant_actions, ("text", "acts"))
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise unknown("render_mode", render_mode, self.metadata["render_modes"])
        if not isinstance(max_turns, int) or max_turns < 1:
            raise InvalidValueError(f"max_turns={max_turns!r} must be a positive integer")
        self.simulator, self.split, self.tasks_dir = simulator, split, tasks
        self.task_pool = load_tasks(split, tasks)
        self.fixed_profile = None if profile is None else Profile.parse(profile)
        self.profile_sampler = profile_sampler or ProfileSampler()
        self.max_turns, self.assistant_actions, self.oracle_intents = max_turns, assistant_actions, oracle_intents
        self.reward_fn = reward_fn or DefaultReward()
        self.render_mode = render_mode
        self.nlu = None if oracle_intents else (nlu or IntentClassifier())
        self.logger = EpisodeLogger(log_dir) if log_dir else None
        self.possible_agents = list(AGENTS)
        self._obs_space = observation_space()
        self._action_spaces = {"user": user_action_space(), "assistant": assistant_action_space(assistant_actions)}
        self._np_random = np.random.default_rng(seed)
        self._seed, self._episode_index, self._reset_seed = seed, 0, seed
        self.user_policy = _UserPolicy(self)
        self.agents: list[str] = []
        self._turns: list[Turn] | None = None  # None until the first reset

    def _require_reset(self, call: str) -> None:
        """Refuse ``call`` (e.g. ``"step()"``) before the first ``reset()``, as PettingZoo's order-enforcing
        wrapper does, instead of failing on a missing attribute."""
        if self._turns is None:
            raise ResetNeededError(f"{call} called before reset(); call env.reset() first to start an episode")

    @property
    def dialogue(self) -> list[Turn]:
        """The current (or last) episode's turns so far, as they are logged (read-only by convention)."""
        self._require_reset("env.dialogue")
        return self._turns

    # -- spaces -------------------------------------------------------------------------------------------------
    def observation_space(self, agent: str) -> gymnasium.spaces.Space:
        return self._obs_space

    def action_space(self, agent: str) -> gymnasium.spaces.Space:
        return self._action_spaces[agent]

    # -- episode ------------------------------------------------------------------------------------------------
    def reset(self, seed: int | None = None, options: dict | None = None) -> None:
        self._reset_seed = seed
        if seed is not None:
            self._np_random, self._seed = np.random.default_rng(seed), seed
        options = options or {}
        ignored = sorted(set(options) - {"profile", "task"})
        if ignored:
            logger.warning("reset ignores unknown options %s; valid: profile, task", ignored)
        episode_seed = int(self._np_random.integers(2**62))
        self._rng = np.random.default_rng(episode_seed)
        profile = options.get("profile")
        self.profile = Profile.parse(profile) if profile is not None else (
            self.fixed_profile or self.profile_sampler.sample(self._rng))
        self.task = self._resolve_task(options.get("task"))
        self.simulator.reset(self.profile, self.task, np.random.default_rng([episode_seed, 1]))
        self._task_text = clean_text(task_text(self.task), MAX_TASK_CHARS)
        self._state, self._turns, self._pending = TaskState(self.task), [], None
        self._history_lines: list[str] = []
        self._errors = 0
        self._episode_seed, self._last_act, self._episode_index = episode_seed, None, self._episode_index + 1
        self.agents = list(AGENTS)
        self.rewards = {a: 0.0 for a in self.agents}
        self._cumulative_rewards = {a: 0.0 for a in self.agents}
        self.terminations = {a: False for a in self.agents}
        self.truncations = {a: False for a in self.agents}
        self.infos = {a: {"profile": str(self.profile), "task_id": self.task.id} for a in self.agents}
        self.agent_selection = "user"

    def _resolve_task(self, task: Any) -> Task:
        if task is None:
            return self.task_pool[int(self._rng.integers(len(self.task_pool)))]
        if isinstance(task, Task):
            return task
        if isinstance(task, dict):
            return task_from_dict(task, "reset(options={'task': ...})")
        if isinstance(task, str):
            return find_task(task, self.split, self.tasks_dir)
        raise InvalidValueError(f"task must be a task id, a task dict, a Task or None, not {type(task).__name__}")

    # -- observations -------------------------------------------------------------------------------------------
    def observe(self, agent: str) -> dict[str, Any]:
        self._require_reset("observe()")
        if agent not in AGENTS:
            raise unknown("agent", agent, AGENTS)
        if agent == "user":
            text = self._turns[-1]["system"] if self._turns else ""
            intent = INTENTS.index(self._turns[-1]["intent"]) if self._turns and self._turns[-1]["intent"] in \
                INTENTS else NO_INTENT
            confidence, history = 1.0, history_text(self._history_lines)
        else:
            text = self._pending["user"] if self._pending else ""
            intent, confidence = self._pending["_shown_intent"] if self._pending else (NO_INTENT, 0.0)
            history = history_text(self._history_lines, text if self._pending else None)
        step = self._state.step
        return {"text": clean_text(text, MAX_RESPONSE_CHARS), "history": history, "task": self._task_text,
                "step": min(step + 1, MAX_STEPS), "intent": intent,
                "features": features(step, self._state.n_steps, len(self._turns), self.max_turns, self._errors,
                                     self._state.completed, intent, confidence, self._last_act)}

    # -- stepping -----------------------------------------------------------------------------------------------
    def last(self, observe: bool = True) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        self._require_reset("last()")
        return super().last(observe)

    def step(self, action: Any) -> None:
        self._require_reset("step()")
        if not self.agents:
            raise EpisodeEndedError("step() called after the episode ended; call reset() to start a new one")
        agent = self.agent_selection
        if self.terminations[agent] or self.truncations[agent]:
            if action is not None:
                raise EpisodeEndedError(f"the episode has ended, so {agent!r} must step with None, "
                                        f"not {action!r:.200}")
            self._was_dead_step(action)
            return
        parsed = parse_user_action(action) if agent == "user" else self._parse_assistant_action(action)
        self._cumulative_rewards[agent] = 0.0  # only once the action is known to be valid
        self.rewards = {a: 0.0 for a in self.agents}
        if agent == "user":
            self._user_step(*parsed)
        else:
            self._assistant_step(*parsed)
        self._accumulate_rewards()
        if self.render_mode == "human":
            self.render()

    def _user_step(self, intent: str | None, utterance: str) -> None:
        shown = (INTENTS.index(intent), 1.0) if self.oracle_intents and intent else (
            self.nlu.predict(utterance) if self.nlu else (NO_INTENT, 0.0))
        self._pending = {"intent": intent or DEGENERATE, "user": utterance, "_shown_intent": shown}
        if intent is None:
            self._turns.append(new_turn(DEGENERATE, utterance, "", system_error=False, act=None,
                                        current_step=self._state.step, task_completed=self._state.completed,
                                        predicted_intent=None))
            self._finish("degenerate_user_turn", truncated=False)
            return
        self.agent_selection = "assistant"

    def _parse_assistant_action(self, action: Any) -> tuple[str | None, str | None]:
        if self.assistant_actions == "acts":
            return ACTS[parse_act(action)], None
        return None, parse_text(action)

    def _assistant_step(self, act: str | None, text: str | None) -> None:
        pending, state = self._pending, self._state
        if act is not None:
            text = render(act, state, pending["user"], self._rng)
            shown = None
        else:
            act, shown = read_text(text, state)
        verdict = judge(pending["intent"], act, shown, state, repeated=is_repeat(text, state), text=text)
        self._state = self._advance(act, verdict.shown_step, text)
        self._last_act = act_index(act) if act in ACTS else None
        predicted = pending["_shown_intent"][0]
        turn = new_turn(pending["intent"], pending["user"], text, system_error=not verdict.correct, act=act,
                        current_step=self._state.step, task_completed=self._state.completed,
                        predicted_intent=INTENTS[predicted] if predicted < len(INTENTS) else None)
        self._turns.append(turn)
        self._history_lines.append(turn_lines(turn))
        self._errors += turn["system_error"]
        self._pending = None
        info = {"turn": len(self._turns), "judged_act": act, "system_error": turn["system_error"],
                "shown_step": verdict.shown_step, "trait_measurements": _turn_measurements(self._turns)}
        self.infos = {"user": {**info, "intent": turn["intent"]}, "assistant": dict(info)}
        if self.oracle_intents:
            self.infos["assistant"]["intent"] = turn["intent"]
        self._end_or_continue(turn)

    def _advance(self, act: str, shown: int | None, text: str) -> TaskState:
        state = self._state
        if shown is None or act not in NAVIGATION_ACTS:
            return advance(state, act, text)
        completed = state.completed or shown >= state.n_steps
        return replace(state, step=min(shown, state.n_steps - 1), completed=completed, last_system=text,
                       repeatable=text)

    def _end_or_continue(self, turn: Turn) -> None:
        reason = None
        if turn["intent"] == "stop":
            after_error = len(self._turns) > 1 and self._turns[-2]["system_error"]
            reason = "stop_after_errors" if after_error else "stop_by_trait"
        elif self._state.completed and not turn["system_error"]:
            reason = "task_completed"
        elif len(self._turns) >= self.max_turns:
            reason = "turn_limit"
        if reason is None:
            self._reward(turn, done=False, reason=None)
            self.agent_selection = "user"
            return
        self._finish(reason, truncated=reason == "turn_limit", turn=turn)

    def _reward(self, turn: Turn, done: bool, reason: str | None,
                metrics: dict[str, float | None] | None = None) -> None:
        event = TurnEvent(turn, self.profile, done, reason, self._state.completed, metrics)
        self.rewards = {a: float(r) for a, r in self.reward_fn(event).items() if a in self.rewards}

    def _finish(self, reason: str, truncated: bool, turn: Turn | None = None) -> None:
        metrics = dialogue_metrics([t for t in self._turns if t["intent"] in INTENTS])
        if turn is not None:
            self._reward(turn, done=True, reason=reason, metrics=metrics)
        final = {"episode_metrics": metrics, "end_reason": reason, "profile": str(self.profile),
                 "task_id": self.task.id, "task_completed": self._state.completed}
        for agent in self.agents:
            self.infos[agent] = {**self.infos.get(agent, {}), **final}
            (self.truncations if truncated else self.terminations)[agent] = True
        self.agent_selection = "user"
        if self.logger:
            self.logger.write(self.episode_record(reason, metrics))

    def episode_record(self, reason: str, metrics: dict[str, float | None]) -> DialogueRecord:
        """The episode as one log line: the dialogue record's fields (:class:`mtad_env.records.DialogueRecord`,
        the paper's public code's ``dialog_id``, ``task``, ``user_profile``, ``dialog``) plus the outcome."""
        self._require_reset("episode_record()")
        dialog_id = f"{self._seed}-{self._episode_index}" if self._reset_seed is None else f"seed-{self._reset_seed}"
        record: DialogueRecord = {"dialog_id": dialog_id, "episode_seed": self._episode_seed,
                  "reset_seed": self._reset_seed,
                  "task": self.task.to_dict(), "user_profile": str(self.profile), "simulator": self.simulator.name,
                  "dialog": self._turns, "episode_metrics": metrics, "end_reason": reason,
                  "task_completed": self._state.completed}
        if hasattr(self.simulator, "decoding"):  # LM users: mode, adapters and mTAD weights
            record["decoding"] = self.simulator.decoding()
        return record

    # -- rendering ----------------------------------------------------------------------------------------------
    def render(self) -> str | None:
        self._require_reset("render()")
        if self.render_mode is None:
            gymnasium.logger.warn("render() called without a render_mode; pass render_mode='human' or 'ansi'")
            return None
        lines = [f"[{self.profile}] {self.task.title}"] if not self._turns else []
        if self._turns:
            t = self._turns[-1]
            flag = " (system error)" if t["system_error"] else ""
            lines += [f"USER ({t['intent']}): {t['user']}", f"SYSTEM{flag}: {t['system']}"]
        text = "\n".join(lines)
        if self.render_mode == "human":
            print(text)  # noqa: T201 - human rendering writes to the terminal by definition
            return None
        return text

    def close(self) -> None:
        self.agents = []


class _UserPolicy:
    """``env.user_policy(obs)``: the user simulator's next turn as a user action."""

    def __init__(self, env: CTAEnv) -> None:
        self.env = env

    def __call__(self, observation: Any = None) -> dict[str, Any]:
        return user_action(self.env.simulator.act(self.env.dialogue))


def _turn_measurements(turns: list[Turn]) -> dict[str, float | None]:
    """This turn's trait measurements: dialogue traits on the dialogue so far, utterance traits on this turn
    (repetition: overlap with the previous utterance)."""
    valid = [t for t in turns if t["intent"] in INTENTS]
    values: dict[str, float | None] = {}
    ctx = MetricContext()
    for name, trait in traits().items():
        if trait.scorer is not None:
            values[name] = float(default_score(name, [valid[-1]["user"]])[0]) if valid else None
        elif name == "repetition":
            values[name] = overlap(valid[-1]["user"], valid[-2]["user"]) if len(valid) >= 2 else None
        else:
            values[name] = trait.dialogue_metric(valid, ctx)
    return values
