"""``stats --paper``: our Table 13 analog beside the paper's, deviations in paper Regular standard deviations."""

import pytest

from evaluation.paper_tables import TABLE13, TRAIT_ORDER
from evaluation.table13 import compare, format_comparison


def _stats(shift: float) -> dict:
    return {p: {"n": 10, "metrics": {t: {"mean": m + shift * TABLE13["regular"]["metrics"][t][1], "std": s}
                                     for t, (m, s) in row["metrics"].items()}}
            for p, row in TABLE13.items()}


def test_table13_holds_the_17_single_trait_profiles_and_eight_metrics():
    assert len(TABLE13) == 17 and TABLE13["regular"]["n"] == 9000
    assert all(tuple(row["metrics"]) == TRAIT_ORDER for row in TABLE13.values())
    assert TABLE13["tolerance=high"]["metrics"]["cooperativeness"] == (0.78, 0.13)


@pytest.mark.parametrize("shift, close", [(0.4, True), (0.6, False)])
def test_deviation_is_in_paper_regular_stds(shift, close):
    out = compare(_stats(shift), {"regular": 1.0})
    cell = out["profiles"]["engagement=high"]["metrics"]["engagement"]
    assert cell["deviation"] == pytest.approx(shift, abs=0.01) and cell["close"] is close
    assert (out["far"] == []) is close
    assert out["profiles"]["tolerance=high"]["paper_acceptance_rate"] == pytest.approx(1122 / 9000, abs=1e-3)
    assert all(o["ordered"] for o in out["order"].values())
    assert "engagement=high" in format_comparison(out)
