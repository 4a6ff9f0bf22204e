"""The assistant interface and the ``--assistant`` spec parser, defined in the core (:mod:`mtad_env.assistants`)
and re-exported here beside the assistants that implement them."""

from __future__ import annotations

from mtad_env.assistants import Assistant, build_assistant

__all__ = ["Assistant", "build_assistant"]
