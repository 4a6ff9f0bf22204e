"""Agreement between raters (LLM judges and humans): percent agreement, Fleiss' kappa and the human-label CSV.

Ratings are ``{rater: {item_id: label}}``; only the items that every rater labelled are compared (Fleiss' kappa
needs the same number of ratings per item), and the result says how many items were left out.

Human labels are read from a CSV file with a header row and the columns

    item_id,label[,annotator]

``item_id`` is the id the judge output lists (``DIALOG_ID#TURN`` for quality, ``ID_A|ID_B|TRAIT`` for ranking);
``label`` is a score 0-2 (quality) or an order such as ``A<B`` (ranking); the optional ``annotator`` column names
the human who gave it (default ``human``), so one file may hold several annotators. Other columns are ignored.
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mtad_env.errors import DataFormatError, InvalidValueError

logger = logging.getLogger(__name__)
Label = Hashable
Ratings = Mapping[str, Mapping[str, Label]]


@dataclass(frozen=True)
class Agreement:
    """Agreement of ``raters`` over ``n_items`` common items (``n_dropped`` items lacked some rater's label).

    ``percent`` is the mean over items of the share of agreeing rater pairs (Fleiss' P-bar; for two raters the
    plain share of items with the same label). ``kappa`` is Fleiss' kappa.
    """

    raters: tuple[str, ...]
    n_items: int
    n_dropped: int
    percent: float
    kappa: float
    categories: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {**asdict(self), "raters": list(self.raters), "categories": list(self.categories)}


def count_table(ratings: Sequence[Sequence[Label]]) -> tuple[np.ndarray, list[Label]]:
    """``(items x categories counts, categories)`` from one row of labels per item (every row the same length)."""
    categories = sorted({label for row in ratings for label in row}, key=str)
    index = {c: i for i, c in enumerate(categories)}
    table = np.zeros((len(ratings), len(categories)), dtype=float)
    for i, row in enumerate(ratings):
        for label in row:
            table[i, index[label]] += 1
    return table, categories


def percent_agreement(table: np.ndarray) -> float:
    """Mean share of agreeing rater pairs per item (Fleiss' P-bar) of an items x categories count table."""
    table = np.asarray(table, dtype=float)
    n = table.sum(axis=1)
    if table.size == 0 or np.any(n != n[0]) or n[0] < 2:
        raise InvalidValueError("an agreement table needs at least one item and the same number (>= 2) of "
                                f"ratings per item; got rating counts {sorted(set(n.tolist()))}")
    n_raters = n[0]
    return float(np.mean((np.sum(table**2, axis=1) - n_raters) / (n_raters * (n_raters - 1))))


def fleiss_kappa(table: np.ndarray) -> float:
    """Fleiss' kappa of an items x categories count table (equal ratings per item).

    statsmodels (``statsmodels.stats.inter_rater.fleiss_kappa``) is not installed in this project's environment
    and it is a large dependency for five lines of numpy, so the textbook formula is used:
    kappa = (P-bar - P_e) / (1 - P_e), with P_e the sum of squared category shares.

    When every rating falls in one single category, P_e = P-bar = 1 and the formula is 0/0; as the raters agree
    perfectly, kappa is defined as 1.0 there (a logged choice, which keeps the JSON outputs numeric).
    """
    table = np.asarray(table, dtype=float)
    p_bar = percent_agreement(table)
    shares = table.sum(axis=0) / table.sum()
    p_e = float(np.sum(shares**2))
    if np.isclose(p_e, 1.0):
        logger.info("every rating is in one category; Fleiss' kappa is undefined (0/0) and reported as 1.0")
        return 1.0
    return float((p_bar - p_e) / (1.0 - p_e))


def agreement(ratings: Ratings) -> Agreement:
    """Percent agreement and Fleiss' kappa of two or more raters over the items they all labelled.

    Raises:
        InvalidValueError: fewer than 2 raters, or no item labelled by all of them.
    """
    raters = tuple(ratings)
    if len(raters) < 2:
        raise InvalidValueError(f"agreement needs at least 2 raters; got {len(raters)} ({', '.join(raters)})")
    all_items = set().union(*(set(r) for r in ratings.values()))
    common = sorted(set.intersection(*(set(r) for r in ratings.values())))
    if not common:
        sizes = ", ".join(f"{r}: {len(ratings[r])} items" for r in raters)
        raise InvalidValueError(f"raters {', '.join(raters)} share no labelled item ({sizes}); check the item ids")
    dropped = len(all_items) - len(common)
    if dropped:
        logger.warning("agreement of %s: %d of %d items lack a label from some rater and are left out",
                       ", ".join(raters), dropped, len(all_items))
    table, categories = count_table([[ratings[r][item] for r in raters] for item in common])
    return Agreement(raters, len(common), dropped, percent_agreement(table), fleiss_kappa(table),
                     tuple(str(c) for c in categories))


def compare_with_humans(judge: Mapping[str, Label], humans: Ratings, judge_name: str = "judge") -> dict[str, Any]:
    """Agreement of the judge with every human, of all raters together, and among the humans (if 2 or more).

    Returns ``{"all": {...}, "judge_vs_<annotator>": {...}, "humans": {...} | None}`` (:meth:`Agreement.as_dict`).
    """
    if judge_name in humans:
        raise InvalidValueError(f"annotator name {judge_name!r} is reserved for the LLM judge; rename it")
    out: dict[str, Any] = {"all": agreement({judge_name: judge, **humans}).as_dict()}
    for name, labels in humans.items():
        out[f"{judge_name}_vs_{name}"] = agreement({judge_name: judge, name: labels}).as_dict()
    out["humans"] = agreement(humans).as_dict() if len(humans) >= 2 else None
    return out


def _row_label(row: Mapping[str, str | None], where: str,
               normalise: Callable[[str], Label | None] | None) -> tuple[str, Label]:
    item, text = (row.get("item_id") or "").strip(), (row.get("label") or "").strip()
    if not item or not text:
        raise DataFormatError(f"{where}: needs a non-empty item_id and label (got {item!r}, {text!r})")
    label = normalise(text) if normalise else text
    if label is None:
        raise DataFormatError(f"{where}: label {text!r} is not valid here (quality: 0, 1 or 2; ranking: an "
                              "order such as A<B)")
    return item, label


def read_labels_csv(path: str | Path, normalise: Callable[[str], Label | None] | None = None) -> dict[str, dict]:
    """Human labels from a CSV file (see the module docstring) as ``{annotator: {item_id: label}}``.

    Args:
        path: the CSV file.
        normalise: maps a label text to its canonical label, None for an invalid one (e.g. the judge parser).

    Raises:
        InvalidValueError: a missing file; DataFormatError: a missing column, an empty or invalid cell, or an item
        labelled twice by one annotator, naming the file and line.
    """
    path = Path(path)
    if not path.is_file():
        raise InvalidValueError(f"human label file {str(path)!r} does not exist; write a CSV with the header "
                                "item_id,label[,annotator]")
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            labels = _read_rows(csv.DictReader(fh), path, normalise)
    except (csv.Error, UnicodeDecodeError) as exc:
        raise DataFormatError(f"{str(path)!r} is not a readable UTF-8 CSV file ({exc})") from None
    if not labels:
        raise DataFormatError(f"{str(path)!r} holds no labels below its header")
    return labels


def _read_rows(reader: csv.DictReader, path: Path,
               normalise: Callable[[str], Label | None] | None) -> dict[str, dict]:
    labels: dict[str, dict] = {}
    missing = {"item_id", "label"} - set(reader.fieldnames or [])
    if missing:
        raise DataFormatError(f"{str(path)!r}: the header lacks column(s) {', '.join(sorted(missing))}; "
                              f"expected item_id,label[,annotator], got {','.join(reader.fieldnames or [])!r}")
    for row in reader:
        where = f"{str(path)!r} line {reader.line_num}"
        item, label = _row_label(row, where, normalise)
        annotator = (row.get("annotator") or "").strip() or "human"
        if item in labels.setdefault(annotator, {}):
            raise DataFormatError(f"{where}: item {item!r} is labelled twice by annotator {annotator!r}")
        labels[annotator][item] = label
    return labels
