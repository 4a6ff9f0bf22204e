"""Assistants: callables on the assistant's observation that return a valid assistant action."""

from agents.base import Assistant, build_assistant
from agents.http_assistant import OpenAICompatibleAssistant
from agents.planllm import PlanLLMAssistant
from agents.sb3_assistant import SB3Assistant
from agents.template_assistant import TemplateAssistant

__all__ = ["Assistant", "OpenAICompatibleAssistant", "PlanLLMAssistant", "SB3Assistant", "TemplateAssistant",
           "build_assistant"]
