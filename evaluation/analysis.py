"""The paper's simulator evaluation (§5.1, §6): metric distributions, distances to a reference, trends, rates.

For every profile of the evaluated dialogues and every registered trait: the distribution of the identifying
metric, its mean with a bootstrap interval, and its distance to the same profile's reference dialogues, Wasserstein
for discrete traits (turns, words) and Kolmogorov-Smirnov otherwise (Tables 2 and 4), with a bootstrap interval.
Then the trend check Low < Regular < High per trait (Table 3), the degeneration and uniqueness rates (Table 5), and
how the users talk (:mod:`evaluation.language_quality`), per profile and over every dialogue.

Every bootstrap draws from its own generator seeded by ``(seed, profile, trait)``, so a result does not depend on
which other profiles were evaluated.

Example:
    >>> distance_kind("engagement"), distance_kind("emotion")
    ('wasserstein', 'ks')
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from evaluation.bootstrap import bootstrap_distance_ci, bootstrap_mean_ci
from evaluation.dialogues import (Dialogue, ReferenceCorpus, group_by_profile, is_degenerate, metric_values,
                                  normalise, user_utterances)
from evaluation.language_quality import build_vocabulary, language_quality, language_quality_by_group
from mtad_env.statistics import ks_distance, wasserstein
from evaluation.sweeps import find_sweeps
from mtad_env.profiles import Profile
from mtad_env.traits import get_trait, traits

logger = logging.getLogger(__name__)
TREND_LEVELS: tuple[str, ...] = ("low", "regular", "high")


@dataclass(frozen=True)
class EvaluationConfig:
    """How the bootstrap intervals are drawn."""

    seed: int = 0  # root seed of every bootstrap generator
    n_resamples: int = 1000  # bootstrap resamples per interval
    level: float = 0.95  # coverage of the intervals


@dataclass
class Evaluation:
    """The result of :func:`evaluate`.

    Attributes:
        summary: the JSON-ready results (``evaluate --json``): ``profiles`` (each with its ``language``
            figures), ``trends``, ``degeneration_rate``, ``uniqueness_rate``, ``language``, ``n_dialogues``.
        samples: profile -> trait -> (evaluated values, reference values), for plots.
    """

    summary: dict[str, Any]
    samples: dict[str, dict[str, tuple[list[float], list[float]]]] = field(default_factory=dict)


def distance_kind(trait: str) -> str:
    """``"wasserstein"`` for a discrete trait (``Trait.discrete``), else ``"ks"``."""
    return "wasserstein" if get_trait(trait).discrete else "ks"


def trait_distance(trait: str, values: Sequence[float], reference: Sequence[float]) -> float | None:
    """Distance between two samples of ``trait``'s metric with the trait's distance; None if either is empty."""
    if len(values) == 0 or len(reference) == 0:
        return None
    distance = wasserstein if distance_kind(trait) == "wasserstein" else ks_distance
    return distance(values, reference)


def _seed(config: EvaluationConfig, *keys: str) -> list[int]:
    return [config.seed, *(zlib.crc32(k.encode("utf-8")) for k in keys)]


def _mean(values: Sequence[float]) -> float | None:
    return float(np.mean(values)) if len(values) else None


def _interval(pair: tuple[float | None, float | None]) -> list[float] | None:
    return None if pair[0] is None else [pair[0], pair[1]]


def compare_trait(profile: str, trait: str, values: Sequence[float], reference: Sequence[float],
                  config: EvaluationConfig) -> dict[str, Any]:
    """Mean, interval, reference mean and distance (with interval) of one trait of one profile."""
    seed = _seed(config, profile, trait)
    kind = distance_kind(trait)
    return {
        "mean": _mean(values),
        "ci": _interval(bootstrap_mean_ci(values, config.n_resamples, seed, config.level)),
        "n": len(values),
        "ref_mean": _mean(reference),
        "ref_n": len(reference),
        "distance": trait_distance(trait, values, reference),
        "distance_ci": _interval(bootstrap_distance_ci(values, reference, kind, config.n_resamples,
                                                       seed + [1], config.level)),
        "distance_kind": kind,
    }


def evaluate_profile(profile: str, dialogues: Sequence[Dialogue], reference: ReferenceCorpus,
                     config: EvaluationConfig) -> tuple[dict[str, Any], dict[str, tuple[list[float], list[float]]]]:
    """One profile's entry of the summary and its (evaluated, reference) samples per trait."""
    split, ref_dialogues = reference.dialogues(profile)
    if split is None:
        logger.warning("the reference corpus has no dialogue of profile %s; its distances are null", profile)
    entry: dict[str, Any] = {"n": len(dialogues), "reference_split": split, "reference_n": len(ref_dialogues),
                             "distance": {}, "distance_ci": {}, "distance_kind": {}, "metrics": {}}
    samples: dict[str, tuple[list[float], list[float]]] = {}
    for trait in traits():
        values, ref_values = metric_values(dialogues, trait), metric_values(ref_dialogues, trait)
        result = compare_trait(profile, trait, values, ref_values, config)
        for key in ("distance", "distance_ci", "distance_kind"):
            entry[key][trait] = result.pop(key)
        entry["metrics"][trait] = result
        samples[trait] = (values, ref_values)
    return entry, samples


