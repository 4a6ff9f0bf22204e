"""The user server (``mtad-env serve``) through the official ``openai`` client, on 127.0.0.1 servers the tests start."""

import json
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("fastapi")
openai = pytest.importorskip("openai")

from mtad_env.domain import load_tasks  # noqa: E402
from mtad_env.profiles import Profile  # noqa: E402
from simulators.serving.app import create_app, running  # noqa: E402
from simulators.serving.client import RemoteUserSimulator, user_messages  # noqa: E402
from simulators.serving.users import UserModels  # noqa: E402
from simulators.agenda import AgendaUserSimulator  # noqa: E402

TASK = load_tasks("test")[0]
LM_MODELS = ("sts/verbosity=high", "mtad/Impatient & Verbose", "mtad-la/exploration=high,verbosity=low",
             "jts/Patient", "sampling/Verbose & Negative")


@pytest.fixture(scope="module")
def agenda_url():
    with running(create_app(UserModels(), lm=False)) as url:
        yield url


@pytest.fixture(scope="module")
def lm_url(micro_pack):
    with running(create_app(UserModels(micro_pack), window_s=0.02)) as url:
        yield url


def client(url, key="unused"):
    return openai.OpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0, timeout=120)


def post(url, body, key=None):
    """(status, JSON) of a raw POST to the chat-completions endpoint."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {key}"} if key else {})}
    req = urllib.request.Request(f"{url}/v1/chat/completions", data=data, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=120) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def play(url, model, seed, turns, task=TASK, **sampling):
    """One dialogue through the openai client; the assistant reads out the steps. Returns each reply's message."""
    c, messages, replies = client(url), [{"role": "system", "content": task.id}], []
    for turn in range(1, turns + 1):
        out = c.chat.completions.create(model=model, messages=messages, seed=seed, **sampling)
        message = out.choices[0].message.model_dump(exclude_none=True)
        assert message["mtad"]["turn"] == turn
        replies.append(message)
        messages += [message, {"role": "user", "content": f"Step {turn}: {task.methods[(turn - 1) % len(task.methods)]}"}]
    return replies


def test_the_openai_client_plays_an_agenda_dialogue_turn_by_turn(agenda_url):
    replies = play(agenda_url, "agenda/Impatient & Verbose", seed=3, turns=6)
    assert replies[0]["mtad"]["intent"] == "start" and replies[0]["role"] == "assistant"
    assert all(r["content"] and set(r["mtad"]) == {"intent", "ended", "degenerate", "turn"} for r in replies)
    assert all(r["mtad"]["ended"] == (r["mtad"]["intent"] == "stop") for r in replies)
    models = [m.id for m in client(agenda_url).models.list()]
    assert "agenda/regular" in models and "agenda/engagement=low,verbosity=high" in models
    with urllib.request.urlopen(f"{agenda_url}/health") as resp:
        assert json.loads(resp.read())["status"] == "ok"


def test_an_agenda_reply_is_the_simulators_own_turn_for_that_seed(agenda_url):
    history = [{"intent": "start", "user": "let's cook", "system": f"Step 1: {TASK.methods[0]}"}]
    out = client(agenda_url).chat.completions.create(model="agenda/verbosity=high", seed=11,
                                                     messages=user_messages(TASK.id, history))
    sim = AgendaUserSimulator()
    sim.reset(Profile.parse("verbosity=high"), TASK, np.random.default_rng([11, 1]))
    expected = sim.act([{**history[0], "system_error": False, "task_completed": False}])
    assert (out.choices[0].message.mtad["intent"], out.choices[0].message.content) == tuple(expected)


def test_a_task_object_and_text_parts_are_accepted_and_intents_are_reclassified_when_dropped(agenda_url):
    custom = {"id": "my_task", "title": "Tea", "methods": ["Boil water.", "Steep the tea."], "tools": ["kettle"]}
    messages = [{"role": "system", "content": json.dumps({"task": custom})},
                {"role": "user", "content": "Hi! How can I help?"},  # a greeting before the user's first turn
                {"role": "assistant", "content": [{"type": "text", "text": "next step please"}]},
                {"role": "user", "content": "Step 1: Boil water."}]
    status, body = post(agenda_url, {"model": "agenda/regular", "messages": messages, "seed": 1})
    assert status == 200 and body["choices"][0]["message"]["mtad"]["turn"] == 2


