"""Simulated users behind an OpenAI-compatible chat-completions API (``mtad-env serve``).

The model is the *user*: an assistant under test, written in any framework, asks this server what its simulated
user says next, the way a user simulator built on a chat model is asked (tau2-bench, LiteLLM-based harnesses).

Endpoints: ``POST /v1/chat/completions``, ``GET /v1/models``, ``GET /health``.

**Model names** pick the simulator and the profile: ``SIMULATOR/PROFILE``, where SIMULATOR is ``agenda`` (the
rule-based Algorithm 1 user) or an LM mode over the served pack (``sts``, ``jts``, ``mtad``, ``mtad-la``,
``sampling``) and PROFILE is any form :meth:`mtad_env.profiles.Profile.parse` accepts: ``agenda/regular``,
``sts/verbosity=high``, ``mtad-la/Impatient & Verbose``. ``GET /v1/models`` lists the canonical names.

**Roles** are seen from the user simulator's side, as in a user-simulator prompt:

* the first message has role ``system`` (or ``developer``) and names the task: its content is a task id (``"recipe_0001"``) or a JSON
  object, ``{"task_id": "recipe_0001"}`` or ``{"task": {"id": ..., "title": ..., "methods": [...]}}``; further
  system messages at the start are ignored;
* role ``assistant`` messages are the simulated user's own earlier turns (what this server returned);
* role ``user`` messages are the assistant-under-test's responses (several in a row are joined by newlines;
  ones before the simulated user's first turn, such as a greeting, are not part of any turn);
* the conversation ends with the assistant-under-test's latest response (or with the system message alone, for
  the user's first turn), and the reply is the simulated user's next turn.

**The extra field** ``mtad`` of the reply's ``choices[0].message``: ``{"intent": the turn's intent label,
"ended": true when the user ends the dialogue (intent ``stop``), "degenerate": true when an LM user produced no
valid turn (the environment ends such episodes too), "turn": the 1-based index of this user turn}``. Send the
message back as you got it (the ``mtad`` field included) and the server reads the intents of the user's earlier
turns from it; a client that drops the field gets them re-derived with the shipped intent classifier
(:class:`mtad_env.nlu.IntentClassifier`), which may differ from the intent the turn was generated with. A request
may carry ``"mtad": {"weights": [...]}`` (mTAD lambdas, one per adapter of the profile, in profile order).

**Sampling**: ``seed`` makes a reply reproducible: the reply is a function of (model, messages, seed), and the
same whether the request was decoded alone or batched with others (turn k of a dialogue draws from
``numpy.random.default_rng([seed, k])``); without ``seed`` the server draws one. ``temperature`` (0 to 2; 0 is
greedy), ``top_p`` (0 exclusive to 1) and ``max_tokens`` (1 to 256) apply to the LM users (defaults 1.0, 0.95,
40, those of :class:`simulators.lm_simulator.LMUserSimulator`); the agenda user ignores them. ``n`` must be 1 and
``stream`` false.

**Errors**: HTTP 400 with ``{"error": {"message", "type": "invalid_request_error", "param", "valid"}}`` naming the
field and its valid choices; 401 without the API key when the server was started with ``--api-key-env`` (``GET
/health`` needs none). The server binds 127.0.0.1 unless ``--host`` says otherwise.

Concurrent LM requests that arrive within a few milliseconds decode together in one batched forward (rows =
dialogues x adapters, :mod:`simulators.serving.batcher`). The server needs the ``serve`` extra: ``pip install
"mtad-env[serve]"``.
"""

from __future__ import annotations

import importlib.util

INSTALL_HINT = 'pip install "mtad-env[serve]"'


def missing_extra() -> str | None:
    """The one-line reason the server cannot run here, or None when FastAPI and uvicorn are installed."""
    missing = [m for m in ("fastapi", "uvicorn") if importlib.util.find_spec(m) is None]
    if not missing:
        return None
    return f"the server needs {' and '.join(missing)}: {INSTALL_HINT}"