def trend_profiles(trait: str) -> dict[str, str]:
    """Canonical profile of each trend level of ``trait``: ``{"low": "T=low", "regular": ..., "high": ...}``."""
    return {"low": str(Profile(((trait, "low"),))), "regular": "regular", "high": str(Profile(((trait, "high"),)))}


def _increasing(means: Sequence[float | None]) -> bool | None:
    if any(m is None for m in means):
        return None
    return all(a < b for a, b in zip(means, means[1:]))


def trend_check(profiles: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per trait whose low, regular and high profiles were all evaluated: is mean(low) < mean(regular) < mean(high)?

    Args:
        profiles: the ``profiles`` part of a summary (profile -> entry with ``metrics``).

    Returns:
        trait -> ``{"low", "regular", "high"}`` means, ``holds`` (bool, None where a mean is undefined), and the
        same for the reference means (``reference``, ``reference_holds``).
    """
    out: dict[str, dict[str, Any]] = {}
    for trait in traits():
        names = trend_profiles(trait)
        if not all(p in profiles for p in names.values()):
            continue
        stats = {level: profiles[p]["metrics"][trait] for level, p in names.items()}
        means = {level: stats[level]["mean"] for level in TREND_LEVELS}
        ref = {level: stats[level]["ref_mean"] for level in TREND_LEVELS}
        out[trait] = {**means, "holds": _increasing(list(means.values())), "reference": ref,
                      "reference_holds": _increasing(list(ref.values()))}
    return out


def degeneration_rate(dialogues: Iterable[Dialogue]) -> float:
    """Share of user turns that are degenerate (intent ``"<degenerate>"`` or unknown) over all user turns."""
    flags = [is_degenerate(t) for d in dialogues for t in d.turns]
    return sum(flags) / len(flags) if flags else 0.0


def uniqueness_rate(utterances: Sequence[str], train: set[str] | None) -> float | None:
    """Share of ``utterances`` not found (after :func:`normalise`) among the training utterances ``train``.

    Returns None when there is no training set to compare with or no utterance to judge.
    """
    if train is None or not utterances:
        return None
    return sum(normalise(u) not in train for u in utterances) / len(utterances)


def evaluate(dialogues: Sequence[Dialogue], reference: ReferenceCorpus,
             config: EvaluationConfig = EvaluationConfig()) -> Evaluation:
    """Evaluate ``dialogues`` against a reference corpus: per-profile distributions and distances, trends, rates.

    Example:
        >>> from evaluation.dialogues import ReferenceCorpus, load_logs  # doctest: +SKIP
        >>> result = evaluate(load_logs(["episodes.jsonl"]), ReferenceCorpus("corpus"))  # doctest: +SKIP
        >>> result.summary["profiles"]["regular"]["distance"]["engagement"]  # doctest: +SKIP
        0.41
    """
    profiles: dict[str, Any] = {}
    samples: dict[str, dict[str, tuple[list[float], list[float]]]] = {}
    groups = group_by_profile(dialogues)
    for profile, group in tqdm(groups.items(), desc="profiles", disable=len(groups) < 5, leave=False):
        profiles[profile], samples[profile] = evaluate_profile(profile, group, reference, config)
    vocabulary = build_vocabulary()
    for profile, figures in language_quality_by_group(dialogues, vocabulary).items():
        profiles[profile]["language"] = figures
    summary = {
        "profiles": profiles,
        "trends": trend_check(profiles),
        "degeneration_rate": degeneration_rate(dialogues),
        "uniqueness_rate": uniqueness_rate(user_utterances(dialogues), reference.train_utterances()),
        "language": language_quality(dialogues, vocabulary),
        "n_dialogues": len(dialogues),
        "sweeps": find_sweeps(dialogues, config.n_resamples, config.seed),
        "reference": {"folder": str(reference.folder), "split": reference.split},
        "bootstrap": {"seed": config.seed, "n_resamples": config.n_resamples, "level": config.level},
    }
    return Evaluation(summary, samples)
