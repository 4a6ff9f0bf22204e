"""Training data for the simulator LMs from a generated corpus, in a pack's prompt format.

``window`` (the paper's recipe, Appendix D): every user turn of a dialogue is one example, the prompt (preamble,
the last 4 turns, the profile for JTS, the suffix) and the completion (intent token, utterance, end token), the
loss on the completion only. Profiles are stratified to the same number of examples, and examples whose target
intent is ``next`` are undersampled by 50%. A prompt of ~120 tokens carries a completion of ~7, so about 6% of the
tokens a forward/backward pass computes carry the loss.

``dialogue`` and ``task_dialogue`` (the task written after the preamble): one whole dialogue is one sequence with the loss on every user turn (intent, utterance, end token),
each conditioned on everything before it; about a third of the tokens carry the loss. Sequences are batched by a
token budget in length buckets (:func:`token_batches`), so little compute goes to padding. Every turn is kept: the
model is to reproduce the corpus' own intent distribution, which the evaluation compares against.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from mtad_env.domain import task_from_dict
from mtad_env.profiles import Profile
from simulators.prompting import (USER, build_prompt, completion_text, dialogue_prompt_head,
                                  dialogue_turn_text)


@dataclass(frozen=True)
class Example:
    """One prompt/completion pair and the profile it came from."""

    profile: str
    prompt: str
    completion: str


def dialogue_examples(record: dict, with_profile: bool) -> list[Example]:
    """One example per user turn of a corpus record."""
    profile = Profile.parse(record["user_profile"]) if with_profile else None
    turns = record["dialog"]
    return [Example(str(record["user_profile"]), build_prompt(turns[:k], profile),
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


def dialogue_segments(record: dict, with_profile: bool, with_task: bool = False) -> list[str]:
    """The text of one dialogue in the ``dialogue`` format (``task_dialogue`` with ``with_task``: the record's task
    written into the head), cut into segments that alternate context and target:
    ``[head + <|user|>, completion 1, <|system|> response 1 + <|user|>, completion 2, ...]``."""
    profile = Profile.parse(record["user_profile"]) if with_profile else None
    task = task_from_dict(record["task"]) if with_task else None
    segments = [dialogue_prompt_head(profile, task) + USER]
    for turn in record["dialog"]:
        text = dialogue_turn_text(turn)  # "<|user|>" + completion + "<|system|> response"
        completion = text[len(USER):text.index("<|system|>")]
        segments += [completion, text[len(USER) + len(completion):] + USER]
    return segments


def dialogue_sequence(pieces: Sequence[Sequence[int]], max_len: int) -> tuple[list[int], list[int]]:
    """``(input_ids, labels)`` of one dialogue from its tokenized :func:`dialogue_segments`; labels are -100
    except on the user turns' completions. Turns that would run past ``max_len`` tokens are left out.

    The segments meet at special tokens, which byte-level BPE never merges across, so the ids are those of the
    whole text (``tests/test_lm_training.py`` checks it)."""
    ids, labels = list(pieces[0]), [-100] * len(pieces[0])
    for k in range(1, len(pieces), 2):
        completion, rest = pieces[k], pieces[k + 1]
        if len(ids) + len(completion) > max_len:
            break
        ids += completion + rest
        labels += completion + [-100] * len(rest)
    return ids[:max_len], labels[:max_len]


def dialogue_sequences(records: Sequence[dict], tokenizer, with_profile: bool, max_len: int,
                       chunk: int = 2000, with_task: bool = False) -> list[tuple[list[int], list[int]]]:
    """:func:`dialogue_sequence` of every record (dialogues without a user turn that fits are dropped); the
    segments of ``chunk`` dialogues go to the tokenizer in one call."""
    out = []
    for first in range(0, len(records), chunk):
        texts = [dialogue_segments(r, with_profile, with_task) for r in records[first:first + chunk]]
        flat = tokenizer([t for segs in texts for t in segs], add_special_tokens=False)["input_ids"]
        at = 0
        for segs in texts:
            out.append(dialogue_sequence(flat[at:at + len(segs)], max_len))
            at += len(segs)
    return [(ids, labels) for ids, labels in out if any(t != -100 for t in labels)]


def token_batches(encoded: Sequence[tuple[list[int], list[int]]], max_tokens: int, pad_id: int,
                  generator: torch.Generator | None, shuffle: bool = True, bucket_batches: int = 50):
    """Yield right-padded ``(input_ids, labels)`` batches of at most ``max_tokens`` tokens (rows x longest row).

    Shuffled sequences are taken ``bucket_batches`` batches' worth at a time and sorted by length inside that
    window, so rows of a batch have similar lengths (little padding) while batches still come in random order.
    Right padding under a causal mask never changes a real position's output, so no attention mask is needed."""
    n = len(encoded)
    order = torch.randperm(n, generator=generator).tolist() if shuffle else list(range(n))
    mean_len = max(1, sum(len(ids) for ids, _ in encoded) // max(n, 1))
    window = max(1, bucket_batches * max_tokens // mean_len)
    plan: list[list[int]] = []
    for start in range(0, n, window):
        chunk = sorted(order[start:start + window], key=lambda i: len(encoded[i][0]))
        batch: list[int] = []
        for i in chunk:
            if batch and (len(batch) + 1) * len(encoded[i][0]) > max_tokens:
                plan.append(batch)
                batch = []
            batch.append(i)
        if batch:
            plan.append(batch)
    if shuffle:
        plan = [plan[i] for i in torch.randperm(len(plan), generator=generator).tolist()]
    for rows in plan:
        width = max(len(encoded[i][0]) for i in rows)
        ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
        labels = torch.full((len(rows), width), -100, dtype=torch.long)
        for r, i in enumerate(rows):
            x, y = encoded[i]
            ids[r, :len(x)] = torch.tensor(x)
            labels[r, :len(y)] = torch.tensor(y)
        yield ids, labels
