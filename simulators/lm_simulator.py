"""LM user simulators over a model pack: STS (the profile's own adapter) and JTS (the joint adapter prompted with
the profile tokens). Both build the prompt from the live dialogue, sample, parse intent and utterance, and flag
degenerate outputs (no valid intent first, special tokens inside the utterance, nothing said)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from mtad_env.domain import Task
from mtad_env.errors import InvalidValueError, PackError, unknown
from mtad_env.packs import Pack, load_pack
from mtad_env.profiles import Profile
from mtad_env.user_simulator import Turn, UserAction, UserSimulator
from simulators.corpus import profile_filename
from simulators.decoding import generate
from simulators.prompting import END, build_prompt, parse_completion

logger = logging.getLogger(__name__)
DEGENERATE = "<degenerate>"


class PackModel:
    """A pack's tokenizer and base model with every adapter loaded by name (``jts`` and profile file stems)."""

    def __init__(self, pack: Pack, device: str = "auto") -> None:
        from peft import PeftModel
        from transformers import AutoModelForCausalLM, PreTrainedTokenizerFast

        self.pack = pack
        self.device = ("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device
        self.tokenizer = PreTrainedTokenizerFast.from_pretrained(pack.path / "tokenizer")
        base = AutoModelForCausalLM.from_pretrained(pack.path / "base", use_safetensors=True)
        names = {profile_filename(Profile.parse(p)): p for p in pack.adapters}
        first, *rest = list(names) + ["jts"]
        model = PeftModel.from_pretrained(base, self._path(first), adapter_name=first)
        for name in rest:
            model.load_adapter(self._path(name), adapter_name=name)
        self.model = model.to(self.device).eval()
        self.adapter_names = list(names) + ["jts"]
        self.end_id = self.tokenizer.convert_tokens_to_ids(END)

    def _path(self, name: str) -> Path:
        return self.pack.jts_path if name == "jts" else self.pack.path / "adapters" / name


@lru_cache(maxsize=2)
def _load(path: str, device: str) -> PackModel:
    return PackModel(load_pack(path), device)


def load_pack_model(pack: str | Path | None = None, device: str = "auto") -> PackModel:
    """The pack's model, loaded once per process (default: the shipped pack)."""
    return _load(str(Path(pack) if pack else load_pack().path), device)


class LMUserSimulator(UserSimulator):
    """An LM user simulator of one pack.

    Args:
        pack: pack folder (default: the shipped tiny pack).
        mode: ``"sts"`` (the profile's adapter; single-trait profiles and Regular) or ``"jts"``.
        temperature, top_p, max_new_tokens: sampling settings.
        device: ``"auto"``, ``"cpu"`` or ``"cuda"``.
    """

    def __init__(self, pack: str | Path | None = None, mode: str = "sts", temperature: float = 1.0,
                 top_p: float = 0.95, max_new_tokens: int = 40, device: str = "auto") -> None:
        if mode not in ("sts", "jts"):
            raise unknown("LM simulator mode", mode, ("sts", "jts"))
        self.name, self.mode = mode, mode
        self.lm = load_pack_model(pack, device)
        self.temperature, self.top_p, self.max_new_tokens = temperature, top_p, max_new_tokens
        self.profile, self.rng, self.adapter = Profile(), np.random.default_rng(0), "jts"

    def reset(self, profile: Profile, task: Task, rng: np.random.Generator) -> None:
        self.profile, self.rng = profile, rng
        if self.mode == "jts":
            self.adapter = "jts"
            return
        name = profile_filename(profile)
        if name not in self.lm.adapter_names:
            msg = (f"STS has no adapter for profile {str(profile)!r}; it covers single-trait profiles: "
                   f"{', '.join(sorted(self.lm.pack.adapters))}. Use simulator='mtad' or 'jts' for combinations")
            raise PackError(msg) if len(profile.pairs) <= 1 else InvalidValueError(msg)
        self.adapter = name

    def act(self, history: Sequence[Turn]) -> UserAction:
        prompt = build_prompt(history, self.profile if self.mode == "jts" else None)
        ids = self.lm.tokenizer(prompt, add_special_tokens=False)["input_ids"]
        self.lm.model.set_adapter(self.adapter)
        new = generate(self.lm.model, ids, self.rng, [self.lm.end_id], self.max_new_tokens, self.temperature,
                       self.top_p)
        return parse_action(self.lm.tokenizer.decode(new, skip_special_tokens=False))


def parse_action(text: str) -> UserAction:
    """A user action from generated text; degenerate outputs get the intent ``<degenerate>``."""
    intent, utterance, degenerate = parse_completion(text)
    if degenerate:
        return UserAction(DEGENERATE, utterance or text.strip() or "(nothing)")
    return UserAction(intent, utterance)
