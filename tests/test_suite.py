"""The paper suite end to end on the shipped pack, at tiny sizes: tables, sweeps, report, resume, bad input."""

import json

import pytest

from evaluation.suite import QUICK, run_suite, with_sizes
from evaluation.suite_results import table4
from evaluation.sweeps import monotonic
from mtad_env import InvalidValueError
from mtad_env.cli import main
from mtad_env.episode_log import load_episodes

TINY = with_sizes(QUICK, episodes=2, diy_episodes=1, reference=6, sweep_weights=(0.0, 1.0), sweep_episodes=2,
                  resamples=20, batch_size=8, single_profiles="regular;verbosity=low;verbosity=high",
                  multi_profiles="engagement=high,verbosity=high", sweep_traits=("verbosity",))


def _episodes(path):
    return sorted(((r["user_profile"], r["reset_seed"]), r["dialog"]) for r in load_episodes(path))


@pytest.fixture(scope="module")
def suite(tmp_path_factory):
    out = tmp_path_factory.mktemp("suite")
    return out, run_suite("paper", out, config=TINY)  # the shipped pack: the micro one degenerates at once


def test_suite_writes_every_table_the_sweeps_and_the_report(suite):
    out, result = suite
    assert set(result["table2"]["verbosity"]) == {"low", "regular", "high"}
    assert set(result["table2"]["verbosity"]["low"]) == {"sts", "jts"}
    assert result["table2"]["verbosity"]["low"]["sts"] is not None
    assert set(result["table4"]["avg"]) == {"sampling", "mtad", "mtad-la"} and "2" in result["table4"]
    assert result["table5"]["single"]["sts"]["dialogues"] == 3 * TINY.episodes
    assert result["table3"]["verbosity"]["sts"]["holds"] in (True, False)
    assert result["sweeps"]["figure9"]["verbosity"]["weights"] == [0.0, 1.0]
    assert set(result["sweeps"]["figure10"][0]["series"]) == {"engagement", "verbosity"}
    assert result["language"]["reference"]["agenda"]["invented_word_rate"] == 0.0
    assert result["language"]["single"]["sts"]["user_turns"] > 0 and set(result["language"]["multi"]) == {
        "sampling", "mtad", "mtad-la"}
    report = (out / "report.md").read_text()
    for heading in ("Table 2 analog", "Table 3 analog", "Table 4 analog", "Table 5 analog", "Figures 9-10",
                    "Language quality per simulator"):
        assert heading in report
    assert "(0.17)" in report  # the paper's STS distance for verbosity=low sits beside ours
    assert (out / "sweeps.png").stat().st_size > 1000
    assert (out / "reports" / "sts_single" / "report.md").exists()
    assert json.loads((out / "results.json").read_text())["table4"] == result["table4"]


def test_a_killed_stage_resumes_to_the_same_episodes(suite):
    out, _ = suite
    log = out / "logs" / "mtad_multi.jsonl"
    complete = _episodes(log)
    lines = log.read_text().splitlines(keepends=True)
    log.write_text("".join(lines[:1]) + lines[1][: len(lines[1]) // 2])  # one episode and a torn line
    (out / "stages" / "multi.json").unlink()
    run_suite("paper", out, config=TINY)
    assert _episodes(log) == complete


def test_a_finished_suite_is_not_simulated_again(suite):
    out, _ = suite
    before = {p.name: p.stat().st_mtime_ns for p in (out / "logs").iterdir()}
    run_suite("paper", out, config=TINY)
    assert {p.name: p.stat().st_mtime_ns for p in (out / "logs").iterdir()} == before


def test_resuming_with_other_sizes_is_refused(suite):
    out, _ = suite
    with pytest.raises(InvalidValueError, match="other settings"):
        run_suite("paper", out, config=with_sizes(TINY, episodes=3))


def test_unknown_suite_exits_2(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["evaluate-suite", "tables", "--out", str(tmp_path)])
    assert exc.value.code == 2 and "invalid choice" in capsys.readouterr().err
    with pytest.raises(InvalidValueError, match="unknown suite 'tables'"):
        run_suite("tables", tmp_path)


def test_monotonic_and_table4_grouping():
    assert monotonic([0, 0.5, 1], [1.0, 2.0, 3.0]) == {"increasing": True, "spearman": pytest.approx(1.0)}
    assert monotonic([0, 0.5, 1], [1.0, 3.0, 2.0])["increasing"] is False
    assert monotonic([0, 1], [1.0, None]) == {"increasing": None, "spearman": None}
    multi = {"mtad": {"profiles": {
        "engagement=high,verbosity=high": {"distance": {"engagement": 1.0, "verbosity": 2.0}},
        "engagement=low,exploration=low,verbosity=low": {"distance": {"engagement": 3.0, "verbosity": None}}}}}
    t4 = table4(multi)
    assert t4["2"]["mtad"]["engagement"] == 1.0 and t4["3"]["mtad"]["engagement"] == 3.0
    assert t4["avg"]["mtad"]["engagement"] == 2.0 and t4["avg"]["mtad"]["verbosity"] == 2.0
