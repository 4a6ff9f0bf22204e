"""The registry of simulators and assistants: lazily resolved entry points, strict options, one list of names."""

import pytest

import mtad_env
from mtad_env import InvalidValueError
from mtad_env.registry import ASSISTANTS, LM_SIMULATORS, SIMULATORS, Registry


def test_builtin_simulators_are_entry_point_strings_in_one_list():
    assert SIMULATORS.names() == ["agenda", *LM_SIMULATORS]
    assert all(isinstance(SIMULATORS.entry(n).target, str) for n in SIMULATORS.names())
    assert SIMULATORS.entry("mtad-la").kwargs == {"mode": "mtad-la"}


def test_a_registered_entry_point_is_imported_on_first_build():
    mtad_env.register_simulator("agenda-copy", "simulators.agenda:build_agenda_simulator")
    try:
        env = mtad_env.make(simulator="agenda-copy", seed=0, assistant="template")
        assert mtad_env.rollout(env, seed=1)["end_reason"]
        with pytest.raises(InvalidValueError, match="did you mean 'utterances'"):
            mtad_env.make(simulator="agenda-copy", utterance="x.json")
        with pytest.raises(InvalidValueError, match="already registered"):
            mtad_env.register_simulator("agenda-copy", "simulators.agenda:build_agenda_simulator")
    finally:
        SIMULATORS.unregister("agenda-copy")


def test_unknown_names_and_malformed_entry_points_are_refused():
    with pytest.raises(InvalidValueError, match="did you mean 'mtad'"):
        mtad_env.make(simulator="mtadd")
    with pytest.raises(InvalidValueError, match="'module:attribute'"):
        Registry("thing").register("x", "no_colon_here")
    with pytest.raises(InvalidValueError, match="unknown assistant 'nope'; valid: template, template:ERROR_RATE"):
        mtad_env.make(assistant="nope")


def test_a_builder_that_takes_any_option_gets_them_all():
    seen = {}

    def build(**options):
        from simulators.agenda import build_agenda_simulator

        seen.update(options)
        return build_agenda_simulator()

    mtad_env.register_simulator("open", build)
    try:
        mtad_env.make(simulator="open", anything=1)
        assert seen == {"anything": 1}
    finally:
        SIMULATORS.unregister("open")


def test_an_assistant_kind_can_be_registered():
    from agents.template_assistant import TemplateAssistant

    ASSISTANTS.register("polite", lambda spec, arg, mode, seed: TemplateAssistant(mode=mode, seed=seed))
    try:
        env = mtad_env.make(assistant="polite", seed=0)
        assert isinstance(env.assistant_policy, TemplateAssistant)
    finally:
        ASSISTANTS.unregister("polite")
