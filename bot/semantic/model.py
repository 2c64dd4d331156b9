"""Paper text → unit vector, with the static WordLlama model whose weights ship in its wheel.

The model (``wordllama`` 0.4.0.post1, config ``l2_supercat``) is a table of 32,000 token
vectors: a text's embedding is the mean of the vectors of its Llama-2 tokens
(``WordLlama.embed``), here L2-normalised. The 256 dimensions are Matryoshka-trained, so the
first 64 or 128 columns are a smaller model of their own (``Embedder.load(dim=...)``).

Loading: wordllama's own loader looks for ``wordllama/tokenizer/`` while the wheel ships
``wordllama/tokenizers/``, and then tries to download from Hugging Face. We read the two files
from the installed package instead, found without importing wordllama (its import also
configures the root logger), so nothing is ever downloaded.

Speed: tokenising is the cost, not the arithmetic. The tokenizer has no pre-tokenizer: its
normaliser prepends "▁" and turns every space into "▁", then BPE runs over the whole text. No
merge joins a symbol that ends in another character to one that starts with "▁" (checked on
load against the vocabulary), so BPE never merges across the start of a run of "▁": a text
splits into *pieces*, each a run of "▁" and the characters up to the next one, that tokenise
independently, and the pieces' tokens in order are exactly the whole text's. Pieces (words,
mostly) repeat heavily across papers, so each distinct piece is tokenised once and its token
ids cached; a batch's vectors are then sums of embedding rows, computed in numpy.

Texts containing a special token's literal text ("<s>", "</s>", "<unk>") are tokenised whole:
the tokenizer splits those out first and normalises each side on its own.
"""

from __future__ import annotations

import importlib.util
import itertools
import json
import logging
import re
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from tokenizers import Tokenizer

log = logging.getLogger(__name__)

PACKAGE = "wordllama"
PINNED = "wordllama==0.4.0.post1"
CONFIG = "l2_supercat"
DIMS = (64, 128, 256)
WEIGHTS_FILE = f"weights/{CONFIG}_256.safetensors"
TOKENIZER_FILES = (  # the wheel's folder, then the one wordllama's loader expects
    f"tokenizers/{CONFIG}_tokenizer_config.json",
    f"tokenizer/{CONFIG}_tokenizer_config.json",
)
TENSOR_KEY = "embedding.weight"

PAPER_CHARS = 600
"""Abstract characters embedded with the title: ranked about as well as the whole abstract."""
CACHE_PIECES = 200_000
"""Distinct pieces cached (about 100 bytes each); the cache starts over when full."""
_TOKENS_PER_PIECE = 4  # token room per cached piece (pieces average about two tokens)
_CHUNK = 256  # texts summed per step

_SPACE = "\u2581"  # SentencePiece's "▁"
_PIECE = re.compile("\u2581+[^\u2581]*")
_TOKEN = re.compile("\u2581*[^\u2581]*")

FloatArray = npt.NDArray[np.float32]


class ModelUnavailable(RuntimeError):
    """The embedding model's package or files are missing or not the expected ones."""


def paper_text(title: str, abstract: str, chars: int = PAPER_CHARS) -> str:
    """The text embedded for a paper: its title and the first ``chars`` characters of its
    abstract, whitespace collapsed to single spaces, the abstract cut at a word boundary."""
    title = " ".join(title.split())
    abstract = " ".join(abstract.split())
    if len(abstract) > chars:
        head = abstract[: chars + 1]
        cut = head.rfind(" ")
        abstract = head[:cut] if cut > 0 else abstract[:chars]
    return f"{title} {abstract}" if title and abstract else title or abstract


