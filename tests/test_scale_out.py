"""Scale-out on Ray: the same files for 1 and 2 workers as in one process, a SIGKILLed worker's shard rerun, a
killed driver resumed, and bad input refused in one line.

One local Ray cluster (2 CPUs) and one pool of 2 actors serve the module; the 1-worker runs use the pool's first
actor. The bad-input tests need no cluster.
"""

import contextlib
import copy
import dataclasses
import filecmp
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mtad_env.cli import main
from mtad_env.episode_log import load_episodes
from mtad_env.episode_runs import run_episodes
from simulators.corpus import CorpusGenerator, CorpusSpec

CLI = [sys.executable, "-m", "mtad_env.cli"]
SPEC = CorpusSpec(("regular", "engagement=high", "verbosity=low"), (("train", 30), ("test", 6)), seed=5,
                  n_regular_stats=300)
SIM = {"assistant": "template:0.1", "split": "test", "max_turns": 8}
PROFILES = ["verbosity=low", "regular", "engagement=high"] * 6


def _same_tree(a: Path, b: Path) -> None:
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    for rel in files:
        assert filecmp.cmp(a / rel, b / rel, shallow=False), rel


def _one_line_exit_2(argv, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    return err


@pytest.mark.parametrize("command", [["generate", "--n-test", "2", "--out", "OUT"], ["simulate", "--episodes", "1"],
                                     ["evaluate-suite", "paper", "--out", "OUT"]])
@pytest.mark.parametrize("workers", ["0", "-2"])
def test_workers_below_one_exit_2_naming_the_value(command, workers, tmp_path, capsys):
    argv = [a.replace("OUT", str(tmp_path / "out")) for a in command] + ["--workers", workers]
    err = _one_line_exit_2(argv, capsys)
    assert f"--workers {workers} must be an integer >= 1" in err and "drop --workers" in err
    assert not (tmp_path / "out").exists()  # refused before anything is written


def test_ray_missing_exits_2_with_the_install_command(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # makes `import ray` raise ImportError
    err = _one_line_exit_2(["simulate", "--episodes", "1", "--workers", "2"], capsys)
    assert 'pip install "mtad-env[ray]"' in err


def test_an_unreachable_address_fails_fast(capsys):
    pytest.importorskip("ray")
    with socket.socket() as free:  # a port nothing listens on
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    start = time.perf_counter()
    err = _one_line_exit_2(["simulate", "--episodes", "1", "--ray-address", f"127.0.0.1:{port}"], capsys)
    assert time.perf_counter() - start < 10
    assert f"127.0.0.1:{port}" in err and "ray start --head" in err
    err = _one_line_exit_2(["simulate", "--episodes", "1", "--ray-address", "nonsense"], capsys)
    assert "HOST:PORT" in err


class _FakeRay:
    def __init__(self, resources):
        self.resources = resources

    def cluster_resources(self):
        return self.resources


@pytest.mark.parametrize("resources, workers, share", [({"CPU": 2}, 2, 0.0), ({"CPU": 8, "GPU": 4}, 2, 1.0),
                                                       ({"CPU": 8, "GPU": 1}, 3, 0.33), ({"CPU": 8, "GPU": 4}, 8, 0.5)])
def test_actors_ask_for_an_even_share_of_the_clusters_gpus(resources, workers, share):
    from simulators.scale_out import ScaleOptions, _gpus_per_worker

    assert _gpus_per_worker(_FakeRay(resources), ScaleOptions(workers=workers), workers) == share
    assert _gpus_per_worker(_FakeRay(resources), ScaleOptions(workers, gpus_per_worker=0.25), workers) == 0.25


def test_more_workers_than_cluster_cpus_is_refused_rather_than_left_waiting():
    from mtad_env import InvalidValueError
    from simulators.scale_out import ScaleOptions, _pool_size

    with pytest.raises(InvalidValueError, match=r"--workers 5 is more than the 2 CPUs.*--workers 2 or fewer"):
        _pool_size(_FakeRay({"CPU": 2}), ScaleOptions(workers=5))
    assert _pool_size(_FakeRay({"CPU": 6}), ScaleOptions(address="auto")) == 6


def test_without_the_flags_nothing_imports_ray():
    code = ("import sys; from mtad_env.cli import main; "
            "assert main(['simulate', '--episodes', '1', '--json', '--max-turns', '2']) == 0; "
            "assert 'ray' not in sys.modules, 'ray imported'")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    ray = pytest.importorskip("ray")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


_OPEN = contextlib.ExitStack()


@pytest.fixture(scope="module")
def session(cluster):
    from simulators.scale_out import ScaleOptions, ray_session

    opened = _OPEN.enter_context(ray_session(ScaleOptions(workers=2)))
    opened.ray.get([actor.pid.remote() for actor in opened.pool.actors])  # started before any test's clock
    yield opened
    _close_session()


def _close_session():
    """Close the module's worker pool (its actors are killed; the cluster keeps running)."""
    _OPEN.close()


def _view(session, workers):
    pool = copy.copy(session.pool)
    pool.actors = session.pool.actors[:workers]
    return dataclasses.replace(session, pool=pool)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The corpus and the episode log of one process, without Ray."""
    out = tmp_path_factory.mktemp("one_process")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CACHE_HOME", str(out / "cache"))  # Regular statistics computed here, not read from a cache
        CorpusGenerator(SPEC, out / "corpus", progress=False).run()
    run_episodes(list(range(18)), log=out / "episodes.jsonl", batch_size=4, progress=False, profiles=PROFILES, **SIM)
    return out


def test_one_and_two_workers_write_the_files_of_one_process(session, reference, tmp_path, monkeypatch):
    from simulators.scale_corpus import ScaledCorpusGenerator
    from simulators.scale_out import run_episodes_scaled

    for workers in (1, 2):
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / f"cache{workers}"))  # statistics computed on Ray too
        ScaledCorpusGenerator(SPEC, tmp_path / f"corpus{workers}", _view(session, workers), progress=False).run()
        _same_tree(reference / "corpus", tmp_path / f"corpus{workers}")
        log = tmp_path / f"episodes{workers}.jsonl"
        run_episodes_scaled(_view(session, workers), list(range(18)), log=str(log), batch_size=4,
                            profiles=PROFILES, **SIM)
        assert log.read_bytes() == (reference / "episodes.jsonl").read_bytes()


def test_lm_workers_decode_the_episodes_of_one_process(session, tmp_path):
    from simulators.scale_out import run_episodes_scaled

    options = {"simulator": "sts", "assistant": "template", "split": "test", "max_turns": 2}
    seeds, profiles = [0, 1, 2, 3], ["verbosity=low", "regular"] * 2
    expected = run_episodes(seeds, log=tmp_path / "one.jsonl", batch_size=2, progress=False, profiles=profiles,
                            **options)
    got = run_episodes_scaled(session, seeds, log=str(tmp_path / "two.jsonl"), batch_size=2, profiles=profiles,
                              **options)
    assert got == expected and got[0]["simulator"] == "sts"
    assert (tmp_path / "two.jsonl").read_bytes() == (tmp_path / "one.jsonl").read_bytes()


def test_the_suite_simulates_on_the_session_into_the_logs_of_one_process(session, tmp_path):
    from evaluation.suite import QUICK, SuiteRun, _simulate, with_sizes

    config = with_sizes(QUICK, batch_size=4, assistant="template:0.1")
    logs = {}
    for name, opened in (("one_process", None), ("ray", session)):
        run = SuiteRun(tmp_path / name, None, config, session=opened)
        _simulate(run, "agenda_single", ["regular", "verbosity=low"], 5, simulator="agenda", split="test")
        logs[name] = run.log("agenda_single").read_bytes()
    assert logs["ray"] == logs["one_process"] and logs["ray"].count(b"\n") == 10


def test_an_error_raised_in_a_worker_reaches_the_driver_as_itself(session):
    from mtad_env import InvalidValueError
    from simulators.scale_out import run_episodes_scaled

    with pytest.raises(InvalidValueError, match="simulator 'nosuch'"):
        run_episodes_scaled(session, [0, 1], simulator="nosuch")


def test_a_sigkilled_worker_has_its_shard_rerun_nothing_lost_or_duplicated(session, reference, tmp_path):
    from simulators.scale_out import run_episodes_scaled

    pids = session.ray.get([actor.pid.remote() for actor in session.pool.actors])
    replaced = session.pool.replaced
    # Killed before the run, not from the first record: a fast worker can finish every shard it will ever get
    # before the first record is written, and a kill then tests nothing (seen on CI). Shards handed to the dead
    # actor fail with RayActorError exactly as in-flight ones do, and must be rerun on its replacement.
    os.kill(pids[1], signal.SIGKILL)
    deadline = time.monotonic() + 30
    while _alive(pids[1]) and time.monotonic() < deadline:
        time.sleep(0.05)
    log = tmp_path / "episodes.jsonl"
    run_episodes_scaled(session, list(range(18)), log=str(log), batch_size=1, profiles=PROFILES, **SIM)
    assert session.pool.replaced > replaced
    got = {(r["reset_seed"], r["user_profile"]): r for r in load_episodes(log)}
    assert len(got) == len(load_episodes(log)) == 18  # none lost, none twice
    assert got == {(r["reset_seed"], r["user_profile"]): r for r in load_episodes(reference / "episodes.jsonl")}


def _alive(pid: int) -> bool:
    """Whether a process still runs (a zombie, killed but not yet reaped, counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ", 1)[1][0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


def test_the_cli_runs_on_the_open_session_and_bench_scale_prints_its_keys(session, tmp_path, monkeypatch, capsys):
    import json

    from evaluation import scale_benchmarks

    assert main(["simulate", "--episodes", "3", "--workers", "2", "--json", "--max-turns", "4"]) == 0
    assert json.loads(capsys.readouterr().out)["episodes"] == 3
    monkeypatch.setattr(scale_benchmarks, "_warm", lambda *_: None)
    monkeypatch.setattr(scale_benchmarks, "_cache_regular_stats", lambda *_: None)
    monkeypatch.setattr(scale_benchmarks, "_generate", lambda view, spec: (10 * len(view.pool.actors), 1.0))
    monkeypatch.setattr(scale_benchmarks, "_simulate", lambda view, n: (4, 2.0 / len(view.pool.actors)))
    assert main(["bench", "scale", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert set(result) == {"generate", "simulate_sts", "ray_start_s"}
    assert result["generate"] == {"workers_1": 10.0, "workers_2": 20.0, "speedup": 2.0}
    assert set(result["simulate_sts"]) == {"workers_1", "workers_2", "speedup"}


def test_a_killed_driver_resumes_with_the_same_command(cluster, tmp_path):
    _close_session()  # this test's driver joins the cluster: free its 2 CPUs for the driver's own worker
    log = tmp_path / "episodes.jsonl"
    command = [*CLI, "simulate", "--episodes", "120", "--seed", "7", "--log", str(log), "--resume", "--json",
               "--workers", "1", "--ray-address", cluster]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and not (log.exists() and log.stat().st_size > 0):
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    written = len(log.read_bytes().splitlines())
    assert 0 < written < 120  # killed mid-run
    done = subprocess.run(command, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr
    run_episodes(list(range(7, 127)), log=tmp_path / "one_process.jsonl", batch_size=1, progress=False,
                 simulator="agenda", assistant="template", split="test", max_turns=20, seed=7)  # the CLI's defaults
    assert log.read_bytes() == (tmp_path / "one_process.jsonl").read_bytes()  # the episode cut by the kill redone