BAD = [
    ({"model": "agenda/Grumpy"}, "model", "valid"),
    ({"model": "gpt-4o"}, "model", "SIMULATOR/PROFILE"),
    ({"model": "planllm/regular"}, "model", "agenda, sts"),
    ({"messages": []}, "messages", "non-empty"),
    ({"messages": "hello"}, "messages", "non-empty"),
    ({"messages": [{"role": "user", "content": "hi"}]}, "messages[0].role", "system"),
    ({"messages": [{"role": "system", "content": "recipe_does_not_exist"}]}, "messages[0].content", "task id"),
    ({"messages": [{"role": "system", "content": "{\"task_id\": \"nope\"}"}]}, "messages[0].content.task_id",
     "task id"),
    ({"messages": [{"role": "system", "content": "{\"task\": {\"id\": \"x\"}}"}]}, "messages[0].content.task",
     "methods"),
    ({"messages": [{"role": "system", "content": TASK.id}, {"role": "tool", "content": "x"}]}, "messages[1].role",
     "assistant"),
    ({"messages": [{"role": "system", "content": TASK.id}, {"role": "assistant", "content": ""}]},
     "messages[1].content", "non-empty"),
    ({"messages": [{"role": "system", "content": TASK.id}, {"role": "assistant", "content": "next"}]},
     "messages[1].role", "append"),
    ({"messages": [{"role": "system", "content": TASK.id}, {"role": "assistant", "content": "next"},
                   {"role": "assistant", "content": "next"}]}, "messages[2].role", "in a row"),
    ({"messages": [{"role": "system", "content": TASK.id}, {"role": "assistant", "content": "next",
                                                            "mtad": {"intent": "dance"}},
                   {"role": "user", "content": "ok"}]}, "messages[1].mtad.intent", "repeat"),
    ({"messages": [{"role": "system", "content": TASK.id}, {"role": "assistant", "content": "next"},
                   {"role": "user", "content": "x" * 5000}]}, "messages[2].content", "at most"),
    ({"messages": [{"role": "system", "content": TASK.id}] * 600}, "messages", "at most"),
    ({"temperature": -1}, "temperature", ">= 0"),
    ({"temperature": "hot"}, "temperature", "<= 2"),
    ({"top_p": 0}, "top_p", "> 0"),
    ({"max_tokens": 0}, "max_tokens", "1 to 256"),
    ({"seed": 1.5}, "seed", "integer"),
    ({"n": 2}, "n", "valid: 1"),
    ({"stream": True}, "stream", "false"),
    ({"mtad": {"weights": "a,b"}}, "mtad.weights", "numbers"),
]


@pytest.mark.parametrize("change, param, says", BAD, ids=[f"{b[1]}-{i}" for i, b in enumerate(BAD)])
def test_bad_requests_get_400_naming_the_field_and_the_server_keeps_serving(agenda_url, change, param, says):
    body = {"model": "agenda/regular", "messages": [{"role": "system", "content": TASK.id}], "seed": 0, **change}
    status, reply = post(agenda_url, body)
    assert status == 400, reply
    assert reply["error"]["param"] == param and says in reply["error"]["message"], reply
    assert post(agenda_url, {"model": "agenda/regular", "messages": [{"role": "system", "content": TASK.id}]})[0] == 200


def test_the_openai_client_raises_bad_request_and_invalid_json_is_refused(agenda_url):
    with pytest.raises(openai.BadRequestError) as err:
        client(agenda_url).chat.completions.create(model="agenda/nobody", messages=[{"role": "system",
                                                                                       "content": TASK.id}])
    assert "valid" in str(err.value)
    assert post(agenda_url, b"{not json")[0] == 400


def test_an_api_key_is_required_when_configured():
    with running(create_app(UserModels(), api_key="s3cret", lm=False)) as url:
        body = {"model": "agenda/regular", "messages": [{"role": "system", "content": TASK.id}]}
        assert post(url, body)[0] == 401 and post(url, body, key="wrong")[0] == 401
        assert post(url, body, key="s3cret")[0] == 200
        with pytest.raises(openai.AuthenticationError):
            client(url, key="wrong").models.list()
        assert client(url, key="s3cret").models.list().data


