"""The title vocabulary: every word of every title with its document frequency, in memory.

Read from the ``papers_title_vocab`` fts5vocab table (a scan of the small title index: about
0.4 s and 20 MB at a million papers), it serves typo correction (rapidfuzz against words of
similar length), word completion for autocomplete (sorted terms, bisect), word families for
partial matching ("tune" -> "tuning", "tuned"), and a cheap idf for choosing the distinctive
words of a paper.

Built once and then only read, so searches in several reader threads share it safely. The
cost of a correction is bounded: each word is compared with at most ``SAME_INITIAL_LIMIT``
of the most common words of its length and first letter, then with at most
``OTHER_INITIAL_LIMIT`` of the most common words of its length (a typo in the first letter
is rare), for lengths within two of its own: a few thousand comparisons, about a
millisecond, however big the store.
"""

from __future__ import annotations

import bisect
import heapq
import math
from collections.abc import Iterable

from rapidfuzz import process
from rapidfuzz.distance import OSA

from bot.search.query import STOP_WORDS, stem

# Correction: minimum similarity (1 - optimal-string-alignment distance / length: a
# transposition is one edit, "modle" -> "model"), and how much more common the replacement
# must be than a word that some title does use.
MIN_SIMILARITY = 0.75
MIN_GAIN = 20
# Words used by a single title are left out of the correction lists of big vocabularies
# (mostly names and typos, and they would double the lists).
HAPAX_LIMIT = 100_000
# Comparisons per length bucket (see the module docstring).
SAME_INITIAL_LIMIT = 3_000
OTHER_INITIAL_LIMIT = 1_500
FAMILY_LIMIT = 4  # forms of one word a partial-match query looks for


class Vocabulary:
    def __init__(self, terms: Iterable[tuple[str, int]], documents: int) -> None:
        self.df: dict[str, int] = dict(terms)
        self.documents = max(1, documents)
        self.sorted_terms: list[str] = sorted(self.df)
        # correction candidates by length, then by first letter, most common first (capped)
        self._by_length: dict[int, dict[str, list[str]]] = {}
        self._common: dict[int, list[str]] = {}  # by length, any first letter (capped)
        self._corrections: dict[str, str | None] = {}
        least = 2 if len(self.df) > HAPAX_LIMIT else 1
        by_length: dict[int, list[str]] = {}
        for term, count in self.df.items():
            if count >= least and term.isalpha():
                by_length.setdefault(len(term), []).append(term)
        for length, words in by_length.items():
            words.sort(key=lambda w: -self.df[w])
            self._common[length] = words[:OTHER_INITIAL_LIMIT]
            buckets: dict[str, list[str]] = {}
            for word in words:
                bucket = buckets.setdefault(word[0], [])
                if len(bucket) < SAME_INITIAL_LIMIT:
                    bucket.append(word)
            self._by_length[length] = buckets

    def __len__(self) -> int:
        return len(self.df)

    def idf(self, term: str) -> float:
        n = self.df.get(term, 0)
        return math.log(1.0 + (self.documents - n + 0.5) / (n + 0.5))

    def complete(self, prefix: str, limit: int) -> list[str]:
        """The ``limit`` most frequent words starting with ``prefix`` (``prefix`` itself first
        when it is a word)."""
        lo = bisect.bisect_left(self.sorted_terms, prefix)
        hi = bisect.bisect_left(self.sorted_terms, prefix + "\U0010ffff", lo)
        if hi - lo <= limit:
            found = self.sorted_terms[lo:hi]
        else:
            found = heapq.nlargest(limit, self.sorted_terms[lo:hi], key=self.df.__getitem__)
        found.sort(key=lambda t: (t != prefix, -self.df[t]))
        return found

    def family(self, term: str, limit: int = FAMILY_LIMIT) -> list[str]:
        """Title words of the same crude stem as *term* (itself first if known), most common
        first: the forms a partial match also accepts ("tune": "tuning", "tuned")."""
        root = stem(term)
        if len(root) < 3 or (root == term and len(term) < 4):
            return [term]
        prefix = root[:-1] if root.endswith("y") else root  # "study" <- "studies"
        forms = [w for w in self.complete(prefix, 40) if stem(w) == root]
        forms.sort(key=lambda w: (w != term, -self.df.get(w, 0)))
        if term not in forms:
            forms.insert(0, term)
        return forms[:limit]

    def correct(self, term: str) -> str | None:
        """A much more common word a small edit away from ``term``, or None.

        A word no title uses is replaced by its closest neighbour used by at least one; a
        word some title does use (it may be a name, or a typo in that title) only by one at
        least ``MIN_GAIN`` times as common. Never by a stop-word ("ito" is not "to"). Words
        with the same first letter are tried first (typos there are rare), then the rest.
        """
        if term in self._corrections:
            return self._corrections[term]
        found = None
        if len(term) >= 3 and term.isalpha():
            found = self._closest(term, same_initial=True) or self._closest(term, False)
        if len(self._corrections) >= 1000:
            self._corrections.clear()
        self._corrections[term] = found
        return found

    def _closest(self, term: str, same_initial: bool) -> str | None:
        need = max(1, self.df.get(term, 0) * MIN_GAIN)
        choices: list[str] = []
        for n in range(max(3, len(term) - 2), len(term) + 3):
            if same_initial:
                choices.extend(self._by_length.get(n, {}).get(term[0], ()))
            else:
                choices.extend(w for w in self._common.get(n, ()) if w[0] != term[0])
        if not choices:
            return None
        cutoff = MIN_SIMILARITY if len(term) > 4 else 0.8
        best: tuple[float, int, str] | None = None
        for choice, score, _ in process.extract(
            term, choices, scorer=OSA.normalized_similarity, score_cutoff=cutoff, limit=8
        ):
            count = self.df[choice]
            if choice == term or count < need or choice in STOP_WORDS:
                continue
            if best is None or (score, count) > best[:2]:
                best = (float(score), count, choice)
        return best[2] if best else None
