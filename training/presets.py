"""Training presets: backbone size, corpus size and steps. ``micro`` is a throwaway pack for tests (< 2 min);
``tiny`` is the shipped pack (<= 45 min on 2 CPU cores, <= 40 MB)."""

from __future__ import annotations

from dataclasses import dataclass

from mtad_env.errors import unknown


@dataclass(frozen=True)
class Preset:
    """One training recipe."""

    name: str
    hidden: int              # model width
    layers: int              # decoder layers
    heads: int               # attention heads (key/value heads: half)
    vocab_size: int          # BPE vocabulary incl. special tokens
    max_len: int             # tokens per example (prompt cut from the left)
    dialogues: int           # corpus dialogues per profile (train split)
    valid_dialogues: int     # per profile, for validation loss
    base_steps: int          # backbone pretraining steps on all profiles
    adapter_steps: int       # steps per STS adapter
    jts_steps: int           # steps for the joint adapter
    batch_size: int = 16
    lr_base: float = 2e-3
    lr_adapter: float = 2e-3
    lora_rank: int = 8
    lora_alpha: int = 16


PRESETS: dict[str, Preset] = {
    "micro": Preset("micro", hidden=48, layers=1, heads=2, vocab_size=600, max_len=160, dialogues=12,
                    valid_dialogues=2, base_steps=30, adapter_steps=3, jts_steps=6, batch_size=8),
    "tiny": Preset("tiny", hidden=128, layers=2, heads=4, vocab_size=2500, max_len=192, dialogues=160,
                   valid_dialogues=10, base_steps=2200, adapter_steps=120, jts_steps=600),
}


def get_preset(name: str) -> Preset:
    """The preset called ``name``; raises naming the valid presets."""
    if name not in PRESETS:
        raise unknown("preset", name, PRESETS)
    return PRESETS[name]
