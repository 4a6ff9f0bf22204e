"""A small training loop for causal LMs and their LoRA adapters (AdamW, linear decay, loss on completions)."""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence

import torch
from tqdm.auto import tqdm

from training.lm_data import batches

logger = logging.getLogger(__name__)


def train_steps(model: torch.nn.Module, encoded: Sequence, steps: int, batch_size: int, lr: float, pad_id: int,
                seed: int, desc: str = "train", progress: bool = True) -> float:
    """Train ``model`` for ``steps`` optimizer steps over shuffled epochs of ``encoded``; returns the last loss."""
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: max(0.05, 1 - s / max(steps, 1)))
    generator = torch.Generator().manual_seed(seed)
    model.train()
    step, loss_value = 0, math.nan
    with tqdm(total=steps, desc=desc, disable=not progress, leave=False) as bar:
        while step < steps:
            for ids, mask, labels in batches(encoded, batch_size, pad_id, generator):
                loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
                loss.backward()
                torch.nn.utils.clip_grad_norm_(params, 1.0)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
                step, loss_value = step + 1, loss.detach().item()
                bar.update(1)
                bar.set_postfix(loss=f"{loss_value:.3f}")
                if step >= steps:
                    break
    model.eval()
    return loss_value


@torch.no_grad()
def validation_loss(model: torch.nn.Module, encoded: Sequence, pad_id: int, batch_size: int = 32) -> float:
    """Mean token cross-entropy on the completions of ``encoded``."""
    model.eval()
    total, count = 0.0, 0
    for ids, mask, labels in batches(encoded, batch_size, pad_id, None, shuffle=False):
        n = int((labels[:, 1:] != -100).sum())
        total += float(model(input_ids=ids, attention_mask=mask, labels=labels).loss) * n
        count += n
    return total / max(count, 1)
