"""An assistant backed by any local Hugging Face causal LM (PlanLLM-style prompt: the task plus the history)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from agents.base import Assistant
from agents.prompting import chat_messages, clean_response, plain_prompt
from mtad_env.errors import InvalidValueError

logger = logging.getLogger(__name__)


class PlanLLMAssistant(Assistant):
    """Generates each response with a local causal LM.

    Args:
        path: a local model directory (tokenizer and weights), e.g. a PlanLLM or Vicuna checkpoint.
        max_new_tokens: response length limit.
        temperature: 0 for greedy decoding, else sampling temperature.
        device: ``"auto"`` (CUDA when present), ``"cpu"`` or ``"cuda"``.
        load_in_4bit: load through bitsandbytes (CUDA only).
        seed: seed for sampling.
    """

    name = "planllm"

    def __init__(self, path: str | Path, max_new_tokens: int = 64, temperature: float = 0.0,
                 device: str = "auto", load_in_4bit: bool = False, seed: int = 0) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.path = Path(path)
        if not self.path.is_dir():
            raise InvalidValueError(f"PlanLLM model directory {str(self.path)!r} does not exist")
        self.device = ("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device
        self.tokenizer = AutoTokenizer.from_pretrained(self.path)
        kwargs: dict[str, Any] = {}
        if load_in_4bit:
            from transformers import BitsAndBytesConfig

            kwargs["quantization_config"] = BitsAndBytesConfig(load_in_4bit=True)
        self.model = AutoModelForCausalLM.from_pretrained(self.path, **kwargs).eval()
        if not load_in_4bit:
            self.model.to(self.device)
        self.max_new_tokens, self.temperature = max_new_tokens, temperature
        self.seed, self._calls = seed, 0

    def reset(self, seed: int | None = None) -> None:
        if seed is not None:
            self.seed, self._calls = seed, 0

    def _prompt(self, observation: dict[str, Any]) -> str:
        if getattr(self.tokenizer, "chat_template", None):
            return self.tokenizer.apply_chat_template(chat_messages(observation), tokenize=False,
                                                      add_generation_prompt=True)
        return plain_prompt(observation)

    def __call__(self, observation: dict[str, Any]) -> str:
        import torch

        inputs = self.tokenizer(self._prompt(observation), return_tensors="pt").to(self.device)
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else \
            self.tokenizer.eos_token_id
        if self.temperature > 0:  # `generate` samples from torch's global generator: seed it per response
            torch.manual_seed(self.seed + self._calls)
            self._calls += 1
        with torch.no_grad():
            out = self.model.generate(**inputs, max_new_tokens=self.max_new_tokens,
                                      do_sample=self.temperature > 0, temperature=self.temperature or None,
                                      top_p=None, top_k=None, pad_token_id=pad)
        text = self.tokenizer.decode(out[0, inputs["input_ids"].shape[1]:], skip_special_tokens=True)
        return clean_response(text)


def from_spec(spec: str, arg: str, mode: str = "text", seed: int | None = None) -> PlanLLMAssistant:
    """``planllm:PATH``: a local Hugging Face model folder."""
    return PlanLLMAssistant(arg)
