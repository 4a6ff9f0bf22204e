"""The ``mtad-env`` command line (the console script ``mtad-env = "mtad_env.cli:main"``); see
:mod:`mtad_env.cli.app` for the command table."""

from mtad_env.cli.app import COMMANDS, build_parser, main
from mtad_env.cli.output import emit

__all__ = ["COMMANDS", "build_parser", "emit", "main"]
