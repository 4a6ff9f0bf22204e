"""User simulators: the rule-based agenda simulator (Algorithm 1) and, later, LM simulators."""

from simulators.agenda import AgendaConfig, AgendaUserSimulator

__all__ = ["AgendaConfig", "AgendaUserSimulator"]
