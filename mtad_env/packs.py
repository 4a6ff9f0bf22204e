"""Model packs: a tokenizer, a base causal LM and LoRA adapters (STS per profile, JTS), with a manifest.

Layout::

    PACK/manifest.json            preset, prompt format, seed, corpus/tokenizer hashes, backbone config, per-file SHA-256,
                                  adapters {profile: {path, val_loss}}, jts {path, val_loss}
    PACK/tokenizer/               tokenizer.json (+ config files)
    PACK/base/                    config.json, model.safetensors
    PACK/adapters/<profile>/      adapter_config.json, adapter_model.safetensors (PEFT format)
    PACK/jts/                     the joint adapter, same format

:func:`load_pack` checks every file against the manifest's hashes and the tokenizer against the base model before
anything is loaded, and loads weights from safetensors only (nothing is unpickled).
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mtad_env.errors import PackError

logger = logging.getLogger(__name__)
PACK_FORMAT = 1
SHIPPED_PACK = Path(__file__).parent / "data" / "pack"
_WEIGHT_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".ckpt")


def default_pack_path() -> Path:
    """The tiny pack shipped inside the package."""
    return SHIPPED_PACK


def file_sha256(path: Path) -> str:
    """SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class Pack:
    """A validated pack: its folder and manifest."""

    path: Path
    manifest: dict[str, Any]

    @property
    def adapters(self) -> dict[str, dict[str, Any]]:
        """Profile (canonical string) -> ``{"path", "val_loss"}``."""
        return self.manifest["adapters"]

    def adapter_path(self, profile: str) -> Path:
        """The folder of the STS adapter for ``profile``; raises naming the adapters present."""
        if profile not in self.adapters:
            msg = (f"pack {str(self.path)!r} has no adapter for profile {profile!r}; it has: "
                   f"{', '.join(sorted(self.adapters))}")
            raise PackError(msg)
        return self.path / self.adapters[profile]["path"]

    @property
    def prompt_format(self) -> str:
        """How the pack's models read a dialogue (``window`` or ``dialogue``; see :mod:`simulators.prompting`).
        Packs from before the ``dialogue`` format have no entry: theirs is ``window``."""
        return self.manifest.get("prompt_format", "window")

    @property
    def jts_path(self) -> Path:
        if not self.manifest.get("jts"):
            raise PackError(f"pack {str(self.path)!r} has no JTS adapter")
        return self.path / self.manifest["jts"]["path"]


def load_pack(path: str | Path | None = None) -> Pack:
    """Validate the pack at ``path`` (default: the shipped one); raises :class:`PackError` naming the bad file."""
    root = Path(path) if path else default_pack_path()
    manifest_path = root / "manifest.json"
    if not manifest_path.exists():
        raise PackError(f"{str(manifest_path)!r} not found: {str(root)!r} is not a model pack "
                        "(build one with `mtad-env train --preset tiny --out DIR`)")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise PackError(f"{str(manifest_path)!r} is not valid JSON: {exc}") from None
    if manifest.get("format") != PACK_FORMAT:
        raise PackError(f"{str(manifest_path)!r} has pack format {manifest.get('format')!r}; expected {PACK_FORMAT}")
    for rel, expected in manifest.get("files", {}).items():
        file = root / rel
        if file.suffix in _WEIGHT_SUFFIXES:
            raise PackError(f"{str(file)!r}: only safetensors weights are loaded (no pickle files)")
        if not file.exists():
            raise PackError(f"{str(file)!r} is missing from the pack")
        if file_sha256(file) != expected:
            raise PackError(f"{str(file)!r} does not match its hash in the manifest (truncated or modified)")
    tok_hash = file_sha256(root / "tokenizer" / "tokenizer.json")
    if tok_hash != manifest.get("tokenizer_sha256"):
        raise PackError(f"{str(root / 'tokenizer' / 'tokenizer.json')!r} is not the tokenizer this pack was built for")
    _check_vocab(root, manifest)
    return Pack(root, manifest)


def _check_vocab(root: Path, manifest: dict[str, Any]) -> None:
    config = json.loads((root / "base" / "config.json").read_text(encoding="utf-8"))
    tokenizer = json.loads((root / "tokenizer" / "tokenizer.json").read_text(encoding="utf-8"))
    n_tokens = len(tokenizer["model"]["vocab"]) + sum(
        1 for t in tokenizer.get("added_tokens", []) if t["content"] not in tokenizer["model"]["vocab"])
    if config["vocab_size"] < n_tokens:
        raise PackError(f"{str(root / 'base' / 'config.json')!r}: vocab_size {config['vocab_size']} is smaller than "
                        f"the tokenizer's {n_tokens} tokens: base model and tokenizer do not match")


def write_manifest(root: Path, manifest: dict[str, Any]) -> None:
    """Hash every file under ``root`` into the manifest and write it."""
    files = {str(p.relative_to(root)): file_sha256(p) for p in sorted(root.rglob("*"))
             if p.is_file() and p.name != "manifest.json" and "checkpoints" not in p.parts}
    manifest = {**manifest, "format": PACK_FORMAT, "files": files,
                "tokenizer_sha256": file_sha256(root / "tokenizer" / "tokenizer.json")}
    (root / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n", encoding="utf-8")
