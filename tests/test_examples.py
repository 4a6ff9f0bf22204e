"""Smoke runs of the example scripts with tiny settings."""

import json
import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def test_train_assistant_example_runs_and_reports_all_policies(tmp_path):
    done = subprocess.run([sys.executable, str(EXAMPLES / "train_assistant.py"), "--timesteps", "256",
                           "--episodes-per-profile", "1", "--out", str(tmp_path), "--json"],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert set(result) == {"ppo", "random", "template"}
    for row in result.values():
        assert set(row) == {"task_completion_rate", "mean_return", "error_rate"}
    assert result["template"]["error_rate"] < result["random"]["error_rate"]
    assert (tmp_path / "learning_curve.png").stat().st_size > 1000


def test_train_assistant_example_trains_against_batched_lm_users(micro_pack, tmp_path):
    done = subprocess.run([sys.executable, str(EXAMPLES / "train_assistant.py"), "--simulator", "sts", "--pack",
                           str(micro_pack), "--n-envs", "3", "--timesteps", "64", "--episodes-per-profile", "1",
                           "--out", str(tmp_path), "--json"], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert set(result) == {"ppo", "random", "template"}
    assert (tmp_path / "monitor" / "train.monitor.csv").stat().st_size > 0


def test_evaluate_lm_simulators_example_runs_on_a_micro_pack(micro_pack, tmp_path):
    done = subprocess.run([sys.executable, str(EXAMPLES / "evaluate_lm_simulators.py"), "--pack", str(micro_pack),
                           "--episodes", "2", "--profiles", "regular;Concise;Verbose", "--reference-size", "10",
                           "--out", str(tmp_path)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    rows = [json.loads(line) for line in done.stdout.strip().splitlines()]
    assert [list(r) for r in rows] == [["sts"], ["jts"]]
    assert "verbosity" in rows[0]["sts"]["trends"]


def test_register_new_trait_example_runs_end_to_end(micro_pack, tmp_path):
    done = subprocess.run([sys.executable, str(EXAMPLES / "register_new_trait.py"), "--pack", str(micro_pack),
                           "--episodes", "2", "--dialogues", "20", "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])["mean_politeness"]
    assert set(result) == {"regular", "verbosity=low,politeness=high"}
    manifest = json.loads((tmp_path / "pack" / "manifest.json").read_text())
    assert "politeness=high" in manifest["adapters"]
    assert "adapters/politeness=high/adapter_model.safetensors" in manifest["files"]


def test_live_tolerance_factors_example_separates_more_with_stronger_stop_factors():
    import mtad_env

    done = subprocess.run([sys.executable, str(EXAMPLES / "live_tolerance_factors.py"), "--episodes", "40"],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    rows = [json.loads(line) for line in done.stdout.strip().splitlines()]
    assert rows[0]["factors"] == dict(mtad_env.traits()["tolerance"].agenda.factors)  # the shipped factors first
    separations = [r["high_minus_low_in_std"] for r in rows]
    assert len(rows) == 4 and separations == sorted(separations) and separations[-1] > 2 * separations[0]
