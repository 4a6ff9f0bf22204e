"""Training examples for the simulator LMs from a generated corpus (paper §3, Appendix D).

Every user turn of a dialogue becomes one example: the prompt (preamble, the last 4 turns, the profile for JTS,
the suffix) and the completion (intent token, utterance, end token). Profiles are stratified to the same number of
examples, and examples whose target intent is ``next`` are undersampled by 50%.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from mtad_env.profiles import Profile
from simulators.prompting import build_prompt, completion_text


@dataclass(frozen=True)
class Example:
    """One prompt/completion pair and the profile it came from."""

    profile: str
    prompt: str
    completion: str


def dialogue_examples(record: dict, with_profile: bool) -> list[Example]:
    """One example per user turn of a corpus record."""
    profile = Profile.parse(record["user_profile"])
    turns = record["dialog"]
    return [Example(str(profile), build_prompt(turns[:k], profile if with_profile else None),
                    completion_text(turn["intent"], turn["user"])) for k, turn in enumerate(turns)]


def build_examples(records: Sequence[dict], with_profile: bool, seed: int, per_profile: int | None = None,
                   next_keep: float = 0.5) -> list[Example]:
    """Stratified examples: ``next`` kept with probability ``next_keep``, then every profile cut to the same count
    (``per_profile``, or the smallest profile's count)."""
    rng = np.random.default_rng(seed)
    by_profile: dict[str, list[Example]] = {}
    for rec in records:
        for ex in dialogue_examples(rec, with_profile):
            if ex.completion.startswith("<|next|>") and rng.random() >= next_keep:
                continue
            by_profile.setdefault(ex.profile, []).append(ex)
    if not by_profile:
        return []
    n = min(len(v) for v in by_profile.values()) if per_profile is None else per_profile
    out: list[Example] = []
    for profile in sorted(by_profile):
        items = by_profile[profile]
        idx = rng.permutation(len(items))[:n]
        out += [items[i] for i in sorted(idx)]
    return out


def encode(examples: Sequence[Example], tokenizer, max_len: int) -> list[tuple[list[int], list[int]]]:
    """``(input_ids, labels)`` per example; labels are -100 on the prompt; long prompts lose their oldest tokens."""
    prompts = tokenizer([e.prompt for e in examples], add_special_tokens=False)["input_ids"]
    completions = tokenizer([e.completion for e in examples], add_special_tokens=False)["input_ids"]
    out = []
    for p, c in zip(prompts, completions):
        c = c[:max_len // 2]
        p = p[-(max_len - len(c)):]
        out.append((p + c, [-100] * len(p) + c))
    return out


def batches(encoded: Sequence[tuple[list[int], list[int]]], batch_size: int, pad_id: int,
            generator: torch.Generator | None, shuffle: bool = True):
    """Yield padded ``(input_ids, attention_mask, labels)`` batches (right padding)."""
    order = torch.randperm(len(encoded), generator=generator).tolist() if shuffle else list(range(len(encoded)))
    for start in range(0, len(order), batch_size):
        chunk = [encoded[i] for i in order[start:start + batch_size]]
        width = max(len(ids) for ids, _ in chunk)
        ids = torch.full((len(chunk), width), pad_id, dtype=torch.long)
        mask = torch.zeros((len(chunk), width), dtype=torch.long)
        labels = torch.full((len(chunk), width), -100, dtype=torch.long)
        for row, (x, y) in enumerate(chunk):
            ids[row, :len(x)] = torch.tensor(x)
            mask[row, :len(x)] = 1
            labels[row, :len(y)] = torch.tensor(y)
        yield ids, mask, labels
