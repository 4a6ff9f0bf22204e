"""Assistants: template (all intents), PlanLLM on a tiny random local model, HTTP against a stub server, SB3."""

import json
from http.server import BaseHTTPRequestHandler

import numpy as np
import pytest

import mtad_env
from stub_http import reply_chat, serve
from agents import OpenAICompatibleAssistant, PlanLLMAssistant, SB3Assistant, TemplateAssistant
from agents.http_assistant import EndpointError
from mtad_env.intents import INTENTS


@pytest.mark.parametrize("intent", INTENTS)
def test_template_assistant_answers_every_intent_correctly_with_oracle_intents(intent):
    env = mtad_env.make(profile="regular", seed=0, oracle_intents=True)
    env.reset(seed=0)
    env.step({"intent": "start", "utterance": "start"})
    env.step(TemplateAssistant(seed=0)(env.observe("assistant")))
    env.step({"intent": "next", "utterance": "next"})
    env.step(TemplateAssistant(seed=0)(env.observe("assistant")))
    utterance = {"question": "how much salt do i need", "definition": "what does simmer mean",
                 "replacement": "i do not have butter"}.get(intent, intent.replace("_", " "))
    env.step({"intent": intent, "utterance": utterance})
    env.step(TemplateAssistant(seed=0)(env.observe("assistant")))
    assert env.infos["assistant"]["system_error"] is False, env.dialogue[-1]


def test_template_assistant_error_rate_injects_mistakes():
    env = mtad_env.make(seed=0, oracle_intents=True, assistant=TemplateAssistant(error_rate=0.5, seed=0))
    errors = [t["system_error"] for s in range(20) for t in (mtad_env.rollout(env, seed=s) and env.dialogue)]
    assert 0.25 < np.mean(errors) < 0.6
    clean = mtad_env.make(seed=0, oracle_intents=True, assistant="template")
    assert not any(t["system_error"] for s in range(10) for t in (mtad_env.rollout(clean, seed=s) and clean.dialogue))


def _tiny_causal_lm(path):
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import MistralConfig, MistralForCausalLM, PreTrainedTokenizerFast

    vocab = {w: i for i, w in enumerate(["<unk>", "<s>", "</s>", "step", "1", ":", "sure", "next", "the", "USER",
                                         "ASSISTANT", "Title", "."])}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", bos_token="<s>", eos_token="</s>",
                            pad_token="</s>").save_pretrained(path)
    cfg = MistralConfig(vocab_size=len(vocab), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                        num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=4096)
    MistralForCausalLM(cfg).save_pretrained(path)


def test_planllm_assistant_drives_an_episode_with_a_tiny_local_model(tmp_path):
    _tiny_causal_lm(tmp_path)
    assistant = PlanLLMAssistant(tmp_path, max_new_tokens=8, device="cpu")
    env = mtad_env.make(profile="Impatient", seed=0, assistant=assistant, max_turns=4)
    info = mtad_env.rollout(env, seed=0)
    assert info["end_reason"] in {"stop_by_trait", "stop_after_errors", "turn_limit", "task_completed"}
    assert all(t["system"].strip() for t in env.dialogue)


class _Stub(BaseHTTPRequestHandler):
    fail_first = 0
    seen: list = []

    def do_POST(self):  # noqa: N802 - http.server's naming
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        _Stub.seen.append((self.path, body, self.headers.get("Authorization")))
        if _Stub.fail_first > 0:
            _Stub.fail_first -= 1
            self.send_response(503)
            self.end_headers()
            return
        step = sum(m["role"] == "user" for m in body["messages"])
        reply_chat(self, f"Sure! Step {step}: do it.")

    def log_message(self, *args):
        pass


@pytest.fixture
def stub_server():
    _Stub.seen, _Stub.fail_first = [], 0
    with serve(_Stub) as url:
        yield url


