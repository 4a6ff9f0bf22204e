"""``mtad-env simulate``: episodes of a simulated user against an assistant, printed or summarised as JSON."""

from __future__ import annotations

import argparse

from mtad_env.cli.output import emit, positive_int
from mtad_env.domain import SPLITS
from mtad_env.errors import InvalidValueError
from mtad_env.registry import LM_SIMULATORS, MIXING_SIMULATORS


def add_arguments(sub: argparse._SubParsersAction) -> None:
    """Arguments of ``simulate``."""
    from simulators.scale_out import add_scale_arguments  # the flags only: Ray is imported when a run uses them

    s = sub.add_parser("simulate", help="run episodes of a simulated user against an assistant")
    s.add_argument("--profile", default=None, metavar="P",
                   help="profile, canonical or alias (e.g. 'Patient & Concise', 'engagement=high'); "
                        "default: sampled per episode")
    s.add_argument("--simulator", default="agenda", metavar="NAME", help="agenda | " + " | ".join(LM_SIMULATORS))
    s.add_argument("--weights", default=None, metavar="W1,W2,...",
                   help="adapter weights, one per non-neutral trait of the profile, for "
                        f"{', '.join(MIXING_SIMULATORS)} (default: uniform)")
    s.add_argument("--assistant", default="template", metavar="SPEC",
                   help="template | template:ERROR_RATE (a share in [0, 1] of deliberately wrong responses) | "
                        "planllm:PATH | http:URL")
    s.add_argument("--episodes", type=positive_int, default=3, metavar="N", help="episodes to run")
    s.add_argument("--split", default="test", choices=SPLITS,
                   help="task split the episodes draw from")
    s.add_argument("--tasks", default=None, metavar="DIR", help="task folder instead of the shipped tasks")
    s.add_argument("--pack", default=None, metavar="DIR",
                   help="model pack folder for the LM simulators (default: the shipped pack)")
    s.add_argument("--free-words", action="store_true",
                   help="LM users: let the model spell any word (default: only words of the utterance pool, the "
                        "tasks and the knowledge files; see simulators.word_constraint)")
    s.add_argument("--no-task-fit", action="store_true",
                   help="LM users: keep an utterance unfit for the task (default: redraw a pool line of the other "
                        "domain or about an item the task lacks, up to 4 decodes; see mtad_env.pool_task_fit)")
    s.add_argument("--seed", type=int, default=0, metavar="S", help="episode i is reset with seed S + i")
    s.add_argument("--max-turns", type=positive_int, default=20, metavar="N",
                   help="user turns before an episode is cut")
    s.add_argument("--log", default=None, metavar="FILE.jsonl", help="append episodes to this .jsonl file")
    s.add_argument("--batch-size", type=positive_int, default=None, metavar="B",
                   help="episodes run in lockstep (LM users decode together); default 16 for LM simulators, 1 else")
    s.add_argument("--resume", action="store_true",
                   help="keep the episodes already in --log (after a kill) and run only the missing ones")
    s.add_argument("--json", action="store_true", help="print only the summary as one JSON object")
    add_scale_arguments(s)


def check_simulate_options(args: argparse.Namespace) -> None:
    """Refuse options that would be accepted and then do nothing, naming the option and the fix."""
    if args.pack and args.simulator == "agenda":
        raise InvalidValueError(f"--pack {args.pack!r} has no effect with --simulator agenda (it uses no model); "
                                f"drop --pack, or choose an LM simulator: {', '.join(LM_SIMULATORS)}")
    if args.weights and args.simulator in ("agenda", "sts", "jts"):
        raise InvalidValueError(f"--weights {args.weights!r} has no effect with --simulator {args.simulator} "
                                f"(it mixes no adapters); drop --weights, or choose one of "
                                f"{', '.join(MIXING_SIMULATORS)}")
    if args.free_words and args.simulator == "agenda":
        raise InvalidValueError("--free-words has no effect with --simulator agenda (it says pool utterances); drop "
                                f"--free-words, or choose an LM simulator: {', '.join(LM_SIMULATORS)}")
    if args.resume and not args.log:
        raise InvalidValueError("--resume needs --log FILE.jsonl: the log whose episodes it keeps")


def summarise_episodes(records: list[dict], tasks: str | None = None) -> dict:
    """The ``simulate --json`` summary of finished episodes (episode-log records); ``language`` holds the
    language-quality figures of their user turns, against a vocabulary that includes the task folder ``tasks``."""
    import numpy as np

    from evaluation.language_quality import build_vocabulary, language_quality
    from mtad_env.records import is_degenerate
    from mtad_env.traits import traits

    summary_metrics = {}
    for name in traits():
        values = [r["episode_metrics"][name] for r in records if r["episode_metrics"].get(name) is not None]
        summary_metrics[name] = {"mean": float(np.mean(values)) if values else None,
                                 "std": float(np.std(values)) if values else None}
    turns = [t for r in records for t in r["dialog"]]
    degenerate = sum(is_degenerate(t) for t in turns)
    reasons: dict[str, int] = {}
    for rec in records:
        reasons[rec["end_reason"]] = reasons.get(rec["end_reason"], 0) + 1
    return {"episodes": len(records), "metrics": summary_metrics,
            "degeneration_rate": degenerate / max(len(turns), 1), "end_reasons": reasons,
            "task_completion_rate": float(np.mean([r["task_completed"] for r in records])) if records else 0.0,
            "language": language_quality(records, build_vocabulary([tasks] if tasks else ()))}


def run_simulate(args: argparse.Namespace) -> int:
    from mtad_env.episode_runs import run_episodes
    from simulators.scale_out import scale_options

    check_simulate_options(args)
    options = {"weights": args.weights} if args.weights else {}
    if args.pack:
        options["pack"] = args.pack
    if args.free_words:
        options["word_constraint"] = False
    if args.no_task_fit:
        options["task_fit"] = False
    scale = scale_options(args)
    seeds = [args.seed + i for i in range(args.episodes)]
    batch_size = args.batch_size or (1 if args.simulator == "agenda" else 16)
    options.update(profile=args.profile, simulator=args.simulator, assistant=args.assistant, split=args.split,
                   tasks=args.tasks, max_turns=args.max_turns, seed=args.seed)
    if scale.enabled:
        from simulators.scale_out import run_episodes_distributed

        records = run_episodes_distributed(scale, seeds, log=args.log, resume=args.resume, batch_size=batch_size,
                                           on_record=None if args.json else _print_record, **options)
    else:
        records = run_episodes(seeds, log=args.log, resume=args.resume, batch_size=batch_size,
                               on_episode=None if args.json else _print_episode, progress=args.json, **options)
    if args.json:
        emit(summarise_episodes(records, args.tasks), True)
    return 0


def _print_episode(env, info: dict) -> None:
    _print_record(env.episode_record(info["end_reason"], info["episode_metrics"]))


def _print_record(record: dict) -> None:
    """Print one finished episode (an episode-log record) as the ``simulate`` transcript."""
    lines = [f"=== {record['task']['title']} ({record['task']['id']}) | profile {record['user_profile']} ==="]
    for turn in record["dialog"]:
        flag = "  [system error]" if turn["system_error"] else ""
        lines += [f"USER [{turn['intent']}]: {turn['user']}", f"SYSTEM{flag}: {turn['system']}"]
    metrics = ", ".join(f"{k}={v:.2f}" for k, v in record["episode_metrics"].items() if v is not None)
    lines += [f"--- end: {record['end_reason']}; {metrics}", ""]
    emit({}, False, "\n".join(lines))
