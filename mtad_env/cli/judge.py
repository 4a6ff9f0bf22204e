"""``mtad-env judge``: LLM judges of paper Appendix I over logged dialogues, with agreement to human labels.

::

    mtad-env judge --logs FILE.jsonl [FILE.jsonl ...] --judge http:URL|hf:PATH --task quality|ranking
                   [--human FILE.csv] --out FILE.json [--json]

``quality`` scores every assistant response 0-2 with the Table 26 prompt (items ``DIALOG_ID#TURN``); ``ranking``
orders two dialogues of the same task on a trait with the Table 27 prompt (items ``ID_A|ID_B|TRAIT``; pass the
simulator's log and a reference split so that pairs exist). ``--out`` receives ``{"task", "judge", "summary",
"agreement", "items": [{"item_id", "label", "expected", "correct", "trait", "answer"}]}``; ``--json`` prints the
same object without ``items``. ``--human`` is a CSV ``item_id,label[,annotator]`` (see
:mod:`evaluation.agreement`); ``agreement`` is null without it.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

from mtad_env.cli.output import emit

logger = logging.getLogger(__name__)


def add_arguments(sub: argparse._SubParsersAction) -> None:
    """Add the ``judge`` subcommand to ``sub``."""
    j = sub.add_parser("judge", help="LLM judges of response quality / trait ranking (paper App. I) + agreement")
    j.add_argument("--logs", nargs="+", required=True, metavar="FILE.jsonl",
                   help="episode logs written by `simulate --log` or corpus split files/folders")
    j.add_argument("--judge", required=True, metavar="SPEC", help="http:URL (OpenAI-compatible) | hf:PATH")
    j.add_argument("--task", required=True, choices=("quality", "ranking"),
                   help="quality: score system responses 0-2; ranking: order dialogues by a trait")
    j.add_argument("--human", default=None, metavar="FILE.csv", help="human labels: item_id,label[,annotator]")
    j.add_argument("--out", required=True, metavar="FILE.json", help="where to write the labels and figures")
    j.add_argument("--turns", default="all", choices=("all", "last"), help="quality: which responses to score")
    j.add_argument("--traits", default=None, help="ranking: comma-separated traits (default: all)")
    j.add_argument("--max-items", type=int, default=None, help="judge a seeded sample of at most N items")
    j.add_argument("--seed", type=int, default=0, help="seed of the dialogue order and of --max-items")
    j.add_argument("--model", default="gpt-4o-2024-05-13", help="model name sent to an http judge")
    j.add_argument("--max-new-tokens", type=int, default=128, help="tokens a judge may generate per answer")
    j.add_argument("--timeout", type=float, default=60.0, help="seconds per HTTP request")
    j.add_argument("--retries", type=int, default=2, help="extra HTTP attempts on 5xx/429/connection errors")
    j.add_argument("--api-key-env", default="OPENAI_API_KEY", help="environment variable holding the API key")
    j.add_argument("--json", action="store_true", help="print the result (without items) as one JSON object")


def load_records(paths: list[str]) -> list[dict[str, Any]]:
    """The dialogue records of the logs, validated; a dialog_id seen twice is an error (item ids must be unique)."""
    from evaluation.dialogues import log_files, from_record
    from mtad_env.episode_log import load_episodes
    from mtad_env.errors import InvalidValueError

    records: list[dict[str, Any]] = []
    seen: dict[str, str] = {}
    for file in (f for path in paths for f in log_files(Path(path))):
        for n, rec in enumerate(load_episodes(file), 1):
            where = f"{file} record {n}"
            from_record(rec, where)  # raises naming the file and record on a malformed one
            key = str(rec.get("dialog_id"))
            if key in seen:
                raise InvalidValueError(f"dialog_id {key!r} occurs in {seen[key]} and {where}; judge logs with "
                                        "distinct dialog ids (e.g. one simulate log at a time)")
            seen[key] = where
            records.append(rec)
    if not records:
        raise InvalidValueError(f"logs {', '.join(map(repr, paths))} hold no dialogues; run `mtad-env simulate "
                                "--log FILE`")
    return records


def _config(args: argparse.Namespace):
    from evaluation.judges import JudgeConfig
    from mtad_env.errors import InvalidValueError

    for name in ("max_new_tokens", "retries", "max_items"):
        value = getattr(args, name)
        if value is not None and value < (0 if name == "retries" else 1):
            raise InvalidValueError(f"--{name.replace('_', '-')} {value} must be >= "
                                    f"{0 if name == 'retries' else 1}")
    if args.timeout <= 0:
        raise InvalidValueError(f"--timeout {args.timeout} must be > 0 seconds")
    return JudgeConfig(model=args.model, max_new_tokens=args.max_new_tokens, timeout=args.timeout,
                       retries=args.retries, api_key_env=args.api_key_env or None)


def _out_path(text: str) -> Path:
    from mtad_env.errors import InvalidValueError

    out = Path(text)
    if out.is_dir():
        raise InvalidValueError(f"--out {text!r} is a folder; give a file name such as judge.json")
    return out


def _items(args: argparse.Namespace, records: list[dict[str, Any]]):
    from evaluation.judges import quality_items, ranking_items
    from mtad_env.errors import InvalidValueError

    if args.task == "quality":
        items = quality_items(records, args.turns)
        if args.max_items is not None and len(items) > args.max_items:
            import random

            items = sorted(random.Random(args.seed).sample(items, args.max_items), key=lambda it: it.item_id)
    else:
        names = [t.strip() for t in args.traits.split(",") if t.strip()] if args.traits else None
        items = ranking_items(records, names, seed=args.seed, max_items=args.max_items)
    if not items:
        hint = ("no assistant response to score" if args.task == "quality" else
                "no two dialogues of the same task whose profiles differ on a trait; pass the simulator log and a "
                "reference split with the same tasks")
        raise InvalidValueError(f"the logs give no {args.task} item: {hint}")
    return items


def _text(result: dict[str, Any]) -> str:
    s = result["summary"]
    lines = [f"{result['task']}: {s['n_items']} items judged by {result['judge']}, {s['n_unparsed']} unparseable",
             f"labels: {s['labels']}"]
    if "mean_score" in s:
        lines.append(f"mean score: {s['mean_score']}")
    else:
        lines.append(f"accuracy: {s['accuracy']}  per trait: {s['accuracy_per_trait']}")
    for name, a in (result["agreement"] or {}).items():
        if a:
            lines.append(f"agreement {name}: {a['percent']:.1%}, Fleiss' kappa {a['kappa']:.3f} over {a['n_items']} "
                         f"items ({a['n_dropped']} left out)")
    return "\n".join(lines + [f"wrote: {result['out']}"])


def run_judge(args: argparse.Namespace) -> int:
    """Judge the logged dialogues, compare with human labels, write ``--out`` and print the summary."""
    from evaluation.agreement import compare_with_humans, read_labels_csv
    from evaluation.judges import judge_items, label_parser, make_backend, summarise

    config, out = _config(args), _out_path(args.out)
    humans = read_labels_csv(args.human, label_parser(args.task)) if args.human else None
    items = _items(args, load_records(args.logs))
    backend = make_backend(args.judge, config)
    results = judge_items(items, backend, progress=sys.stderr.isatty() or len(items) >= 20)
    judged = {r.item_id: r.label for r in results if r.label is not None}
    agreement = compare_with_humans(judged, humans) if humans else None
    result = {"task": args.task, "judge": args.judge, "out": str(out), "summary": summarise(results, args.task),
              "agreement": agreement}
    rows = [{"item_id": r.item_id, "label": r.label, "expected": r.expected, "correct": r.correct,
             "trait": r.trait, "answer": r.answer} for r in results]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({**result, "items": rows}, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    logger.info("wrote %d judged items to %s", len(rows), out)
    emit(result, args.json, _text(result))
    return 0
