"""Word-constrained sampling: an LM user spells only words of its vocabulary.

A small LM samples sub-word tokens, and a sampled tail token now and then starts a word that exists nowhere
("paridicwviepffic", "starkeit"). Lowering top_p removes those but also much of the users' variety; this removes
only the tokens that would spell a word outside the vocabulary, at every step, and keeps the rest of the mixed
distribution as it is (renormalised by the nucleus sampler). The vocabulary (:mod:`mtad_env.vocabulary`: the
utterance pool, every task and the knowledge files) is the one the invented-word figure of
:mod:`evaluation.language_quality` scores against, plus the words of the dialogue's own task, so what the figure
measures is what the constraint enforces.

Words follow the figure's definition: runs of ``[a-z0-9]`` with inner apostrophes, in lower-cased text; every
other character separates words, and special tokens (intents, ``<|end|>``) separate words too. At each step, with
the dialogue's unfinished word ``run``, a token is allowed when every word it completes is known (a known word
followed by ``'s`` counts as known, as in the figure) and the word it leaves unfinished is the start of a known
word. The stop token is therefore allowed only between words. A word in the assistant's turns but in no task or
pool entry is not allowed (the figure would accept it): the constraint is the stricter of the two.

Allowed-token masks are computed once per unfinished word and kept (a few thousand distinct ones in practice),
checking only the tokens that can continue it; a dialogue's tokens still depend only on its own generator.

Example:
    >>> lexicon = WordLexicon(["next", "step", "please"], ["next", " step", "ste", "p", " plea", "se", "zz", "<e>"],
    ...                       special_ids=[7])
    >>> state = WordState(lexicon)
    >>> state.allowed(8).tolist()   # from an utterance's start: every token but "se" and "zz"
    [True, True, True, True, True, False, False, True]
    >>> state.advance(0); state.allowed(8).tolist()   # after "next": a word must end or go on as a known one
    [False, True, False, False, True, False, False, True]
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from functools import lru_cache

import torch

from mtad_env.domain import Task
from mtad_env.vocabulary import WORD, build_vocabulary, task_words

logger = logging.getLogger(__name__)
WORD_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789'")
MAX_KEPT_MASKS = 50_000  # unfinished words whose mask is kept (a vocabulary's worth; ~2.5 KB each at 2,500 tokens)


class WordLexicon:
    """The known words and, per token id, its text: answers which tokens may follow an unfinished word.

    Args:
        words: the known words (lower-cased :data:`WORD_CHARS` runs).
        token_texts: the decoded text of every token id of the tokenizer, in id order.
        special_ids: ids whose text does not count (intent, role and stop tokens): they separate words.
    """

    def __init__(self, words: Iterable[str], token_texts: Sequence[str], special_ids: Iterable[int] = ()) -> None:
        self.words = frozenset(words)
        self.prefixes = frozenset(w[:i] for w in self.words for i in range(1, len(w) + 1))
        special = set(special_ids)
        self._next: dict[tuple[str, int], str | None] = {}
        self.texts = ["" if i in special else text.lower() for i, text in enumerate(token_texts)]
        size = len(self.texts)
        # tokens whose text starts between words (a space, punctuation, a special token): allowed after a finished
        # word exactly when allowed at an utterance's start; the others depend on the unfinished word
        self.separates = torch.tensor([i in special or (t != "" and t[0] not in WORD_CHARS)
                                       for i, t in enumerate(self.texts)], dtype=torch.bool)
        self.joining = [i for i in range(size) if not bool(self.separates[i])]
        self._by_first: dict[str, list[int]] = {}  # joining tokens by their first character ("" for no text)
        for i in self.joining:
            self._by_first.setdefault(self.texts[i][:1], []).append(i)
        self.from_start = torch.tensor([self.advance("", i) is not None for i in range(size)], dtype=torch.bool)
        self._masks: dict[str, torch.Tensor] = {"": self.from_start}

    def __len__(self) -> int:
        return len(self.texts)

    def known(self, word: str) -> bool:
        """Whether a finished word is known: in the words, or a known word followed by ``'s``."""
        return word in self.words or (word.endswith("'s") and word[:-2] in self.words)

    def closes(self, run: str) -> bool:
        """Whether the unfinished ``run`` of word characters may end here: each word it holds is known."""
        return all(self.known(w) for w in WORD.findall(run))

    def opens(self, run: str) -> bool:
        """Whether ``run`` may still grow into known words: it is the start of a known word, a finished known word,
        or a known word followed by an apostrophe (``"i'"`` closes as ``"i"``)."""
        core = run.lstrip("'")
        return (not core or core in self.prefixes or self.known(core)
                or (core.endswith("'") and self.closes(core)))

    def advance(self, run: str, token: int) -> str | None:
        """The unfinished word after ``token`` follows ``run``, or None if the token spells an unknown word."""
        key = (run, token)
        if key in self._next:
            return self._next[key]
        for ch in self.texts[token]:
            if ch in WORD_CHARS:
                run += ch
            elif run:
                if not self.closes(run):
                    run = None
                    break
                run = ""
        out = run if run is not None and self.opens(run) else None
        if len(self._next) < 1_000_000:
            self._next[key] = out
        return out

    def mask(self, run: str) -> torch.Tensor:
        """Which token ids may follow the unfinished word ``run`` (kept per ``run``)."""
        found = self._masks.get(run)
        if found is None:
            found = self.from_start & self.separates if self.closes(run) else torch.zeros(len(self), dtype=torch.bool)
            for i in self._candidates(run):
                found[i] = self.advance(run, i) is not None
            if len(self._masks) < MAX_KEPT_MASKS:
                self._masks[run] = found
        return found

    def _candidates(self, run: str) -> list[int]:
        """The tokens that continue ``run`` and may be allowed: those whose first character extends it into the
        start of a known word, those that start with an apostrophe and those without text (every token, after a
        run holding an apostrophe). Any other token makes a word no known word starts with; skipping them is
        what makes a new run's mask cheap (a few dozen checks instead of every joining token)."""
        if "'" in run:
            return self.joining
        groups = [c for c in WORD_CHARS if c == "'" or run + c in self.prefixes] + [""]
        return [i for c in groups for i in self._by_first.get(c, ())]


