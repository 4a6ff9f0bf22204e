"""A small linear text classifier on hashed n-gram features: the shipped fluency scorer and intent NLU.

Why our own and not scikit-learn: the runtime needs only ``predict_proba`` on short utterances, which is a sparse
dot product over a few dozen hashed features; numpy/scipy (already dependencies) cover that and the L-BFGS fit, and
the weights ship as one ``.npz`` (no pickle). Feature hashing uses CRC32, which is stable across processes, unlike
Python's salted ``hash``.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from mtad_env.metrics import words

_FILLERS = frozenset({"uh", "uhh", "uhm", "um", "umm", "hmm", "er", "erm", "ah", "eh", "mm"})
# Function words stay themselves in the "shape" sequence; content words become W. Trigrams of that sequence are
# a crude grammar signal (word order, dangling or missing function words) that generalises across vocabulary.
_FUNCTION = frozenset(
    "a an the this that these those it its i me my you your we us our he she they them what which who how when "
    "where why is are was were be been am do does did have has had can could should would will shall may might "
    "must to of in on at for with by from up down out off over into about as and or but if so not no yes please "
    "there here than then too very just again next back more much many some any all one step".split())


def text_features(text: str) -> list[str]:
    """Feature strings of one utterance: word uni/bigrams, character 2-4-grams, and shape features."""
    toks = words(text)
    padded = ["<s>", *toks, "</s>"]
    feats = [f"w:{t}" for t in toks]
    feats += [f"b:{a}_{b}" for a, b in zip(padded, padded[1:])]
    for tok in toks:
        chars = f" {tok} "
        feats += [f"c{n}:{chars[i:i + n]}" for n in (2, 3, 4) for i in range(len(chars) - n + 1)]
    shape = ["<s>", *(t if t in _FUNCTION else "W" for t in toks), "</s>"]
    feats += [f"p:{a}_{b}_{c}" for a, b, c in zip(shape, shape[1:], shape[2:])]
    feats.append(f"len:{min(len(toks), 12)}")
    feats += ["short_tok" for t in toks if len(t) == 1 and t not in {"a", "i"}]
    feats += ["filler" for t in toks if t in _FILLERS]
    feats += ["dup" for a, b in zip(toks, toks[1:]) if a == b]
    return feats


def hashed(text: str, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """Unique hashed feature indices of ``text`` and their L2-normalised counts."""
    idx, counts = np.unique(np.array([zlib.crc32(f.encode("utf-8")) % dim for f in text_features(text)],
                                     dtype=np.int64), return_counts=True)
    vals = counts.astype(np.float64)
    norm = np.sqrt((vals * vals).sum())
    return idx, vals / norm if norm else vals


def featurize(texts: Sequence[str], dim: int):
    """Hash the features of ``texts`` into a ``(len(texts), dim)`` L2-normalised scipy CSR matrix (training)."""
    import scipy.sparse

    parts = [hashed(t, dim) for t in texts]
    indptr = np.cumsum([0] + [len(i) for i, _ in parts])
    indices = np.concatenate([i for i, _ in parts]) if parts else np.zeros(0, dtype=np.int64)
    data = np.concatenate([v for _, v in parts]) if parts else np.zeros(0)
    return scipy.sparse.csr_matrix((data, indices, indptr), shape=(len(texts), dim))


class HashedLinearClassifier:
    """Multinomial logistic regression over hashed text features.

    Example:
        >>> clf = HashedLinearClassifier(["neg", "pos"], dim=4096).fit(["bad", "good"], [0, 1])
        >>> clf.predict(["good"])
        ['pos']
    """

    def __init__(self, labels: Sequence[str], dim: int = 1 << 16) -> None:
        self.labels = list(labels)
        self.dim = dim
        self.weights = np.zeros((dim, len(self.labels)), dtype=np.float32)
        self.bias = np.zeros(len(self.labels), dtype=np.float32)

    def fit(self, texts: Sequence[str], y: Sequence[int], l2: float = 1e-4, max_iter: int = 300,
            sample_weight: Sequence[float] | None = None) -> HashedLinearClassifier:
        """Fit by L-BFGS on the mean weighted cross-entropy plus ``l2`` times the squared weights."""
        import scipy.optimize  # training only: keeps the runtime import light

        x = featurize(texts, self.dim)
        k = len(self.labels)
        onehot = np.eye(k)[np.asarray(y)]
        sw = np.ones(len(texts)) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
        sw = sw / sw.sum()

        def loss_grad(theta: np.ndarray) -> tuple[float, np.ndarray]:
            w, b = theta[:-k].reshape(self.dim, k), theta[-k:]
            logits = x @ w + b
            logits -= logits.max(axis=1, keepdims=True)
            logp = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
            loss = -(sw * (onehot * logp).sum(axis=1)).sum() + l2 * (w * w).sum()
            delta = (np.exp(logp) - onehot) * sw[:, None]
            grad_w = np.asarray(x.T @ delta) + 2 * l2 * w
            return loss, np.concatenate([grad_w.ravel(), delta.sum(axis=0)])

        theta0 = np.zeros(self.dim * k + k)
        res = scipy.optimize.minimize(loss_grad, theta0, jac=True, method="L-BFGS-B",
                                      options={"maxiter": max_iter})
        self.weights = res.x[:-k].reshape(self.dim, k).astype(np.float32)
        self.bias = res.x[-k:].astype(np.float32)
        return self

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Class probabilities, shape ``(len(texts), n_labels)`` (a row gather per text: no dense copies)."""
        logits = np.empty((len(texts), len(self.labels)))
        for row, text in enumerate(texts):
            idx, vals = hashed(text, self.dim)
            logits[row] = vals @ self.weights[idx] + self.bias
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        return p / p.sum(axis=1, keepdims=True)

    def predict(self, texts: Sequence[str]) -> list[str]:
        """The most likely label of each text."""
        return [self.labels[i] for i in self.predict_proba(texts).argmax(axis=1)]

    def save(self, path: str | Path) -> None:
        """Write the model as a compressed ``.npz`` (float16 weights; no pickle)."""
        np.savez_compressed(path, weights=self.weights.astype(np.float16), bias=self.bias,
                            labels=np.array(self.labels), dim=np.array(self.dim))

    @classmethod
    def load(cls, path: str | Path) -> HashedLinearClassifier:
        """Read a model written by :meth:`save`."""
        with np.load(path, allow_pickle=False) as z:
            model = cls([str(s) for s in z["labels"]], int(z["dim"]))
            model.weights = z["weights"].astype(np.float32)
            model.bias = z["bias"].astype(np.float32)
        return model
