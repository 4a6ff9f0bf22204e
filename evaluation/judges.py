"""LLM judges of paper Appendix I: parse their answers, call a backend (HTTP or local HF model), judge dialogues.

The two tasks are ``quality`` (Table 26: one assistant response scored 0, 1 or 2) and ``ranking`` (Table 27: two
dialogues of the same task ordered from low to high on one trait; correct when the order matches the profiles'
intensities). A backend is anything with ``complete(prompt) -> str``; :func:`make_backend` builds one from a spec
``http:URL`` (OpenAI-compatible chat completions) or ``hf:PATH`` (a local causal LM folder).
"""

from __future__ import annotations

import json
import logging
import random
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from tqdm.auto import tqdm

from agents.http_assistant import EndpointError, chat_completions_url, post_json
from evaluation.judge_prompts import LETTERS, quality_prompt, ranking_prompt, task_title
from mtad_env.errors import InvalidValueError, unknown
from mtad_env.profiles import Profile
from mtad_env.records import DialogueRecord
from mtad_env.traits import INTENSITIES, traits

logger = logging.getLogger(__name__)
TASKS: tuple[str, ...] = ("quality", "ranking")
Label = int | str

# -- parsing the answers ------------------------------------------------------------------------------------------
_WORDS = r"\b(?:final\s+)?(?:answer|score|rating|ranking|rank|order|label)\b"
_STRONG = re.compile(_WORDS + r"\s*(?::|=|\s-\s)", re.IGNORECASE)  # "Answer: 2", "Score = 1", "Rank - A<B"
_WEAK = re.compile(_WORDS + r"(?:\s+is)?\s+", re.IGNORECASE)  # "the answer is 2"
_QUALITY_WORDS = {"bad": 0, "average": 1, "good": 2}
_ALTERNATIVES = re.compile(r"[\s\"'\[\(]*-?\d+\s*(?:,|or|and|to|-|–)\s*\d")  # "0, 1, or 2", "1 or 2", "1-2"
_RANK_TAIL = re.compile(r"\s[-–—:]\s|\.\s|\b(?:because|since|as|with)\b", re.IGNORECASE)


def _unmark(text: str) -> str:
    """Text without markdown emphasis, code marks, headings, blockquote marks and LaTeX boxes."""
    text = re.sub(r"\\boxed\{([^}]*)\}", r"\1", text)
    text = re.sub(r"[*_`]+", "", text)
    return re.sub(r"(?m)^\s*(?:#+|>)\s+", "", text)


def _json_values(text: str) -> list[str]:
    """Values of answer-like keys of the JSON objects in ``text`` (a list value becomes ``A<B<...``)."""
    values = []
    for blob in re.findall(r"\{[^{}]*\}", text):
        try:
            obj = json.loads(blob)
        except json.JSONDecodeError:
            continue
        for key, value in obj.items() if isinstance(obj, dict) else ():
            if str(key).lower() in ("answer", "score", "rating", "ranking", "rank", "order", "label"):
                values.append("<".join(map(str, value)) if isinstance(value, list) else str(value))
    return values


def _candidates(text: str) -> list[str]:
    """Answer segments, most trusted first: JSON values, after a keyword, then the last line (the only bare one).

    Segments after ``Answer:``-like keywords are tried from the last one back; a keyword without a colon ("the
    score is 2") is tried only when no keyword with one is present, so a justification cannot outvote an answer.
    """
    text = _unmark(text)
    found = _json_values(text)
    matches = list(_STRONG.finditer(text)) or list(_WEAK.finditer(text))[-1:]
    for match in reversed(matches):
        rest = text[match.end():]
        line = rest.split("\n", 1)[0].strip()
        found.append(line if line else rest.strip().split("\n\n", 1)[0])
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    if lines:
        found.append(lines[-1])
    return found


def _quality_segment(segment: str, whole: bool) -> int | None:
    s = segment.strip().lower()
    if _ALTERNATIVES.match(s):
        return None
    s = re.sub(r"\s*(?:/|out of)\s*2(?:\.0+)?\b", "", s)
    tail = r"[\s\"'\]\).!,]*$" if whole else r"(?![\d.]\d)"
    match = re.match(r"[\s\"'\[\(]*(-?\d+(?:\.0+)?)" + tail, s)
    if match:
        value = float(match.group(1))
        return int(value) if value in (0, 1, 2) else None
    match = re.match(r"[\s\"'\[\(]*(bad|average|good)\b" + (r"[\s\"'\]\).!]*(?:response)?[\s.!]*$" if whole else ""),
                     s)
    return _QUALITY_WORDS[match.group(1)] if match else None


