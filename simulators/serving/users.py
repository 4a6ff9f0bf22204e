"""Which simulated user answers a request: the agenda user, or an LM user over the served pack.

A request is stateless: its simulator is reset with the profile of the model name, the task of the system message
and the generator of the turn (:meth:`simulators.serving.protocol.Sampling.rng`), then asked for one turn of the history the
messages hold. The agenda user answers at once; an LM user's turn becomes a
:class:`~simulators.mtad_engine.DecodeRequest` that :mod:`simulators.serving.batcher` decodes with others.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mtad_env.domain import Task
from mtad_env.errors import MtadError
from mtad_env.packs import default_pack_path
from mtad_env.profiles import Profile, multi_trait_profiles, single_trait_profiles
from mtad_env.registry import LM_SIMULATORS
from simulators.serving.messages import TaskIndex, conversation
from simulators.serving.protocol import ChatRequest, Reply, RequestError

logger = logging.getLogger(__name__)


@dataclass
class Job:
    """One request, ready to answer: its task, finished turns and, for LM users, the decoding job."""

    request: ChatRequest
    task: Task
    turns: list[dict[str, Any]]
    decode: Any = None  # simulators.mtad_engine.DecodeRequest for LM users
    user: Any = None  # the LM user (simulators.lm_simulator.LMUserSimulator) that made ``decode``
    draws: int = 1

    def redraw(self, reply: Reply) -> bool:
        """Whether an LM user's reply is a pool line unfit for the task (:mod:`mtad_env.pool_task_fit`) that is to
        be drawn again, as the simulators in environments do, at most ``TASK_FIT_DECODES`` draws in all; if so,
        :attr:`decode` is the next draw's job, its generator going on from this draw's."""
        from mtad_env.user_simulator import UserAction
        from simulators.lm_simulator import TASK_FIT_DECODES

        if self.user is None or self.draws >= TASK_FIT_DECODES or self.user.fits(UserAction(reply.intent,
                                                                                             reply.utterance)):
            return False
        cache, self.decode = self.decode.cache, self.user.request(self.turns, use_cache=False)
        self.decode.cache, self.draws = cache, self.draws + 1
        return True

    @property
    def turn(self) -> int:
        """The 1-based index of the user turn being asked for."""
        return len(self.turns) + 1


class UserModels:
    """The simulators behind the model names.

    Args:
        pack: the LM users' pack folder (default: the shipped pack); loaded on first use or by :meth:`load`.
        device: ``"auto"``, ``"cpu"`` or ``"cuda"``. tasks_dir: a task folder instead of the shipped tasks.
        prefix_cache_mb: keys and values kept across requests for the LM users' dialogues (a
            :class:`~simulators.turn_cache.TurnCachePool`), so that a request computes only what its dialogue
            added since its last turn; 0 recomputes every request's whole dialogue. Replies are the same either way.
    """

    def __init__(self, pack: str | Path | None = None, device: str = "auto", tasks_dir: str | None = None,
                 prefix_cache_mb: float = 256) -> None:
        from simulators.agenda import AgendaUserSimulator

        self.pack, self.device = Path(pack) if pack else default_pack_path(), device
        self.prefix_cache_mb, self.prefix_caches = prefix_cache_mb, None
        self.tasks = TaskIndex(tasks_dir)
        self.agenda = AgendaUserSimulator()
        self._nlu = None

    def load(self):
        """The pack's model (:func:`simulators.lm_simulator.load_pack_model`, loaded once per process)."""
        from simulators.lm_simulator import load_pack_model

        return load_pack_model(self.pack, self.device)

    def classify(self, text: str) -> str:
        """The intent of a user turn that came back without its ``mtad.intent``."""
        if self._nlu is None:
            from mtad_env.nlu import IntentClassifier

            self._nlu = IntentClassifier()
        return self._nlu.predict_name(text)

    def prepare(self, request: ChatRequest) -> Job:
        """Read the messages and, for an LM user, build its decoding job; raises :class:`RequestError`."""
        task, turns = conversation(request.messages, self.tasks, self.classify)
        job = Job(request, task, turns)
        if request.simulator != "agenda":
            job.decode = self._lm_request(job)
        return job

    def answer_agenda(self, job: Job) -> Reply:
        """The agenda user's turn (microseconds: no batching needed)."""
        self.agenda.reset(job.request.profile, job.task, job.request.sampling.rng(len(job.turns)))
        action = self.agenda.act(job.turns)
        return Reply(action.intent, action.utterance)

    def _lm_request(self, job: Job):
        from simulators.lm_simulator import LMUserSimulator
        from simulators.prompting import DIALOGUE_FORMATS

        request, lm = job.request, self.load()
        self._check_adapters(request.simulator, request.profile, lm.adapter_names)
        sampling = request.sampling
        try:
            sim = LMUserSimulator(self.pack, mode=request.simulator, weights=request.weights,
                                  temperature=sampling.temperature, top_p=sampling.top_p,
                                  max_new_tokens=sampling.max_tokens, device=self.device, cache_turns=False)
            sim.reset(request.profile, job.task, sampling.rng(len(job.turns)))
        except MtadError as exc:
            # profile and adapters were checked above, so what is left to refuse is the weights
            raise RequestError("model" if request.weights is None else "mtad.weights", str(exc)) from None
        decode, job.user = sim.request(job.turns, use_cache=False), sim
        if lm.pack.prompt_format in DIALOGUE_FORMATS and self.prefix_cache_mb > 0:  # each prompt extends the last
            decode.cache = self._prefix_caches(lm).get(decode.prompt_ids)
        limit = _context_length(lm)
        if limit and len(decode.prompt_ids) + sampling.max_tokens > limit:
            raise RequestError("messages", f"the dialogue is {len(decode.prompt_ids)} tokens long and max_tokens is "
                                           f"{sampling.max_tokens}: more than the model's context of {limit} "
                                           "tokens; valid: a shorter dialogue or a smaller max_tokens")
        return decode

    def _prefix_caches(self, lm):
        if self.prefix_caches is None:
            from simulators.prompting import USER
            from simulators.turn_cache import TurnCachePool

            user_id = lm.tokenizer.convert_tokens_to_ids(USER)
            self.prefix_caches = TurnCachePool(user_id, int(self.prefix_cache_mb * 2 ** 20))
        return self.prefix_caches

    def _check_adapters(self, simulator: str, profile: Profile, names: list[str]) -> None:
        """Refuse profiles the pack has no adapter for before any adapter would be loaded at run time."""
        from simulators.corpus import profile_filename

        if simulator == "jts":
            return
        needed = [profile_filename(Profile((pair,))) for pair in profile.pairs] or ["regular"]
        if simulator == "sts" and len(needed) > 1:
            valid = [f"sts/{n}" for n in names if n != "jts"]
            raise RequestError("model", f"sts users have one trait; {str(profile)!r} has {len(needed)}: use mtad, "
                                        "mtad-la, sampling or jts", valid)
        missing = [n for n in needed if n not in names]
        if missing:
            raise RequestError("model", f"the served pack has no adapter for {', '.join(missing)}; it has: "
                                        f"{', '.join(n for n in names if n != 'jts')}",
                               [n for n in names if n != "jts"])

    def model_names(self, with_lm: bool = True) -> list[str]:
        """Canonical model names: every simulator with the 17 single-trait and 14 multi-trait profiles it covers
        (any other profile string is accepted too)."""
        profiles = single_trait_profiles() + multi_trait_profiles()
        names = [f"agenda/{p}" for p in profiles]
        if not with_lm:
            return names
        adapters = self.load().adapter_names
        for simulator in LM_SIMULATORS:
            for profile in profiles:
                try:
                    self._check_adapters(simulator, profile, adapters)
                except RequestError:
                    continue
                names.append(f"{simulator}/{profile}")
        return names


def _context_length(lm) -> int | None:
    config = getattr(lm.model, "config", None)
    return getattr(config, "max_position_embeddings", None)
