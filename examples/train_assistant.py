"""Train a PPO assistant (stable-baselines3) against simulated users whose profile is sampled per episode, then
compare it with a random policy and the rule-based TemplateAssistant on test recipes, with the same kind of users.

    python examples/train_assistant.py --timesteps 50000 --seed 0 --json
    python examples/train_assistant.py --simulator sts --timesteps 20000 --n-envs 16 --json

The users: the agenda simulator (default) or an LM simulator over a pack (``sts``, ``jts``: the 17 single-trait
profiles; ``mtad``, ``mtad-la``, ``sampling``: the 14 multi-trait ones). Training runs ``--n-envs`` environments in
:class:`mtad_env.vector_env.BatchedUsersVecEnv`, whose LM users decode their turns together.

Writes a learning-curve PNG (``--out``, default ``runs/train_assistant``) and prints, with ``--json``,
``{"ppo": {...}, "random": {...}, "template": {...}}`` with task_completion_rate, mean_return and error_rate.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import numpy as np

import mtad_env
from agents import SB3Assistant, TemplateAssistant

logger = logging.getLogger("train_assistant")


def user_profiles(simulator: str) -> list:
    """The profiles a simulator's users are drawn from: the 14 multi-trait ones for the mixing LM simulators, the
    17 single-trait ones otherwise."""
    mixing = simulator in ("mtad", "mtad-la", "sampling")
    return mtad_env.multi_trait_profiles() if mixing else mtad_env.single_trait_profiles()


def evaluate(policy, episodes_per_profile: int, seed: int, users: dict) -> dict[str, float]:
    """Task completion rate, mean assistant return and error rate over the users' profiles, test recipes."""
    env = mtad_env.make(split="test", assistant_actions="acts", seed=seed, **users)
    completed, returns, errors, turns = [], [], 0, 0
    for k, profile in enumerate(user_profiles(users["simulator"])):
        for e in range(episodes_per_profile):
            env.reset(seed=seed + 1000 * k + e, options={"profile": profile})
            total = 0.0
            for agent in env.agent_iter():
                obs, reward, terminated, truncated, info = env.last()
                if agent == "assistant":
                    total += reward
                if terminated or truncated:
                    env.step(None)
                    continue
                env.step(env.user_policy(obs) if agent == "user" else policy(obs))
            completed.append(info["task_completed"])
            returns.append(total)
            errors += sum(t["system_error"] for t in env.dialogue)
            turns += len(env.dialogue)
    return {"task_completion_rate": float(np.mean(completed)), "mean_return": float(np.mean(returns)),
            "error_rate": errors / max(turns, 1)}


def plot_curve(monitor_dir: Path, out_png: Path) -> None:
    """Episode returns during training, smoothed, as a PNG."""
    import csv

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = []  # SB3's load_results needs pandas; the monitor files are plain CSV after one JSON line
    for path in sorted(monitor_dir.glob("*.monitor.csv")):
        with open(path, encoding="utf-8") as fh:
            next(fh)
            rows += [(float(r["t"]), float(r["r"]), int(r["l"])) for r in csv.DictReader(fh)]
    rows.sort()
    steps = np.cumsum([r[2] for r in rows])
    returns = np.array([r[1] for r in rows])
    window = max(1, len(returns) // 50)
    smooth = np.convolve(returns, np.ones(window) / window, mode="valid")
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(steps[window - 1:], smooth)
    ax.set_xlabel("timesteps")
    ax.set_ylabel("episode return (assistant)")
    ax.set_title("PPO assistant vs. sampled user profiles")
    fig.tight_layout()
    fig.savefig(out_png, dpi=120)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timesteps", type=int, default=50_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--episodes-per-profile", type=int, default=20)
    parser.add_argument("--simulator", default="agenda", choices=("agenda", "sts", "jts", "mtad", "mtad-la",
                                                                   "sampling"), help="the simulated users")
    parser.add_argument("--pack", default=None, help="model pack of the LM users (default: the shipped pack)")
    parser.add_argument("--n-envs", type=int, default=4, help="environments stepped together")
    parser.add_argument("--out", default="runs/train_assistant")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    from stable_baselines3 import PPO
    from stable_baselines3.common.vec_env import VecMonitor

    from mtad_env.vector_env import make_batched_vec_env

    out = Path(args.out)
    (out / "monitor").mkdir(parents=True, exist_ok=True)
    users = {"simulator": args.simulator, **({"pack": args.pack} if args.pack else {})}
    sampler = mtad_env.ProfileSampler(user_profiles(args.simulator))
    vec = VecMonitor(make_batched_vec_env(args.n_envs, seed=args.seed, profile_sampler=sampler, **users),
                     filename=str(out / "monitor" / "train"))
    model = PPO("MlpPolicy", vec, seed=args.seed, n_steps=max(32, 2048 // args.n_envs), batch_size=256, learning_rate=1e-3,
                ent_coef=0.01, verbose=0, device="cpu")
    model.learn(total_timesteps=args.timesteps, progress_bar=False)
    model.save(out / "ppo_assistant")
    plot_curve(out / "monitor", out / "learning_curve.png")

    rng = np.random.default_rng(args.seed)
    n_acts = mtad_env.AssistantEnv().action_space.n
    results = {
        "ppo": evaluate(SB3Assistant(model, mode="acts"), args.episodes_per_profile, args.seed, users),
        "random": evaluate(lambda obs: int(rng.integers(n_acts)), args.episodes_per_profile, args.seed, users),
        "template": evaluate(TemplateAssistant(mode="acts", seed=args.seed), args.episodes_per_profile, args.seed,
                             users),
    }
    logger.info("learning curve: %s", out / "learning_curve.png")
    for name, row in results.items():
        logger.info("%-8s completion %.3f  return %.2f  error rate %.3f", name, row["task_completion_rate"],
                    row["mean_return"], row["error_rate"])
    if args.json:
        print(json.dumps(results))  # noqa: T201 - the script's JSON output


if __name__ == "__main__":
    main()
