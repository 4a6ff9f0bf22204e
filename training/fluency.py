"""Train the shipped fluency scorer: fluent user-style text against ASR-style corruptions of it.

Positives: the pool's fluent entries (slots filled) and sentence openings of task steps; negatives: the pool's
disfluent entries (``domain_sources/pool_disfluent_entries.json``) and synthetic corruptions of the positives
(truncated words, sound-alike substitutions, fillers, stutters, repeated or dropped words, wrong verb forms).

Run ``python -m training.fluency`` to rebuild ``mtad_env/data/fluency_model.npz``; it prints the AUROC on the
hand-labelled held-out set in ``tests/data/fluency_labelled.jsonl``.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import numpy as np

from mtad_env.domain import UtterancePool, fill_slots, has_slots, load_knowledge, load_tasks
from mtad_env.metrics import words
from mtad_env.scorers import FLUENCY_MODEL_PATH
from mtad_env.text_classifier import HashedLinearClassifier

logger = logging.getLogger(__name__)
ROOT = Path(__file__).resolve().parent.parent
SOURCES = Path(__file__).parent / "domain_sources"
LABELLED = ROOT / "tests" / "data" / "fluency_labelled.jsonl"
_SOUND_ALIKE = {
    "next": ["nest", "necks", "text", "nexus"], "step": ["stab", "stepped", "steep", "stop"],
    "start": ["star", "cats", "stark", "smart"], "stop": ["stock", "top", "shop"], "repeat": ["report", "repeal"],
    "recipe": ["receipt", "recipes", "reset"], "previous": ["precious", "previews"], "the": ["a", "de", "duh"],
    "what": ["watt", "was"], "how": ["who", "house"], "much": ["match", "much much"], "do": ["due", "to"],
    "need": ["knead", "kneed"], "go": ["no", "goat"], "back": ["bag", "black"], "please": ["police", "pleas"],
    "instead": ["in stead", "insted"], "use": ["juice", "ooze"], "oven": ["often", "over"], "can": ["cam", "ken"],
}
_FILLERS = ["uh", "uhh", "um", "umm", "hmm", "er", "like", "you know"]
_WRONG_FORMS = {"start": "started", "go": "went", "make": "making", "do": "doing", "is": "be", "are": "is",
                "have": "having", "need": "needing", "tell": "telling", "want": "wanting"}


def _truncate(toks: list[str], rng: np.random.Generator) -> list[str]:
    i = len(toks) - 1 if rng.random() < 0.6 else int(rng.integers(len(toks)))
    word = toks[i]
    toks[i] = word[: int(rng.integers(1, max(2, len(word) - 1)))] if len(word) > 2 else word[:1]
    return toks


def _sound_alike(toks: list[str], rng: np.random.Generator) -> list[str]:
    spots = [i for i, t in enumerate(toks) if t in _SOUND_ALIKE]
    i = spots[int(rng.integers(len(spots)))] if spots else int(rng.integers(len(toks)))
    options = _SOUND_ALIKE.get(toks[i], ["cats", "hey", "off", "the", "and"])
    toks[i] = options[int(rng.integers(len(options)))]
    return toks


def _filler(toks: list[str], rng: np.random.Generator) -> list[str]:
    toks.insert(int(rng.integers(len(toks) + 1)), _FILLERS[int(rng.integers(len(_FILLERS)))])
    return toks


def _stutter(toks: list[str], rng: np.random.Generator) -> list[str]:
    i = int(rng.integers(len(toks)))
    repeat = toks[i] if rng.random() < 0.6 else toks[i][: max(1, len(toks[i]) // 2)]
    toks.insert(i, repeat)
    return toks


def _drop_or_swap(toks: list[str], rng: np.random.Generator) -> list[str]:
    if len(toks) < 3:
        return _stutter(toks, rng)
    i = int(rng.integers(len(toks) - 1))
    if rng.random() < 0.5:
        del toks[i]
    else:
        toks[i], toks[i + 1] = toks[i + 1], toks[i]
    return toks


def _wrong_form(toks: list[str], rng: np.random.Generator) -> list[str]:
    spots = [i for i, t in enumerate(toks) if t in _WRONG_FORMS]
    if not spots:
        return _sound_alike(toks, rng)
    i = spots[int(rng.integers(len(spots)))]
    toks[i] = _WRONG_FORMS[toks[i]]
    return toks


_FUNCTION_WORDS = ["the", "it", "to", "a", "is", "of", "for", "and", "what", "that"]


def _dangling(toks: list[str], rng: np.random.Generator) -> list[str]:
    toks.append(_FUNCTION_WORDS[int(rng.integers(len(_FUNCTION_WORDS)))])
    return toks


def _drop_function_word(toks: list[str], rng: np.random.Generator) -> list[str]:
    spots = [i for i, t in enumerate(toks) if t in _FUNCTION_WORDS or t in ("do", "does", "are", "should", "i")]
    if not spots or len(toks) < 3:
        return _dangling(toks, rng)
    del toks[spots[int(rng.integers(len(spots)))]]
    return toks


def _move_word(toks: list[str], rng: np.random.Generator) -> list[str]:
    if len(toks) < 3:
        return _stutter(toks, rng)
    word = toks.pop(int(rng.integers(len(toks))))
    toks.insert(int(rng.integers(len(toks) + 1)), word)
    return toks


def _repeat_phrase(toks: list[str], rng: np.random.Generator) -> list[str]:
    if len(toks) < 2:
        return _stutter(toks, rng)
    i = int(rng.integers(len(toks) - 1))
    return toks[:i + 2] + toks[i:i + 2] + toks[i + 2:]


def _split_word(toks: list[str], rng: np.random.Generator) -> list[str]:
    spots = [i for i, t in enumerate(toks) if len(t) >= 6]
    if not spots:
        return _sound_alike(toks, rng)
    i = spots[int(rng.integers(len(spots)))]
    cut = int(rng.integers(2, len(toks[i]) - 2))
    toks[i:i + 1] = [toks[i][:cut], toks[i][cut:]]
    return toks


CORRUPTIONS = (_truncate, _sound_alike, _filler, _stutter, _drop_or_swap, _wrong_form, _dangling,
               _drop_function_word, _move_word, _repeat_phrase, _split_word)


def corrupt(text: str, rng: np.random.Generator) -> str:
    """One or two random ASR-style corruptions of ``text``."""
    toks = words(text) or ["next"]
    for _ in range(1 + int(rng.random() < 0.4)):
        toks = CORRUPTIONS[int(rng.integers(len(CORRUPTIONS)))](list(toks), rng) or ["uh"]
    return " ".join(toks)


def training_texts(seed: int = 0) -> tuple[list[str], list[int]]:
    """(texts, labels) with 1 = fluent, balanced between the classes."""
    rng = np.random.default_rng(seed)
    pool = UtterancePool.load()
    disfluent = set(json.loads((SOURCES / "pool_disfluent_entries.json").read_text(encoding="utf-8")))
    task = load_tasks("train")[0]
    fill = lambda u: fill_slots(u, task.slot_values, rng) if has_slots(u) else u  # noqa: E731
    fluent = [fill(u) for _, u in pool.all_texts() if u not in disfluent]
    bad = [fill(u) for _, u in pool.all_texts() if u in disfluent]
    for t in load_tasks("train")[:300]:
        for step in t.methods[:3]:
            toks = words(step.split(".")[0])
            if 3 <= len(toks):
                fluent.append(" ".join(toks[: int(rng.integers(3, 14))]))
    knowledge = load_knowledge()
    prose = list(knowledge["definitions"].values()) + knowledge["fun_facts"]["cooking"] + knowledge["fun_facts"]["diy"]
    for sentence in prose:
        toks = words(sentence)
        if len(toks) >= 3:
            fluent.append(" ".join(toks[: int(rng.integers(3, 16))]))
    synthetic = [corrupt(fluent[int(rng.integers(len(fluent)))], rng) for _ in range(len(fluent) * 2)]
    texts = fluent + bad + synthetic
    labels = [1] * len(fluent) + [0] * (len(bad) + len(synthetic))
    return texts, labels


def evaluate(model: HashedLinearClassifier, path: Path = LABELLED) -> float:
    """AUROC of the model's fluent probability on the hand-labelled set."""
    from mtad_env.statistics import auroc

    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    probs = model.predict_proba([r["text"] for r in rows])[:, model.labels.index("fluent")]
    return auroc(probs, [int(r["fluent"]) for r in rows])


def train(seed: int = 0, out: Path = FLUENCY_MODEL_PATH) -> float:
    """Fit, save to ``out`` and return the held-out AUROC."""
    texts, labels = training_texts(seed)
    y = np.array(labels)
    weights = np.where(y == 1, 0.5 / y.mean(), 0.5 / (1 - y.mean()))
    model = HashedLinearClassifier(["disfluent", "fluent"], dim=1 << 16)
    model.fit(texts, [int(v) for v in y], l2=1e-6, sample_weight=weights)
    model.save(out)
    score = evaluate(HashedLinearClassifier.load(out))
    logger.info("fluency model: %d training texts, held-out AUROC %.3f", len(texts), score)
    return score


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO)
    print(json.dumps({"auroc": train(args.seed)}))  # noqa: T201 - the script's one line of output


if __name__ == "__main__":
    main()
