"""Train a causal-LM assistant with TRL's GRPO against simulated users, then compare it with the model it started
from on held-out test recipes over the 17 single-trait profiles (needs the ``rl`` extra:
``pip install "mtad-env[rl]"``).

    python examples/train_text_assistant.py --json
    python examples/train_text_assistant.py --model /models/Qwen2.5-0.5B --task-steps --warm-steps 0 --json

1. Warm start: fine-tune ``--model`` (default: the shipped pack's 1 M-parameter base, with the pack's tokenizer) on
   ``TemplateAssistant``'s responses in dialogues with simulated users on train recipes (``--warm-steps``; 0 keeps
   the model as it is). The result is the starting point.
2. GRPO: ``--grpo-steps`` steps of TRL's ``GRPOTrainer`` whose rollouts are whole episodes (the assistant's turns
   are the policy's tokens, the user's turns are masked from the loss, the reward is the episode's return).
3. Evaluation: greedy episodes of the starting point and of the trained assistant with the same users on the same
   test recipes (``--episodes-per-profile`` x 17 profiles), each mean return with a bootstrap 95% interval, and the
   paired difference; ``TemplateAssistant`` on the same episodes for reference.

Writes ``OUT/start`` and ``OUT/trained`` (model and tokenizer) and ``OUT/results.json``; ``--json`` also prints
the results as the last line. CUDA is used when present (``--device auto``).
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch

from evaluation.bootstrap import bootstrap_mean_ci
from mtad_env.profiles import single_trait_profiles
from training.text_assistant_rl import (GRPORunConfig, WarmStartConfig, build_grpo_trainer, evaluate_assistant,
                                        load_policy, returns_by_profile, warm_start)
from training.text_dialogue import DialogueConfig, episode_specs

logger = logging.getLogger("train_text_assistant")


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default=None, help="local Hugging Face causal LM folder (default: the pack's base)")
    p.add_argument("--tokenizer", default=None, help="tokenizer folder (default: the model's, else the pack's)")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    p.add_argument("--simulator", default="agenda", help="the simulated users (agenda, sts, jts, ...)")
    p.add_argument("--pack", default=None, help="model pack of LM users (default: the shipped pack)")
    p.add_argument("--task-steps", action="store_true", help="write the task's steps into the prompt")
    p.add_argument("--max-new-tokens", type=int, default=48, help="tokens per response at most")
    p.add_argument("--warm-dialogues", type=int, default=24, help="template dialogues per profile")
    p.add_argument("--warm-steps", type=int, default=150)
    p.add_argument("--warm-lr", type=float, default=2e-3)
    p.add_argument("--grpo-steps", type=int, default=60)
    p.add_argument("--group-size", type=int, default=8, help="episodes per spec (GRPO's num_generations)")
    p.add_argument("--groups-per-step", type=int, default=4, help="episode specs per GRPO step")
    p.add_argument("--lr", type=float, default=3e-4, help="GRPO learning rate")
    p.add_argument("--temperature", type=float, default=0.7, help="GRPO sampling temperature")
    p.add_argument("--beta", type=float, default=0.04, help="KL weight (0: no reference model)")
    p.add_argument("--episodes-per-profile", type=int, default=10, help="evaluation episodes per profile")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    p.add_argument("--out", default="runs/text_assistant")
    p.add_argument("--json", action="store_true")
    return p.parse_args()


def summary(rows: list[dict], seed: int) -> dict:
    """Mean return with its bootstrap 95% interval, completion and error rates, and the return per profile."""
    returns = [r["return"] for r in rows]
    low, high = bootstrap_mean_ci(returns, seed=seed)
    return {"mean_return": float(np.mean(returns)), "ci95": [low, high],
            "task_completion_rate": float(np.mean([r["completed"] for r in rows])),
            "error_rate": sum(r["errors"] for r in rows) / max(sum(r["turns"] for r in rows), 1),
            "by_profile": returns_by_profile([r["profile"] for r in rows], returns)}


def main() -> None:
    args = parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    out, times = Path(args.out), {}
    make_kwargs = {"pack": args.pack} if args.pack else {}
    dialogue = DialogueConfig(simulator=args.simulator, max_new_tokens=args.max_new_tokens,
                              task_steps=args.task_steps, make_kwargs=make_kwargs)
    warm = WarmStartConfig(dialogues_per_profile=args.warm_dialogues, steps=args.warm_steps, lr=args.warm_lr,
                           seed=args.seed)
    grpo = GRPORunConfig(steps=args.grpo_steps, num_generations=args.group_size,
                         groups_per_step=args.groups_per_step, lr=args.lr, temperature=args.temperature,
                         beta=args.beta, seed=args.seed, output_dir=str(out / "grpo"))
    model, tokenizer = load_policy(args.model, args.tokenizer, args.device)
    specs = episode_specs("test", single_trait_profiles(), args.episodes_per_profile, seed=args.seed)

    with _timed(times, "warm_start"):
        losses = warm_start(model, tokenizer, dialogue, warm)
    _save(model, tokenizer, out / "start")
    with _timed(times, "evaluate_start"):
        before = evaluate_assistant(model, tokenizer, dialogue, specs, seed=args.seed)
    with _timed(times, "grpo"):
        trainer = build_grpo_trainer(model, tokenizer, dialogue, grpo)
        trainer.train()
    model = trainer.model
    _save(model, tokenizer, out / "trained")
    with _timed(times, "evaluate_trained"):
        after = evaluate_assistant(model, tokenizer, dialogue, specs, seed=args.seed)
    template = evaluate_assistant(None, tokenizer, dialogue, specs, seed=args.seed)

    results = _results(args, before, after, losses, trainer.state.log_history, times)
    results["template"] = summary(template, args.seed)  # the rule-based assistant the warm start imitates
    _report(results)
    (out / "results.json").write_text(json.dumps(results, indent=1), encoding="utf-8")
    if args.json:
        print(json.dumps(results))  # noqa: T201 - the script's JSON output


@contextmanager
def _timed(times: dict, name: str):
    """Record the block's wall time and this process's CPU time (on a busy machine the CPU time is what the
    block would take alone, per thread)."""
    wall, cpu = time.perf_counter(), time.process_time()
    yield
    times[name] = {"wall_s": round(time.perf_counter() - wall, 1), "cpu_s": round(time.process_time() - cpu, 1)}


def _save(model, tokenizer, folder: Path) -> None:
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)


def _results(args, before: list[dict], after: list[dict], losses: list[float], history: list[dict],
             times: dict) -> dict:
    diff = [a["return"] - b["return"] for a, b in zip(after, before)]
    low, high = bootstrap_mean_ci(diff, seed=args.seed)
    train_returns = [h["reward"] for h in history if "reward" in h]
    return {"start": summary(before, args.seed), "trained": summary(after, args.seed),
            "difference": {"mean": float(np.mean(diff)), "ci95": [low, high]},
            "episodes": len(before), "split": "test", "simulator": args.simulator,
            "warm_start_loss": [losses[0], losses[-1]] if losses else None,
            "grpo_train_return": [train_returns[0], train_returns[-1]] if train_returns else None,
            "times": times}


def _report(results: dict) -> None:
    for name in ("start", "trained", "template"):
        row = results[name]
        logger.info("%-8s mean return %.2f  95%% CI [%.2f, %.2f]  completion %.3f  error rate %.3f", name,
                    row["mean_return"], *row["ci95"], row["task_completion_rate"], row["error_rate"])
    d = results["difference"]
    logger.info("trained - start: %.2f  95%% CI [%.2f, %.2f] over %d paired episodes", d["mean"], *d["ci95"],
                results["episodes"])
    logger.info("times: %s", results["times"])


if __name__ == "__main__":
    main()
