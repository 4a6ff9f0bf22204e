"""The training loop for the simulator LMs and their LoRA adapters: AdamW, linear decay, loss on the targets.

The loss runs the LM head on the positions that carry a target only: at the size of the shipped pack the head
(hidden x vocabulary) is about a third of the model's arithmetic, and in a ``dialogue``-format sequence two thirds
of the positions are context (system turns, the preamble), whose logits nobody reads.
"""

from __future__ import annotations

import functools
import itertools
import logging
import math
import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from training.lm_data import batches, token_batches

logger = logging.getLogger(__name__)
Batches = Callable[[torch.Generator | None, bool], Iterable[tuple[torch.Tensor, torch.Tensor]]]


def target_loss(model: torch.nn.Module, ids: torch.Tensor, labels: torch.Tensor,
                bf16: bool = False) -> tuple[torch.Tensor, int]:
    """``(mean cross-entropy over the target tokens, number of targets)`` of a causal LM (plain or PEFT-wrapped).

    ``labels`` are aligned with ``ids`` (-100 where there is no target), as for ``transformers``' own loss; the
    hidden state at position t predicts ``labels[t + 1]``. Rows are right-padded, so no attention mask is needed.
    ``bf16``: matrix products in bfloat16 under autocast (weights, optimizer state and the loss stay float32)
    where the hardware computes in bfloat16 (:func:`bf16_native`); elsewhere float32."""
    inner = model.get_base_model() if hasattr(model, "get_base_model") else model
    device = ids.device.type
    with torch.autocast(device, dtype=torch.bfloat16, enabled=bf16 and bf16_native(device)):
        hidden = inner.model(input_ids=ids).last_hidden_state
        targets = labels[:, 1:]
        chosen = targets != -100
        logits = inner.lm_head(hidden[:, :-1][chosen])
    return F.cross_entropy(logits.float(), targets[chosen]), int(chosen.sum())


@functools.cache
def bf16_native(device: str) -> bool:
    """Whether ``device`` ("cpu" or "cuda") multiplies bfloat16 matrices in hardware. A CPU without AVX-512 BF16 or
    AMX emulates them: on an AVX2-only AMD EPYC, a 4096 x 128 @ 128 x 512 product under bfloat16 autocast took
    ~38x the float32 time, so autocast there would slow training down instead of speeding it up."""
    if device == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    return device == "cpu" and bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


def batcher(encoded: Sequence, pad_id: int, batch_size: int = 16, max_tokens: int | None = None) -> Batches:
    """Batches of ``encoded``: by a token budget when ``max_tokens`` is set (``dialogue`` format), otherwise
    ``batch_size`` padded rows with an attention mask (``window`` format)."""
    if max_tokens:
        return lambda generator, shuffle: token_batches(encoded, max_tokens, pad_id, generator, shuffle)

    def rows(generator: torch.Generator | None, shuffle: bool):
        for ids, mask, labels in batches(encoded, batch_size, pad_id, generator, shuffle):
            yield ids, labels.masked_fill(mask == 0, -100)
    return rows


def train_steps(model: torch.nn.Module, data: Batches, steps: int, lr: float, seed: int, desc: str = "train",
                progress: bool = True, warmup: int = 0, bf16: bool = False, checkpoint: Path | None = None,
                every: int = 200) -> float:
    """Train ``model`` for ``steps`` optimizer steps over shuffled epochs of ``data``; returns the last loss.

    The learning rate rises linearly over ``warmup`` steps, then decays linearly to 5% of ``lr``. ``bf16``: see
    :func:`target_loss` (on CPUs with bfloat16 instructions it trains the shipped shape ~1.25x faster).
    ``checkpoint``: a file written every ``every`` steps (trainable weights, optimizer, schedule, data position);
    a run that finds it continues from there, on the same batches as a run that was never stopped."""
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: _lr_factor(s, steps, warmup))
    generator = torch.Generator().manual_seed(seed)
    state = _Progress.resume(checkpoint, model, optimizer, scheduler, generator)
    model.train()
    with tqdm(total=steps, initial=state.step, desc=desc, disable=not progress, leave=False) as bar:
        while state.step < steps:
            state.epoch_rng = generator.get_state()
            for ids, labels in itertools.islice(data(generator, True), state.skip, None):
                loss, _ = target_loss(model, ids, labels, bf16)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(params, 1.0)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
                state.advance(loss.detach().item())
                bar.update(1)
                bar.set_postfix(loss=f"{state.loss:.3f}")
                if checkpoint is not None and state.step % every == 0 and state.step < steps:
                    state.save(checkpoint, model, optimizer, scheduler)
                if state.step >= steps:
                    break
            state.skip, state.in_epoch = 0, 0
    model.eval()
    return state.loss


class _Progress:
    """Where a run of :func:`train_steps` is: step, last loss, and its place in the current epoch's batches."""

    def __init__(self) -> None:
        self.step, self.loss, self.skip, self.in_epoch = 0, math.nan, 0, 0
        self.epoch_rng: torch.Tensor | None = None

    def advance(self, loss: float) -> None:
        self.step, self.loss, self.in_epoch = self.step + 1, loss, self.in_epoch + 1

    def save(self, path: Path, model, optimizer, scheduler) -> None:
        trainable = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
        tmp = path.with_suffix(".tmp")
        torch.save({"step": self.step, "loss": self.loss, "in_epoch": self.in_epoch, "epoch_rng": self.epoch_rng,
                    "weights": trainable, "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict()},
                   tmp)
        os.replace(tmp, path)
        logger.info("checkpoint at step %d: %s", self.step, path)

    @classmethod
    def resume(cls, path: Path | None, model, optimizer, scheduler, generator: torch.Generator) -> _Progress:
        state = cls()
        if path is None or not path.exists():
            return state
        saved = torch.load(path, weights_only=True)  # our own file: tensors and numbers only
        params = dict(model.named_parameters())
        with torch.no_grad():
            for name, value in saved["weights"].items():
                params[name].copy_(value)
        optimizer.load_state_dict(saved["optimizer"])
        scheduler.load_state_dict(saved["scheduler"])
        generator.set_state(saved["epoch_rng"])
        state.step, state.loss, state.skip = saved["step"], saved["loss"], saved["in_epoch"]
        state.in_epoch = state.skip
        logger.info("resuming %s at step %d", path, state.step)
        return state


def _lr_factor(step: int, steps: int, warmup: int) -> float:
    if step < warmup:
        return (step + 1) / warmup
    return max(0.05, 1 - step / max(steps, 1))


@torch.no_grad()
def validation_loss(model: torch.nn.Module, data: Batches) -> float:
    """Mean token cross-entropy on the targets of ``data``."""
    model.eval()
    total, count = 0.0, 0
    for ids, labels in data(None, False):
        loss, n = target_loss(model, ids, labels)
        total += float(loss) * n
        count += n
    return total / max(count, 1)
