"""Training presets: backbone size, corpus size and steps. ``micro`` is a throwaway pack for tests (< 2 min);
``tiny`` is the shipped pack (about 70 min on 2 CPU cores, 20 MB).

``tiny``'s adapters are rank 32 and train 300 steps: rank-8 adapters trained 120 steps learned each trait's overall
rates but not the one conditional behaviour, tolerance (stop right after a system error). On prompts after errors
and elsewhere (``tests/test_lm_pack.py``) tolerance=low stopped with probability 0.124 and 0.115; rank 32 x 300
steps gives 0.34 and 0.09. On the tolerance=low training dialogues after errors, 300 steps at rank 8 gave 0.20, at
rank 8 with the MLP adapted too 0.20, at rank 16 0.24, at rank 32 0.36, and full fine-tuning 0.39."""

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
                   valid_dialogues=10, base_steps=2200, adapter_steps=300, jts_steps=600, lora_rank=32, lora_alpha=64),
}


def get_preset(name: str) -> Preset:
    """The preset called ``name``; raises naming the valid presets."""
    if name not in PRESETS:
        raise unknown("preset", name, PRESETS)
    return PRESETS[name]