def test_http_assistant_talks_chat_completions_with_retries(stub_server, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-secret")
    _Stub.fail_first = 1
    assistant = OpenAICompatibleAssistant(stub_server, timeout=5, retries=2, backoff=0.01)
    env = mtad_env.make(profile="regular", seed=0, assistant=assistant)
    env.reset(seed=0)
    env.step(env.user_policy(None))
    response = assistant(env.observe("assistant"))
    assert response == "Sure! Step 1: do it."
    path, body, auth = _Stub.seen[-1]
    assert path == "/v1/chat/completions" and body["messages"][0]["role"] == "system"
    assert env.task.title in body["messages"][0]["content"] and auth == "Bearer sk-test-secret"
    assert len(_Stub.seen) == 2  # one 503, then success


def test_http_assistant_reports_a_down_endpoint_clearly():
    assistant = OpenAICompatibleAssistant("http://127.0.0.1:9", timeout=0.5, retries=1, backoff=0.01)
    obs = {"task": "Title: x\nStep 1: a", "history": "USER: next", "text": "next"}
    with pytest.raises(EndpointError, match="failed after 2 attempts"):
        assistant(obs)


def test_simulate_cli_against_the_stub_server(stub_server):
    from mtad_env.cli import main

    assert main(["simulate", "--assistant", f"http:{stub_server}", "--episodes", "1", "--json"]) == 0


def test_sb3_assistant_wraps_a_policy():
    from stable_baselines3 import PPO

    model = PPO("MlpPolicy", mtad_env.AssistantEnv(), n_steps=64, batch_size=32, seed=0, device="cpu")
    model.learn(64)
    env = mtad_env.make(seed=0, assistant_actions="acts", assistant=SB3Assistant(model, mode="acts"))
    assert mtad_env.rollout(env, seed=0)["end_reason"]
    text_env = mtad_env.make(seed=0, assistant=SB3Assistant(model, mode="text"))
    mtad_env.rollout(text_env, seed=0)
    assert all(isinstance(t["system"], str) and t["system"] for t in text_env.dialogue)


@pytest.mark.parametrize("spec", ["http:http://127.0.0.1:9", "http://127.0.0.1:9", "http:http://127.0.0.1:9/v1"])
def test_http_assistant_spec_accepts_prefixed_and_bare_urls(spec):
    from agents.base import build_assistant

    assert build_assistant(spec).url == "http://127.0.0.1:9/v1/chat/completions"


FALLBACK = "Sorry, I didn't catch that. You can say next, repeat, or ask me a question about the task."


def _step(env, intent, utterance, response=None):
    env.step({"intent": intent, "utterance": utterance})
    response = response or TemplateAssistant(seed=0)(env.observe("assistant"))
    env.step(response)
    return response, env.infos["assistant"]["system_error"]


def _started(split="test"):
    env = mtad_env.make(profile="regular", seed=0, oracle_intents=True, split=split)
    env.reset(seed=0)
    first, _ = _step(env, "start", "start")
    return env, first


def test_template_repeat_after_a_fallback_repeats_what_came_before():
    env, first = _started()
    _step(env, "next", "next", FALLBACK)
    _step(env, "next", "next please", FALLBACK)
    response, error = _step(env, "repeat", "can you repeat that")
    assert response == first and error is False


def test_template_new_task_clarification_is_a_question_yes_answers_with_the_next_step():
    env, _ = _started()
    question, error = _step(env, "new_task", "can we make something else")
    assert not error and question.endswith("?") and "stop" not in question.lower()
    response, error = _step(env, "yes", "sure")
    assert "Step 2:" in response and error is False


@pytest.mark.parametrize("split, utterance, starts, absent", [
    ("test", "what's a pan", "Pan: ", None),
    ("test", "what does gfci mean", "I am not sure which term you mean.", "gfci"),
    ("test", "how do i stir fry", "Stir-fry: ", None),
    ("diy", "what does saute mean", "I am not sure which term you mean.", "saute"),
    ("diy", "what's grout", "Grout: ", None),
])
def test_template_defines_only_terms_of_the_task_domain(split, utterance, starts, absent):
    env, _ = _started(split)
    response, error = _step(env, "definition", utterance)
    assert response.startswith(starts) and error is False, response
    assert absent is None or absent not in response.lower()


@pytest.mark.parametrize("split", ["test", "diy"])
def test_template_is_right_on_every_turn_even_between_forced_fallbacks(split):
    template = TemplateAssistant(seed=0)
    env = mtad_env.make(seed=0, oracle_intents=True, split=split, max_turns=20)

    def assistant(obs):  # every third response a fallback, so repeats and yes/no follow fallbacks too
        return FALLBACK if len(env.dialogue) % 3 == 1 else template(obs)

    turns = [t for s in range(30) for i, t in enumerate(mtad_env.rollout(env, assistant, seed=s) and env.dialogue)
             if i % 3 != 1]
    assert len(turns) > 100 and not [t for t in turns if t["system_error"]]
