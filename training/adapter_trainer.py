"""``mtad-env train-adapter``: train an STS adapter for a (new) trait intensity from a user's own dialogues.

The dialogues are JSON lines, one dialogue record each (:class:`mtad_env.records.DialogueRecord`:
``{"dialog": [{"intent", "user", "system"}, ...]}``); the adapter is trained on the pack's base like the
built-in ones, saved under ``PACK/adapters/<trait>=<level>`` and added to the pack's manifest, so that
``make(profile="<trait>=<level>", simulator="mtad", pack=PACK)`` finds it once the trait is registered with :func:`mtad_env.register_trait`.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np

from mtad_env.errors import DataFormatError, InvalidValueError
from mtad_env.packs import Pack, load_pack, write_manifest
from training.presets import get_preset


def read_dialogues(path: Path) -> list[dict]:
    """The records of a JSON-lines dialogue file; raises naming the file and line."""
    if not path.is_file():
        raise DataFormatError(f"dialogue file {str(path)!r} does not exist")
    records = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            raise DataFormatError(f"{str(path)!r} line {n} is not valid JSON") from None
        if not isinstance(rec, dict) or not isinstance(rec.get("dialog"), list):
            raise DataFormatError(f"{str(path)!r} line {n}: expected an object with a 'dialog' list of turns")
        records.append(rec)
    if not records:
        raise DataFormatError(f"dialogue file {str(path)!r} holds no dialogues")
    return records


def train_trait_adapter(pack_path: str | Path, trait: str, level: str, dialogues: str | Path,
                        steps: int | None = None, seed: int = 0, progress: bool = True) -> Pack:
    """Train and add the adapter ``<trait>=<level>`` to the pack; returns the re-validated pack."""
    from training.pack_builder import encode_records, train_lora
    from training.tokenizer import load_tokenizer

    if level not in ("low", "high"):
        raise InvalidValueError(f"level {level!r} must be low or high")
    if not trait.isidentifier() or trait != trait.lower():
        raise InvalidValueError(f"trait name {trait!r} must be a lowercase identifier")
    pack = load_pack(pack_path)
    preset = dataclasses.replace(get_preset(pack.manifest["preset"]), prompt_format=pack.prompt_format)
    tokenizer = load_tokenizer(pack.path / "tokenizer")
    name = f"{trait}={level}"
    records = [{**rec, "user_profile": name} for rec in read_dialogues(Path(dialogues))]
    encoded = encode_records(records, tokenizer, preset, False, seed)
    order = np.random.default_rng(seed).permutation(len(encoded))
    encoded = [encoded[i] for i in order]
    n_valid = len(encoded) // 10
    loss = train_lora(pack.path / "base", preset, encoded[n_valid:], encoded[:n_valid],
                      steps or preset.adapter_steps, tokenizer.pad_token_id, seed,
                      pack.path / "adapters" / name, progress)
    manifest = {k: v for k, v in pack.manifest.items() if k not in ("files", "format", "tokenizer_sha256")}
    manifest["adapters"] = {**manifest["adapters"],
                            name: {"path": f"adapters/{name}", "val_loss": None if np.isnan(loss) else loss}}
    write_manifest(pack.path, manifest)
    return load_pack(pack.path)
