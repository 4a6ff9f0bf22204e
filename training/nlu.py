"""Train the shipped intent classifier on the utterance pool (slots filled from training tasks).

``python -m training.nlu`` rewrites ``mtad_env/data/nlu_model.npz`` and prints the accuracy on a held-out fifth
of the pool's entries.
"""

from __future__ import annotations

import argparse
import json
import logging

import numpy as np

from mtad_env.domain import UtterancePool, fill_slots, has_slots, load_tasks
from mtad_env.intents import INTENTS
from mtad_env.nlu import NLU_MODEL_PATH
from mtad_env.text_classifier import HashedLinearClassifier

logger = logging.getLogger(__name__)


def examples(seed: int = 0, fills: int = 3) -> tuple[list[str], list[int], list[bool]]:
    """(texts, intent indices, is-held-out) from the pool; templates are filled ``fills`` times."""
    rng = np.random.default_rng(seed)
    tasks = load_tasks("train")
    texts, labels, held = [], [], []
    for intent, utterance in UtterancePool.load().all_texts():
        heldout = bool(rng.random() < 0.2)
        for _ in range(fills if has_slots(utterance) else 1):
            task = tasks[int(rng.integers(len(tasks)))]
            texts.append(fill_slots(utterance, task.slot_values, rng) if has_slots(utterance) else utterance)
            labels.append(INTENTS.index(intent))
            held.append(heldout)
    return texts, labels, held


def train(seed: int = 0) -> dict[str, float]:
    """Fit on four fifths, report held-out accuracy, then refit on everything and save."""
    texts, labels, held = examples(seed)
    idx_train = [i for i, h in enumerate(held) if not h]
    idx_test = [i for i, h in enumerate(held) if h]
    model = HashedLinearClassifier(INTENTS, dim=1 << 16)
    model.fit([texts[i] for i in idx_train], [labels[i] for i in idx_train], l2=1e-5)
    pred = model.predict_proba([texts[i] for i in idx_test]).argmax(axis=1)
    accuracy = float(np.mean(pred == np.array([labels[i] for i in idx_test])))
    model.fit(texts, labels, l2=1e-5)
    model.save(NLU_MODEL_PATH)
    logger.info("NLU: %d examples, held-out accuracy %.3f", len(texts), accuracy)
    return {"heldout_accuracy": accuracy, "examples": len(texts)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO)
    print(json.dumps(train(args.seed)))  # noqa: T201 - the script's one line of output


if __name__ == "__main__":
    main()
