"""Add a made-up trait, politeness, end to end: register it, generate dialogues for it with the agenda simulator,
train its LoRA adapter into a copy of a pack, and mix it with a built-in adapter through mTAD.

    python examples/register_new_trait.py --out runs/politeness [--pack PACK] [--episodes 12]

Prints the mean politeness of Regular users and of ``politeness=high,verbosity=low`` users simulated with mTAD.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
from pathlib import Path

import numpy as np

import mtad_env
from mtad_env.metrics import words
from mtad_env.packs import default_pack_path
from simulators.corpus import CorpusGenerator, CorpusSpec, read_corpus
from training.adapter_trainer import train_trait_adapter

POLITE = {"please", "thanks", "thank", "could", "would", "kindly", "sorry", "appreciate"}


def politeness(utterance: str) -> float:
    """Share of polite words in an utterance (0..1)."""
    toks = words(utterance)
    return sum(t in POLITE for t in toks) / len(toks) if toks else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/politeness")
    parser.add_argument("--pack", default=None, help="pack to copy (default: the shipped pack)")
    parser.add_argument("--episodes", type=int, default=12)
    parser.add_argument("--dialogues", type=int, default=80)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    out = Path(args.out)

    # 1. Register the trait: its metric, and (by default) the Table 10 threshold rule for the agenda simulator.
    mtad_env.register_trait("politeness", "utterance", politeness, aliases=("Rude", "Polite"), replace=True)

    # 2. Dialogues of polite users from the agenda simulator (filtered like the built-in traits).
    spec = CorpusSpec(("politeness=high",), (("train", args.dialogues),), seed=0, n_regular_stats=500)
    CorpusGenerator(spec, out / "corpus", progress=False).run()
    dialogues = out / "polite_dialogues.jsonl"
    dialogues.write_text("".join(json.dumps(r) + "\n" for r in read_corpus(out / "corpus", "train")))

    # 3. Train the adapter into a copy of the pack.
    pack = out / "pack"
    if pack.exists():
        shutil.rmtree(pack)
    shutil.copytree(Path(args.pack) if args.pack else default_pack_path(), pack,
                    ignore=shutil.ignore_patterns("checkpoints"))
    train_trait_adapter(pack, "politeness", "high", dialogues, progress=False)

    # 4. Simulate Regular users and polite, concise users (mTAD mixes the two adapters).
    result = {}
    for profile in ("regular", "Polite & Concise"):
        envs = [mtad_env.make(profile=profile, simulator="mtad", pack=str(pack), assistant="template", seed=0)
                for _ in range(min(args.episodes, 12))]
        values = []
        for start in range(0, args.episodes, len(envs)):
            for info in mtad_env.rollout_many(envs, seed=start):
                values.append(info["episode_metrics"].get("politeness"))
        defined = [v for v in values if v is not None]  # None: the episode had no valid user turn
        result[str(mtad_env.Profile.parse(profile))] = float(np.mean(defined)) if defined else None
    print(json.dumps({"mean_politeness": result}))  # noqa: T201 - the script's output


if __name__ == "__main__":
    main()
