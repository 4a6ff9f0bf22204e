"""Deterministic composer of realistic cooking recipes for the training split.

Recipes are assembled from *dish archetypes* (stir-fry, curry, risotto,
cookies, ...) described in ``domain_sources/composer_vocabulary.json``.  Each
archetype declares typed ingredient *slots*, an ordered skeleton of step
templates, title and description templates, and optional *profiles* (cuisine
variants that override slots, titles or variables).  All randomness comes from
a private ``random.Random(seed)``, so the same ``(n, seed)`` always yields the
same recipes.

Vocabulary grammar
------------------
* An option is ``"<qty>[|<qty>...] <unit> <name>[, <prep>[|<prep>...]]"`` or an
  object ``{"i": <option>, <attr>: <text>, ...}``.  ``|`` separates
  alternatives; ``(s)`` in the unit or name is pluralised unless the quantity
  is singular.  ``"@name"`` in a pool splices in the shared pool ``name``.
* A slot is a pool (list or ``"@name"``) or ``{"pool", "p", "n", "requires"}``:
  fill probability, ``[min, max]`` item count and a slot that must be filled.
* Template keys for a filled slot ``s``: ``{s}`` (name or joined names),
  ``{s_amt}`` (quantity and unit), ``{s_t}``/``{s_n}`` (title modifier/noun
  forms), ``{s_x}`` (empty presence marker) and ``{s_<attr>}``; multi-item
  slots also expose ``{s1}``, ``{s2}``, ... with the same suffixes.  Variables
  expose ``{v}`` and, for object values, ``{v_<key>}``.
* ``{list:a,b}`` joins the names of the filled slots ``a`` and ``b``;
  ``{alist:a,b}`` does the same with amounts.  ``[...]`` is an optional
  fragment, kept only when every key inside it resolves.

A step entry is a template, a list of alternative templates or
``{"t": ..., "p": ...}``.  Among the alternatives that resolve, the one using
the most slots wins (ties are broken at random), so every filled slot is
mentioned; an entry with no resolvable alternative is dropped.
"""

from __future__ import annotations

import json
import logging
import random
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar

__all__ = ["VOCABULARY_PATH", "compose_recipes", "ingredient_name", "load_vocabulary"]

_LOG = logging.getLogger(__name__)

VOCABULARY_PATH = Path(__file__).resolve().parent / "domain_sources" / "composer_vocabulary.json"

MIN_INGREDIENTS, MAX_INGREDIENTS = 5, 14
MIN_STEPS, MAX_STEPS = 3, 15
_ATTEMPTS_PER_RECIPE = 100
_SINGULAR_QUANTITIES = frozenset({"1", "1/2", "1/3", "1/4", "3/4"})
_KEY = re.compile(r"\{([^{}]+)\}")
_OPTIONAL = re.compile(r"\[([^\[\]]*)\]")

Context = dict[str, str]
Slots = dict[str, list["Ingredient"]]
_T = TypeVar("_T")


@dataclass(frozen=True)
class Ingredient:
    """One concrete ingredient line chosen for a recipe.

    Attributes:
        qty: Quantity token, e.g. ``"300"`` or ``"1/2"``.
        unit: Single-word unit, e.g. ``"g"``, ``"tbsp"`` or ``"medium"``.
        name: Ingredient name as used in the steps.
        prep: Optional preparation note, e.g. ``"finely chopped"``.
        attrs: Extra template attributes such as cooking times or cues.
    """

    qty: str
    unit: str
    name: str
    prep: str
    attrs: tuple[tuple[str, Any], ...]

    @property
    def amount(self) -> str:
        """Return the quantity and unit, e.g. ``"2 tbsp"``."""
        return f"{self.qty} {self.unit}"

    def line(self) -> str:
        """Return the rendered ingredient line ``"<qty> <unit> <name>[, <prep>]"``."""
        head = f"{self.amount} {self.name}"
        return f"{head}, {self.prep}" if self.prep else head