def _ranking_segment(segment: str, n: int) -> tuple[str, ...] | None:
    s = re.sub(r"\([^)]*[A-Za-z]{2}[^)]*\)", " ", segment)  # "(A is calmer)"
    s = re.sub(r"(?:^|\s)\d+[.):]\s*", ",", s)  # "1. B 2. A" lists from low to high
    s = _RANK_TAIL.split(s, 1)[0]  # drop trailing prose
    s = re.sub(r"\b(?:dialogues?|dialogs?|conversations?)\b", " ", s, flags=re.IGNORECASE)
    s = re.sub(r"->|→|;|\bthen\b|\band\b|\n", ",", s, flags=re.IGNORECASE)
    s = re.sub(r"[\"'\[\](){}]", " ", s).strip().rstrip(".!")
    if not re.fullmatch(r"[\sA-Za-z<>,]*", s):
        return None
    tokens = re.findall(r"[A-Za-z]+|[<>,]", s)
    letters = [t.upper() for t in tokens if t.isalpha()]
    ops = {t for t in tokens if not t.isalpha()}
    if any(len(t) > 1 for t in letters) or {"<", ">"} <= ops or sorted(letters) != list(LETTERS[:n]):
        return None
    return tuple(reversed(letters)) if ">" in ops else tuple(letters)


def parse_quality(text: str) -> int | None:
    """The 0-2 score of a Table 26 answer (``Answer: 2`` and variants); None (logged) when there is none."""
    if isinstance(text, str):
        cands = _candidates(text)
        for i, cand in enumerate(cands):
            score = _quality_segment(cand, whole=i == len(cands) - 1)
            if score is not None:
                return score
    logger.warning("unparseable quality answer: %r", str(text)[:200])
    return None


def parse_ranking(text: str, n: int = 2) -> str | None:
    """The low-to-high order of a Table 27 answer as ``A<B`` (``B > A``, ``1. A 2. B`` ...); None (logged) if none."""
    if isinstance(text, str):
        for cand in _candidates(text):
            order = _ranking_segment(cand, n)
            if order is not None:
                return "<".join(order)
    logger.warning("unparseable ranking answer: %r", str(text)[:200])
    return None


def parse_answer(task: str, text: str, n: int = 2) -> Label | None:
    """The label of a judge's answer for ``task`` (``quality`` or ``ranking``); None when unparseable."""
    if task == "quality":
        return parse_quality(text)
    if task == "ranking":
        return parse_ranking(text, n)
    raise unknown("judge task", task, TASKS)


def label_parser(task: str) -> Callable[[str], Label | None]:
    """The parser that turns a label text (a judge answer or a human CSV cell) into the task's label."""
    if task not in TASKS:
        raise unknown("judge task", task, TASKS)
    return parse_quality if task == "quality" else parse_ranking


# -- backends -----------------------------------------------------------------------------------------------------
class JudgeBackend(Protocol):
    """Anything that completes a prompt with the judge's answer text."""

    def complete(self, prompt: str) -> str: ...


@dataclass(frozen=True)
class JudgeConfig:
    """Generation settings: ``model`` (the paper used gpt-4o-2024-05-13), answer length, HTTP limits, device."""

    model: str = "gpt-4o-2024-05-13"
    max_new_tokens: int = 128
    timeout: float = 60.0
    retries: int = 2
    backoff: float = 1.0
    api_key_env: str | None = "OPENAI_API_KEY"
    device: str | None = None


class HTTPJudge:
    """A judge behind an OpenAI-compatible ``/v1/chat/completions`` endpoint, greedy (temperature 0)."""

    def __init__(self, url: str, config: JudgeConfig = JudgeConfig()) -> None:
        self.url = chat_completions_url(url)
        self.config = config

    def complete(self, prompt: str) -> str:
        c = self.config
        payload = {"model": c.model, "messages": [{"role": "user", "content": prompt}],
                   "max_tokens": c.max_new_tokens, "temperature": 0.0}
        reply = post_json(self.url, payload, c.timeout, c.retries, c.backoff, c.api_key_env)
        try:
            return reply["choices"][0]["message"]["content"] or ""
        except (KeyError, IndexError, TypeError):
            raise EndpointError(f"endpoint {self.url} returned no choices[0].message.content") from None


