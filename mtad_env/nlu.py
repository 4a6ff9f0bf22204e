"""The built-in intent classifier (NLU) that tells the assistant what the user probably wants.

A hashed-n-gram multinomial logistic regression trained on the utterance pool (``python -m training.nlu``),
shipped as ``mtad_env/data/nlu_model.npz``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mtad_env.domain import DATA_DIR
from mtad_env.errors import InvalidValueError
from mtad_env.intents import INTENTS
from mtad_env.text_classifier import HashedLinearClassifier

NLU_MODEL_PATH = DATA_DIR / "nlu_model.npz"


class IntentClassifier:
    """Predicts one of the 16 intents from an utterance, with its probability."""

    def __init__(self, path: str | Path = NLU_MODEL_PATH, cache_size: int = 50_000) -> None:
        path = Path(path)
        if not path.exists():
            raise InvalidValueError(f"NLU model {str(path)!r} not found; rebuild it with `python -m training.nlu`")
        self._model = HashedLinearClassifier.load(path)
        self._order = np.array([INTENTS.index(label) for label in self._model.labels])
        self._cache: dict[str, tuple[int, float]] = {}
        self._cache_size = cache_size

    def predict(self, text: str) -> tuple[int, float]:
        """``(intent index, probability)`` for ``text``."""
        hit = self._cache.get(text)
        if hit is None:
            probs = self._model.predict_proba([text])[0]
            best = int(probs.argmax())
            hit = (int(self._order[best]), float(probs[best]))
            if len(self._cache) >= self._cache_size:
                self._cache.clear()
            self._cache[text] = hit
        return hit

    def predict_name(self, text: str) -> str:
        """The most likely intent name."""
        return INTENTS[self.predict(text)[0]]
