"""Whole dialogues between a causal-LM assistant and the environment's simulated users, as token sequences.

An episode is one sequence, the layout a multi-turn RL trainer (TRL's GRPO ``rollout_func``) expects:

* the prompt: the task header (its title and step count; with ``task_steps`` its numbered steps too), then the
  user's first turn;
* the completion: the assistant's response (the policy's tokens, ended by the tokenizer's end-of-sequence token),
  the user's next turn (the environment's tokens), the next response, ... until the environment ends the episode.

A user turn reads ``<user marker> utterance [step k/n]<assistant marker>``: the utterance and the step the dialogue
is on (the observation's ``step``: the shown step + 1, 0 before starting). The markers are the tokenizer's own
``<|user|>`` and ``<|system|>`` tokens where it has them (the shipped pack's), else ``USER:`` / ``ASSISTANT:`` lines.
``env_mask`` marks every completion token 1 (the policy's) or 0 (the environment's), and ``logprobs`` hold the
sampling log-probabilities of the policy's tokens (0.0 on the environment's). The return is the sum of the
assistant's rewards from the environment (its reward table, or ``reward_fn``).

Each step of :func:`play_episodes` lets every waiting user speak in one :func:`mtad_env.factory.user_turns` call
(LM users of one pack decode together) and every waiting assistant respond in one batched forward per token.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from agents.prompting import clean_response
from agents.template_assistant import TemplateAssistant
from mtad_env.actions import user_action
from mtad_env.domain import Task, load_tasks
from mtad_env.env import CTAEnv
from mtad_env.errors import InvalidValueError
from mtad_env.factory import ENV_OPTIONS, make, user_turns
from mtad_env.observations import MAX_STEPS

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DialogueConfig:
    """How episodes are played and written.

    Args:
        simulator: the user simulator (``agenda``, ``sts``, ...); ``make_kwargs`` go to :func:`mtad_env.make`
            (``pack=``, ``reward_fn=``, ...).
        max_turns: user turns before the environment truncates the episode.
        max_new_tokens: tokens per assistant response at most.
        task_steps: write the task's numbered steps into the prompt (for models with a long context).
    """

    simulator: str = "agenda"
    max_turns: int = 20
    max_new_tokens: int = 48
    task_steps: bool = False
    make_kwargs: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("max_turns", "max_new_tokens"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise InvalidValueError(f"{name}={value!r} must be a positive integer")


@dataclass(frozen=True)
class EpisodeSpec:
    """One episode: the task (an id, or None for one the environment draws), the user's profile and the seed."""

    task_id: str | None
    profile: str
    seed: int

    def to_prompt(self) -> str:
        """The spec as the dataset's ``prompt`` text (what TRL hands the rollout function)."""
        return json.dumps({"task": self.task_id, "profile": self.profile, "seed": self.seed})

    @classmethod
    def from_prompt(cls, text: str) -> EpisodeSpec:
        try:
            spec = json.loads(text)
            return cls(spec["task"], str(spec["profile"]), int(spec["seed"]))
        except (json.JSONDecodeError, KeyError, TypeError, ValueError):
            raise InvalidValueError(f"prompt {text[:120]!r} is no episode spec; build the dataset with "
                                    "episode_dataset() (prompts like EpisodeSpec(...).to_prompt())") from None


def episode_specs(split: str, profiles: Sequence[Any], per_profile: int, seed: int) -> list[EpisodeSpec]:
    """``per_profile`` episodes per profile on tasks of ``split`` drawn with ``seed`` (profile k, episode e:
    seed ``seed + 1000 k + e``)."""
    tasks = load_tasks(split)
    rng = np.random.default_rng(seed)
    return [EpisodeSpec(tasks[int(rng.integers(len(tasks)))].id, str(profile), seed + 1000 * k + e)
            for k, profile in enumerate(profiles) for e in range(per_profile)]


@dataclass(frozen=True)
class DialogueFormat:
    """The text around the turns: ``user`` opens a user turn, ``assistant`` hands the turn to the assistant."""

    user: str
    assistant: str
    task_steps: bool = False

    @classmethod
    def for_tokenizer(cls, tokenizer, task_steps: bool = False) -> DialogueFormat:
        vocab = tokenizer.get_vocab()
        if "<|user|>" in vocab and "<|system|>" in vocab:
            return cls("<|user|>", "<|system|>", task_steps)
        return cls("\nUSER:", "\nASSISTANT:", task_steps)


def header_text(task: Task, fmt: DialogueFormat) -> str:
    """The task as the prompt opens with it."""
    head = f"Task: {task.title} ({len(task.methods)} steps)"
    if fmt.task_steps:
        head += "".join(f"\nStep {i}: {step}" for i, step in enumerate(task.methods, 1))
    return head


def user_text(utterance: str, step: int, n_steps: int, fmt: DialogueFormat) -> str:
    """A user turn: the utterance and the step the dialogue is on (0: not started)."""
    return f"{fmt.user} {utterance} [step {step}/{n_steps}]{fmt.assistant}"


