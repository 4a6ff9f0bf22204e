"""Corpus generation: the B.4 filter, determinism, resume after SIGKILL, stats, bad input."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mtad_env.profiles import Profile
from simulators.corpus import CorpusGenerator, CorpusSpec, corpus_stats, passes_filter, read_corpus

CLI = [sys.executable, "-m", "mtad_env.cli"]
STATS = {"engagement": {"mean": 10.0, "std": 4.0}, "verbosity": {"mean": 4.0, "std": 1.0}}


def _turns(n, words_per_turn):
    return [{"intent": "next", "user": " ".join(["word"] * words_per_turn)} for _ in range(n)]


@pytest.mark.parametrize("profile, turns, ok", [
    ("engagement=high", _turns(12, 3), True),     # 12 >= 10 + 2
    ("engagement=high", _turns(11, 3), False),
    ("engagement=low", _turns(8, 3), True),       # 8 <= 10 - 2
    ("engagement=low", _turns(9, 3), False),
    ("engagement=high,verbosity=low", _turns(12, 3), True),
    ("engagement=high,verbosity=low", _turns(12, 4), False),
    ("regular", _turns(1, 1), True),
])
def test_filter_keeps_dialogues_half_a_std_beyond_the_regular_mean(profile, turns, ok):
    assert passes_filter(turns, Profile.parse(profile), STATS) is ok


def _spec(**kw):
    base = dict(profiles=("regular", "engagement=high", "verbosity=low"), n=(("train", 25), ("valid", 5)),
                seed=3, n_regular_stats=300)
    base.update(kw)
    return CorpusSpec(**base)


def test_generation_is_deterministic_and_filtered(tmp_path):
    CorpusGenerator(_spec(), tmp_path / "a", progress=False).run()
    CorpusGenerator(_spec(), tmp_path / "b", progress=False).run()
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*.jsonl"))
    assert len(files) == 6
    for f in files:
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes()
    stats = json.loads((tmp_path / "a" / "regular_stats.json").read_text())
    for rec in read_corpus(tmp_path / "a", "train"):
        assert passes_filter(rec["dialog"], Profile.parse(rec["user_profile"]), stats)
    table = corpus_stats(read_corpus(tmp_path / "a", "train"))
    assert table["engagement=high"]["n"] == 25
    assert table["engagement=high"]["metrics"]["engagement"]["mean"] > table["regular"]["metrics"]["engagement"]["mean"]


def test_tasks_never_cross_splits(tmp_path):
    CorpusGenerator(_spec(), tmp_path, progress=False).run()
    train = {r["task"]["id"] for r in read_corpus(tmp_path, "train")}
    valid = {r["task"]["id"] for r in read_corpus(tmp_path, "valid")}
    assert train and valid and not train & valid


def test_rerun_with_other_arguments_is_refused(tmp_path):
    CorpusGenerator(_spec(), tmp_path, progress=False).run()
    with pytest.raises(ValueError, match="seed differ"):
        CorpusGenerator(_spec(seed=4), tmp_path, progress=False).run()


def _generate_cmd(out):
    return [*CLI, "generate", "--profiles", "regular;verbosity=high;engagement=low", "--n-train", "400",
            "--seed", "5", "--out", str(out)]


def _lines(folder: Path) -> int:
    return sum(p.read_bytes().count(b"\n") for p in folder.rglob("*.jsonl")) if folder.exists() else 0


def test_sigkilled_generation_resumes_to_exactly_the_uninterrupted_corpus(tmp_path):
    subprocess.run(_generate_cmd(tmp_path / "whole"), check=True, capture_output=True)
    killed = tmp_path / "killed"
    for target in (150, 700):  # kill twice, at different points
        proc = subprocess.Popen(_generate_cmd(killed), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)
        deadline = time.time() + 120
        while _lines(killed) < target and proc.poll() is None and time.time() < deadline:
            time.sleep(0.01)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    subprocess.run(_generate_cmd(killed), check=True, capture_output=True)
    whole = sorted(p.relative_to(tmp_path / "whole") for p in (tmp_path / "whole").rglob("*.jsonl"))
    assert whole == sorted(p.relative_to(killed) for p in killed.rglob("*.jsonl"))
    for f in whole:
        assert (killed / f).read_bytes() == (tmp_path / "whole" / f).read_bytes()


def test_torn_last_line_is_dropped_on_resume(tmp_path):
    spec = _spec(profiles=("regular",), n=(("train", 10),))
    CorpusGenerator(spec, tmp_path / "ref", progress=False).run()
    CorpusGenerator(_spec(profiles=("regular",), n=(("train", 10),)), tmp_path / "t", progress=False).run()
    path = tmp_path / "t" / "train" / "regular.jsonl"
    data = path.read_bytes()
    cut = data.rfind(b"\n", 0, len(data) - 1)
    path.write_bytes(data[:cut + 1] + data[cut + 1:cut + 40])  # the last line torn
    CorpusGenerator(spec, tmp_path / "t", progress=False).run()
    assert path.read_bytes() == (tmp_path / "ref" / "train" / "regular.jsonl").read_bytes()
