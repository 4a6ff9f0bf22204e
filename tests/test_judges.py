"""LLM judges (paper App. I, Tables 26/27): prompts, answer parsing, backends, agreement and `mtad-env judge`."""

from __future__ import annotations

import json
import re
import shutil
import socket
import time
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest

from agents.http_assistant import EndpointError
from evaluation.agreement import agreement, compare_with_humans, fleiss_kappa, percent_agreement, read_labels_csv
from evaluation.judge_prompts import quality_prompt, ranking_prompt, trait_definition
from evaluation.judges import (
    HTTPJudge,
    JudgeConfig,
    judge_items,
    label_parser,
    make_backend,
    parse_quality,
    parse_ranking,
    quality_items,
    ranking_items,
    summarise,
)
from mtad_env.errors import DataFormatError, InvalidValueError
from mtad_env.traits import get_trait
from stub_http import reply_chat, serve

TASK = {"id": "t1", "title": "Salmon Pasta", "methods": ["Boil the water.", "Cook the pasta for 9 minutes."]}


def _turn(intent, user, system, step=0):
    return {"intent": intent, "current_step": step, "user": user, "system": system, "system_error": False}


def _record(dialog_id, profile, n_next, task=TASK):
    turns = [_turn("start", "let's start", "Step 1: Boil the water.")]
    turns += [_turn("next", f"next please {i}", f"Step 2: Cook the pasta. ({dialog_id} {i})", 1) for i in range(n_next)]
    turns.append(_turn("stop", "stop", f"Happy to help! Bye {dialog_id}"))
    return {"dialog_id": dialog_id, "task": dict(task), "user_profile": profile, "dialog": turns}


@pytest.fixture
def records():
    other = {"id": "t2", "title": "Bird House", "methods": ["Cut the wood."]}
    return [_record("hi", "engagement=high", 4), _record("lo", "engagement=low", 0),
            _record("reg", "regular", 2), _record("other", "engagement=low", 0, other)]


# -- prompts ------------------------------------------------------------------------------------------------------
def test_quality_prompt_holds_task_context_and_last_turn(records):
    prompt = quality_prompt(records[0], 2)
    assert prompt.startswith("Below you will find a recipe, a dialogue between a user and a cooking assistant")
    assert "Recipe: Salmon Pasta\nStep 1: Boil the water.\nStep 2: Cook the pasta for 9 minutes." in prompt
    assert "Dialogue:\nUser: let's start\nAssistant: Step 1: Boil the water.\nUser: next please 0\n" in prompt
    assert "\n\nUser: next please 1\nAssistant: Step 2: Cook the pasta. (hi 1)\n\nGive a score" in prompt
    assert "next please 2" not in prompt  # later turns are not context
    assert prompt.endswith("Justification: <one sentence justification for your answer>\nAnswer: 0, 1, or 2")
    assert "Intent" not in prompt and "{" not in prompt
    assert quality_prompt(records[0]).count("\nUser: ") == len(records[0]["dialog"])  # default: last turn


def test_ranking_prompt_holds_both_dialogues_and_the_trait_definition(records):
    prompt = ranking_prompt("Salmon Pasta", [records[1]["dialog"], records[0]["dialog"]], "engagement")
    definition = get_trait("engagement").description
    assert definition and trait_definition("engagement") == definition
    assert f"Rank the dialogues in terms of the user's Engagement. Engagement is defined as {definition}." in prompt
    assert "Task Title: Salmon Pasta" in prompt
    a = prompt.split("<Start of Dialogue A>\n")[1].split("\n<End of Dialogue A>")[0]
    b = prompt.split("<Start of Dialogue B>\n")[1].split("\n<End of Dialogue B>")[0]
    assert a.startswith("User: let's start") and "Bye lo" in a and "Bye hi" in b and "(hi 3)" in b
    assert "from low to high" in prompt and prompt.endswith("Answer: X<Y<Z")


def test_prompt_errors_name_the_problem(records):
    with pytest.raises(InvalidValueError, match="unknown trait 'patience'.*valid: engagement"):
        ranking_prompt("x", [records[0]["dialog"]] * 2, "patience")
    with pytest.raises(InvalidValueError, match="2 to 26 dialogues"):
        ranking_prompt("x", [records[0]["dialog"]], "engagement")
    with pytest.raises(DataFormatError, match="'notask'.*task"):
        quality_prompt({"dialog_id": "notask", "dialog": [_turn("start", "go", "ok")]})
    with pytest.raises(DataFormatError, match="no turn 9"):
        quality_prompt(records[0], 9)


