"""Prompt text shared by the language-model assistants (PlanLLM-style: task plus dialogue history)."""

from __future__ import annotations

from typing import Any

SYSTEM_PROMPT = ("You are a helpful task assistant that guides a user step by step through the task below. "
                 "When the user asks for a step, answer 'Step N: ...' with that step. Answer questions from the "
                 "task, refuse dangerous requests politely, and say goodbye when the user wants to stop.")
FALLBACK_RESPONSE = "Sorry, I didn't catch that. Could you say that again?"


def history_messages(observation: dict[str, Any]) -> list[dict[str, str]]:
    """The observation's history as chat messages (``user`` / ``assistant`` roles)."""
    messages = []
    for line in observation["history"].split("\n"):
        if line.startswith("USER: "):
            messages.append({"role": "user", "content": line[6:]})
        elif line.startswith("SYSTEM: "):
            messages.append({"role": "assistant", "content": line[8:]})
        elif messages:
            messages[-1]["content"] += "\n" + line
    return messages


def chat_messages(observation: dict[str, Any]) -> list[dict[str, str]]:
    """System prompt with the task, then the dialogue."""
    return [{"role": "system", "content": f"{SYSTEM_PROMPT}\n\n{observation['task']}"},
            *history_messages(observation)]


def plain_prompt(observation: dict[str, Any]) -> str:
    """A PlanLLM-style single-string prompt for models without a chat template."""
    lines = [SYSTEM_PROMPT, "", observation["task"], ""]
    for msg in history_messages(observation):
        lines.append(f"{'USER' if msg['role'] == 'user' else 'ASSISTANT'}: {msg['content']}")
    lines.append("ASSISTANT:")
    return "\n".join(lines)


def clean_response(text: str, limit: int = 2000) -> str:
    """First turn of a generated continuation, non-empty and within ``limit`` characters."""
    text = text.split("\nUSER:")[0].split("\nASSISTANT:")[0].strip()
    return text[:limit] if text else FALLBACK_RESPONSE
