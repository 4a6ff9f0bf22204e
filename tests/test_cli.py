"""The mtad-env command line: its contract (one entry point, stable command names and JSON keys) and one-line exit-2
errors on bad input."""

import json
import os
import stat
import subprocess
import sys

import pytest

TRAITS = ["engagement", "cooperativeness", "exploration", "tolerance", "verbosity", "emotion", "fluency",
          "repetition"]


def run(*args, umask=None):
    preexec = None if umask is None else (lambda: os.umask(umask))
    return subprocess.run([sys.executable, "-m", "mtad_env", *args], capture_output=True, text=True, timeout=300,
                          preexec_fn=preexec)


def one_line_error(done, *fragments):
    """``done`` exited 2 with exactly one stderr line that holds every fragment."""
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1, (done.returncode, done.stderr)
    assert all(f in lines[0] for f in fragments), lines[0]
    return lines[0]


def test_generate_then_stats_json(tmp_path):
    out = tmp_path / "corpus"
    done = run("generate", "--profiles", "regular;Verbose", "--n-train", "20", "--seed", "1", "--out", str(out),
               "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["report"]["train"]["verbosity=high"]["accepted"] == 20
    stats = run("stats", str(out), "--json")
    assert stats.returncode == 0
    profiles = json.loads(stats.stdout)["profiles"]
    assert set(profiles) == {"regular", "verbosity=high"} and profiles["regular"]["n"] == 20
    assert set(profiles["regular"]["metrics"]) == set(TRAITS)
    assert set(profiles["regular"]["metrics"]["tolerance"]) == {"mean", "std"}
    table = run("stats", str(out))
    assert "verbosity=high" in table.stdout and "±" in table.stdout


def test_simulate_json_keys_and_log(tmp_path):
    log = tmp_path / "episodes.jsonl"
    done = run("simulate", "--profile", "Patient", "--simulator", "agenda", "--assistant", "template",
               "--episodes", "4", "--split", "test", "--seed", "2", "--log", str(log), "--json")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["episodes"] == 4 and set(summary["metrics"]) == set(TRAITS)
    assert {"degeneration_rate", "end_reasons", "task_completion_rate"} <= set(summary)
    assert sum(summary["end_reasons"].values()) == 4
    assert len(log.read_text().splitlines()) == 4


def test_simulate_prints_dialogues_readably():
    done = run("simulate", "--profile", "Concise", "--episodes", "1", "--seed", "0")
    assert done.returncode == 0 and "USER [start]:" in done.stdout and "SYSTEM" in done.stdout


def test_bench_generate_json():
    done = run("bench", "generate", "--json", "--seconds", "0.5")
    assert done.returncode == 0 and json.loads(done.stdout)["dialogues_per_s"] > 0


@pytest.mark.parametrize("args, message", [
    (("generate", "--profiles", "verbosity=loud", "--n-train", "1", "--out", "x"), "valid: low, neutral, high"),
    (("generate", "--profiles", "Chatty", "--n-train", "1", "--out", "x"), "unknown profile part 'Chatty'"),
    (("generate", "--n-train", "-3", "--out", "x"), "-3 must be >= 0"),
    (("generate", "--n-train", "1", "--out", "x", "--tasks", "/nonexistent"), "does not exist"),
    (("stats", "/nonexistent"), "does not exist"),
    (("simulate", "--split", "holdout"), "invalid choice: 'holdout'"),
    (("simulate", "--simulator", "agnda"), "did you mean 'agenda'"),
    (("simulate", "--assistant", "robot"), "valid: template"),
    (("simulate", "--profile", "Sleepy"), "unknown profile part 'Sleepy'"),
    (("bench", "nothing"), "invalid choice"),
])
def test_bad_input_exits_2_with_one_line(tmp_path, monkeypatch, capsys, args, message):
    from mtad_env.cli import main

    monkeypatch.chdir(tmp_path)
    try:
        status = main(list(args))
    except SystemExit as exc:  # argparse's own errors
        status = exc.code
    err = capsys.readouterr().err
    assert status == 2 and message in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("args", [("simulate", "--simulator", "agnda"), ("stats", "/nonexistent")])
def test_bad_input_in_a_real_process_prints_no_traceback(args):
    done = run(*args)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_every_subcommand_has_help():
    for sub in ("generate", "stats", "simulate", "bench"):
        assert run(sub, "--help").returncode == 0


@pytest.mark.parametrize("args, fragments", [
    (("simulate", "--assistant", "template:1.5", "--episodes", "1"), ("'1.5'", "[0, 1]", "template:0.1")),
    (("simulate", "--assistant", "template:-0.1", "--episodes", "1"), ("'-0.1'", "[0, 1]", "template:0.1")),
    (("simulate", "--simulator", "agenda", "--pack", "/nope"), ("--pack '/nope'", "agenda", "drop --pack")),
    (("simulate", "--simulator", "agenda", "--weights", "0.7,0.3"), ("--weights '0.7,0.3'", "drop --weights")),
    (("simulate", "--simulator", "sts", "--weights", "0.7,0.3"), ("--weights '0.7,0.3'", "mtad, mtad-la")),
    (("simulate", "--batch-size", "0"), ("--batch-size", "0 must be >= 1")),
    (("simulate", "--episodes", "0"), ("--episodes", "0 must be >= 1")),
    (("simulate", "--max-turns", "0"), ("--max-turns", "0 must be >= 1")),
    (("simulate", "--resume"), ("--resume needs --log",)),
    (("generate", "--out", "x"), ("nothing to generate", "--n-train")),
])
def test_options_that_would_do_nothing_or_crash_exit_2_in_one_line(tmp_path, args, fragments):
    done = subprocess.run([sys.executable, "-m", "mtad_env", *args], capture_output=True, text=True, timeout=300,
                          cwd=tmp_path)
    one_line_error(done, *fragments)
    assert not (tmp_path / "x").exists()


def test_no_command_and_a_misspelt_one_name_the_program_once():
    line = one_line_error(run(), "no command given", "simulate")
    assert line.startswith("mtad-env: error:")
    line = one_line_error(run("simulat"), "unknown command 'simulat'", "did you mean 'simulate'?")
    assert line.startswith("mtad-env: error:")
    line = one_line_error(run("simulate", "--split", "tst"), "invalid choice: 'tst'", "did you mean 'test'?")
    assert line.startswith("mtad-env simulate: error:")


def test_lm_commands_print_no_loading_bar_or_library_warning():
    done = run("simulate", "--profile", "regular", "--simulator", "sts", "--assistant", "template", "--episodes", "1",
               "--seed", "5", "--max-turns", "2", "--json")
    assert done.returncode == 0 and done.stderr == "", done.stderr
    assert json.loads(done.stdout)["episodes"] == 1
    one_line_error(run("simulate", "--profile", "Patient & Concise", "--simulator", "sts", "--episodes", "1"),
                   "STS uses one adapter")


def test_written_corpus_files_get_the_umask_permissions(tmp_path):
    out = tmp_path / "corpus"
    assert run("generate", "--profiles", "regular", "--n-train", "2", "--out", str(out), umask=0o022).returncode == 0
    written = [p for p in out.rglob("*") if p.is_file()]
    assert {"report.json", "manifest.json"} <= {p.name for p in written}
    assert {oct(stat.S_IMODE(p.stat().st_mode)) for p in written} == {oct(0o644)}


def test_generate_says_where_and_stats_shows_whole_names_regular_first(tmp_path):
    out = tmp_path / "corpus"
    done = run("generate", "--profiles", "verbosity=high;regular;engagement=low", "--n-train", "3", "--out", str(out))
    assert done.returncode == 0 and f"9 dialogues in {out}" in done.stdout.splitlines()[-1]
    header, *rows = run("stats", str(out)).stdout.splitlines()
    assert header.split() == ["profile", "n", *TRAITS]
    assert [r.split()[0] for r in rows] == ["regular", "engagement=low", "verbosity=high"]


def test_every_option_has_help_text_and_shows_its_default():
    import argparse

    from mtad_env.cli import build_parser

    parser = build_parser()
    subs = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
    missing = [f"{name} {action.dest}" for name, sub in subs.items() for action in sub._actions
               if not action.help]
    assert missing == []
    text = run("simulate", "--help").stdout
    assert "episodes to run (default: 3)" in " ".join(text.split())
    assert "(default: 0)" in run("generate", "--help").stdout