# -- parsing ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("text, score", [
    ("Justification: It reads the next step.\nAnswer: 2", 2), ("**Answer:** 1", 1), ("answer: 0", 0),
    ("ANSWER : 2.", 2), ("Score: 2/2", 2), ("2", 2), ("**2**", 2), ("Answer:\n\n1", 1), ("Answer: [0]", 0),
    ('{"justification": "fine", "answer": 1}', 1), ("The answer is 2.", 2), ("Answer: good", 2),
    ("Answer: 2 (the step 1 is read)", 2), ("Final answer: \\boxed{0}", 0), ("### Answer: 2", 2),
    ("Justification: the score is 0 here.\nAnswer: 2", 2), ("Answer: 2 out of 2", 2),
])
def test_parse_quality_variants(text, score):
    assert parse_quality(text) == score


@pytest.mark.parametrize("text", ["", "garbage", "Answer: 0, 1, or 2", "Answer: 3", "Answer: 1.5", "Answer: -1",
                                  "Answer: 1 or 2", "Justification: unclear, score 1 or 2.\nAnswer: none",
                                  "I have 3 apples", None, "Answer: 10"])
def test_parse_quality_garbage_is_none_and_logged(text, caplog):
    assert parse_quality(text) is None
    assert "unparseable quality answer" in caplog.text


@pytest.mark.parametrize("text, order", [
    ("Justification: B's user stays longer.\nAnswer: A<B", "A<B"), ("Answer: B < A", "B<A"), ("answer: b>a", "A<B"),
    ("Answer: Dialogue A < Dialogue B", "A<B"), ("Answer:\n1. B\n2. A", "B<A"), ("Answer: A, B", "A<B"),
    ("Answer: A<B. Because A is calmer.", "A<B"), ("Answer: A < B (A is less patient)", "A<B"),
    ('{"ranking": ["B", "A"]}', "B<A"), ("B<A", "B<A"), ("Ranking: B -> A", "B<A"),
    ("**Answer:** **B** < **A**", "B<A"),
    ("Answer: A then B", "A<B"), ("ANSWER: `B<A`", "B<A"),
])
def test_parse_ranking_variants(text, order):
    assert parse_ranking(text) == order


@pytest.mark.parametrize("text", ["", "garbage A B", "Answer: X<Y<Z", "Answer: A=B", "Answer: A<B>A", "Answer: A<A",
                                  "Answer: A<B<C", "Answer: A is less engaged than B", "Answer: C<D"])
def test_parse_ranking_garbage_is_none_and_logged(text, caplog):
    assert parse_ranking(text) is None
    assert "unparseable ranking answer" in caplog.text


def test_parse_ranking_of_three():
    assert parse_ranking("Answer: C<A<B", 3) == "C<A<B" and parse_ranking("Answer: C>A>B", 3) == "B<A<C"