def ingredient_name(line: str) -> str:
    """Extract the ingredient name from a rendered ingredient line.

    Args:
        line: A line such as ``"300 g chicken breast, cut into strips"``.

    Returns:
        The name with the leading quantity and unit and any text after the
        first comma removed, e.g. ``"chicken breast"``.
    """
    return " ".join(line.split(",", 1)[0].split()[2:])


@lru_cache(maxsize=4)
def load_vocabulary(path: str | None = None) -> dict[str, Any]:
    """Load and cache the composer vocabulary.

    Args:
        path: Optional JSON path; defaults to :data:`VOCABULARY_PATH`.

    Returns:
        The parsed vocabulary. Callers must treat it as read-only.
    """
    with open(path or VOCABULARY_PATH, encoding="utf-8") as handle:
        vocabulary: dict[str, Any] = json.load(handle)
    return vocabulary


def _join(words: list[str]) -> str:
    """Join words as an English list: ``a``, ``a and b``, ``a, b and c``."""
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def _option_spec(option: str | dict[str, Any]) -> dict[str, Any]:
    """Normalise a pool option to its object form."""
    return option if isinstance(option, dict) else {"i": option}


def _base_name(option: str | dict[str, Any]) -> str:
    """Return an option's name with plural markers removed (for de-duplication)."""
    head = str(_option_spec(option)["i"]).split(", ", 1)[0]
    return head.split(" ", 2)[2].replace("(s)", "")


def _expand_pool(pool: str | list[Any], pools: dict[str, list[Any]]) -> list[Any]:
    """Resolve ``"@name"`` references in a pool into a flat option list."""
    items = [pool] if isinstance(pool, str) else pool
    out: list[Any] = []
    for option in items:
        if isinstance(option, str) and option.startswith("@"):
            out.extend(_expand_pool(pools[option[1:]], pools))
        else:
            out.append(option)
    return out


def _pick_ingredient(option: str | dict[str, Any], rng: random.Random) -> Ingredient:
    """Turn a pool option into a concrete :class:`Ingredient`."""
    spec = _option_spec(option)
    head, _, preps = spec["i"].partition(", ")
    qtys, unit, name = head.split(" ", 2)
    qty = rng.choice(qtys.split("|"))
    prep = rng.choice(preps.split("|")) if preps else ""
    suffix = "" if qty in _SINGULAR_QUANTITIES else "s"
    attrs = tuple((key, value) for key, value in spec.items() if key != "i")
    return Ingredient(qty, unit.replace("(s)", suffix), name.replace("(s)", suffix), prep, attrs)


def _fill_slots(
    slots: dict[str, Any], pools: dict[str, list[Any]], rng: random.Random
) -> Slots | None:
    """Choose ingredients for every slot; return ``None`` if a required slot cannot be filled."""
    filled: Slots = {}
    used: set[str] = set()
    for slot, raw in slots.items():
        spec = raw if isinstance(raw, dict) else {"pool": raw}
        chance = spec.get("p", 1.0)
        if spec.get("requires") and spec["requires"] not in filled:
            continue
        if chance < 1.0 and rng.random() >= chance:
            continue
        low, high = spec.get("n", [1, 1])
        count = rng.randint(low, high)
        options = [o for o in _expand_pool(spec["pool"], pools) if _base_name(o) not in used]
        if len(options) < count:
            if chance < 1.0:
                continue
            return None
        picks = rng.sample(options, count)
        used.update(_base_name(option) for option in picks)
        filled[slot] = [_pick_ingredient(option, rng) for option in picks]
    return filled


def _title_forms(item: Ingredient, names: dict[str, Any]) -> tuple[str, str]:
    """Return the (modifier, noun) title forms of an ingredient."""
    attrs = dict(item.attrs)
    forms = attrs.get("t", names.get(item.name))
    if forms is None:
        forms = " ".join(w[:1].upper() + w[1:] for w in item.name.split())
    return (forms, forms) if isinstance(forms, str) else (forms[0], forms[1])


