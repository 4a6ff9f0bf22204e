"""``mtad-env train``: build a model pack (see :mod:`training.pack_builder`)."""

from __future__ import annotations

import argparse

from mtad_env.cli.output import emit
from training.presets import PRESETS


def add_arguments(sub: argparse._SubParsersAction) -> None:
    """Add ``train`` to the CLI."""
    t = sub.add_parser("train", help="train the simulator LM pack (tokenizer, base, STS adapters, JTS)")
    t.add_argument("--preset", required=True, choices=tuple(PRESETS),
                   help="micro: a throwaway pack for tests (minutes); tiny: the shipped pack's recipe (about an hour)")
    t.add_argument("--out", required=True, help="pack folder to write")
    t.add_argument("--corpus", default=None, help="a corpus from `mtad-env generate` (default: generate one)")
    t.add_argument("--backbone", default=None, help="a local Hugging Face causal-LM folder instead of a new base")
    t.add_argument("--seed", type=int, default=0, help="seed of the corpus, the initialisation and the batches")
    t.add_argument("--resume", action="store_true", help="continue an interrupted run in --out")
    t.add_argument("--json", action="store_true", help="print the pack's validation losses as one JSON object")


def run_train(args: argparse.Namespace) -> int:
    from training.pack_builder import TrainConfig, build_pack

    pack = build_pack(TrainConfig(args.preset, args.out, args.corpus, args.backbone, args.seed, args.resume))
    m = pack.manifest
    summary = {"pack": str(pack.path), "preset": m["preset"], "base_val_loss": m["base_val_loss"],
               "jts_val_loss": m["jts"]["val_loss"],
               "adapter_val_loss": {p: a["val_loss"] for p, a in sorted(m["adapters"].items())}}
    lines = [f"pack written to {pack.path} ({m['preset']})", f"base val loss {m['base_val_loss']:.3f}",
             f"JTS val loss {m['jts']['val_loss']:.3f}"]
    lines += [f"  {p:28s} {a['val_loss']:.3f}" for p, a in sorted(m["adapters"].items())]
    emit(summary, args.json, "\n".join(lines))
    return 0
