"""LM user simulators over a model pack: STS, JTS, mTAD, mTAD-LA and Sampling (paper §3, §6.2).

All build the prompt from the live dialogue, decode with :mod:`simulators.mtad_engine`, parse intent and utterance,
and flag degenerate outputs (no valid intent first, special tokens inside the utterance, nothing said)."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from mtad_env.domain import Task
from mtad_env.errors import InvalidValueError, PackError, unknown
from mtad_env.model_loading import quiet_model_loading
from mtad_env.packs import Pack, default_pack_path, load_pack
from mtad_env.pool_task_fit import line_fits, task_fit_of
from mtad_env.profiles import Profile
from mtad_env.records import DEGENERATE
from mtad_env.registry import LM_SIMULATORS
from mtad_env.traits import get_trait
from mtad_env.user_simulator import Turn, UserAction, UserSimulator
from simulators.corpus import profile_filename
from simulators.mtad_engine import DecodeRequest, decode, normalise_weights
from simulators.prompting import DIALOGUE_FORMATS, END, parse_completion, prompt_text
from simulators.turn_cache import TurnCache
from simulators.word_constraint import WordState, drop_unfinished, lexicon_for

logger = logging.getLogger(__name__)


class PackModel:
    """A pack's tokenizer and base model with every adapter loaded by name (``jts`` and profile file stems)."""

    def __init__(self, pack: Pack, device: str = "auto") -> None:
        from peft import PeftModel
        from transformers import AutoModelForCausalLM, PreTrainedTokenizerFast

        self.pack = pack
        self.device = ("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device
        self.tokenizer = PreTrainedTokenizerFast.from_pretrained(pack.path / "tokenizer")
        base = AutoModelForCausalLM.from_pretrained(pack.path / "base", use_safetensors=True)
        names = {Path(entry["path"]).name: p for p, entry in pack.adapters.items()}
        first, *rest = list(names) + ["jts"]
        model = PeftModel.from_pretrained(base, self._path(first), adapter_name=first)
        for name in rest:
            model.load_adapter(self._path(name), adapter_name=name)
        self.model = model.to(self.device).eval()
        self.adapter_names = list(names) + ["jts"]
        self.end_id = self.tokenizer.convert_tokens_to_ids(END)

    def load_registered_adapter(self, name: str) -> None:
        """Load the adapter that :func:`mtad_env.register_trait` gave for ``trait=level``, if any."""
        from mtad_env.traits import traits

        trait, _, level = name.partition("=")
        path = traits()[trait].adapters.get(level) if trait in traits() else None
        if path is None:
            return
        if not (Path(path) / "adapter_model.safetensors").is_file():
            raise PackError(f"adapter {name!r}: {str(Path(path) / 'adapter_model.safetensors')!r} not found "
                            "(adapters load from safetensors only)")
        self.model.load_adapter(str(path), adapter_name=name)
        self.adapter_names.append(name)

    def _path(self, name: str) -> Path:
        return self.pack.jts_path if name == "jts" else self.pack.path / "adapters" / name


@lru_cache(maxsize=2)
def _load(path: str, device: str) -> PackModel:
    with quiet_model_loading():  # a second's load: no progress bar, no warning from inside peft
        return PackModel(load_pack(path), device)


def load_pack_model(pack: str | Path | None = None, device: str = "auto") -> PackModel:
    """The pack's model, loaded once per process (default: the shipped pack). The pack is validated (every file
    hashed) when it is first loaded, not on every call: ``make`` calls this once per environment."""
    return _load(str(Path(pack) if pack else default_pack_path()), device)


MODES = LM_SIMULATORS
TASK_FIT_DECODES = 4  # decodes of a turn whose utterance does not fit the task, at most (the last one is kept)


class LMUserSimulator(UserSimulator):
    """An LM user simulator over one pack, decoding with the mTAD engine.

    Args:
        pack: pack folder (default: the shipped tiny pack).
        mode: ``"sts"`` (the profile's own adapter: single-trait profiles and Regular), ``"jts"`` (the joint adapter
            prompted with the profile), ``"mtad"`` (mix the adapters of every non-neutral trait of the profile),
            ``"mtad-la"`` (intent from the dialogue-level adapters, utterance from the utterance-level ones) or
            ``"sampling"`` (one of those adapters drawn per turn).
        weights: lambda per active adapter (mtad, mtad-la, sampling), in profile order; uniform by default.
        adapters: explicit active adapters (profile strings such as ``"verbosity=low"``), e.g. both intensities of
            one trait (Appendix G); default: those of the profile.
        temperature, top_p, max_new_tokens: sampling settings. device: ``"auto"``, ``"cpu"`` or ``"cuda"``.
        cache_turns: with a ``dialogue``-format pack, keep the dialogue's keys and values from turn to turn so that
            each decode runs only the new tokens (:mod:`simulators.turn_cache`); False recomputes the whole prompt.
        word_constraint: sample only tokens that spell words of the vocabulary (the pool, the tasks, the knowledge
            files and the episode's task: :mod:`simulators.word_constraint`); False lets the model spell anything,
            to study the model alone.
        task_fit: redraw an utterance that is a pool line unfit for the episode's task (a recipe-only line in a DIY
            job or the reverse, a line about an ingredient or tool the task lacks: :mod:`mtad_env.pool_task_fit`),
            up to :data:`TASK_FIT_DECODES` decodes per turn, the last one kept whatever it says; False keeps the
            first decode.
    """

    def __init__(self, pack: str | Path | None = None, mode: str = "sts", weights: Sequence[float] | str | None = None,
                 adapters: Sequence[str] | None = None, temperature: float = 1.0, top_p: float = 0.95,
                 max_new_tokens: int = 40, device: str = "auto", cache_turns: bool = True,
                 word_constraint: bool = True, task_fit: bool = True) -> None:
        if mode not in MODES:
            raise unknown("LM simulator mode", mode, MODES)
        self.name, self.mode = mode, mode
        self.lm = load_pack_model(pack, device)
        self.fixed_adapters = [profile_filename(Profile.parse(a)) for a in adapters] if adapters else None
        self.weights = _parse_weights(weights)
        self.temperature, self.top_p, self.max_new_tokens = temperature, top_p, max_new_tokens
        self.profile, self.rng = Profile(), np.random.default_rng(0)
        self.active: list[str] = ["regular"]
        self.levels: list[str] = ["dialogue"]
        self.task: Task | None = None
        self.word_constraint, self.lexicon = word_constraint, None
        self.task_fit, self.fit = task_fit, None
        dialogue_format = self.lm.pack.prompt_format in DIALOGUE_FORMATS
        self.turn_cache = TurnCache() if cache_turns and dialogue_format else None

    def reset(self, profile: Profile, task: Task, rng: np.random.Generator) -> None:
        self.profile, self.rng, self.task = profile, rng, task
        self.lexicon = lexicon_for(self.lm.tokenizer, task) if self.word_constraint else None
        self.fit = task_fit_of(task) if self.task_fit and task is not None else None
        if self.turn_cache is not None:
            self.turn_cache.clear()
        if self.mode == "jts":
            self.active, self.levels = ["jts"], ["dialogue"]
            return
        pairs = [(n, i) for n, i in profile.pairs] if self.fixed_adapters is None else None
        names = self.fixed_adapters or [profile_filename(Profile(((n, i),))) for n, i in pairs] or ["regular"]
        for name in names:
            if name not in self.lm.adapter_names and "=" in name:
                self.lm.load_registered_adapter(name)
        missing = [n for n in names if n not in self.lm.adapter_names]
        if missing:
            msg = (f"pack {str(self.lm.pack.path)!r} has no adapter for {', '.join(missing)}; it has: "
                   f"{', '.join(sorted(self.lm.pack.adapters))}")
            raise PackError(msg)
        if self.mode == "sts" and len(names) > 1:
            raise InvalidValueError(f"STS uses one adapter and covers single-trait profiles; {str(profile)!r} has "
                                    f"{len(names)} traits: use simulator='mtad', 'mtad-la', 'sampling' or 'jts'")
        self.active = names
        self.levels = [get_trait(n.split("=")[0]).level if "=" in n else "dialogue" for n in names]
        normalise_weights(self.weights, len(names), names)

    def decoding(self) -> dict:
        """How this episode decodes (written into episode logs, so evaluation can find weight sweeps)."""
        weights = normalise_weights(self.weights, len(self.active), self.active)
        return {"mode": self.mode, "adapters": list(self.active), "weights": [round(float(w), 6) for w in weights],
                "word_constraint": self.word_constraint, "task_fit": self.task_fit}

    def request(self, history: Sequence[Turn], use_cache: bool = True) -> DecodeRequest:
        """The decoding job of this simulator's next turn (``use_cache``: with this dialogue's turn cache, if any;
        a batch of several histories of one simulator decodes without it)."""
        cache = self.turn_cache if use_cache else None
        prompt = prompt_text(history, self.profile if self.mode == "jts" else None, self.lm.pack.prompt_format,
                             self.task)
        ids = self.lm.tokenizer(prompt, add_special_tokens=False)["input_ids"]
        weights = normalise_weights(self.weights, len(self.active), self.active)
        sampling = {"temperature": self.temperature, "top_p": self.top_p, "max_new_tokens": self.max_new_tokens,
                    "words": WordState(self.lexicon) if self.lexicon is not None else None}
        if self.mode == "sampling":
            chosen = int(self.rng.choice(len(self.active), p=weights))
            return DecodeRequest(ids, [self.active[chosen]], np.ones(1), self.rng, cache=cache, **sampling)
        later = None
        if self.mode == "mtad-la":
            weights, later = _level_weights(weights, self.levels, "dialogue"), _level_weights(
                weights, self.levels, "utterance")
        return DecodeRequest(ids, list(self.active), weights, self.rng, later, cache=cache, **sampling)

    def act(self, history: Sequence[Turn]) -> UserAction:
        return self.act_batch([history])[0]

    def act_batch(self, histories: Sequence[Sequence[Turn]]) -> list[UserAction]:
        return type(self).act_many([self] * len(histories), histories)

    @classmethod
    def act_many(cls, simulators: Sequence[LMUserSimulator], histories: Sequence[Sequence[Turn]]) -> list[UserAction]:
        """The next turns of several LM users: those over one pack decode in one batch, each with its own
        sampling settings; a simulator that appears once keeps its dialogue's turn cache. Turns unfit for their
        task are redrawn together (see ``task_fit``)."""
        by_model: dict[int, list[int]] = {}
        for i, sim in enumerate(simulators):
            by_model.setdefault(id(sim.lm), []).append(i)
        appearances = Counter(id(s) for s in simulators)
        actions: list[UserAction] = [UserAction("", "")] * len(simulators)
        for members in by_model.values():
            for _ in range(TASK_FIT_DECODES):
                requests = [simulators[i].request(histories[i], appearances[id(simulators[i])] == 1) for i in members]
                for i, action in zip(members, decode_actions(simulators[members[0]].lm, requests)):
                    actions[i] = action
                members = [i for i in members if not simulators[i].fits(actions[i])]
                if not members:
                    break
        return actions

    def fits(self, action: UserAction) -> bool:
        """Whether ``action`` fits this episode's task (always, without ``task_fit`` or a task)."""
        return self.fit is None or line_fits(action.utterance, self.fit)


def decode_actions(lm: PackModel, requests: Sequence[DecodeRequest]) -> list[UserAction]:
    """Decode requests in one batch (each with its own sampling settings) and parse each into a user action; an
    utterance its token limit cut inside an unknown word loses that word (word-constrained requests)."""
    tokens = decode(lm.model, requests, [lm.end_id], lm.tokenizer.pad_token_id)
    return [parse_action(drop_unfinished(lm.tokenizer.decode(t, skip_special_tokens=False), r.words))
            for t, r in zip(tokens, requests)]


def _level_weights(weights: np.ndarray, levels: Sequence[str], level: str) -> np.ndarray:
    """Weights restricted to the adapters of one trait level (all of them if the level has none)."""
    mask = np.array([lv == level for lv in levels], dtype=np.float64)
    if not mask.any() or (weights * mask).sum() == 0:
        return weights
    w = weights * mask
    return w / w.sum()


def _parse_weights(weights: Sequence[float] | str | None) -> list[float] | None:
    if weights is None or isinstance(weights, (list, tuple, np.ndarray)):
        return None if weights is None else [float(w) for w in weights]
    try:
        return [float(w) for w in str(weights).split(",")]
    except ValueError:
        raise InvalidValueError(f"weights {weights!r} must be comma-separated numbers such as 0.7,0.3") from None


def parse_action(text: str) -> UserAction:
    """A user action from generated text; degenerate outputs get the intent ``<degenerate>``."""
    intent, utterance, degenerate = parse_completion(text)
    if degenerate:
        return UserAction(DEGENERATE, utterance or text.strip() or "(nothing)")
    return UserAction(intent, utterance)