# -- agreement ----------------------------------------------------------------------------------------------------
WIKI = np.array([[0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
                 [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7]])


def test_fleiss_kappa_textbook_example():
    # Wikipedia "Fleiss' kappa" worked example: P-bar = 0.378, P_e = 0.213, kappa = 0.210.
    assert percent_agreement(WIKI) == pytest.approx(0.378, abs=5e-4)
    assert fleiss_kappa(WIKI) == pytest.approx(0.210, abs=5e-4)


def test_two_raters_by_hand_and_edge_cases(caplog):
    # labels 0,1,2,2,1 vs 0,1,2,1,1: 4/5 agree; shares .2/.5/.3 -> P_e .38; kappa (.8 - .38) / .62 = 0.677
    a = agreement({"x": dict(enumerate([0, 1, 2, 2, 1])), "y": {**dict(enumerate([0, 1, 2, 1, 1])), 9: 2}})
    assert (a.percent, a.n_items, a.n_dropped) == (pytest.approx(0.8), 5, 1)
    assert a.kappa == pytest.approx(0.42 / 0.62) and a.categories == ("0", "1", "2")
    assert "1 of 6 items lack a label" in caplog.text
    same = agreement({"x": {1: "A<B", 2: "A<B"}, "y": {1: "A<B", 2: "A<B"}})
    assert (same.percent, same.kappa) == (1.0, 1.0)  # one category only: kappa defined as 1.0
    with pytest.raises(InvalidValueError, match="at least 2 raters"):
        agreement({"x": {1: 0}})
    with pytest.raises(InvalidValueError, match="share no labelled item"):
        agreement({"x": {1: 0}, "y": {2: 0}})


def test_read_labels_csv_and_bad_files(tmp_path):
    good = tmp_path / "h.csv"
    good.write_text("item_id,label,annotator,note\nd#1,2,ann,ok\nd#2, Answer: 1 ,ann,\nd#1,0,bob,\n")
    labels = read_labels_csv(good, label_parser("quality"))
    assert labels == {"ann": {"d#1": 2, "d#2": 1}, "bob": {"d#1": 0}}
    assert read_labels_csv(_write(tmp_path, "r.csv", "item_id,label\nx,B > A\n"), parse_ranking) == {
        "human": {"x": "A<B"}}
    bad = {"nolabel.csv": ("item_id,score\nx,1\n", "lacks column.*label"),
           "empty.csv": ("item_id,label\nx,\n", "line 2.*non-empty"),
           "invalid.csv": ("item_id,label\nx,1\ny,5\n", "line 3: label '5' is not valid"),
           "twice.csv": ("item_id,label\nx,1\nx,2\n", "line 3: item 'x' is labelled twice"),
           "header.csv": ("item_id,label\n", "holds no labels")}
    for name, (text, message) in bad.items():
        path = _write(tmp_path, name, text)
        with pytest.raises(InvalidValueError, match=re.escape(repr(str(path))) + ".*" + message):
            read_labels_csv(path, parse_quality)
    with pytest.raises(InvalidValueError, match="does not exist"):
        read_labels_csv(tmp_path / "missing.csv")


def _write(folder: Path, name: str, text: str) -> Path:
    (folder / name).write_text(text)
    return folder / name


# -- items --------------------------------------------------------------------------------------------------------
def test_quality_and_ranking_items(records):
    items = quality_items(records[:2])
    assert [it.item_id for it in items] == [f"hi#{i}" for i in range(1, 7)] + ["lo#1", "lo#2"]
    assert [it.item_id for it in quality_items(records[:2], "last")] == ["hi#6", "lo#2"]
    pairs = ranking_items(records, seed=3)
    assert len(pairs) == 3  # hi/lo, hi/reg, lo/reg on engagement; "other" has another task
    for it in pairs:
        a, b, trait = it.item_id.split("|")
        rank = {"lo": 0, "reg": 1, "hi": 2}
        assert trait == "engagement" and it.expected == ("A<B" if rank[a] < rank[b] else "B<A")
        assert f"Bye {a}" in it.prompt.split("<End of Dialogue A>")[0]
    assert {ranking_items(records[:2], seed=s)[0].expected for s in range(8)} == {"A<B", "B<A"}  # shuffled
    assert len(ranking_items(records, max_items=2)) == 2 and ranking_items(records, ["verbosity"]) == []
    with pytest.raises(InvalidValueError, match="unknown trait"):
        ranking_items(records, ["patience"])


def test_make_backend_rejects_bad_specs(tmp_path):
    for spec in ("gpt4", "hf:", "http:ftp://x", "http:", "openai:http://x"):
        with pytest.raises(InvalidValueError, match=re.escape(repr(spec)) + ".*valid: http:URL.*hf:PATH"):
            make_backend(spec)
    with pytest.raises(InvalidValueError, match="does not exist"):
        make_backend(f"hf:{tmp_path / 'nothing'}")
    assert make_backend("http:http://127.0.0.1:9/v1").url == "http://127.0.0.1:9/v1/chat/completions"
    assert make_backend("http://127.0.0.1:9").url == "http://127.0.0.1:9/v1/chat/completions"


# -- HTTP judge end to end ----------------------------------------------------------------------------------------
QUALITY_ANSWERS = {"Step 1": "Justification: Reads step one.\nAnswer: 2", "Step 2": "**Answer:** 1",
                   "Happy to help": "I cannot decide."}


class _Stub(BaseHTTPRequestHandler):
    requests: ClassVar[list] = []

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.requests.append((dict(self.headers), body))
        prompt = body["messages"][-1]["content"]
        if "<Start of Dialogue A>" in prompt:  # ranks by dialogue length: longer = more engaged
            a, b = (prompt.split(f"<Start of Dialogue {x}>")[1].split("<End")[0].count("User:") for x in "AB")
            answer = "Justification: length.\nAnswer: " + ("A<B" if a < b else "B<A")
        else:
            last = prompt.split("\nAssistant: ")[-1]
            answer = next(v for k, v in QUALITY_ANSWERS.items() if last.startswith(k))
        reply_chat(self, answer)

    def log_message(self, *args):
        pass


@pytest.fixture
def stub_url():
    _Stub.requests = []
    with serve(_Stub) as url:
        yield url


def test_http_judge_end_to_end_with_human_agreement(stub_url, records, tmp_path, monkeypatch):
    monkeypatch.setenv("JUDGE_TEST_KEY", "sekret")
    judge = HTTPJudge(stub_url, JudgeConfig(model="judge-m", retries=0, timeout=5, api_key_env="JUDGE_TEST_KEY"))
    results = judge_items(quality_items(records[:2]), judge, progress=False)
    labels = {r.item_id: r.label for r in results}
    assert labels == {"hi#1": 2, **{f"hi#{i}": 1 for i in range(2, 6)}, "hi#6": None, "lo#1": 2, "lo#2": None}
    headers, body = _Stub.requests[0]
    assert headers["Authorization"] == "Bearer sekret" and body["model"] == "judge-m" and body["temperature"] == 0
    assert summarise(results, "quality") == {"n_items": 8, "n_unparsed": 2, "labels": {"1": 4, "2": 2},
                                             "mean_score": pytest.approx(8 / 6)}
    human = _write(tmp_path, "h.csv", "item_id,label\nhi#1,2\nhi#2,1\nhi#3,0\nhi#6,2\nlo#1,2\n")
    report = compare_with_humans({k: v for k, v in labels.items() if v is not None},
                                 read_labels_csv(human, parse_quality))
    pair = report["judge_vs_human"]  # common: hi#1 (2/2), hi#2 (1/1), hi#3 (1/0), lo#1 (2/2)
    assert (pair["n_items"], pair["n_dropped"], pair["percent"]) == (4, 3, pytest.approx(0.75))
    # shares over 8 ratings: 0: 1/8, 1: 3/8, 2: 4/8 -> P_e = 26/64; kappa = (.75 - 26/64) / (1 - 26/64)
    assert pair["kappa"] == pytest.approx((0.75 - 26 / 64) / (1 - 26 / 64)) and report["humans"] is None
    ranked = judge_items(ranking_items(records, seed=1), judge, progress=False)
    assert all(r.correct for r in ranked) and summarise(ranked, "ranking")["accuracy"] == 1.0


def test_down_server_raises_endpoint_error_quickly():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    judge = make_backend(f"http:http://127.0.0.1:{port}", JudgeConfig(timeout=0.5, retries=0))
    start = time.perf_counter()
    with pytest.raises(EndpointError, match=f"127.0.0.1:{port}.*1 attempts"):
        judge.complete("hello")
    assert time.perf_counter() - start < 3


def test_cli_judge_against_stub(stub_url, records, tmp_path, capsys):
    from mtad_env.cli import main

    logs = tmp_path / "sim.jsonl"
    logs.write_text("".join(json.dumps(r) + "\n" for r in records))
    rank = {"lo": 0, "reg": 1, "hi": 2}
    rows = ["item_id,label,annotator"]
    for a, b in (("lo", "hi"), ("hi", "lo"), ("lo", "reg"), ("reg", "lo"), ("hi", "reg"), ("reg", "hi")):
        right = "A<B" if rank[a] < rank[b] else "B<A"
        flipped = "B<A" if right == "A<B" else "A<B"
        bob = flipped if {a, b} == {"hi", "reg"} else right  # bob disagrees on the hi/reg pair
        rows += [f"{a}|{b}|engagement,{right},ann", f"{a}|{b}|engagement,{bob},bob"]
    human = _write(tmp_path, "h.csv", "\n".join(rows) + "\n")
    out = tmp_path / "res" / "judge.json"
    rc = main(["judge", "--logs", str(logs), "--judge", f"http:{stub_url}", "--task", "ranking", "--human",
               str(human), "--out", str(out), "--json", "--retries", "0"])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    result = json.loads(captured.out)
    assert result["summary"]["accuracy"] == 1.0 and result["summary"]["n_items"] == 3
    agree = result["agreement"]
    assert agree["judge_vs_ann"]["percent"] == 1.0 and agree["judge_vs_bob"]["percent"] == pytest.approx(2 / 3)
    assert agree["all"]["n_items"] == 3 and agree["all"]["percent"] == pytest.approx(7 / 9)  # (1 + 1 + 1/3) / 3
    assert agree["humans"]["raters"] == ["ann", "bob"] and agree["all"]["n_dropped"] == 3  # other orientations
    saved = json.loads(out.read_text())
    assert len(saved["items"]) == 3 and all(it["correct"] and it["answer"] for it in saved["items"])
    rc = main(["judge", "--logs", str(logs), "--judge", "gpt4", "--task", "quality", "--out", str(out)])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "unknown judge 'gpt4'" in err[0]


# -- local HF judge -----------------------------------------------------------------------------------------------
def test_hf_judge_generates_from_a_local_folder(tmp_path):
    pack = Path(__file__).resolve().parents[1] / "mtad_env" / "data" / "pack"
    folder = tmp_path / "judge"
    shutil.copytree(pack / "base", folder)
    for file in (pack / "tokenizer").iterdir():
        shutil.copy(file, folder / file.name)
    judge = make_backend(f"hf:{folder}", JudgeConfig(max_new_tokens=3, device="cpu"))
    first = judge.complete("Answer: ")
    assert isinstance(first, str) and judge.complete("Answer: ") == first  # greedy
    with pytest.raises(InvalidValueError, match="not a loadable causal LM"):
        make_backend(f"hf:{tmp_path}", JudgeConfig())
