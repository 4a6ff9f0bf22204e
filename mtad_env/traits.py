"""Traits: the one registry that the agenda simulator, the environment, training and evaluation all read.

A trait has a name, a level (dialogue or utterance), an identifying metric (paper Table 7), the way the
agenda simulator applies it (Tables 9 and 10), the two adjectives the paper uses for its intensities, and, for LM
simulators, adapter paths per intensity. The eight built-in traits are registered at import; users add their own
with :func:`register_trait`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from mtad_env import metrics
from mtad_env.agenda_effects import (AgendaEffect, ErrorScaledStop, ExplorationShift, RepetitionChoice,
                                     TransitionScale, UtteranceThreshold)
from mtad_env.errors import InvalidValueError, unknown
from mtad_env.intents import ENGAGEMENT_INTENTS, NON_COOPERATIVE, NON_EXPLORATIVE, STOP_INTENTS
from mtad_env.metrics import MetricContext, Turn
from mtad_env.scorers import CachedScorer, Scorer, make_scorer

logger = logging.getLogger(__name__)

INTENSITIES: tuple[str, ...] = ("low", "neutral", "high")
LEVELS: tuple[str, ...] = ("dialogue", "utterance")
DialogueMetric = Callable[[Sequence[Turn], MetricContext], "float | None"]


@dataclass(frozen=True)
class Trait:
    """One user trait.

    Attributes:
        name: lowercase identifier used in profiles (``"verbosity"``).
        level: ``"dialogue"`` or ``"utterance"``.
        dialogue_metric: identifying metric of a whole dialogue; None where undefined.
        scorer: for utterance-level traits, the per-utterance scorer (a spec such as ``"vader"`` or a Scorer).
        agenda: how the agenda simulator applies the trait, or None (the trait is only measured there).
        aliases: the paper's adjectives for (low, high), e.g. ``("Concise", "Verbose")``.
        discrete: whether evaluation compares it with the Wasserstein distance (else Kolmogorov-Smirnov).
        adapters: intensity -> adapter directory for LM simulators, for traits added after a pack was built.
        description: one line for documentation.
    """

    name: str
    level: str
    dialogue_metric: DialogueMetric
    scorer: str | Scorer | None = None
    agenda: AgendaEffect | None = None
    aliases: tuple[str, str] = ("", "")
    discrete: bool = False
    adapters: Mapping[str, str] = field(default_factory=dict)
    description: str = ""


_REGISTRY: dict[str, Trait] = {}


def _utterance_mean(name: str) -> DialogueMetric:
    def metric(turns: Sequence[Turn], ctx: MetricContext) -> float | None:
        if not turns:
            return None
        score = ctx.score or default_score
        return metrics.utterance_mean(turns, score(name, [t["user"] for t in turns]))

    metric.__name__ = f"mean_{name}"
    return metric


def _exploration(turns: Sequence[Turn], ctx: MetricContext) -> float | None:
    from mtad_env.domain import reference_top_successors

    return metrics.exploration(turns, ctx.top_successors or reference_top_successors())


def _builtin_traits() -> list[Trait]:
    return [
        Trait("engagement", "dialogue", lambda t, c: metrics.engagement(t),
              agenda=TransitionScale(ENGAGEMENT_INTENTS, {"low": 2.0, "high": 0.5}),
              aliases=("Impatient", "Patient"), discrete=True, description="number of turns"),
        Trait("cooperativeness", "dialogue", lambda t, c: metrics.cooperativeness(t),
              agenda=TransitionScale(NON_COOPERATIVE, {"low": 2.0, "high": 0.5}),
              aliases=("UnCooperative", "Cooperative"), description="share of cooperative intents"),
        Trait("exploration", "dialogue", _exploration, agenda=ExplorationShift(NON_EXPLORATIVE, 0.2),
              aliases=("NonExplorative", "Explorative"), description="share of explorative intents"),
        # Low 10.0 and high 1.0: the paper, Table 9. Regular (and every profile without a tolerance intensity)
        # 3.0: Table 9 gives none, and the paper's public code uses 3.0, so that high tolerance differs from Regular
        # before the B.4 filter too.
        Trait("tolerance", "dialogue", lambda t, c: metrics.tolerance(t),
              agenda=ErrorScaledStop(STOP_INTENTS, {"low": 10.0, "neutral": 3.0, "high": 1.0}),
              aliases=("Intolerant", "Tolerant"), description="share of non-stop turns after system errors"),
        Trait("verbosity", "utterance", _utterance_mean("verbosity"), scorer="words", agenda=UtteranceThreshold(),
              aliases=("Concise", "Verbose"), discrete=True, description="mean words per utterance"),
        Trait("emotion", "utterance", _utterance_mean("emotion"), scorer="vader", agenda=UtteranceThreshold(),
              aliases=("Negative", "Positive"), description="mean sentiment, 0..1"),
        Trait("fluency", "utterance", _utterance_mean("fluency"), scorer="fluency", agenda=UtteranceThreshold(),
              aliases=("NonFluent", "Fluent"), description="mean fluency, 0..1"),
        Trait("repetition", "utterance", lambda t, c: metrics.repetition(t), agenda=RepetitionChoice(),
              aliases=("NonRepetitive", "Repetitive"), description="mean word overlap with the previous utterance"),
    ]


BUILTIN_TRAIT_NAMES: tuple[str, ...] = tuple(t.name for t in _builtin_traits())
for _t in _builtin_traits():
    _REGISTRY[_t.name] = _t


def traits() -> dict[str, Trait]:
    """All registered traits, in canonical order (the built-in eight first)."""
    return dict(_REGISTRY)


def get_trait(name: str) -> Trait:
    """The trait called ``name``; raises naming the valid traits otherwise."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise unknown("trait", name, _REGISTRY) from None