class HFJudge:
    """A local Hugging Face causal LM folder (model and tokenizer), greedy; nothing is downloaded."""

    def __init__(self, path: str | Path, config: JudgeConfig = JudgeConfig()) -> None:
        self.path, self.config = Path(path), config
        if not self.path.is_dir():
            raise InvalidValueError(f"judge model folder {str(self.path)!r} does not exist; give hf:PATH of a local "
                                    "folder with a causal LM and its tokenizer")
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.device = config.device or ("cuda" if torch.cuda.is_available() else "cpu")
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(self.path, local_files_only=True)
            self.model = AutoModelForCausalLM.from_pretrained(self.path, local_files_only=True).to(self.device)
        except (OSError, ValueError, KeyError) as exc:
            raise InvalidValueError(f"judge model folder {str(self.path)!r} is not a loadable causal LM with a "
                                    f"tokenizer: {str(exc).splitlines()[0]}") from None
        self.model.eval()

    def _input_ids(self, prompt: str):
        tok = self.tokenizer
        if getattr(tok, "chat_template", None):
            prompt = tok.apply_chat_template([{"role": "user", "content": prompt}], tokenize=False,
                                             add_generation_prompt=True)
        ids = tok(prompt, return_tensors="pt", add_special_tokens=not getattr(tok, "chat_template", None)).input_ids
        limit = getattr(self.model.config, "max_position_embeddings", None)
        if limit and ids.shape[1] + self.config.max_new_tokens > limit:
            keep = max(limit - self.config.max_new_tokens, 1)
            logger.warning("judge prompt of %d tokens cut to its last %d (model limit %d)", ids.shape[1], keep, limit)
            ids = ids[:, -keep:]
        return ids.to(self.device)

    def complete(self, prompt: str) -> str:
        import torch

        ids = self._input_ids(prompt)
        tok = self.tokenizer
        pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
        with torch.no_grad():
            out = self.model.generate(ids, attention_mask=torch.ones_like(ids), do_sample=False,
                                      max_new_tokens=self.config.max_new_tokens, pad_token_id=pad)
        return tok.decode(out[0, ids.shape[1]:], skip_special_tokens=True)


def make_backend(spec: str, config: JudgeConfig = JudgeConfig()) -> JudgeBackend:
    """A backend from ``http:URL`` (or a bare ``http(s)://`` URL) or ``hf:PATH``.

    Raises:
        InvalidValueError: any other spec, naming it and the valid forms.
    """
    kind, _, arg = str(spec).partition(":")
    if kind in ("http", "https") and arg.startswith("//"):
        return HTTPJudge(str(spec), config)
    if kind == "http" and re.match(r"https?://\S+", arg):
        return HTTPJudge(arg, config)
    if kind == "hf" and arg:
        return HFJudge(arg, config)
    raise InvalidValueError(f"unknown judge {spec!r}; valid: http:URL (e.g. http:http://127.0.0.1:8000, an "
                            "OpenAI-compatible server) or hf:PATH (a local Hugging Face model folder)")


# -- items and judging --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class JudgeItem:
    """One question to a judge; ``expected`` is the correct ranking (None for quality, which has no key)."""

    item_id: str
    task: str
    prompt: str
    expected: str | None = None
    trait: str | None = None
    n_options: int = 2


@dataclass(frozen=True)
class JudgedItem:
    """A judge's ``answer`` to an item and its parsed ``label`` (None when unparseable)."""

    item_id: str
    label: Label | None
    answer: str
    expected: str | None = None
    trait: str | None = None

    @property
    def correct(self) -> bool | None:
        """Whether the label matches ``expected`` (None without a key or a label)."""
        return None if self.expected is None or self.label is None else self.label == self.expected


