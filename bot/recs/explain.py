"""Why a paper is a pick: the saved paper it is closest to, and the words that weighed most.

The words are exact, not a guess. A paper's vector is the normalised sum of the embedding
rows of its text's tokens (:mod:`bot.semantic.model`), and the member's model is linear, so
its score is ``w · Σ e_t / ‖Σ e_t‖ + b``: token ``t`` adds ``w · e_t`` (over a length shared
by the whole text). A word's weight is the sum over its tokens and occurrences, words of one
stem (``test``, ``tests``, ``testing``) summed together; the words shown are those that added
the most. Function words and the words of every abstract ("method", "results") are left out:
they are never what makes a paper someone's.

The closest paper is the member's saved (or voted) paper with the highest cosine to the pick,
both taken from the candidates' mean (:mod:`.model` says why).
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Sequence
from typing import Protocol

import numpy as np
import numpy.typing as npt

from bot.search.query import BORING_WORDS, FILLER_WORDS, stem, word_list

FloatArray = npt.NDArray[np.float32]
WORDS_SHOWN = 4
MIN_LETTERS = 3


class TokenModel(Protocol):
    """What the words need of the embedding model (:class:`bot.semantic.model.Embedder`)."""

    @property
    def weights(self) -> npt.NDArray[np.float32] | npt.NDArray[np.float16]: ...

    def tokenize(self, text: str) -> list[int]: ...


def token_weights(model: TokenModel, weights: FloatArray) -> FloatArray:
    """What each token of the vocabulary adds to a paper's score: ``e_t · w``."""
    # float16 weights (the bot keeps the model that way) are summed in float32.
    out: FloatArray = np.asarray(model.weights @ weights.astype(np.float32), dtype=np.float32)
    return out


def weighed_words(
    text: str, model: TokenModel, per_token: FloatArray, k: int = WORDS_SHOWN
) -> list[str]:
    """The *k* words of *text* (as embedded: :func:`bot.semantic.model.paper_text`) that
    added the most to its score, most first (only words that added something)."""
    return weighed_words_many([text], model, per_token, k)[0]


def weighed_words_many(
    texts: Sequence[str], model: TokenModel, per_token: FloatArray, k: int = WORDS_SHOWN
) -> list[list[str]]:
    """:func:`weighed_words` of several texts at once: each distinct piece of text is
    tokenised once (and kept for the next call), every piece's part summed in one step."""
    kept: list[list[tuple[str, str, str]]] = []  # per text: (piece, key, word)
    pieces: dict[str, int] = {}
    for text in texts:
        found: list[tuple[str, str, str]] = []
        for piece in text.split(" "):
            reason = _word_of(piece)
            if reason is not None:
                found.append((piece, *reason))
                pieces.setdefault(piece, len(pieces))
        kept.append(found)
    part = _parts(list(pieces), model, per_token)
    out: list[list[str]] = []
    for found in kept:
        totals: dict[str, float] = {}
        forms: dict[str, Counter[str]] = {}
        for piece, key, word in found:
            totals[key] = totals.get(key, 0.0) + float(part[pieces[piece]])
            forms.setdefault(key, Counter())[word] += 1
        best = sorted((v, key) for key, v in totals.items() if v > 0)
        out.append([forms[key].most_common(1)[0][0] for _, key in reversed(best[-k:])])
    return out


@functools.lru_cache(maxsize=100_000)
def _word_of(piece: str) -> tuple[str, str] | None:
    """(stem key, word) of a piece of text that can be a reason, else None."""
    words = word_list(piece)
    if not words or not all(w.isalpha() for w in words):
        return None
    if len(words) == 1:
        word = words[0]
        if len(word) < MIN_LETTERS or word in _LEFT_OUT:
            return None
        return stem(word), word
    if len(words) <= 3 and "-" in piece:  # a compound: "self-supervised"
        word = "-".join(words)
        return word, word
    return None  # a formula, a path, initials


_IDS: dict[str, list[int]] = {}
_IDS_OF: list[object] = [None]  # the model the ids are of
_IDS_KEPT = 200_000


def _parts(pieces: list[str], model: TokenModel, per_token: FloatArray) -> FloatArray:
    """What each piece adds: the sum of its tokens' parts (0 for a piece without tokens)."""
    if _IDS_OF[0] is not model or len(_IDS) > _IDS_KEPT:
        _IDS.clear()
        _IDS_OF[0] = model
    lengths = np.zeros(len(pieces), dtype=np.int64)
    flat: list[int] = []
    for i, piece in enumerate(pieces):
        ids = _IDS.get(piece)
        if ids is None:
            ids = _IDS[piece] = model.tokenize(piece)
        flat += ids
        lengths[i] = len(ids)
    out = np.zeros(len(pieces), dtype=np.float32)
    if not flat:
        return out
    sums = np.add.reduceat(
        per_token[np.asarray(flat, dtype=np.int64)], np.cumsum(lengths) - lengths
    )
    has = lengths > 0
    out[has] = sums[has]  # reduceat gives a neighbour's value for an empty piece: dropped
    return out


_LEFT_OUT = BORING_WORDS | FILLER_WORDS


def closest(
    candidates: FloatArray, positives: FloatArray, center: FloatArray
) -> tuple[npt.NDArray[np.int64], FloatArray]:
    """For each candidate row, the row of the positive closest to it and their cosine, both
    taken from *center*."""
    if not len(positives) or not len(candidates):
        return np.zeros(len(candidates), dtype=np.int64), np.zeros(
            len(candidates), dtype=np.float32
        )
    a = _unit(candidates - center)
    b = _unit(positives - center)
    sims = a @ b.T
    best = sims.argmax(axis=1)
    return best.astype(np.int64), sims[np.arange(len(a)), best].astype(np.float32)


def _unit(rows: FloatArray) -> FloatArray:
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    out: FloatArray = np.divide(rows, norms, out=np.zeros_like(rows), where=norms > 0)
    return out
