"""``mtad-env doctor``: the installation report, its JSON keys, and a failing check turned into a FAIL with a fix."""

import json
import subprocess
import sys

import mtad_env
from mtad_env import cli
from mtad_env.cli import doctor as cli_doctor
from mtad_env.cli.doctor import FAIL, OK, Check, CheckSpec


def test_doctor_json_reports_every_check_and_ok():
    done = subprocess.run([sys.executable, "-m", "mtad_env", "doctor", "--json"], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(done.stdout)
    assert set(result) == {"checks", "ok"} and result["ok"] is True
    assert all(set(c) == {"name", "status", "detail", "fix"} for c in result["checks"])
    assert all(c["status"] in ("ok", "warn", "FAIL") for c in result["checks"])
    names = {c["name"] for c in result["checks"]}
    assert {"python", "package numpy", "package torch", "package bitsandbytes", "torch device", "tasks",
            "utterance pool", "pool score cache", "fluency model", "NLU model", "smoke episode", "LM pack"} <= names
    by_name = {c["name"]: c for c in result["checks"]}
    assert by_name["tasks"]["status"] == "ok" and by_name["tasks"]["detail"].startswith("train ")
    assert by_name["smoke episode"]["status"] == "ok" and by_name["python"]["status"] == "ok"
    assert all(c["fix"] for c in result["checks"] if c["status"] != "ok")


def test_a_failing_check_is_a_fail_row_with_a_fix(monkeypatch):
    def broken(split, tasks_dir=None):
        raise mtad_env.DataFormatError(f"task folder for {split!r} is gone")

    monkeypatch.setattr(mtad_env, "load_tasks", broken)
    spec = next(s for s in cli_doctor.CHECKS if s.name == "tasks")
    [row] = cli_doctor.run_check(spec)
    assert row.status == FAIL and "is gone" in row.detail and "DataFormatError" in row.detail
    assert row.fix and "reinstall" in row.fix
    assert row.line().startswith("FAIL  tasks") and "(fix: reinstall" in row.line()


def test_a_fail_makes_the_command_exit_1_and_ok_false(monkeypatch, capsys):
    def crash():
        raise RuntimeError("boom")

    monkeypatch.setattr(cli_doctor, "CHECKS", (
        CheckSpec("fine", lambda: [Check("fine", OK, "all good")], "nothing"),
        CheckSpec("broken", crash, "do the fix"),
    ))
    assert cli.main(["doctor", "--json"]) == 1
    result = json.loads(capsys.readouterr().out)
    assert result["ok"] is False
    assert result["checks"][1] == {"name": "broken", "status": "FAIL", "detail": "RuntimeError: boom",
                                   "fix": "do the fix"}
    assert cli.main(["doctor"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("ok    fine") and out[1].startswith("FAIL  broken") and "(fix: do the fix)" in out[1]
    assert "1 failed" in out[-1]


def test_lm_pack_missing_module_is_reported_not_available(monkeypatch):
    monkeypatch.setitem(sys.modules, "mtad_env.packs", None)  # makes the import raise ModuleNotFoundError
    [row] = cli_doctor.check_lm_pack()
    assert (row.name, row.status, row.detail) == ("LM pack", "warn", "not available in this installation")


def test_version_floor_is_enforced(monkeypatch):
    monkeypatch.setattr(cli_doctor, "_installed_version", lambda module, dist: "0.9.1")
    row = cli_doctor._package_check("numpy", "numpy", "1.24")
    assert row.status == FAIL and "older than 1.24" in row.detail and row.fix == "pip install -U 'numpy>=1.24'"


def test_a_stale_score_cache_is_a_warning_with_a_fix(monkeypatch, tmp_path):
    import mtad_env.domain

    pool = mtad_env.UtterancePool.load()
    shipped = json.loads((mtad_env.domain.DATA_DIR / "utterances.scores.json").read_text(encoding="utf-8"))
    monkeypatch.setattr(mtad_env.domain, "DATA_DIR", tmp_path)
    cache = tmp_path / "utterances.scores.json"
    assert cli_doctor._score_cache_check(pool).status == "warn"  # missing
    cache.write_text(json.dumps({**shipped, "scorers": {**shipped["scorers"], "fluency": "fluency-hashed:old"}}))
    row = cli_doctor._score_cache_check(pool)
    assert row.status == "warn" and "fluency scores were made by another scorer" in row.detail and row.fix
    cache.write_text(json.dumps({**shipped, "pool_sha256": "0" * 64}))
    row = cli_doctor._score_cache_check(pool)
    assert row.status == "warn" and "stale" in row.detail and "pool_scores" in row.fix