class TurnEncoder:
    """Token ids of the header, the user turns and the responses, each segment tokenized on its own."""

    def __init__(self, tokenizer, fmt: DialogueFormat) -> None:
        if tokenizer.eos_token_id is None:
            raise InvalidValueError("the tokenizer has no eos_token; an assistant turn needs one to end")
        self.tokenizer, self.fmt, self.eos = tokenizer, fmt, tokenizer.eos_token_id
        self.pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id

    def ids(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def header(self, task: Task) -> list[int]:
        bos = [self.tokenizer.bos_token_id] if self.tokenizer.bos_token_id is not None else []
        return bos + self.ids(header_text(task, self.fmt))

    def user(self, observation: Mapping[str, Any], task: Task) -> list[int]:
        return self.ids(user_text(observation["text"], int(observation["step"]), len(task.methods), self.fmt))

    def response(self, text: str) -> list[int]:
        return self.ids(" " + text) + [self.eos]

    def text(self, ids: Sequence[int]) -> str:
        """The response a policy's tokens say (its first turn, never empty: see ``clean_response``)."""
        return clean_response(self.tokenizer.decode([i for i in ids if i != self.eos], skip_special_tokens=True))


@dataclass
class Response:
    """One assistant turn: its tokens, their sampling log-probabilities and the text the environment gets."""

    ids: list[int]
    logprobs: list[float]
    text: str


@dataclass
class Episode:
    """A played episode as token sequences (see the module docstring) and its outcome."""

    spec: EpisodeSpec
    prompt_ids: list[int] = field(default_factory=list)
    completion_ids: list[int] = field(default_factory=list)
    env_mask: list[int] = field(default_factory=list)
    logprobs: list[float] = field(default_factory=list)
    episode_return: float = 0.0
    end_reason: str | None = None
    dialogue: list[dict] = field(default_factory=list)

    def add(self, ids: Sequence[int], policy: bool, logprobs: Sequence[float] | None = None) -> None:
        self.completion_ids += ids
        self.env_mask += [int(policy)] * len(ids)
        self.logprobs += list(logprobs) if logprobs is not None else [0.0] * len(ids)


Responder = Callable[[list[list[int]], list[dict]], list[Response]]


class EnvPool:
    """Environments reused across calls. They share one intent classifier, and agenda users share their caches
    (:meth:`~simulators.agenda.AgendaUserSimulator.sibling`); LM simulators built by name share their pack."""

    def __init__(self, config: DialogueConfig, split: str) -> None:
        self.config, self.split, self.envs = config, split, []

    def take(self, n: int) -> list[CTAEnv]:
        c = self.config
        while len(self.envs) < n:
            if not self.envs:
                self.envs.append(make(simulator=c.simulator, split=self.split, max_turns=c.max_turns,
                                      **dict(c.make_kwargs)))
                continue
            first = self.envs[0]
            sibling = getattr(first.simulator, "sibling", None)
            options = {k: v for k, v in c.make_kwargs.items() if k in ENV_OPTIONS or sibling is None}
            options.setdefault("nlu", first.nlu)
            self.envs.append(make(simulator=sibling() if sibling else c.simulator, split=self.split,
                                  max_turns=c.max_turns, **options))
        return self.envs[:n]


def _ended(env: CTAEnv) -> bool:
    return not env.agents or env.terminations["assistant"] or env.truncations["assistant"]


def _users_speak(envs: list[CTAEnv], episodes: list[Episode], active: list[int]) -> None:
    for i, action in zip(active, user_turns([envs[i] for i in active])):
        envs[i].step(user_action(action))
        episodes[i].episode_return += float(envs[i].rewards["assistant"])


def play_episodes(specs: Sequence[EpisodeSpec], respond: Responder, encoder: TurnEncoder, pool: EnvPool,
                  max_len: int | None = None) -> list[Episode]:
    """Play one episode per spec with ``respond`` as the assistant, all in lockstep. ``max_len``: the model's
    context; an episode whose next response might not fit ends there (``end_reason`` ``context_limit``)."""
    envs = pool.take(len(specs))
    episodes = [Episode(spec) for spec in specs]
    for env, spec, episode in zip(envs, specs, episodes):
        env.reset(seed=spec.seed, options={"profile": spec.profile, "task": spec.task_id})
        episode.prompt_ids = encoder.header(env.task)
    active, first = list(range(len(specs))), True
    while active:
        _users_speak(envs, episodes, active)
        active = [i for i in active if not _ended(envs[i])]
        for i in active:
            segment = encoder.user(envs[i].observe("assistant"), envs[i].task)
            if first:
                episodes[i].prompt_ids += segment
            else:
                episodes[i].add(segment, policy=False)
        first = False
        active = _fit(episodes, active, max_len, pool.config.max_new_tokens)
        if not active:
            break
        contexts = [episodes[i].prompt_ids + episodes[i].completion_ids for i in active]
        responses = respond(contexts, [envs[i].observe("assistant") for i in active])
        for i, response in zip(active, responses):
            episodes[i].add(response.ids, policy=True, logprobs=response.logprobs)
            envs[i].step(response.text)
            episodes[i].episode_return += float(envs[i].rewards["assistant"])
        active = [i for i in active if not _ended(envs[i])]
    for env, episode in zip(envs, episodes):
        episode.end_reason = episode.end_reason or env.infos["assistant"].get("end_reason")
        episode.dialogue = [dict(turn) for turn in env.dialogue]
        if not episode.completion_ids:  # the user ended it before any response: one masked token for TRL
            episode.add([encoder.eos], policy=False)
    return episodes


def _fit(episodes: list[Episode], active: list[int], max_len: int | None, new_tokens: int) -> list[int]:
    if max_len is None:
        return active
    keep = []
    for i in active:
        episode = episodes[i]
        if len(episode.prompt_ids) + len(episode.completion_ids) + new_tokens <= max_len:
            keep.append(i)
        else:
            episode.end_reason = "context_limit"
            logger.warning("episode %s ends at %d tokens: the next response might not fit the model's %d",
                           episode.spec.to_prompt(), len(episode.prompt_ids) + len(episode.completion_ids), max_len)
    return keep


def template_responder(encoder: TurnEncoder, seed: int = 0) -> Responder:
    """The rule-based :class:`TemplateAssistant` as a responder (its responses tokenized, log-probabilities 0)."""
    assistant = TemplateAssistant(seed=seed)

    def respond(contexts: list[list[int]], observations: list[dict]) -> list[Response]:
        responses = []
        for obs in observations:
            text = assistant(obs)
            ids = encoder.response(text)
            responses.append(Response(ids, [0.0] * len(ids), text))
        return responses
    return respond


def model_limit(model) -> int | None:
    """The model's context length, where its config names one."""
    return getattr(getattr(model, "config", None), "max_position_embeddings", None)


class LMResponder:
    """A causal LM as the assistant: samples (``temperature`` > 0) or decodes greedily (0) every waiting
    response in one batch, left-padded, with a key/value cache."""

    def __init__(self, model, encoder: TurnEncoder, max_new_tokens: int, temperature: float = 1.0,
                 seed: int = 0) -> None:
        if temperature < 0:
            raise InvalidValueError(f"temperature={temperature!r} must be >= 0 (0: greedy decoding)")
        self.model, self.encoder, self.max_new_tokens, self.temperature = model, encoder, max_new_tokens, temperature
        self.device = next(model.parameters()).device
        self.generator = torch.Generator(device=self.device).manual_seed(seed)

    def __call__(self, contexts: list[list[int]], observations: list[dict]) -> list[Response]:
        ids, logps = self.sample(contexts)
        return [Response(i, lp, self.encoder.text(i)) for i, lp in zip(ids, logps)]

    @torch.no_grad()
    def sample(self, contexts: list[list[int]]) -> tuple[list[list[int]], list[list[float]]]:
        n, width, eos = len(contexts), max(map(len, contexts)), self.encoder.eos
        ids = torch.full((n, width), self.encoder.pad, dtype=torch.long)
        mask = torch.zeros((n, width), dtype=torch.long)
        for row, context in enumerate(contexts):
            ids[row, width - len(context):] = torch.tensor(context)
            mask[row, width - len(context):] = 1
        ids, mask = ids.to(self.device), mask.to(self.device)
        out = self.model(input_ids=ids, attention_mask=mask, use_cache=True)
        tokens, logps = [[] for _ in contexts], [[] for _ in contexts]
        done = torch.zeros(n, dtype=torch.bool, device=self.device)
        for _ in range(self.max_new_tokens):
            token, logp = self._pick(out.logits[:, -1].float())
            for row in (~done).nonzero().flatten().tolist():
                tokens[row].append(int(token[row]))
                logps[row].append(float(logp[row]))
            done |= token == eos
            if bool(done.all()):
                break
            mask = torch.cat([mask, mask.new_ones((n, 1))], dim=1)
            out = self.model(input_ids=token[:, None], attention_mask=mask, cache=out.cache,
                             use_cache=True)
        return tokens, logps

    def _pick(self, logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The next token of each row and its log-probability (after the temperature, as TRL computes it)."""
        if self.temperature == 0:
            logprobs = torch.log_softmax(logits, dim=-1)
            token = logprobs.argmax(dim=-1)
        else:
            logprobs = torch.log_softmax(logits / self.temperature, dim=-1)
            token = torch.multinomial(logprobs.exp(), 1, generator=self.generator).squeeze(1)
        return token, logprobs.gather(1, token[:, None]).squeeze(1)


def shown_step(dialogue: Sequence[Mapping[str, Any]], turn: int) -> int:
    """The observation's ``step`` when the assistant answers user turn ``turn`` (0-based) of ``dialogue``."""
    return 0 if turn == 0 else min(int(dialogue[turn - 1]["current_step"]) + 1, MAX_STEPS)
