"""STS against JTS on the 17 single-trait profiles (the paper's Tables 2 and 3 analog) with the shipped pack.

    python examples/evaluate_lm_simulators.py --episodes 40 --out runs/lm_eval

Generates the held-out reference corpus (agenda simulator, filtered, test recipes), simulates every profile with
each LM simulator against the TemplateAssistant on test recipes (``--split diy``: DIY tasks) (10% of its responses wrong by default, as in the
reference corpus, so that tolerance can be observed), and evaluates the logs against the reference:
trends low < regular < high, degeneration rates, distances and the language figures (invented words, pool copies,
variety, self-repetition). Prints one JSON object per simulator.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
from pathlib import Path

from mtad_env.cli import main as cli
from mtad_env.profiles import profile_set

logger = logging.getLogger("evaluate_lm_simulators")


def run(args: list[str]) -> dict:
    """Run one CLI command and return its JSON output."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        status = cli([*args, "--json"])
    if status != 0:
        raise SystemExit(f"mtad-env {' '.join(args)} failed with exit status {status}")
    return json.loads(out.getvalue().strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--pack", default=None, help="pack folder (default: the shipped pack)")
    parser.add_argument("--simulators", default="sts,jts")
    parser.add_argument("--assistant", default="template:0.1",
                        help="assistant spec; the default makes 10%% of responses wrong, like the reference corpus")
    parser.add_argument("--profiles", default="single", help="single (the 17) or P;P;... (for a quick look)")
    parser.add_argument("--split", default="test", choices=("test", "diy"),
                        help="task split of the simulated episodes (the reference always uses test recipes)")
    parser.add_argument("--reference-size", type=int, default=100, help="reference test dialogues per profile")
    parser.add_argument("--free-words", action="store_true",
                        help="let the model spell any word (the model alone; default: the word constraint)")
    parser.add_argument("--no-task-fit", action="store_true",
                        help="keep utterances unfit for the task (default: LM users redraw them)")
    parser.add_argument("--out", default="runs/lm_eval")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    out = Path(args.out)
    reference = out / "reference"
    run(["generate", "--profiles", args.profiles, "--n-test", str(args.reference_size), "--seed", "11",
         "--out", str(reference)])
    results = {}
    for simulator in args.simulators.split(","):
        log = out / f"{simulator}.jsonl"
        if log.exists():
            log.unlink()
        for profile in profile_set(args.profiles):
            logger.info("%s %s", simulator, profile)
            extra = (["--pack", args.pack] if args.pack else []) + (["--free-words"] if args.free_words else []) + (
                ["--no-task-fit"] if args.no_task_fit else [])
            run(["simulate", "--profile", str(profile), "--simulator", simulator, "--assistant", args.assistant,
                 "--episodes", str(args.episodes), "--split", args.split, "--seed", str(args.seed), "--log", str(log),
                 "--batch-size", "20", *extra])
        summary = run(["evaluate", "--logs", str(log), "--reference", str(reference), "--out",
                       str(out / f"{simulator}_report"), "--resamples", "200"])
        trends = {t: v.get("holds") for t, v in summary.get("trends", {}).items()}
        results[simulator] = {"trends": trends, "traits_ordered": sum(bool(v) for v in trends.values()),
                              "degeneration_rate": summary["degeneration_rate"],
                              "uniqueness_rate": summary["uniqueness_rate"], "language": summary["language"],
                              "language_by_profile": {p: e["language"] for p, e in summary["profiles"].items()},
                              "distance": {p: e["distance"] for p, e in summary["profiles"].items()},
                              "means": {p: {t: m["mean"] for t, m in e["metrics"].items()}
                                        for p, e in summary["profiles"].items()}}
        print(json.dumps({simulator: results[simulator]}))  # noqa: T201 - the script's output


if __name__ == "__main__":
    main()
