"""Profiles: canonical strings, aliases, dicts, built-in sets and bad input."""

import pytest

from mtad_env import InvalidValueError, Profile, multi_trait_profiles, register_trait, single_trait_profiles
from mtad_env import unregister_trait


@pytest.mark.parametrize("spec, canonical", [
    ("regular", "regular"),
    ("Regular", "regular"),
    ("verbosity=low,engagement=high", "engagement=high,verbosity=low"),
    ("Patient", "engagement=high"),
    ("Impatient & Verbose", "engagement=low,verbosity=high"),
    ("NonFluent", "fluency=low"),
    ("Engag=High & Verb=High", "engagement=high,verbosity=high"),
    ("emotion=neutral", "regular"),
    ({"repetition": "high", "cooperativeness": "low"}, "cooperativeness=low,repetition=high"),
])
def test_parse_gives_canonical_string(spec, canonical):
    assert str(Profile.parse(spec)) == canonical


def test_canonical_string_round_trips():
    for profile in single_trait_profiles() + multi_trait_profiles():
        assert Profile.parse(str(profile)) == profile


def test_builtin_profile_sets_have_paper_sizes():
    assert len(single_trait_profiles()) == 17
    assert len(set(multi_trait_profiles())) == 14
    assert {len(p.pairs) for p in multi_trait_profiles()} == {2, 3, 4}


@pytest.mark.parametrize("spec, match", [
    ("verbosty=high", "did you mean 'verbosity'"),
    ("verbosity=extreme", "intensity .* 'extreme'; valid: low, neutral, high"),
    ("Chatty", "unknown profile part 'Chatty'"),
    ("verbosity=low,verbosity=high", "given twice"),
])
def test_bad_profiles_name_the_value_and_valid_choices(spec, match):
    with pytest.raises(InvalidValueError, match=match):
        Profile.parse(spec)


def test_registered_trait_joins_profiles_and_single_trait_set():
    register_trait("politeness", "utterance", lambda u: float("please" in u), aliases=("Rude", "Polite"))
    try:
        assert str(Profile.parse("Polite & Verbose")) == "verbosity=high,politeness=high"
        assert len(single_trait_profiles()) == 19
    finally:
        unregister_trait("politeness")
    with pytest.raises(InvalidValueError, match="politeness"):
        Profile.parse("politeness=high")
