"""Assemble the shipped task folders from the hand-written sources and the recipe composer.

Splits (deterministic for the seed): test = hand-written recipes only; valid = hand-written and composed;
train = the remaining hand-written recipes and composed ones; diy = the hand-written DIY tasks.
Run ``python -m training.build_domain_data`` to rebuild everything derived from the sources: the task folders,
the fluency scorer, the pool's score cache, the intent NLU and the Regular statistics used by rewards.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
from pathlib import Path

import numpy as np

from mtad_env.domain import DATA_DIR, task_from_dict
from training.recipe_composer import compose_recipes

logger = logging.getLogger(__name__)
SOURCES = Path(__file__).parent / "domain_sources"


def _load(name: str) -> list[dict]:
    return json.loads((SOURCES / name).read_text(encoding="utf-8"))


def _recipe(item: dict, task_id: str, author: str) -> dict:
    return {"id": task_id, "title": item["title"], "description": item.get("description", ""),
            "ingredients": item["ingredients"], "methods": item["methods"], "data_source": "recipe",
            "cuisine": item.get("cuisine", ""), "author": author}


def build_splits(seed: int = 0, n_test: int = 60, n_valid_hand: int = 30, n_valid_composed: int = 70,
                 n_composed: int = 900) -> dict[str, list[dict]]:
    """Every task record by split."""
    rng = np.random.default_rng(seed)
    hand = _load("recipes_hand_a.json") + _load("recipes_hand_b.json")
    seen: set[str] = set()
    hand = [h for h in hand if not (h["title"].lower() in seen or seen.add(h["title"].lower()))]
    hand = [hand[i] for i in rng.permutation(len(hand))]
    composed = compose_recipes(n_composed, seed, exclude_titles=frozenset(seen))
    ids = iter(f"recipe_{i:04d}" for i in range(1, 10_000))
    test = [_recipe(h, next(ids), "hand") for h in hand[:n_test]]
    valid = [_recipe(h, next(ids), "hand") for h in hand[n_test:n_test + n_valid_hand]]
    valid += [_recipe(c, next(ids), "composer") for c in composed[:n_valid_composed]]
    train = [_recipe(h, next(ids), "hand") for h in hand[n_test + n_valid_hand:]]
    train += [_recipe(c, next(ids), "composer") for c in composed[n_valid_composed:]]
    diy = [{"id": f"diy_{i:03d}", "title": d["title"], "description": d.get("description", ""),
            "tools": d["tools"], "materials": d.get("materials", []), "methods": d["methods"],
            "data_source": "diy", "author": "hand"} for i, d in enumerate(_load("diy_hand.json"), 1)]
    return {"train": train, "valid": valid, "test": test, "diy": diy}


def write_tasks(splits: dict[str, list[dict]], out: Path = DATA_DIR / "tasks") -> None:
    """Validate every task and write one ``<id>.json`` per task under ``out/<split>/``."""
    if out.exists():
        shutil.rmtree(out)
    for split, tasks in splits.items():
        (out / split).mkdir(parents=True)
        for task in tasks:
            task_from_dict(task, f"{split}/{task['id']}")
            (out / split / f"{task['id']}.json").write_text(json.dumps(task, indent=1, ensure_ascii=False) + "\n",
                                                             encoding="utf-8")
        logger.info("%s: %d tasks", split, len(tasks))


def build_all(seed: int = 0) -> dict[str, float]:
    """Tasks, then the fluency scorer, the pool's score cache, the NLU and the Regular statistics."""
    from mtad_env.atomic_files import write_json_atomic
    from mtad_env.domain import UtterancePool, load_tasks
    from mtad_env.pool_scores import pool_scores
    from simulators.agenda import AgendaUserSimulator
    from simulators.corpus import regular_statistics
    from training import fluency, nlu

    write_tasks(build_splits(seed))
    figures = {"fluency_auroc": fluency.train(seed)}
    pool_scores(UtterancePool.load())
    figures["nlu_heldout_accuracy"] = nlu.train(seed)["heldout_accuracy"]
    stats = regular_statistics(AgendaUserSimulator(), load_tasks("train"), 5000, seed)
    write_json_atomic(DATA_DIR / "regular_stats.json", stats)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tasks-only", action="store_true", help="rewrite the task folders only")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO)
    if args.tasks_only:
        write_tasks(build_splits(args.seed))
    else:
        print(json.dumps(build_all(args.seed)))  # noqa: T201 - the script's one line of output


if __name__ == "__main__":
    main()
