"""Text-policy RL for the assistant: a causal LM talks with simulated users and learns from the environment's
reward with TRL's GRPO (the ``rl`` extra: ``pip install "mtad-env[rl]"``).

1. Warm start (:func:`warm_start`): supervised fine-tuning on :class:`~agents.TemplateAssistant`'s responses in
   dialogues with simulated users on train recipes, the loss on the assistant's tokens only. A short one leaves an
   assistant that talks sensibly and still errs.
2. GRPO (:func:`build_grpo_trainer`): TRL's ``GRPOTrainer`` with a ``rollout_func`` (:class:`EnvironmentRollout`)
   that plays whole episodes (:mod:`training.text_dialogue`): the assistant's turns are the policy's tokens, the
   simulated user's turns are returned as ``env_mask`` zeros, which TRL leaves out of the loss, and the reward is
   the episode's return from the environment (its reward table or ``reward_fn``). Each prompt of the dataset is an
   episode spec (task, profile, seed), so the ``num_generations`` episodes of a group meet the same user on the same
   task and differ only by what the assistant says. The return per user profile is logged through TRL's
   ``log_metric`` (``return/<profile>`` in ``trainer.state.log_history``) and ``logging``.
3. Evaluation (:func:`evaluate_assistant`): greedy episodes on held-out recipes, one row per episode.

Nothing here imports TRL until a GRPO function runs; without it they raise :class:`MissingExtraError` with the
install line.
"""

from __future__ import annotations

import logging
import math
import sys
import warnings
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from mtad_env.errors import InvalidValueError, MissingExtraError, unknown
from mtad_env.packs import SHIPPED_PACK
from mtad_env.profiles import single_trait_profiles
from training.text_dialogue import (DialogueConfig, DialogueFormat, Episode, EnvPool, EpisodeSpec, LMResponder,
                                    TurnEncoder, episode_specs, model_limit, play_episodes, template_responder)

logger = logging.getLogger(__name__)
INSTALL_HINT = 'pip install "mtad-env[rl]"'
DEVICES = ("auto", "cpu", "cuda")
LOSS_TYPES = ("dapo", "grpo", "dr_grpo", "bnpo", "cispo", "sapo")
PLAY_BATCH = 64  # episodes played in lockstep at most


def import_trl() -> tuple[Any, Any, Any]:
    """``(GRPOConfig, GRPOTrainer, datasets.Dataset)``, or a one-line error that says how to install them."""
    try:
        from datasets import Dataset
        from trl import GRPOConfig, GRPOTrainer
    except ImportError:
        if sys.version_info < (3, 11):
            raise MissingExtraError(f"text-policy RL needs TRL 1.16+, which needs Python 3.11 or newer (this is "
                                    f"{sys.version_info[0]}.{sys.version_info[1]}); run it on 3.11+ after "
                                    f"`{INSTALL_HINT}`") from None
        raise MissingExtraError(f"text-policy RL needs TRL, which is not installed; install it with "
                                f"`{INSTALL_HINT}`") from None
    return GRPOConfig, GRPOTrainer, Dataset


def _positive(config: Any, names: Sequence[str]) -> None:
    for name in names:
        value = getattr(config, name)
        if not isinstance(value, int) or value < 1:
            raise InvalidValueError(f"{name}={value!r} must be a positive integer")


@dataclass(frozen=True)
class WarmStartConfig:
    """Supervised warm start: ``dialogues_per_profile`` template dialogues per profile on train recipes, then
    ``steps`` AdamW steps of ``batch_size`` dialogues at ``lr`` (linear decay to a tenth)."""

    dialogues_per_profile: int = 24
    steps: int = 150
    batch_size: int = 8
    lr: float = 2e-3
    seed: int = 0

    def __post_init__(self) -> None:
        _positive(self, ("dialogues_per_profile", "batch_size"))
        if not isinstance(self.steps, int) or self.steps < 0:
            raise InvalidValueError(f"steps={self.steps!r} must be an integer >= 0 (0: no warm start)")