class _PieceTable:
    """Token ids of cached pieces, keyed by the piece without its first "▁".

    Only ever appended to, under the embedder's lock; an entry's ids are written before its
    key is published, so readers use it without a lock. A full table is replaced, not
    cleared, so a reader holding the old one still sees consistent data."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.index: dict[str, int] = {}
        self.starts = np.zeros(capacity, dtype=np.int64)
        self.lengths = np.zeros(capacity, dtype=np.int64)
        self.tokens = np.zeros(capacity * _TOKENS_PER_PIECE, dtype=np.int32)
        self.used = 0  # token slots used

    def fits(self, pieces: int, tokens: int) -> bool:
        return len(self.index) + pieces <= self.capacity and self.used + tokens <= self.tokens.size

    def add(self, items: Iterable[tuple[str, list[int]]]) -> None:
        """Append pieces; the caller holds the lock and has checked :meth:`fits`."""
        for key, ids in items:
            slot, start, n = len(self.index), self.used, len(ids)
            self.tokens[start : start + n] = ids
            self.starts[slot] = start
            self.lengths[slot] = n
            self.used = start + n
            self.index[key] = slot

    def lookup(self, keys: list[str]) -> npt.NDArray[np.int64]:
        """Slot of each key, -1 where it is not cached."""
        return np.fromiter(
            map(self.index.get, keys, itertools.repeat(-1)), dtype=np.int64, count=len(keys)
        )

    def ids_of(self, slot: int) -> list[int]:
        start = int(self.starts[slot])
        return [int(i) for i in self.tokens[start : start + int(self.lengths[slot])]]


@dataclass(frozen=True, slots=True)
class _Batch:
    """A chunk of texts split into cache keys: text ``r``'s keys are
    ``keys[bounds[r]:bounds[r + 1]]``; ``whole`` holds the rows tokenised whole."""

    keys: list[str]
    bounds: list[int]
    whole: list[tuple[int, list[int]]]


class Embedder:
    """Embeds texts as L2-normalised float32 vectors, reproducing ``WordLlama.embed``.

    Safe to call from several threads at once: the piece cache is read without a lock and
    written under one (see :class:`_PieceTable`); tokenizing and the numpy work run outside it.
    """

    def __init__(
        self,
        weights: npt.NDArray[np.float32] | npt.NDArray[np.float16],
        tokenizer: Tokenizer,
        name: str,
        *,
        cache_pieces: int = CACHE_PIECES,
    ) -> None:
        if weights.ndim != 2 or weights.dtype not in (np.float32, np.float16):
            raise ValueError("weights must be a float32 or float16 matrix (vocabulary, dim)")
        if cache_pieces < 1:
            raise ValueError("cache_pieces must be at least 1")
        self.weights: npt.NDArray[np.float32] | npt.NDArray[np.float16] = (
            weights if weights.flags.c_contiguous else weights.copy(order="C")
        )
        self.dim = int(weights.shape[1])
        self.name = name
        self._tokenizer = tokenizer
        self._model = tokenizer.model
        # Added tokens are matched in the raw text before normalising: such texts go whole.
        added = tokenizer.get_added_tokens_decoder().values()
        self._specials = tuple(t.content for t in added if t.content)
        self._cache_pieces = cache_pieces
        self._table = _PieceTable(cache_pieces)
        self._lock = threading.Lock()

    @classmethod
    def load(
        cls, dim: int = 256, *, cache_pieces: int = CACHE_PIECES, half: bool = False
    ) -> Embedder:
        """The wordllama ``l2_supercat`` model at ``dim`` (64, 128 or 256) dimensions, from the
        files of the installed wordllama package; raises :class:`ModelUnavailable`.

        ``half`` keeps the weights as shipped, float16 (16 MB instead of 33 MB at 256
        dimensions, summed in float32: the same vectors to about 1e-7), at about four times
        the summing time: right for a process that embeds queries, not for bulk embedding."""
        if dim not in DIMS:
            raise ValueError(f"dim must be one of {', '.join(map(str, DIMS))}, not {dim}")
        try:
            from safetensors.numpy import load_file
            from tokenizers import Tokenizer
        except ImportError as exc:
            raise ModelUnavailable(
                f"the semantic model needs the {exc.name} package: pip install '{PINNED}'"
            ) from exc
        root = _package_dir()
        weights_path = root / WEIGHTS_FILE
        tokenizer_path = next((root / f for f in TOKENIZER_FILES if (root / f).is_file()), None)
        if not weights_path.is_file() or tokenizer_path is None:
            missing = weights_path if not weights_path.is_file() else root / TOKENIZER_FILES[0]
            raise ModelUnavailable(
                f"wordllama is installed but {missing} is missing: reinstall '{PINNED}'"
            )
        try:
            tokenizer = Tokenizer.from_file(str(tokenizer_path))
        except Exception as exc:  # the Rust reader raises plain Exception
            raise ModelUnavailable(
                f"cannot read {tokenizer_path} ({exc}): reinstall '{PINNED}'"
            ) from exc
        _check_tokenizer(tokenizer)
        try:
            table = load_file(str(weights_path))[TENSOR_KEY]
        except Exception as exc:
            raise ModelUnavailable(
                f"cannot read {weights_path} ({exc}): reinstall '{PINNED}'"
            ) from exc
        if table.ndim != 2 or table.shape[0] != tokenizer.get_vocab_size():
            raise ModelUnavailable(
                f"wordllama's weights {table.shape} do not fit its tokenizer: reinstall '{PINNED}'"
            )
        weights: npt.NDArray[np.float32] | npt.NDArray[np.float16]
        if half:
            weights = np.ascontiguousarray(table[:, :dim], dtype=np.float16)
        else:
            weights = np.ascontiguousarray(table[:, :dim], dtype=np.float32)
        log.info("Loaded %s from %s", f"wordllama-{CONFIG}-{dim}", root)
        return cls(
            weights,
            tokenizer,
            f"wordllama-{CONFIG}-{dim}",
            cache_pieces=cache_pieces,
        )

    @property
    def cached_pieces(self) -> int:
        """How many distinct pieces the cache holds now."""
        return len(self._table.index)

    def tokenize(self, text: str) -> list[int]:
        """Token ids of ``text`` through the piece cache (equal to the tokenizer's own)."""
        batch = self._split([text])
        if batch.whole:
            return batch.whole[0][1]
        table, slots = self._resolve(batch.keys)
        return [i for s in slots.tolist() for i in table.ids_of(s)]

    def embed(self, texts: Sequence[str]) -> FloatArray:
        """Vectors of ``texts``: float32 (len(texts), dim), each row of norm 1 (0 for a text
        without tokens, such as "")."""
        if isinstance(texts, str):
            raise TypeError("embed takes a sequence of texts, not one string")
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for start in range(0, len(texts), _CHUNK):
            self._embed_chunk(texts[start : start + _CHUNK], out[start : start + _CHUNK])
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        np.divide(out, norms, out=out, where=norms > 0)
        return out

    def _embed_chunk(self, texts: Sequence[str], out: FloatArray) -> None:
        batch = self._split(texts)
        weights = self.weights
        for row, whole_ids in batch.whole:
            if whole_ids:
                np.add.reduce(
                    weights.take(whole_ids, axis=0), axis=0, dtype=np.float32, out=out[row]
                )
        if not batch.keys:
            return
        table, slots = self._resolve(batch.keys)
        # Concatenate the cached token ids of every piece, in order (a ragged gather).
        lengths = table.lengths[slots]
        ends = np.cumsum(lengths)
        positions = np.arange(int(ends[-1]), dtype=np.int64)
        positions += np.repeat(table.starts[slots] - (ends - lengths), lengths)
        ids = table.tokens[positions]
        offsets = np.concatenate(([0], ends))[batch.bounds].tolist()
        for row in range(len(texts)):
            start, stop = offsets[row], offsets[row + 1]
            if stop > start:
                rows = weights.take(ids[start:stop], axis=0)
                np.add.reduce(rows, axis=0, dtype=np.float32, out=out[row])

    def _split(self, texts: Sequence[str]) -> _Batch:
        keys: list[str] = []
        bounds = [0]
        whole: list[tuple[int, list[int]]] = []
        specials = self._specials
        for row, text in enumerate(texts):
            if not text:
                pass
            elif specials and any(s in text for s in specials):
                whole.append((row, self._tokenizer.encode(text, add_special_tokens=False).ids))
            elif text[0] != " " and text[-1] != " " and "  " not in text and _SPACE not in text:
                keys += text.split(" ")  # one piece per word: "▁" + word
            else:
                keys += [p[1:] for p in _PIECE.findall(_SPACE + text.replace(" ", _SPACE))]
            bounds.append(len(keys))
        return _Batch(keys, bounds, whole)

    def _tokenize_key(self, key: str) -> list[int]:
        return [t.id for t in self._model.tokenize(_SPACE + key)]

    def _resolve(self, keys: list[str]) -> tuple[_PieceTable, npt.NDArray[np.int64]]:
        """The cache table holding every key, and each key's slot in it."""
        seen = self._table
        slots = seen.lookup(keys)
        missing = np.flatnonzero(slots < 0).tolist()
        if not missing:
            return seen, slots
        fresh = {k: self._tokenize_key(k) for k in dict.fromkeys(keys[i] for i in missing)}
        with self._lock:
            table = self._table
            if table is seen:
                new = [(k, ids) for k, ids in fresh.items() if k not in table.index]
                if table.fits(len(new), sum(len(ids) for _, ids in new)):
                    table.add(new)
                    slots[missing] = [table.index[keys[i]] for i in missing]
                    return table, slots
            # The cache is full, or another caller started it over: put this chunk's pieces
            # in the current table, else in a new one, else (a chunk larger than the whole
            # cache) in a table of its own that is not kept.
            for candidate in (table, _PieceTable(self._cache_pieces)):
                wanted = [
                    (k, fresh[k] if k in fresh else seen.ids_of(seen.index[k]))
                    for k in dict.fromkeys(keys)
                    if k not in candidate.index
                ]
                if candidate.fits(len(wanted), sum(len(ids) for _, ids in wanted)):
                    if candidate is not table:
                        log.debug("Piece cache full (%d pieces): starting over", len(table.index))
                        self._table = candidate
                    candidate.add(wanted)
                    return candidate, candidate.lookup(keys)
            private = _PieceTable(
                max(len(wanted), -(-sum(len(i) for _, i in wanted) // _TOKENS_PER_PIECE))
            )
            private.add(wanted)
            return private, private.lookup(keys)


def _package_dir() -> Path:
    """The installed wordllama package folder, found without importing it."""
    try:
        spec = importlib.util.find_spec(PACKAGE)
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise ModelUnavailable(
            f"the semantic model needs the wordllama package: pip install '{PINNED}'"
        )
    return Path(next(iter(spec.submodule_search_locations)))


def _check_tokenizer(tokenizer: Tokenizer) -> None:
    """Refuse a tokenizer for which per-piece tokenising would differ from whole-text."""
    from tokenizers.models import BPE

    expected_normalizer = {
        "type": "Sequence",
        "normalizers": [
            {"type": "Prepend", "prepend": _SPACE},
            {"type": "Replace", "pattern": {"String": " "}, "content": _SPACE},
        ],
    }
    normalizer = tokenizer.normalizer
    problem = None
    if normalizer is None or json.loads(normalizer.__getstate__()) != expected_normalizer:
        problem = "its normaliser"
    elif tokenizer.pre_tokenizer is not None:
        problem = "its pre-tokenizer"
    elif not isinstance(tokenizer.model, BPE) or tokenizer.model.dropout:
        problem = "its model"
    else:
        # A merge's result is a token of the vocabulary; if every token is a run of "▁" and
        # then other characters, no merge can join another character to a following "▁".
        vocab = tokenizer.get_vocab(with_added_tokens=False)
        problem = next((f"its token {t!r}" for t in vocab if not _TOKEN.fullmatch(t)), None)
    if problem:
        raise ModelUnavailable(
            f"wordllama's tokenizer is not the expected one ({problem} differs): install '{PINNED}'"
        )