def test_lm_users_decode_in_batches_and_each_reply_is_the_one_decoded_alone(lm_url):
    """64 concurrent dialogues of several LM modes and sampling settings: none lost, duplicated or changed by its
    batch (each request is replayed alone afterwards and must get the same reply)."""
    settings = [{}, {"temperature": 0.7, "top_p": 0.9, "max_tokens": 12}]
    jobs = [(LM_MODELS[i % len(LM_MODELS)], i, settings[i % 2]) for i in range(64)]
    with ThreadPoolExecutor(64) as pool:
        crowd = list(pool.map(lambda j: play(lm_url, j[0], j[1], 3, load_tasks("test")[j[1] % 5], **j[2]), jobs))
    with urllib.request.urlopen(f"{lm_url}/health") as resp:
        stats = json.loads(resp.read())["batching"]
    assert stats["largest_batch"] > 1 and stats["batches"] < stats["requests"]
    for (model, seed, sampling), replies in zip(jobs[::4], crowd[::4]):  # replayed one request at a time
        assert play(lm_url, model, seed, 3, load_tasks("test")[seed % 5], **sampling) == replies
    assert all(len(r) == 3 for r in crowd)
    assert any(r[0]["content"] != crowd[0][0]["content"] for r in crowd[1:])


def test_the_prefix_cache_finds_a_dialogues_earlier_turns_and_changes_no_reply(lm_url, micro_pack):
    """Four-turn dialogues served with the prefix cache (the module's server) and without it: the same replies,
    and the later turns of each dialogue found the keys and values its earlier turns left."""
    def health(url):
        with urllib.request.urlopen(f"{url}/health") as resp:
            return json.loads(resp.read())

    before = health(lm_url)["prefix_cache"] or {"lookups": 0}
    cached = [play(lm_url, model, seed, 4, load_tasks("test")[seed]) for seed, model in enumerate(LM_MODELS[:3])]
    after = health(lm_url)["prefix_cache"]
    assert after["lookups"] - before["lookups"] == 12 and after["hit_rate"] > 0 and after["megabytes"] > 0
    with running(create_app(UserModels(micro_pack, prefix_cache_mb=0), window_s=0.02)) as url:
        fresh = [play(url, model, seed, 4, load_tasks("test")[seed]) for seed, model in enumerate(LM_MODELS[:3])]
        assert health(url)["prefix_cache"] is None
    assert fresh == cached


def test_lm_requests_for_missing_adapters_or_too_long_dialogues_are_refused(lm_url, micro_pack):
    start = {"messages": [{"role": "system", "content": TASK.id}]}
    status, reply = post(lm_url, {"model": "sts/Impatient & Verbose", **start})
    assert status == 400 and reply["error"]["param"] == "model" and "sts/" in str(reply["error"]["valid"])
    status, reply = post(lm_url, {"model": "mtad/Impatient & Verbose", "mtad": {"weights": [1, 2, 3]}, **start})
    assert status == 400 and reply["error"]["param"] == "mtad.weights"
    history = [{"intent": "next", "user": "next " * 150, "system": "Step: " + "stir " * 300}] * 60
    status, reply = post(lm_url, {"model": "jts/regular", "messages": user_messages(TASK.id, history),
                                  "max_tokens": 256})
    context = json.loads((Path(micro_pack) / "base" / "config.json").read_text())["max_position_embeddings"]
    if context < 512:  # four long turns (the window format's history) and 256 new tokens do not fit
        assert status == 400 and reply["error"]["param"] == "messages" and "context" in reply["error"]["message"]


