"""The simulator's base LM: a small ``MistralForCausalLM`` trained from scratch, or a local Hugging Face causal LM
(``--backbone PATH``) with our special tokens added; and LoRA (PEFT) on embeddings, q, k, v, o and the LM head."""

from __future__ import annotations

import logging
from pathlib import Path

import torch

from simulators.prompting import END, PAD, UNK, special_tokens
from training.presets import Preset

logger = logging.getLogger(__name__)


def new_backbone(preset: Preset, tokenizer, backbone: str | None = None):
    """A freshly initialised small Mistral, or the local ``backbone`` resized to the tokenizer."""
    from transformers import AutoModelForCausalLM, MistralForCausalLM

    if backbone:
        model = AutoModelForCausalLM.from_pretrained(backbone, torch_dtype=torch.float32)
        model.resize_token_embeddings(len(tokenizer))
        return model
    return MistralForCausalLM(small_mistral_config(preset, len(tokenizer), pad_token_id=tokenizer.pad_token_id,
                                                   eos_token_id=tokenizer.eos_token_id))


def small_mistral_config(preset: Preset, vocab_size: int, pad_token_id: int | None = None,
                         eos_token_id: int | None = None):
    """The ``MistralConfig`` of a new base for ``preset``: MLP 3x the width, half as many key/value heads."""
    from transformers import MistralConfig

    return MistralConfig(vocab_size=vocab_size, hidden_size=preset.hidden, intermediate_size=preset.hidden * 3,
                         num_hidden_layers=preset.layers, num_attention_heads=preset.heads,
                         num_key_value_heads=max(1, preset.heads // 2), max_position_embeddings=1024,
                         pad_token_id=pad_token_id, eos_token_id=eos_token_id, bos_token_id=None,
                         tie_word_embeddings=False)


def save_base(model, folder: Path) -> None:
    """Save weights as safetensors with the config."""
    model.save_pretrained(folder, safe_serialization=True)


def adapt_backbone_tokenizer(backbone: Path, out: Path):
    """The backbone's tokenizer with our special tokens added, saved to ``out``."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(backbone)
    tokenizer.add_special_tokens({"pad_token": PAD, "eos_token": END, "unk_token": UNK,
                                  "additional_special_tokens": [t for t in special_tokens()
                                                                if t not in (PAD, END, UNK)]})
    tokenizer.save_pretrained(out)
    return tokenizer


def lora_config(preset: Preset):
    """Appendix D: LoRA on embeddings, q, k, v, o and the LM head."""
    from peft import LoraConfig

    return LoraConfig(r=preset.lora_rank, lora_alpha=preset.lora_alpha, lora_dropout=0.05,
                      target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "embed_tokens", "lm_head"],
                      task_type="CAUSAL_LM")


def lora_model(base_folder: Path, preset: Preset):
    """A fresh LoRA-wrapped copy of the saved base model."""
    from peft import get_peft_model
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(base_folder, use_safetensors=True)
    return get_peft_model(base, lora_config(preset))
