"""Run the environment's simulated users through the user server, against an assistant served the same way.

    python examples/serve_users.py [--simulator agenda|sts|jts|mtad|mtad-la|sampling] [--profile P]
                                   [--episodes 3] [--pack PACK] [--seed 0]

Two OpenAI-compatible servers start on 127.0.0.1: ``mtad-env serve``'s application (the model is the user) and a
template assistant behind its own ``/v1/chat/completions``. The environment then talks to both over HTTP: its
user is a :class:`simulators.serving.client.RemoteUserSimulator`, its assistant the ``http:URL`` assistant
(:class:`agents.http_assistant.OpenAICompatibleAssistant`), which is how an assistant under test in another
framework would meet our users. Prints one JSON line: episodes, user turns, end reasons.
"""

from __future__ import annotations

import argparse
import json
import logging

from fastapi import FastAPI, Request

import mtad_env
from agents.prompting import SYSTEM_PROMPT
from agents.template_assistant import TemplateAssistant
from mtad_env.factory import rollout
from mtad_env.nlu import IntentClassifier
from mtad_env.observations import parse_task_text
from simulators.serving.app import create_app, running
from simulators.serving.client import RemoteUserSimulator
from simulators.serving.messages import replay
from simulators.serving.users import UserModels


def assistant_app(seed: int) -> FastAPI:
    """The template assistant as an OpenAI-compatible server: it reads the task and dialogue from the messages
    that :func:`agents.prompting.chat_messages` writes and answers the last user message."""
    bot, nlu, app = TemplateAssistant(seed=seed), IntentClassifier(), FastAPI()

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> dict:
        messages = (await request.json())["messages"]
        task = parse_task_text(messages[0]["content"].removeprefix(SYSTEM_PROMPT).strip())
        dialogue = messages[1:]
        said = [m["content"] for m in dialogue if m["role"] == "user"]
        answers = [m["content"] for m in dialogue if m["role"] == "assistant"]
        pairs = [(nlu.predict_name(u), u, s) for u, s in zip(said, answers)]
        step = replay(task, pairs)[-1]["current_step"] + 1 if pairs else 0
        history = "\n".join(f"{'USER' if m['role'] == 'user' else 'SYSTEM'}: {m['content']}" for m in dialogue)
        observation = {"task": messages[0]["content"], "history": history, "text": said[-1], "step": step,
                       "intent": nlu.predict(said[-1])[0]}
        return {"object": "chat.completion", "model": "template",
                "choices": [{"index": 0, "finish_reason": "stop",
                             "message": {"role": "assistant", "content": bot(observation)}}]}

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--simulator", default="agenda")
    parser.add_argument("--profile", default="Impatient & Verbose")
    parser.add_argument("--episodes", type=int, default=3)
    parser.add_argument("--pack", default=None, help="pack of the LM users (default: the shipped pack)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    users = create_app(UserModels(args.pack), lm=args.simulator != "agenda")
    with running(users) as users_url, running(assistant_app(args.seed)) as assistant_url:
        env = mtad_env.make(profile=args.profile, simulator=RemoteUserSimulator(users_url, args.simulator),
                            assistant=f"http:{assistant_url}", seed=args.seed)
        infos = [rollout(env, seed=args.seed + i) for i in range(args.episodes)]
    print(json.dumps({"episodes": len(infos), "user_turns": sum(info.get("turn", 0) for info in infos),
                      "end_reasons": [info["end_reason"] for info in infos]}))


if __name__ == "__main__":
    main()
