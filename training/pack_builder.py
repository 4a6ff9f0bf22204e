"""``mtad-env train``: build a model pack (tokenizer, base LM, 17 STS adapters, JTS) from a corpus.

Steps, each skipped on ``--resume`` when its output is complete: generate the corpus (unless ``--corpus``), train
the tokenizer, pretrain the base (or adapt a local ``--backbone``), train one LoRA adapter per single-trait profile
(STS), train the joint adapter with profile tokens (JTS), write the manifest with hashes and validation losses.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from tqdm.auto import tqdm

from mtad_env.atomic_files import write_json_atomic
from mtad_env.domain import load_tasks
from mtad_env.errors import InvalidValueError
from mtad_env.packs import Pack, load_pack, write_manifest
from mtad_env.profiles import single_trait_profiles
from simulators.corpus import CorpusGenerator, CorpusSpec, profile_filename, read_corpus
from simulators.prompting import DIALOGUE_FORMATS, PREAMBLE, task_text
from training.lm_data import build_examples, dialogue_sequences, encode
from training.presets import Preset, get_preset
from training.tokenizer import load_tokenizer, train_tokenizer
from training.trainer import batcher, train_steps, validation_loss

logger = logging.getLogger(__name__)
LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "embed_tokens", "lm_head"]


@dataclass(frozen=True)
class TrainConfig:
    """Arguments of ``mtad-env train``."""

    preset: str
    out: str
    corpus: str | None = None
    backbone: str | None = None
    seed: int = 0
    resume: bool = False
    progress: bool = True


class PackBuilder:
    """Runs the steps of the module docstring for one :class:`TrainConfig`."""

    def __init__(self, config: TrainConfig) -> None:
        self.config, self.preset = config, get_preset(config.preset)
        self.out = Path(config.out)
        self.work = self.out / "checkpoints"
        self.progress_file = self.work / "progress.json"

    def run(self) -> Pack:
        self._prepare_folder()
        train, valid = self._corpus()
        tokenizer = self._tokenizer(train)
        self._base(tokenizer, train, valid)
        state = self._state()
        for profile in tqdm(single_trait_profiles(), desc="STS adapters", disable=not self.config.progress):
            name = profile_filename(profile)
            if name not in state["adapters"]:
                loss = self._adapter(tokenizer, train, valid, f"adapters/{name}", [str(profile)], False)
                state["adapters"][name] = {"profile": str(profile), "val_loss": loss}
                write_json_atomic(self.progress_file, state)
        if state["jts"] is None:
            state["jts"] = {"val_loss": self._adapter(tokenizer, train, valid, "jts", None, True)}
            write_json_atomic(self.progress_file, state)
        return self._finish(state)

    def _prepare_folder(self) -> None:
        if self.out.exists() and any(self.out.iterdir()) and not self.config.resume:
            msg = f"output folder {str(self.out)!r} is not empty; pass --resume to continue it or choose another --out"
            raise InvalidValueError(msg)
        self.work.mkdir(parents=True, exist_ok=True)
        settings = asdict(self.config) | {"out": None, "resume": None, "progress": None}
        marker = self.work / "config.json"
        if marker.exists() and json.loads(marker.read_text()) != settings:
            raise InvalidValueError(f"{str(self.out)!r} was started with other arguments; resume with the same ones")
        write_json_atomic(marker, settings)

    def _state(self) -> dict:
        if self.progress_file.exists():
            return json.loads(self.progress_file.read_text(encoding="utf-8"))
        return {"adapters": {}, "jts": None, "base_val_loss": None}

    def _corpus(self) -> tuple[list[dict], list[dict]]:
        folder = Path(self.config.corpus) if self.config.corpus else self.work / "corpus"
        if not self.config.corpus:
            p = self.preset
            spec = CorpusSpec(tuple(str(x) for x in single_trait_profiles()),
                              (("train", p.dialogues), ("valid", p.valid_dialogues)), seed=self.config.seed)
            CorpusGenerator(spec, folder, progress=self.config.progress).run()
        train, valid = read_corpus(folder, "train"), read_corpus(folder, "valid")
        if not train:
            raise InvalidValueError(f"corpus {str(folder)!r} has no train dialogues; generate one with "
                                    "`mtad-env generate --profiles single --n-train N --out DIR`")
        return train, valid

    def _tokenizer(self, train: list[dict]):
        folder = self.out / "tokenizer"
        if (folder / "tokenizer.json").exists():
            return load_tokenizer(folder)
        if self.config.backbone:
            from training.backbone import adapt_backbone_tokenizer

            return adapt_backbone_tokenizer(Path(self.config.backbone), folder)
        texts = [PREAMBLE] + [t[k] for r in train for t in r["dialog"] for k in ("user", "system")]
        tasks = [task for split in ("train", "valid", "test", "diy") for task in load_tasks(split)]
        texts += [s for task in tasks for s in task.methods] + [task_text(task) for task in tasks]
        return train_tokenizer(texts, self.preset.vocab_size, folder)

    def _encoded(self, tokenizer, records: list[dict], profiles: list[str] | None, with_profile: bool,
                 per_profile: int | None = None):
        chosen = [r for r in records if profiles is None or r["user_profile"] in profiles]
        if per_profile is not None:
            chosen = _first_per_profile(chosen, per_profile)
        return encode_records(chosen, tokenizer, self.preset, with_profile, self.config.seed)

    def _base(self, tokenizer, train: list[dict], valid: list[dict]) -> None:
        from training.backbone import new_backbone, save_base

        if (self.out / "base" / "model.safetensors").exists():
            return
        torch.manual_seed(self.config.seed)
        model = new_backbone(self.preset, tokenizer, self.config.backbone)
        p, pad = self.preset, tokenizer.pad_token_id
        if not self.config.backbone:
            data = batcher(self._encoded(tokenizer, train, None, False), pad, p.batch_size, p.batch_tokens)
            train_steps(model, data, p.base_steps, p.lr_base, self.config.seed, "base", self.config.progress,
                        p.warmup_steps, p.bf16, checkpoint=self.work / "base_training.pt")
        state = self._state()
        valid_data = batcher(self._encoded(tokenizer, valid, None, False), pad, p.batch_size, p.batch_tokens)
        state["base_val_loss"] = validation_loss(model, valid_data)
        save_base(model, self.out / "base")
        write_json_atomic(self.progress_file, state)

    def _adapter(self, tokenizer, train, valid, rel: str, profiles: list[str] | None, with_profile: bool) -> float:
        steps = self.preset.jts_steps if with_profile else self.preset.adapter_steps
        per_profile = None if with_profile else self.preset.adapter_dialogues
        return train_lora(self.out / "base", self.preset,
                          self._encoded(tokenizer, train, profiles, with_profile, per_profile),
                          self._encoded(tokenizer, valid, profiles, with_profile), steps, tokenizer.pad_token_id,
                          self.config.seed, self.out / rel, self.config.progress,
                          checkpoint=self.work / f"{rel.replace('/', '_')}_training.pt")

    def _finish(self, state: dict) -> Pack:
        p: Preset = self.preset
        corpus = self.config.corpus or str(self.work / "corpus")
        manifest = {
            "preset": p.name, "seed": self.config.seed, "backbone": self.config.backbone or "scratch",
            "prompt_format": p.prompt_format,
            "backbone_config": json.loads((self.out / "base" / "config.json").read_text()),
            "corpus_sha256": corpus_sha256(read_corpus(corpus)),
            "base_val_loss": state["base_val_loss"],
            "adapters": {v["profile"]: {"path": f"adapters/{k}", "val_loss": v["val_loss"]}
                         for k, v in state["adapters"].items()},
            "jts": {"path": "jts", "val_loss": state["jts"]["val_loss"]},
        }
        write_manifest(self.out, manifest)
        return load_pack(self.out)


def train_lora(base: Path, preset: Preset, train: list, valid: list, steps: int, pad_id: int, seed: int,
               target: Path, progress: bool = True, checkpoint: Path | None = None) -> float:
    """Train one LoRA adapter on the saved base model, save it in PEFT's format to ``target`` and return its
    validation loss (NaN without validation examples)."""
    from training.backbone import lora_model

    torch.manual_seed(seed)
    model = lora_model(base, preset)
    train_steps(model, batcher(train, pad_id, preset.batch_size, preset.batch_tokens), steps, preset.lr_adapter,
                seed, target.name, progress, bf16=preset.bf16, checkpoint=checkpoint)
    valid_data = batcher(valid, pad_id, preset.batch_size, preset.batch_tokens)
    loss = validation_loss(model, valid_data) if valid else float("nan")
    if target.exists():
        shutil.rmtree(target)
    model.save_pretrained(target, save_embedding_layers=False)
    return loss


def encode_records(records: list[dict], tokenizer, preset: Preset, with_profile: bool, seed: int) -> list:
    """Training sequences of ``records`` in the preset's prompt format (see :mod:`training.lm_data`)."""
    if preset.prompt_format in DIALOGUE_FORMATS:
        return dialogue_sequences(records, tokenizer, with_profile, preset.max_len,
                                  with_task=preset.prompt_format == "task_dialogue")
    return encode(build_examples(records, with_profile, seed), tokenizer, preset.max_len)


def corpus_sha256(records: list[dict]) -> str:
    """SHA-256 of the corpus' dialogues, each as canonical JSON, in dialogue-id order: it changes when any turn
    does (dialogue ids alone stay the same when the corpus is regenerated with a changed Algorithm 1)."""
    digest = hashlib.sha256()
    for record in sorted(records, key=lambda r: r["dialog_id"]):
        digest.update(json.dumps(record, sort_keys=True, ensure_ascii=False).encode("utf-8") + b"\n")
    return digest.hexdigest()


def _first_per_profile(records: list[dict], n: int) -> list[dict]:
    """The first ``n`` records of each profile, in corpus order."""
    seen: dict[str, int] = {}
    out = []
    for rec in records:
        if seen.get(rec["user_profile"], 0) < n:
            seen[rec["user_profile"]] = seen.get(rec["user_profile"], 0) + 1
            out.append(rec)
    return out


def build_pack(config: TrainConfig) -> Pack:
    """Build (or resume building) the pack of ``config``."""
    return PackBuilder(config).run()
