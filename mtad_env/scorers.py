"""Per-utterance scorers for the utterance-level traits, behind one interface.

Defaults are offline: word counts for verbosity, VADER for emotion, and our shipped hashed-n-gram fluency
classifier for fluency. The paper's models (a RoBERTa sentiment model, a CoLA BERT) plug in through
:class:`HFClassifierScorer` from a local Hugging Face directory, loaded only when first called.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from mtad_env.errors import InvalidValueError
from mtad_env.metrics import words

logger = logging.getLogger(__name__)
DATA_DIR = Path(__file__).parent / "data"
FLUENCY_MODEL_PATH = DATA_DIR / "fluency_model.npz"


@runtime_checkable
class Scorer(Protocol):
    """Scores utterances; ``name`` identifies it in caches (change it when the scores change)."""

    name: str

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        """One float per text."""
        ...


class WordCountScorer:
    """Verbosity: number of words."""

    name = "words-v1"

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        return np.array([len(words(t)) for t in texts], dtype=np.float64)


class VaderSentimentScorer:
    """Emotion: VADER's compound sentiment mapped from [-1, 1] to [0, 1] (0.5 is neutral)."""

    name = "vader-v1"

    def __init__(self) -> None:
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

        self._analyzer = SentimentIntensityAnalyzer()

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        return np.array([(self._analyzer.polarity_scores(t)["compound"] + 1) / 2 for t in texts])


class FluencyModelScorer:
    """Fluency: probability of the "fluent" class under the shipped hashed-n-gram classifier."""

    def __init__(self, path: str | Path = FLUENCY_MODEL_PATH) -> None:
        from mtad_env.text_classifier import HashedLinearClassifier

        path = Path(path)
        if not path.exists():
            msg = f"fluency model file {str(path)!r} not found; rebuild it with `python -m training.fluency`"
            raise InvalidValueError(msg)
        self._model = HashedLinearClassifier.load(path)
        self._fluent = self._model.labels.index("fluent")
        self.name = f"fluency-hashed:{hashlib.sha256(path.read_bytes()).hexdigest()[:16]}"

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros(0)
        return self._model.predict_proba(list(texts))[:, self._fluent].astype(np.float64)


class HFClassifierScorer:
    """A local Hugging Face sequence classifier, scored as the expected label value in [0, 1].

    Args:
        path: a local directory with a tokenizer and ``AutoModelForSequenceClassification`` weights.
        label_values: label name -> value in [0, 1]; inferred when None: sentiment labels
            (negative 0, neutral 0.5, positive 1), else the probability of the last label (CoLA: acceptable).
        batch_size: texts per forward pass.
    """

    def __init__(self, path: str | Path, label_values: Mapping[str, float] | None = None,
                 batch_size: int = 64) -> None:
        self.path = Path(path)
        if not self.path.is_dir():
            msg = f"scorer model directory {str(self.path)!r} does not exist; give a local Hugging Face model folder"
            raise InvalidValueError(msg)
        self.name = f"hf:{self.path.resolve()}"
        self._label_values = dict(label_values) if label_values else None
        self._batch_size = batch_size
        self._model = None
        self._tokenizer = None
        self._values: np.ndarray | None = None

    def _load(self) -> None:
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        self._tokenizer = AutoTokenizer.from_pretrained(self.path)
        self._model = AutoModelForSequenceClassification.from_pretrained(self.path).eval()
        id2label = {int(k): str(v).lower() for k, v in self._model.config.id2label.items()}
        n = len(id2label)
        if self._label_values:
            lowered = {k.lower(): v for k, v in self._label_values.items()}
            self._values = np.array([lowered.get(id2label[i], 0.0) for i in range(n)])
        elif {"negative", "positive"} <= set(id2label.values()):
            sentiment = {"negative": 0.0, "neutral": 0.5, "positive": 1.0}
            self._values = np.array([sentiment.get(id2label[i], 0.5) for i in range(n)])
        else:
            self._values = np.eye(n)[n - 1]

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        import torch

        if self._model is None:
            self._load()
        out = []
        for i in range(0, len(texts), self._batch_size):
            batch = self._tokenizer(list(texts[i:i + self._batch_size]), padding=True, truncation=True,
                                    return_tensors="pt")
            with torch.no_grad():
                probs = self._model(**batch).logits.softmax(-1).numpy()
            out.append(probs @ self._values)
        return np.concatenate(out) if out else np.zeros(0)


class CachedScorer:
    """Memoises another scorer text by text (dialogue generation scores the same utterances many times)."""

    def __init__(self, scorer: Scorer, max_entries: int = 200_000) -> None:
        self.inner = scorer
        self.name = scorer.name
        self._cache: dict[str, float] = {}
        self._max = max_entries

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        missing = list(dict.fromkeys(t for t in texts if t not in self._cache))
        if missing:
            if len(self._cache) + len(missing) > self._max:
                self._cache.clear()
            self._cache.update(zip(missing, (float(v) for v in self.inner(missing))))
        return np.array([self._cache[t] for t in texts], dtype=np.float64)

    def preload(self, scores: Mapping[str, float]) -> None:
        """Add known scores (for example a pool's cached scores) without calling the scorer."""
        self._cache.update(scores)


def make_scorer(spec: str | Scorer) -> Scorer:
    """Build a scorer from ``"words"``, ``"vader"``, ``"fluency"``, ``"hf:PATH"``, or return a Scorer as is."""
    if not isinstance(spec, str):
        return spec
    builders = {"words": WordCountScorer, "vader": VaderSentimentScorer, "fluency": FluencyModelScorer}
    if spec in builders:
        return builders[spec]()
    if spec.startswith("hf:"):
        return HFClassifierScorer(spec[3:])
    msg = f"unknown scorer {spec!r}; valid: {', '.join(builders)}, hf:PATH (a local Hugging Face classifier)"
    raise InvalidValueError(msg)
