"""``mtad-env bench serve``: simulated users over HTTP on 127.0.0.1, one dialogue at a time against 64 at once.

The server runs as a child process (``mtad-env serve`` on a free port of 127.0.0.1, the shipped pack or
``pack``); the client plays dialogues of ``turns`` user turns, each an LM user (``MODELS``, one per dialogue in
turn) answered by a fixed assistant that reads out the task's steps. Concurrency 1 plays dialogues one after
another for about ``seconds`` (at least one), concurrency 64 plays 64 dialogues at once. Per concurrency:
replies per second, p50 and p99 reply latency, and errors: failed requests, plus any dialogue that did not get
exactly one reply per turn, in order (``mtad.turn``), so a lost or duplicated turn counts. ``speedup`` is the
ratio of the replies per second. Every request has a timeout, and the run stops starting turns after
``limit_s``.
"""

from __future__ import annotations

import logging
import socket
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from mtad_env.errors import InvalidValueError

logger = logging.getLogger(__name__)
MODELS = ("mtad/Impatient & Verbose", "sts/verbosity=high", "mtad-la/exploration=high,cooperativeness=high",
          "jts/Patient & Concise")
TURNS, CONCURRENCY = 10, 64
REQUEST_TIMEOUT_S = 120.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_healthy(url: str, proc: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise InvalidValueError(f"the server exited with status {proc.returncode}: "
                                    f"{proc.stderr.read().decode(errors='replace')[-500:]}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    raise InvalidValueError(f"the server at {url} did not answer /health within {timeout:.0f} s")


def _dialogue(url: str, index: int, turns: int, stop_at: float) -> tuple[list[float], int]:
    """Play dialogue ``index``; returns the latency of each reply and the number of errors."""
    from agents.http_assistant import post_json
    from mtad_env.domain import load_tasks

    task = load_tasks("test")[index % len(load_tasks("test"))]
    messages: list[dict[str, Any]] = [{"role": "system", "content": task.id}]
    latencies, errors = [], 0
    for turn in range(1, turns + 1):
        if time.monotonic() > stop_at:
            return latencies, errors + 1  # a dialogue cut short is an error, not a silent gap
        payload = {"model": MODELS[index % len(MODELS)], "messages": messages, "seed": index}
        start = time.perf_counter()
        try:
            reply = post_json(f"{url}/v1/chat/completions", payload, REQUEST_TIMEOUT_S, 0, 0.0, None)
            message = reply["choices"][0]["message"]
            ok = message["mtad"]["turn"] == turn and isinstance(message["content"], str)
        except Exception as exc:  # noqa: BLE001 - counted, the dialogue stops
            logger.warning("dialogue %d turn %d failed: %s", index, turn, exc)
            return latencies, errors + 1
        latencies.append(time.perf_counter() - start)
        if not ok:
            return latencies, errors + 1
        step = task.methods[min(turn - 1, len(task.methods) - 1)]
        messages += [message, {"role": "user", "content": f"Step {min(turn, len(task.methods))}: {step}"}]
    return latencies, errors


def _measure(url: str, concurrency: int, dialogues: int, turns: int, seconds: float | None, stop_at: float) -> dict:
    latencies: list[float] = []
    errors, started, index = 0, time.perf_counter(), 0
    with ThreadPoolExecutor(concurrency) as pool:
        while index < dialogues and (seconds is None or index == 0 or time.perf_counter() - started < seconds):
            batch = list(range(index, min(index + concurrency, dialogues)))
            for lat, err in pool.map(lambda i: _dialogue(url, i, turns, stop_at), batch):
                latencies += lat
                errors += err
            index += len(batch)
    elapsed = time.perf_counter() - started
    ms = np.array(latencies) * 1000 if latencies else np.array([float("nan")])
    return {"replies_per_s": round(len(latencies) / elapsed, 2), "p50_ms": round(float(np.percentile(ms, 50)), 1),
            "p99_ms": round(float(np.percentile(ms, 99)), 1), "errors": errors}


def bench_serve(seconds: float = 5.0, pack: str | None = None, limit_s: float = 600.0,
                concurrency: int = CONCURRENCY, turns: int = TURNS) -> dict:
    """Replies per second at concurrency 1 and ``concurrency``, and their ratio (see the module docstring)."""
    from simulators.serving import missing_extra

    reason = missing_extra()
    if reason:
        raise InvalidValueError(f"bench serve: {reason}")
    port = _free_port()
    command = [sys.executable, "-m", "mtad_env", "serve", "--host", "127.0.0.1", "--port", str(port)]
    proc = subprocess.Popen(command + (["--pack", str(pack)] if pack else []), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, proc, timeout=600)
        stop_at = time.monotonic() + limit_s
        _dialogue(url, 0, 2, stop_at)  # warm-up: first forward, allocator, connection set-up
        one = _measure(url, 1, concurrency, turns, seconds, stop_at)
        many = _measure(url, concurrency, concurrency, turns, None, stop_at)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    speedup = many["replies_per_s"] / one["replies_per_s"] if one["replies_per_s"] else float("nan")
    return {"concurrency_1": one, f"concurrency_{concurrency}": many, "speedup": round(speedup, 2)}
