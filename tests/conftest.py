"""Shared fixtures: small, seeded and fast."""

import warnings

import pytest


@pytest.fixture(autouse=True)
def _quiet_pettingzoo_style_warnings():
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*probably should be gymnasium.spaces.box.*")
        warnings.filterwarnings("ignore", message=".*agents to be named in the format.*")
        yield


@pytest.fixture(scope="session")
def micro_pack(tmp_path_factory):
    """A throwaway pack trained with the micro preset (about a minute on 2 cores), shared by the LM tests."""
    from training.pack_builder import TrainConfig, build_pack

    out = tmp_path_factory.mktemp("pack") / "micro"
    build_pack(TrainConfig("micro", str(out), seed=0, progress=False))
    return out
