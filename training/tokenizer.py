"""Train the simulator's byte-level BPE tokenizer (``tokenizers``) on the corpus and the tasks, with the special
tokens of intents, profiles and prompt roles."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

from simulators.prompting import END, PAD, UNK, special_tokens


def train_tokenizer(texts: Iterable[str], vocab_size: int, out: Path) -> PreTrainedTokenizerFast:
    """Fit BPE on ``texts``, save it to ``out`` (tokenizer.json + config) and return it."""
    tok = Tokenizer(models.BPE(unk_token=UNK))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    specials = list(special_tokens())
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=specials, min_frequency=2,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(texts, trainer=trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token=UNK, pad_token=PAD, eos_token=END,
                                   additional_special_tokens=[t for t in specials if t not in (UNK, PAD, END)])
    out.mkdir(parents=True, exist_ok=True)
    fast.save_pretrained(out)
    return fast


def load_tokenizer(path: Path) -> PreTrainedTokenizerFast:
    """Load a tokenizer saved by :func:`train_tokenizer` (or any local Hugging Face tokenizer folder)."""
    return PreTrainedTokenizerFast.from_pretrained(path)