def _item_keys(ctx: Context, prefix: str, item: Ingredient, names: dict[str, Any]) -> None:
    """Add the template keys describing one ingredient under ``prefix``."""
    ctx[prefix] = item.name
    ctx[f"{prefix}_amt"] = item.amount
    ctx[f"{prefix}_t"], ctx[f"{prefix}_n"] = _title_forms(item, names)
    ctx[f"{prefix}_x"] = ""
    for key, value in item.attrs:
        if key != "t":
            ctx[f"{prefix}_{key}"] = value


def _build_context(
    filled: Slots, variables: dict[str, Any], cuisine: str, names: dict[str, Any]
) -> Context:
    """Build the template context from filled slots and chosen variables."""
    ctx: Context = {"cuisine": cuisine}
    for var, value in variables.items():
        ctx[var] = value.get("name", "") if isinstance(value, dict) else value
        ctx[f"{var}_x"] = ""
        for key, text in value.items() if isinstance(value, dict) else ():
            ctx[f"{var}_{key}"] = text
    for slot, items in filled.items():
        _item_keys(ctx, slot, items[0], names)
        ctx[slot] = _join([item.name for item in items])
        for index, item in enumerate(items, 1):
            _item_keys(ctx, f"{slot}{index}", item, names)
    return ctx


def _resolve_key(key: str, ctx: Context, filled: Slots, used: set[str]) -> str | None:
    """Resolve one ``{...}`` key, recording the slots it uses; ``None`` if missing."""
    if key.startswith(("list:", "alist:")):
        kind, _, slots = key.partition(":")
        items = [(s, i) for s in slots.split(",") if s in filled for i in filled[s]]
        used.update(s for s, _ in items)
        words = [f"{i.amount} {i.name}" if kind == "alist" else i.name for _, i in items]
        return _join(words) if words else None
    if key not in ctx:
        return None
    used.add(key.split("_", 1)[0])
    return ctx[key]


def _fill_keys(text: str, ctx: Context, filled: Slots, used: set[str]) -> str | None:
    """Substitute every key in ``text``; ``None`` if one is missing.

    Two passes are made so that attribute values may themselves hold keys.
    """
    for _ in range(2):
        missing = False

        def substitute(match: re.Match[str]) -> str:
            nonlocal missing
            value = _resolve_key(match.group(1), ctx, filled, used)
            missing = missing or value is None
            return value or ""

        text = _KEY.sub(substitute, text)
        if missing:
            return None
    return text


def _render(template: str, ctx: Context, filled: Slots) -> tuple[str, int] | None:
    """Render a template; return the text and the number of distinct slots used."""
    used: set[str] = set()

    def optional(match: re.Match[str]) -> str:
        local: set[str] = set()
        text = _fill_keys(match.group(1), ctx, filled, local)
        if text is None:
            return ""
        used.update(local)
        return text

    text = _fill_keys(_OPTIONAL.sub(optional, template), ctx, filled, used)
    if text is None:
        return None
    text = re.sub(r"\s+", " ", text).replace(" ,", ",").replace(" .", ".").strip()
    return text[:1].upper() + text[1:], len(used)


def _choose(
    variants: str | list[str], ctx: Context, filled: Slots, rng: random.Random, richest: bool
) -> str | None:
    """Render a random resolvable variant, preferring the richest when asked."""
    options = [variants] if isinstance(variants, str) else variants
    rendered = [r for r in (_render(v, ctx, filled) for v in options) if r]
    if not rendered:
        return None
    top = max(score for _, score in rendered) if richest else None
    return rng.choice([text for text, score in rendered if top is None or score == top])


def _compose_steps(
    entries: list[Any], ctx: Context, filled: Slots, rng: random.Random
) -> list[str]:
    """Render the archetype's step skeleton into concrete steps."""
    steps: list[str] = []
    for entry in entries:
        spec = entry if isinstance(entry, dict) else {"t": entry}
        if "p" in spec and rng.random() >= spec["p"]:
            continue
        text = _choose(spec["t"], ctx, filled, rng, richest=True)
        if text:
            steps.append(text)
    return steps