@dataclass(frozen=True)
class GRPORunConfig:
    """GRPO: ``steps`` optimizer steps, each on ``groups_per_step`` episode specs x ``num_generations`` episodes
    sampled at ``temperature``; ``beta`` the KL weight (0: no reference model), ``loss_type`` TRL's."""

    steps: int = 60
    num_generations: int = 8
    groups_per_step: int = 4
    lr: float = 3e-4
    temperature: float = 0.7
    beta: float = 0.04
    loss_type: str = "dapo"
    seed: int = 0
    output_dir: str = "runs/text_assistant/grpo"

    def __post_init__(self) -> None:
        _positive(self, ("steps", "groups_per_step"))
        if not isinstance(self.num_generations, int) or self.num_generations < 2:
            raise InvalidValueError(f"num_generations={self.num_generations!r} must be an integer >= 2: GRPO "
                                    "compares the episodes of a group")
        if self.loss_type not in LOSS_TYPES:
            raise unknown("loss_type", self.loss_type, LOSS_TYPES)
        if not self.temperature > 0:
            raise InvalidValueError(f"temperature={self.temperature!r} must be > 0: GRPO samples its episodes")


def resolve_device(device: str) -> str:
    """``auto``: CUDA when present, else the CPU."""
    if device not in DEVICES:
        raise unknown("device", device, DEVICES)
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def load_policy(model_path: str | Path | None = None, tokenizer_path: str | Path | None = None,
                device: str = "auto"):
    """``(model, tokenizer)``: a local Hugging Face causal LM (default: the shipped pack's base, with the pack's
    tokenizer), in float32 on ``device``; a tokenizer without a pad token pads with its end-of-sequence token."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model_path = Path(model_path) if model_path else SHIPPED_PACK / "base"
    if tokenizer_path is None:
        tokenizer_path = model_path if (model_path / "tokenizer_config.json").exists() else SHIPPED_PACK / "tokenizer"
    for kind, path in (("model", model_path), ("tokenizer", Path(tokenizer_path))):
        if not path.is_dir():
            raise InvalidValueError(f"{kind} directory {str(path)!r} does not exist; give a local Hugging Face "
                                    f"{kind} folder")
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_path)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(model_path, dtype=torch.float32)
    return model.to(resolve_device(device)), tokenizer


def encoder_for(tokenizer, dialogue: DialogueConfig) -> TurnEncoder:
    return TurnEncoder(tokenizer, DialogueFormat.for_tokenizer(tokenizer, dialogue.task_steps))


def play(specs: Sequence[EpisodeSpec], respond, encoder: TurnEncoder, dialogue: DialogueConfig, split: str,
         max_len: int | None = None, desc: str = "episodes") -> list[Episode]:
    """:func:`~training.text_dialogue.play_episodes` in batches of :data:`PLAY_BATCH`, with a progress bar."""
    pool, episodes = EnvPool(dialogue, split), []
    for start in tqdm(range(0, len(specs), PLAY_BATCH), desc=desc, leave=False):
        episodes += play_episodes(specs[start:start + PLAY_BATCH], respond, encoder, pool, max_len)
    return episodes


# -- warm start -------------------------------------------------------------------------------------------------
def template_episodes(tokenizer, dialogue: DialogueConfig, per_profile: int, seed: int,
                      split: str = "train") -> list[Episode]:
    """Dialogues of :class:`~agents.TemplateAssistant` with simulated users of the 17 single-trait profiles."""
    encoder = encoder_for(tokenizer, dialogue)
    specs = episode_specs(split, single_trait_profiles(), per_profile, seed)
    return play(specs, template_responder(encoder, seed), encoder, dialogue, split, desc="template dialogues")


def sft_rows(episodes: Sequence[Episode], max_len: int | None = None) -> list[tuple[list[int], list[int]]]:
    """``(ids, labels)`` per episode: labels are the assistant's tokens, -100 on the prompt and the user's."""
    rows = []
    for e in episodes:
        ids = e.prompt_ids + e.completion_ids
        labels = [-100] * len(e.prompt_ids) + [t if m else -100 for t, m in zip(e.completion_ids, e.env_mask)]
        rows.append((ids[:max_len], labels[:max_len]) if max_len else (ids, labels))
    return rows


def sft_loss(model, rows: Sequence[tuple[list[int], list[int]]], pad_id: int) -> torch.Tensor:
    """Mean cross-entropy of the model on the labelled tokens of ``rows`` (right-padded into one batch)."""
    device = next(model.parameters()).device
    width = max(len(ids) for ids, _ in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    labels = torch.full((len(rows), width), -100, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for r, (row_ids, row_labels) in enumerate(rows):
        ids[r, :len(row_ids)], labels[r, :len(row_ids)] = torch.tensor(row_ids), torch.tensor(row_labels)
        mask[r, :len(row_ids)] = 1
    out = model(input_ids=ids.to(device), attention_mask=mask.to(device), labels=labels.to(device))
    return out.loss


def warm_start(model, tokenizer, dialogue: DialogueConfig, config: WarmStartConfig,
               rows: Sequence[tuple[list[int], list[int]]] | None = None) -> list[float]:
    """Fine-tune ``model`` in place on template dialogues (or on ``rows`` from :func:`sft_rows`); returns the
    loss of every step."""
    if rows is None:
        episodes = template_episodes(tokenizer, dialogue, config.dialogues_per_profile, config.seed)
        rows = sft_rows(episodes, model_limit(model))
    if config.steps == 0:
        return []
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=config.lr, weight_decay=0.0)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: max(0.1, 1.0 - s / config.steps))
    rng, order, losses = np.random.default_rng(config.seed), [], []
    pad = tokenizer.pad_token_id
    model.train()
    for _ in tqdm(range(config.steps), desc="warm start", leave=False):
        if len(order) < config.batch_size:
            order = list(rng.permutation(len(rows)))
        batch, order = [rows[i] for i in order[:config.batch_size]], order[config.batch_size:]
        loss = sft_loss(model, batch, pad)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(float(loss.detach()))
    model.eval()
    logger.info("warm start: %d steps on %d template dialogues, loss %.3f -> %.3f", config.steps, len(rows),
                float(np.mean(losses[:5])), float(np.mean(losses[-5:])))
    return losses


# -- GRPO -------------------------------------------------------------------------------------------------------
class EnvironmentRollout:
    """TRL's ``rollout_func``: plays the episodes the prompts name with the trainer's model, sampling at the
    trainer's temperature, and returns their tokens, ``env_mask``, log-probabilities and returns."""

    def __init__(self, tokenizer, dialogue: DialogueConfig, split: str = "train", seed: int = 0) -> None:
        self.encoder, self.dialogue, self.split, self.seed = encoder_for(tokenizer, dialogue), dialogue, split, seed
        self.pool = EnvPool(dialogue, split)
        self.calls = 0

    def __call__(self, prompts: list, trainer) -> dict[str, list]:
        model = trainer.accelerator.unwrap_model(trainer.model)
        was_training = model.training
        model.eval()
        respond = LMResponder(model, self.encoder, self.dialogue.max_new_tokens, trainer.temperature,
                              seed=self.seed + self.calls)
        self.calls += 1
        specs = [EpisodeSpec.from_prompt(p) for p in prompts]
        episodes = play_episodes(specs, respond, self.encoder, self.pool, model_limit(model))
        model.train(was_training)
        return {"prompt_ids": [e.prompt_ids for e in episodes], "completion_ids": [e.completion_ids for e in episodes],
                "logprobs": [e.logprobs for e in episodes], "env_mask": [e.env_mask for e in episodes],
                "episode_return": [e.episode_return for e in episodes], "profile": [e.spec.profile for e in episodes],
                "end_reason": [e.end_reason for e in episodes]}


