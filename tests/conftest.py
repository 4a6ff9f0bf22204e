"""Shared fixtures: small, seeded and fast."""

import warnings

import pytest


@pytest.fixture(autouse=True)
def _quiet_pettingzoo_style_warnings():
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*probably should be gymnasium.spaces.box.*")
        warnings.filterwarnings("ignore", message=".*agents to be named in the format.*")
        yield