def quality_items(records: Sequence[DialogueRecord], turns: str = "all") -> list[JudgeItem]:
    """Table 26 items, ``DIALOG_ID#TURN`` (turn counted from 1): every assistant response, or only the last."""
    if turns not in ("all", "last"):
        raise unknown("turn selection", turns, ("all", "last"))
    items = []
    for rec in records:
        dialog = rec.get("dialog") or []
        indices = [i for i, t in enumerate(dialog) if t.get("system")]
        for i in indices if turns == "all" else indices[-1:]:
            items.append(JudgeItem(f"{rec.get('dialog_id')}#{i + 1}", "quality", quality_prompt(rec, i)))
    return items


def _pair_items(a: DialogueRecord, b: DialogueRecord, names: Iterable[str], rng: random.Random):
    pa, pb = Profile.parse(a["user_profile"]), Profile.parse(b["user_profile"])
    for trait in names:
        ia, ib = INTENSITIES.index(pa.intensity(trait)), INTENSITIES.index(pb.intensity(trait))
        if ia == ib:
            continue
        first, second = (a, b) if rng.random() < 0.5 else (b, a)  # shuffled against positional bias (App. I.1)
        low_first = (ia < ib) == (first is a)
        prompt = ranking_prompt(task_title(first), [first["dialog"], second["dialog"]], trait)
        yield JudgeItem(f"{first['dialog_id']}|{second['dialog_id']}|{trait}", "ranking", prompt,
                        "A<B" if low_first else "B<A", trait)


def ranking_items(records: Sequence[DialogueRecord], trait_names: Sequence[str] | None = None, seed: int = 0,
                  max_items: int | None = None) -> list[JudgeItem]:
    """Table 27 items ``ID_A|ID_B|TRAIT``: every two dialogues of the same task whose profiles differ on a trait.

    The paper pairs a simulated dialogue with a test-set one of the opposite intensity or of the Regular profile;
    pass both logs. The letters are shuffled with ``seed``; ``max_items`` keeps a seeded sample.
    """
    names = list(trait_names or traits())
    for name in names:
        if name not in traits():
            raise unknown("trait", name, traits())
    by_task: dict[str, list[DialogueRecord]] = {}
    for rec in records:
        task = rec.get("task") or {}
        by_task.setdefault(str(task.get("id") or task_title(rec)), []).append(rec)
    rng = random.Random(seed)
    items = [item for group in by_task.values() for i, a in enumerate(group) for b in group[i + 1:]
             for item in _pair_items(a, b, names, rng)]
    if max_items is not None and len(items) > max_items:
        items = sorted(random.Random(seed).sample(items, max_items), key=lambda it: it.item_id)
    return items


def judge_items(items: Sequence[JudgeItem], backend: JudgeBackend, progress: bool = True) -> list[JudgedItem]:
    """Ask ``backend`` every item (tqdm bar on stderr) and parse the answers; an endpoint failure propagates."""
    results = []
    for item in tqdm(items, desc=f"judging ({items[0].task if items else '-'})", disable=not progress):
        answer = backend.complete(item.prompt)
        results.append(JudgedItem(item.item_id, parse_answer(item.task, answer, item.n_options), answer,
                                  item.expected, item.trait))
    return results


def summarise(results: Sequence[JudgedItem], task: str) -> dict[str, Any]:
    """Counts, unparsed answers and the task's figure: mean score (quality) or accuracy, also per trait (ranking)."""
    labelled = [r for r in results if r.label is not None]
    out: dict[str, Any] = {"n_items": len(results), "n_unparsed": len(results) - len(labelled),
                           "labels": {str(k): v for k, v in sorted(_counts(r.label for r in labelled).items())}}
    if task == "quality":
        out["mean_score"] = sum(int(r.label) for r in labelled) / len(labelled) if labelled else None
        return out
    out["accuracy"] = _accuracy(labelled)
    out["accuracy_per_trait"] = {t: _accuracy([r for r in labelled if r.trait == t])
                                 for t in sorted({r.trait for r in labelled if r.trait})}
    return out


def _counts(labels: Iterable[Label]) -> dict[Label, int]:
    counts: dict[Label, int] = {}
    for label in labels:
        counts[label] = counts.get(label, 0) + 1
    return counts


def _accuracy(results: Sequence[JudgedItem]) -> float | None:
    scored = [r.correct for r in results if r.correct is not None]
    return sum(scored) / len(scored) if scored else None
