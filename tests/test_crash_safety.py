"""Killed with SIGKILL at a random moment and resumed, episode logging and pack training lose and duplicate
nothing (corpus generation has its own test in test_corpus.py)."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

CLI = [sys.executable, "-m", "mtad_env"]


def _kill_when(cmd, ready, timeout=300):
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + timeout
    while not ready() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.005)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def _lines(path: Path) -> int:
    return path.read_bytes().count(b"\n") if path.exists() else 0


def _simulate(log, *extra):
    return [*CLI, "simulate", "--profile", "Patient", "--episodes", "120", "--seed", "4", "--log", str(log),
            "--json", *extra]


def test_killed_simulation_resumes_to_exactly_the_uninterrupted_log_and_summary(tmp_path):
    whole = subprocess.run(_simulate(tmp_path / "whole.jsonl"), capture_output=True, text=True, check=True)
    log = tmp_path / "killed.jsonl"
    for target in np.random.default_rng(0).integers(5, 100, size=2):
        _kill_when(_simulate(log, "--resume"), lambda: _lines(log) >= target)
    resumed = subprocess.run(_simulate(log, "--resume"), capture_output=True, text=True, check=True)
    assert json.loads(resumed.stdout) == json.loads(whole.stdout)
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert sorted(r["reset_seed"] for r in records) == list(range(4, 124))  # nothing lost, nothing twice
    by_seed = {json.loads(line)["reset_seed"]: line for line in (tmp_path / "whole.jsonl").read_text().splitlines()}
    assert all(by_seed[r["reset_seed"]] == json.dumps(r, ensure_ascii=False) for r in records)


@pytest.mark.slow
def test_killed_training_resumes_to_the_uninterrupted_pack(micro_pack, tmp_path):
    out = tmp_path / "pack"
    cmd = [*CLI, "train", "--preset", "micro", "--out", str(out), "--seed", "0"]
    progress = out / "checkpoints" / "progress.json"
    _kill_when(cmd, lambda: progress.exists() and len(json.loads(progress.read_text() or "{}").get("adapters", {})) >= 3)
    subprocess.run([*cmd, "--resume"], capture_output=True, check=True, timeout=600)
    for f in sorted(micro_pack.rglob("*.safetensors")):
        assert (out / f.relative_to(micro_pack)).read_bytes() == f.read_bytes(), f