def test_a_client_that_disconnects_mid_request_costs_the_others_nothing(lm_url):
    import socket

    body = json.dumps({"model": LM_MODELS[1], "messages": [{"role": "system", "content": TASK.id}]}).encode()
    host, port = lm_url.removeprefix("http://").split(":")

    def hang_up():
        with socket.create_connection((host, int(port))) as sock:
            sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                         + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
    threads = [threading.Thread(target=hang_up) for _ in range(8)]
    for t in threads:
        t.start()
    with ThreadPoolExecutor(8) as pool:
        crowd = list(pool.map(lambda i: play(lm_url, LM_MODELS[i % 5], 100 + i, 2), range(8)))
    for t in threads:
        t.join()
    assert [play(lm_url, LM_MODELS[i % 5], 100 + i, 2) for i in range(8)] == crowd


def test_the_environments_users_can_be_served_remotely(agenda_url):
    import mtad_env
    from mtad_env.factory import rollout

    env = mtad_env.make(profile="Impatient", simulator=RemoteUserSimulator(agenda_url, "agenda"),
                        assistant="template", seed=0, max_turns=6)
    info = rollout(env, seed=0)
    assert info["end_reason"] in ("stop_by_trait", "stop_after_errors", "task_completed", "turn_limit")


def test_serve_without_the_extra_exits_2_with_the_install_line():
    code = ("import sys; sys.modules['fastapi'] = sys.modules['uvicorn'] = None\n"
            "import importlib.util as u; real = u.find_spec\n"
            "u.find_spec = lambda n, *a: None if n in ('fastapi', 'uvicorn') else real(n, *a)\n"
            "import mtad_env; from mtad_env.cli import main; raise SystemExit(main(['serve']))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == ['mtad-env serve: error: the server needs fastapi and uvicorn: '
                                                'pip install "mtad-env[serve]"']


def test_serve_example_runs_users_through_the_server_against_a_served_assistant(tmp_path):
    example = Path(__file__).resolve().parent.parent / "examples" / "serve_users.py"
    done = subprocess.run([sys.executable, str(example), "--episodes", "2", "--profile", "Impatient & Verbose",
                           "--simulator", "agenda"], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["episodes"] == 2 and result["user_turns"] >= 2


@pytest.mark.parametrize("args, message", [
    (("serve", "--port", "70000"), "valid: 0 to 65535"),
    (("serve", "--api-key-env", "MTAD_TEST_KEY_THAT_IS_NOT_SET"), "unset or empty"),
    (("serve", "--batch-window-ms", "-1"), "valid: 0 to 1000"),
])
def test_serve_bad_arguments_exit_2_with_one_line(monkeypatch, capsys, args, message):
    from mtad_env.cli import main

    monkeypatch.delenv("MTAD_TEST_KEY_THAT_IS_NOT_SET", raising=False)
    try:
        status = main(list(args))
    except SystemExit as exc:  # argparse's own errors
        status = exc.code
    err = capsys.readouterr().err
    assert status == 2 and message in err and len(err.strip().splitlines()) == 1


def test_bench_serve_reports_both_concurrencies_over_http(micro_pack):
    from evaluation.serve_benchmarks import bench_serve

    result = bench_serve(seconds=0.1, pack=str(micro_pack), concurrency=4, turns=2)
    assert set(result) == {"concurrency_1", "concurrency_4", "speedup"} and result["speedup"] > 0
    for row in (result["concurrency_1"], result["concurrency_4"]):
        assert set(row) == {"replies_per_s", "p50_ms", "p99_ms", "errors"} and row["errors"] == 0


def test_an_lm_reply_unfit_for_the_task_is_drawn_again_with_the_generator_going_on(micro_pack):
    from simulators.lm_simulator import TASK_FIT_DECODES
    from simulators.serving.protocol import Reply, parse_request

    unfit = "i screwed in all four legs of the table so what's the next step in the instructions"  # DIY-only
    models = UserModels(micro_pack)
    job = models.prepare(parse_request({"model": "sts/verbosity=high", "seed": 3,
                                        "messages": [{"role": "system", "content": TASK.id}]}))
    first = job.decode
    assert not job.redraw(Reply("next", "next step please"))
    assert job.redraw(Reply("next", unfit)) and job.decode is not first and job.draws == 2
    assert job.decode.prompt_ids == first.prompt_ids and job.decode.rng is first.rng
    while job.redraw(Reply("next", unfit)):
        pass
    assert job.draws == TASK_FIT_DECODES  # the last draw is kept whatever it says