class WordState:
    """One utterance's progress through a :class:`WordLexicon`: its unfinished word."""

    def __init__(self, lexicon: WordLexicon) -> None:
        self.lexicon, self.run = lexicon, ""

    def allowed(self, vocab: int) -> torch.Tensor:
        """The allowed tokens as a bool mask of length ``vocab`` (ids past the tokenizer are not allowed)."""
        mask = self.lexicon.mask(self.run)
        if vocab == len(mask):
            return mask
        out = torch.zeros(vocab, dtype=torch.bool)
        out[:min(vocab, len(mask))] = mask[:vocab]
        return out

    @property
    def unfinished(self) -> str:
        """The word the utterance stopped in the middle of ("" if it ended between words or on a known word):
        what a decode cut at its token limit leaves; :func:`drop_unfinished` removes it."""
        return "" if self.lexicon.closes(self.run) else self.run.lstrip("'")

    def advance(self, token: int) -> None:
        """Take the sampled ``token``; one the mask did not allow (the fallback when it allowed nothing the model
        gave any probability) starts a fresh word."""
        if token < len(self.lexicon):
            self.run = self.lexicon.advance(self.run, token) or ""


def drop_unfinished(text: str, state: WordState | None) -> str:
    """``text`` without the unknown word a token limit cut it in (``"... for eight pe"`` -> ``"... for eight"``)."""
    cut = state.unfinished if state is not None else ""
    if cut and text.lower().endswith(cut):
        return text[:len(text) - len(cut)].rstrip()
    return text


def token_texts(tokenizer) -> list[str]:
    """Every token id's decoded text (a lone byte of a multi-byte character decodes to U+FFFD, a separator)."""
    return [tokenizer.decode([i], clean_up_tokenization_spaces=False) for i in range(len(tokenizer))]


@lru_cache(maxsize=8)
def _lexicon(tokenizer, extra: frozenset[str]) -> WordLexicon:
    specials = set(tokenizer.all_special_ids) | {i for i in tokenizer.get_added_vocab().values()}
    lexicon = WordLexicon(build_vocabulary().words | extra, token_texts(tokenizer), specials)
    logger.info("word constraint: %d words, %d tokens", len(lexicon.words), len(lexicon))
    return lexicon


def lexicon_for(tokenizer, task: Task | None = None) -> WordLexicon:
    """The lexicon of ``tokenizer`` over the shipped vocabulary plus ``task``'s own words (a user's task folder
    brings words the shipped tasks lack); built once per tokenizer and set of new words."""
    extra = frozenset(task_words(task) - build_vocabulary().words) if task is not None else frozenset()
    return _lexicon(tokenizer, extra)
