"""User profiles: a set of (trait, intensity) pairs, neutral traits omitted; Regular has none.

Accepted forms: a canonical string (``"engagement=high,verbosity=low"``, ``"regular"``), the paper's adjectives
(``"Patient"``, ``"Verbose & Negative"``), a dict (``{"engagement": "high"}``), a :class:`Profile`.
The canonical string lists lowercase ``trait=level`` pairs in trait-registry order.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from mtad_env.errors import InvalidValueError, choices_message
from mtad_env.traits import INTENSITIES, get_trait, traits

ProfileLike = "str | Mapping[str, str] | Profile"
_SPLIT = re.compile(r"\s*(?:,|&|\+|;| and )\s*")
_ABBREVIATIONS = {"engag": "engagement", "coop": "cooperativeness", "expl": "exploration", "tol": "tolerance",
                  "verb": "verbosity", "emo": "emotion", "flu": "fluency", "rep": "repetition"}


@dataclass(frozen=True)
class Profile:
    """An immutable user profile.

    Example:
        >>> str(Profile.parse("Verbose & Impatient"))
        'engagement=low,verbosity=high'
        >>> Profile.parse({"fluency": "low"}).intensity("fluency")
        'low'
    """

    pairs: tuple[tuple[str, str], ...] = ()

    @classmethod
    def parse(cls, value: str | Mapping[str, str] | Profile) -> Profile:
        """Parse any accepted form; raises :class:`InvalidValueError` naming the bad part and the valid ones."""
        if isinstance(value, Profile):
            return value
        if isinstance(value, Mapping):
            return cls._from_pairs(value.items())
        if not isinstance(value, str):
            raise InvalidValueError(f"profile must be a str, dict or Profile, not {type(value).__name__}")
        parts = [p for p in _SPLIT.split(value.strip()) if p]
        pairs: list[tuple[str, str]] = []
        for part in parts:
            pairs.extend(_parse_part(part))
        return cls._from_pairs(pairs)

    @classmethod
    def _from_pairs(cls, pairs) -> Profile:
        known = traits()
        seen: dict[str, str] = {}
        for name, intensity in pairs:
            name, intensity = _expand(str(name).strip().lower()), str(intensity).strip().lower()
            get_trait(name)
            if intensity not in INTENSITIES:
                raise InvalidValueError(choices_message(f"intensity for trait {name!r}", intensity, INTENSITIES))
            if name in seen and seen[name] != intensity:
                raise InvalidValueError(f"trait {name!r} given twice ({seen[name]} and {intensity}) in one profile")
            seen[name] = intensity
        ordered = tuple((n, seen[n]) for n in known if seen.get(n, "neutral") != "neutral")
        return cls(ordered)

    def intensity(self, trait: str) -> str:
        """The intensity of ``trait`` in this profile (``"neutral"`` when absent)."""
        return dict(self.pairs).get(trait, "neutral")

    @property
    def is_regular(self) -> bool:
        """True when every trait is neutral."""
        return not self.pairs

    def traits_at(self, level: str) -> tuple[str, ...]:
        """Names of the non-neutral traits of the given level."""
        return tuple(n for n, _ in self.pairs if get_trait(n).level == level)

    def as_dict(self) -> dict[str, str]:
        """``{trait: intensity}`` for the non-neutral traits."""
        return dict(self.pairs)

    def __str__(self) -> str:
        return ",".join(f"{n}={i}" for n, i in self.pairs) or "regular"


def _expand(name: str) -> str:
    return _ABBREVIATIONS.get(name, name)


def _alias_table() -> dict[str, tuple[str, str]]:
    table: dict[str, tuple[str, str]] = {}
    for trait in traits().values():
        low, high = trait.aliases
        if low:
            table[low.lower()] = (trait.name, "low")
        if high:
            table[high.lower()] = (trait.name, "high")
    return table


def _parse_part(part: str) -> list[tuple[str, str]]:
    if part.lower() == "regular":
        return []
    if "=" in part:
        name, _, intensity = part.partition("=")
        return [(name, intensity)]
    aliases = _alias_table()
    key = part.lower().replace(" ", "").replace("-", "")
    if key in aliases:
        return [aliases[key]]
    valid = ["regular", "TRAIT=low|neutral|high"] + [a for t in traits().values() for a in t.aliases if a]
    raise InvalidValueError(choices_message("profile part", part, valid))


def single_trait_profiles() -> list[Profile]:
    """Regular plus every registered trait at low and high (17 for the built-in traits)."""
    out = [Profile()]
    for name in traits():
        out += [Profile(((name, "low"),)), Profile(((name, "high"),))]
    return out


TABLE15_PROFILES: tuple[str, ...] = (
    "engagement=high,verbosity=high", "engagement=low,verbosity=high", "exploration=high,engagement=low",
    "exploration=high,cooperativeness=high", "fluency=high,repetition=high", "emotion=high,verbosity=high",
    "exploration=high,verbosity=low", "cooperativeness=low,fluency=low",
    "engagement=low,emotion=low,verbosity=low", "cooperativeness=high,fluency=high,repetition=high",
    "engagement=high,exploration=high,verbosity=high", "engagement=low,exploration=low,verbosity=low",
    "engagement=high,exploration=high,emotion=high,fluency=high",
    "engagement=high,cooperativeness=low,emotion=low,fluency=low",
)


def multi_trait_profiles() -> list[Profile]:
    """The 14 multi-trait profiles of the paper's Table 15."""
    return [Profile.parse(p) for p in TABLE15_PROFILES]