def register_trait(name: str, level: str, metric: Callable, adapters: Mapping[str, str] | None = None,
                   agenda: AgendaEffect | None = None, aliases: tuple[str, str] = ("", ""),
                   discrete: bool = False, description: str = "", replace: bool = False) -> Trait:
    """Register a new trait so that profiles, ``make``, simulation, metrics and evaluation know it.

    Args:
        name: lowercase identifier, letters, digits and underscores.
        level: ``"dialogue"`` (``metric(turns) -> float | None``) or ``"utterance"`` (``metric`` scores a list of
            utterances, or one utterance, in [0, 1] or words; the dialogue metric is the mean).
        metric: see ``level``.
        adapters: ``{"low": path, "high": path}`` LoRA adapters for LM simulators.
        agenda: how the agenda simulator applies the trait; utterance-level traits default to the Table 10
            threshold on ``metric``.
        aliases: adjectives for (low, high) accepted in profile strings.
        discrete: compare with the Wasserstein distance in evaluation (else Kolmogorov-Smirnov).
        description: one line for documentation.
        replace: allow replacing an existing registration.

    Example:
        >>> import mtad_env
        >>> t = mtad_env.register_trait("shouting", "utterance", lambda u: float(u.isupper()), replace=True)
        >>> str(mtad_env.Profile.parse("shouting=high"))
        'shouting=high'
        >>> mtad_env.unregister_trait("shouting")
    """
    if not name.isidentifier() or name != name.lower():
        raise InvalidValueError(f"trait name {name!r} must be a lowercase identifier such as 'politeness'")
    if level not in LEVELS:
        raise unknown("trait level", level, LEVELS)
    if name in _REGISTRY and not replace:
        raise InvalidValueError(f"trait {name!r} is already registered; pass replace=True to replace it")
    for intensity in adapters or {}:
        if intensity not in ("low", "high"):
            raise unknown("adapter intensity", intensity, ("low", "high"))
    if level == "utterance":
        trait = Trait(name, level, _utterance_mean(name), scorer=_as_scorer(name, metric),
                      agenda=agenda or UtteranceThreshold(), aliases=aliases, discrete=discrete,
                      adapters=dict(adapters or {}), description=description)
    else:
        trait = Trait(name, level, lambda turns, ctx: metric(turns), agenda=agenda, aliases=aliases,
                      discrete=discrete, adapters=dict(adapters or {}), description=description)
    _REGISTRY[name] = trait
    _scorer_for.cache_clear()
    logger.info("registered trait %s (%s level)", name, level)
    return trait


def unregister_trait(name: str) -> None:
    """Remove a trait added with :func:`register_trait` (built-in traits cannot be removed)."""
    if name in BUILTIN_TRAIT_NAMES:
        raise InvalidValueError(f"built-in trait {name!r} cannot be unregistered")
    get_trait(name)
    del _REGISTRY[name]
    _scorer_for.cache_clear()


class _CallableScorer:
    def __init__(self, name: str, fn: Callable) -> None:
        self.name = f"user:{name}"
        self._fn = fn

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        try:
            out = self._fn(list(texts))
            arr = np.asarray(out, dtype=np.float64)
            if arr.shape == (len(texts),):
                return arr
        except (TypeError, AttributeError, ValueError):
            pass
        return np.array([float(self._fn(t)) for t in texts])


def _as_scorer(name: str, metric: Callable | Scorer) -> Scorer:
    return metric if isinstance(metric, Scorer) else _CallableScorer(name, metric)


@lru_cache(maxsize=None)
def _scorer_for(name: str) -> CachedScorer:
    trait = get_trait(name)
    if trait.scorer is None:
        raise InvalidValueError(f"trait {name!r} is dialogue-level and has no utterance scorer")
    return CachedScorer(make_scorer(trait.scorer))


def default_score(name: str, texts: Sequence[str]) -> np.ndarray:
    """Score ``texts`` with trait ``name``'s registered scorer (memoised)."""
    return _scorer_for(name)(texts)


def scorer_for(name: str) -> CachedScorer:
    """The memoised scorer of utterance-level trait ``name``."""
    return _scorer_for(name)


def set_scorer(name: str, scorer: str | Scorer) -> None:
    """Replace trait ``name``'s utterance scorer, e.g. ``set_scorer("emotion", "hf:/models/roberta-sentiment")``."""
    trait = get_trait(name)
    if trait.level != "utterance":
        raise InvalidValueError(f"trait {name!r} is dialogue-level; only utterance-level traits have scorers")
    _REGISTRY[name] = Trait(**{**trait.__dict__, "scorer": scorer})
    _scorer_for.cache_clear()


def dialogue_metrics(turns: Sequence[Turn], ctx: MetricContext | None = None) -> dict[str, float | None]:
    """The identifying metric of every registered trait on one dialogue."""
    ctx = ctx or MetricContext()
    return {name: trait.dialogue_metric(turns, ctx) for name, trait in _REGISTRY.items()}
