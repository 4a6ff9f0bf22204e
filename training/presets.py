"""Training presets: backbone shape, prompt format, corpus size and training budget.

``micro`` is a throwaway pack for tests (well under a minute); ``tiny`` is the shipped pack. Both train in the
``task_dialogue`` prompt format (the task, then a whole dialogue per sequence, the loss on every user turn: see
:mod:`training.lm_data`), with batches of a token budget rather than a row count. Adapters train on at most
``adapter_dialogues`` of their profile's dialogues; the base and JTS on every training dialogue.
"""

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
    max_len: int             # tokens per sequence (window: prompt cut from the left; dialogue: later turns dropped)
    dialogues: int           # corpus dialogues per profile (train split)
    valid_dialogues: int     # per profile, for validation loss
    base_steps: int          # backbone pretraining steps on all profiles
    adapter_steps: int       # steps per STS adapter
    jts_steps: int           # steps for the joint adapter
    batch_size: int = 16     # rows per batch (window format)
    batch_tokens: int = 0    # tokens per batch, padding included (dialogue format)
    prompt_format: str = "task_dialogue"
    adapter_dialogues: int | None = None  # per profile for STS adapters (None: all)
    lr_base: float = 2e-3
    lr_adapter: float = 2e-3
    warmup_steps: int = 0
    bf16: bool = True        # matrix products in bfloat16 under autocast while training (weights stay float32)
    lora_rank: int = 8
    lora_alpha: int = 16


PRESETS: dict[str, Preset] = {
    "micro": Preset("micro", hidden=48, layers=1, heads=2, vocab_size=600, max_len=384, dialogues=12,
                    valid_dialogues=2, base_steps=30, adapter_steps=3, jts_steps=6, batch_tokens=2048),
    "tiny": Preset("tiny", hidden=128, layers=2, heads=4, vocab_size=2500, max_len=768, dialogues=5000,
                   valid_dialogues=100, base_steps=4000, adapter_steps=200, jts_steps=2400, batch_tokens=8192,
                   adapter_dialogues=2000, warmup_steps=100, lora_rank=32, lora_alpha=64),
}


def get_preset(name: str) -> Preset:
    """The preset called ``name``; raises naming the valid presets."""
    if name not in PRESETS:
        raise unknown("preset", name, PRESETS)
    return PRESETS[name]