def returns_by_profile(profiles: Sequence[str], returns: Sequence[float]) -> dict[str, float]:
    """The mean return of each profile (the per-trait breakdown)."""
    groups: dict[str, list[float]] = defaultdict(list)
    for profile, value in zip(profiles, returns):
        groups[profile].append(float(value))
    return {profile: float(np.mean(values)) for profile, values in sorted(groups.items())}


def episode_return(prompts: list, completions: list, episode_return: list[float], profile: list[str],
                   log_metric=None, **kwargs: Any) -> list[float]:
    """The GRPO reward: each episode's return from the environment; logs the mean per profile."""
    breakdown = returns_by_profile(profile, episode_return)
    for name, value in breakdown.items():
        if log_metric is not None:
            log_metric(f"return/{name}", value)
    logger.info("GRPO batch: mean return %.2f; by profile: %s", float(np.mean(episode_return)),
                ", ".join(f"{k} {v:.1f}" for k, v in breakdown.items()))
    return [float(r) for r in episode_return]


def episode_dataset(config: GRPORunConfig, split: str = "train", profiles: Sequence[Any] | None = None):
    """The GRPO dataset: one ``prompt`` per episode spec, enough for ``config.steps`` steps, profiles in turn."""
    _, _, Dataset = import_trl()
    profiles = list(profiles or single_trait_profiles())
    per_profile = math.ceil(config.steps * config.groups_per_step / len(profiles)) + 1
    specs = episode_specs(split, profiles, per_profile, seed=10_000 + config.seed)
    return Dataset.from_dict({"prompt": [s.to_prompt() for s in specs]})