def profile_set(spec: str) -> list[Profile]:
    """``single`` (17), ``multi`` (14), ``all`` (both) or ``P;P;...`` explicit profiles."""
    if spec == "single":
        return single_trait_profiles()
    if spec == "multi":
        return multi_trait_profiles()
    if spec == "all":
        return single_trait_profiles() + multi_trait_profiles()
    return list(dict.fromkeys(Profile.parse(p) for p in spec.split(";") if p.strip()))


class ProfileSampler:
    """Draws an episode's profile: from a list (uniform or weighted), or as a random k-trait combination.

    Args:
        profiles: candidate profiles (any accepted form); default: the 17 single-trait profiles.
        weights: non-negative sampling weights, one per profile.
        k: if given, ignore ``profiles`` and draw ``k`` distinct traits, each at low or high.

    Example:
        >>> import numpy as np
        >>> str(ProfileSampler(["Verbose", "Concise"], weights=[1, 0]).sample(np.random.default_rng(0)))
        'verbosity=high'
    """

    def __init__(self, profiles=None, weights=None, k: int | None = None) -> None:
        import numpy as np

        self.k = k
        if k is not None and not 1 <= k <= len(traits()):
            raise InvalidValueError(f"k={k} must be between 1 and the number of traits ({len(traits())})")
        self.profiles = [Profile.parse(p) for p in profiles] if profiles is not None else single_trait_profiles()
        if not self.profiles:
            raise InvalidValueError("profile sampler needs at least one profile")
        if weights is None:
            self.p = np.full(len(self.profiles), 1.0 / len(self.profiles))
        else:
            w = np.asarray(weights, dtype=np.float64)
            if w.shape != (len(self.profiles),) or not np.all(np.isfinite(w)) or (w < 0).any() or w.sum() == 0:
                msg = (f"profile weights {list(weights)!r} must be {len(self.profiles)} finite non-negative "
                       "numbers, not all zero")
                raise InvalidValueError(msg)
            self.p = w / w.sum()

    def sample(self, rng) -> Profile:
        """One profile drawn with ``rng`` (a numpy Generator)."""
        if self.k is not None:
            names = list(traits())
            chosen = rng.choice(len(names), size=self.k, replace=False)
            return Profile.parse({names[i]: ("low", "high")[int(rng.integers(2))] for i in sorted(chosen)})
        return self.profiles[int(rng.choice(len(self.profiles), p=self.p))]