def _mentions(text: str, name: str) -> bool:
    """Return whether ``name`` occurs in ``text`` as whole words (case-insensitive)."""
    return re.search(rf"(?<!\w){re.escape(name)}(?!\w)", text, re.IGNORECASE) is not None


def _ordered_ingredients(filled: Slots, steps: list[str]) -> list[Ingredient] | None:
    """Order ingredients by first use in the steps; ``None`` if one is never used."""
    ranked: list[tuple[int, int, Ingredient]] = []
    for order, item in enumerate(item for items in filled.values() for item in items):
        first = next((i for i, step in enumerate(steps) if _mentions(step, item.name)), None)
        if first is None:
            return None
        ranked.append((first, order, item))
    return [item for _, _, item in sorted(ranked, key=lambda r: r[:2])]


def _pick_weighted(options: list[_T], weights: list[float], rng: random.Random) -> _T:
    """Pick one option with the given relative weights."""
    return rng.choices(options, weights=weights, k=1)[0]


def _compose_one(vocab: dict[str, Any], rng: random.Random) -> dict[str, Any] | None:
    """Compose one recipe, or return ``None`` when the random draw is unusable."""
    archetypes = vocab["archetypes"]
    name = _pick_weighted(list(archetypes), [a.get("weight", 1) for a in archetypes.values()], rng)
    arch = archetypes[name]
    profiles = arch.get("profiles") or [{}]
    profile = _pick_weighted(profiles, [p.get("weight", 1) for p in profiles], rng)
    cuisine = profile.get("cuisine") or rng.choice(arch.get("cuisine", ["International"]))
    filled = _fill_slots({**arch["slots"], **profile.get("slots", {})}, vocab["pools"], rng)
    if filled is None:
        return None
    var_specs = {**arch.get("vars", {}), **profile.get("vars", {})}
    variables = {var: rng.choice(options) for var, options in var_specs.items()}
    ctx = _build_context(filled, variables, cuisine, vocab["title_names"])
    steps = _compose_steps(arch["steps"], ctx, filled, rng)
    title = _choose(profile.get("titles") or arch["titles"], ctx, filled, rng, richest=False)
    description = _choose(arch["descriptions"], ctx, filled, rng, richest=False)
    ingredients = _ordered_ingredients(filled, steps)
    if not (title and description and ingredients and MIN_STEPS <= len(steps) <= MAX_STEPS):
        return None
    if not MIN_INGREDIENTS <= len(ingredients) <= MAX_INGREDIENTS:
        return None
    return {"title": title, "cuisine": cuisine, "description": description,
            "ingredients": [item.line() for item in ingredients], "methods": steps}


def compose_recipes(
    n: int, seed: int, exclude_titles: set[str] | frozenset[str] = frozenset()
) -> list[dict[str, Any]]:
    """Compose ``n`` recipes with unique titles, deterministically from ``seed``.

    Args:
        n: Number of recipes to produce (at least 1200 are supported).
        seed: Seed for a private :class:`random.Random`; the global random
            state is never touched.
        exclude_titles: Titles that must not be produced (compared
            case-insensitively).

    Returns:
        A list of ``n`` dicts with keys ``title``, ``cuisine``,
        ``description``, ``ingredients`` and ``methods``.

    Raises:
        ValueError: If ``n`` is negative.
        RuntimeError: If the vocabulary cannot yield ``n`` unique titles.
    """
    if n < 0:
        raise ValueError(f"n must be non-negative, got {n}")
    vocab = load_vocabulary()
    rng = random.Random(seed)
    seen = {title.casefold() for title in exclude_titles}
    recipes: list[dict[str, Any]] = []
    budget = max(1000, n * _ATTEMPTS_PER_RECIPE)
    for _ in range(budget):
        if len(recipes) == n:
            break
        recipe = _compose_one(vocab, rng)
        if recipe is None or recipe["title"].casefold() in seen:
            continue
        seen.add(recipe["title"].casefold())
        recipes.append(recipe)
    if len(recipes) < n:
        raise RuntimeError(f"could only compose {len(recipes)} of {n} unique recipes")
    _LOG.debug("composed %d recipes with seed %d", n, seed)
    return recipes