def build_grpo_trainer(model, tokenizer, dialogue: DialogueConfig, config: GRPORunConfig,
                       profiles: Sequence[Any] | None = None, split: str = "train"):
    """TRL's ``GRPOTrainer`` over whole episodes with simulated users (see the module docstring)."""
    GRPOConfig, GRPOTrainer, _ = import_trl()
    cuda = next(model.parameters()).device.type == "cuda"
    if config.beta > 0:  # TRL loads its reference model from the policy's config path: make that this policy
        reference = Path(config.output_dir) / "reference"
        model.save_pretrained(reference)
        model.config._name_or_path = str(reference)
    args = GRPOConfig(
        output_dir=config.output_dir, per_device_train_batch_size=config.num_generations * config.groups_per_step,
        num_generations=config.num_generations, gradient_accumulation_steps=1, max_steps=config.steps,
        learning_rate=config.lr, lr_scheduler_type="constant", temperature=config.temperature, beta=config.beta,
        loss_type=config.loss_type, seed=config.seed, logging_steps=1, report_to="none", save_strategy="no",
        use_cpu=not cuda, bf16=cuda and torch.cuda.is_bf16_supported(), disable_tqdm=False)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*rollout_func.*experimental")
        return GRPOTrainer(model=model, reward_funcs=[episode_return], args=args,
                           train_dataset=episode_dataset(config, split, profiles), processing_class=tokenizer,
                           rollout_func=EnvironmentRollout(tokenizer, dialogue, split, config.seed))


# -- evaluation -------------------------------------------------------------------------------------------------
def evaluate_assistant(model, tokenizer, dialogue: DialogueConfig, specs: Sequence[EpisodeSpec],
                       split: str = "test", temperature: float = 0.0, seed: int = 0) -> list[dict[str, Any]]:
    """Play ``specs`` (tasks of ``split``) with the model as the assistant (greedy by default; ``model=None``:
    :class:`~agents.TemplateAssistant`, for reference); one row per episode: profile, task, seed, return, end
    reason, turns, system errors, completion."""
    encoder = encoder_for(tokenizer, dialogue)
    if model is None:
        respond, limit = template_responder(encoder, seed), None
    else:
        model.eval()
        respond, limit = LMResponder(model, encoder, dialogue.max_new_tokens, temperature, seed), model_limit(model)
    episodes = play(specs, respond, encoder, dialogue, split, limit, desc="evaluation")
    return [{"profile": e.spec.profile, "task_id": e.spec.task_id, "seed": e.spec.seed, "return": e.episode_return,
             "end_reason": e.end_reason, "turns": len(e.dialogue),
             "errors": sum(bool(t["system_error"]) for t in e.dialogue),
             "completed": any(t["task_completed"] for t in e.dialogue)} for e in episodes]
