"""``mtad-env train-adapter``: add an adapter for a trait intensity to a pack (see
:func:`training.adapter_trainer.train_trait_adapter`)."""

from __future__ import annotations

import argparse

from mtad_env.cli.output import emit
from training.adapter_trainer import train_trait_adapter


def add_arguments(sub: argparse._SubParsersAction) -> None:
    """Add ``train-adapter`` to the CLI."""
    t = sub.add_parser("train-adapter", help="train an adapter for a trait intensity from your own dialogues")
    t.add_argument("--trait", required=True, help="a registered trait (built-in or added with register_trait)")
    t.add_argument("--level", required=True, choices=("low", "high"), help="the intensity the dialogues show")
    t.add_argument("--dialogues", required=True,
                   help="JSON-lines dialogue records ({'dialog': [{'intent', 'user', 'system'}, ...]})")
    t.add_argument("--pack", required=True, help="the pack to add the adapter to")
    t.add_argument("--steps", type=int, default=None, help="training steps (default: the pack preset's)")
    t.add_argument("--seed", type=int, default=0, help="seed of the initialisation and the batches")
    t.add_argument("--json", action="store_true", help="print the adapter's manifest entry as one JSON object")


def run_train_adapter(args: argparse.Namespace) -> int:
    pack = train_trait_adapter(args.pack, args.trait, args.level, args.dialogues, args.steps, args.seed)
    entry = pack.adapters[f"{args.trait}={args.level}"]
    emit({"pack": str(pack.path), "adapter": entry}, args.json,
         f"adapter {args.trait}={args.level} added to {pack.path} (val loss {entry['val_loss']})")
    return 0
