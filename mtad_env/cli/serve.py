"""``mtad-env serve``: simulated users behind an OpenAI-compatible chat-completions API (see :mod:`simulators.serving`).

This module imports without FastAPI; the command itself needs the ``serve`` extra and says so in one line.
"""

from __future__ import annotations

import argparse
import ipaddress
import logging
import os
import sys

from mtad_env.errors import InvalidValueError
from simulators.serving import missing_extra

logger = logging.getLogger(__name__)


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{value} is not a port; valid: 0 to 65535")
    return value


def add_arguments(sub: argparse._SubParsersAction) -> None:
    """Add the ``serve`` subcommand."""
    s = sub.add_parser("serve", help="simulated users as an OpenAI-compatible chat-completions server")
    s.add_argument("--pack", default=None, help="model pack folder for the LM users (default: the shipped pack)")
    s.add_argument("--host", default="127.0.0.1", help="address to bind; 127.0.0.1 serves this machine only")
    s.add_argument("--port", type=_port, default=8000, help="port to listen on")
    s.add_argument("--api-key-env", default=None, metavar="VAR",
                   help="refuse requests (401) that do not send 'Authorization: Bearer $VAR'")
    s.add_argument("--tasks", default=None, help="task folder instead of the shipped tasks")
    s.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"), help="where the LM users run")
    s.add_argument("--batch-window-ms", type=float, default=2.0,
                   help="the quiet gap, in milliseconds, that closes a batch of LM requests")
    s.add_argument("--prefix-cache-mb", type=float, default=256,
                   help="keys and values kept across requests of the LM users' dialogues, so a request computes "
                        "only its new turn (0: recompute every dialogue; replies are the same either way)")


def _api_key(var: str | None) -> str | None:
    if var is None:
        return None
    key = os.environ.get(var)
    if not key:
        raise InvalidValueError(f"--api-key-env {var}: the environment variable {var} is unset or empty; export "
                                "the key that clients must send")
    return key


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def run_serve(args: argparse.Namespace) -> int:
    reason = missing_extra()
    if reason:
        sys.stderr.write(f"mtad-env serve: error: {reason}\n")
        return 2
    if not 0 <= args.batch_window_ms <= 1000:
        raise InvalidValueError(f"--batch-window-ms {args.batch_window_ms} is not valid; valid: 0 to 1000")
    key = _api_key(args.api_key_env)
    from simulators.serving.app import create_app, serve
    from simulators.serving.users import UserModels

    if args.prefix_cache_mb < 0:
        raise InvalidValueError(f"--prefix-cache-mb {args.prefix_cache_mb} is not valid; valid: 0 (off) or more")
    users = UserModels(args.pack, args.device, args.tasks, args.prefix_cache_mb)
    users.load()  # a bad pack fails here, with exit status 2
    if not _is_loopback(args.host):
        logger.warning("binding %s: other machines can reach the server%s", args.host,
                       "" if key else " and no API key is required (see --api-key-env)")
    app = create_app(users, key, window_s=args.batch_window_ms / 1000)
    sys.stderr.write(f"mtad-env serve: simulated users on http://{args.host}:{args.port}/v1 "
                     f"(models: GET /v1/models)\n")
    serve(app, args.host, args.port)
    return 0
