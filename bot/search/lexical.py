"""Lexical ranking over the FTS5 index: papers with every word, then papers with most of them.

Synchronous: it runs in a reader thread on one connection (see :mod:`bot.search.engine`).

**All words.** Why not plain ``ORDER BY bm25()``: FTS5's bm25 first counts, for every query
term, all the rows containing it (its idf), then looks up each matching row's column sizes. At
a million papers that is 10-25 ms per common term before a single row is ranked, plus ~15 us
per match: "model" took 10 s. Matching alone is cheap when it stops early: FTS5 walks doclists
newest-first and the newest thousand matches of "the" take about a millisecond. So:

1. *matches*: the newest ``MAX_CANDIDATES`` papers containing every term (singular/plural
   forms both match). Their number is the ``total`` (``capped`` when more match).
2. *ranked pool*: the newest ``RANK_POOL`` of them, plus - when there are more - the newest
   ``RANK_POOL`` papers with every term *in the title* (from the small title-only index), so an
   older paper whose title matches is not lost behind newer abstract-only mentions.
3. each pooled paper is scored with BM25F as far as the index supports it (``detail=column``
   records which columns hold a term, not how often): per term, idf x (title 10 with
   title-length normalisation | authors 4 | abstract 1).
4. the ranked pool comes first, the remaining matches follow newest first (score 0).

**Most words** (:func:`partial`, when few papers have every word). Each term, with the other
forms of its word that titles use ("tune": "tuning", "tuned"), brings its newest matches and
its newest title matches as candidates; candidates are scored by the same per-term weights
summed over the terms they hold, so a paper with the rare words of a query beats one with its
common words, and title beats authors beats abstract. A candidate must hold at least
``PARTIAL_MIN_SHARE`` of the query's idf weight. The best ``PARTIAL_POOL`` are checked exactly
(which terms, in which fields) before the final order.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from dataclasses import dataclass, field

from bot.search import query as q
from bot.search.vocab import Vocabulary
from bot.store import search_index as ix

MAX_CANDIDATES = 1000  # newest matches counted and reachable by paging
RANK_POOL = 300  # newest matches ranked (plus as many with every word in the title)
PARTIAL_PER_TERM = 400  # newest matches of one term considered for a partial match
PARTIAL_TITLE_PER_TERM = 200  # newest title matches of one term, likewise
PARTIAL_POOL = 200  # partial candidates kept
PARTIAL_PROBE = 60  # of them, the best this many are checked exactly for the common terms
# (an FTS5 probe by rowid costs 25-100 us: 400 candidates x 3 common terms took most of a
# search's time; bench_relevance shows no change in quality from checking only the best)
PARTIAL_MIN_SHARE = 0.34  # share of the query's idf weight a partial match must hold
WEIGHT_TITLE, WEIGHT_AUTHORS, WEIGHT_ABSTRACT = 10.0, 4.0, 1.0
K1, B = 1.2, 0.75
AVG_TITLE_WORDS = 10.0
CHARS_PER_WORD = 7.5  # title length in words, estimated from characters


@dataclass(slots=True)
class Ranking:
    """Papers in ranked order; ``scores`` covers the ranked head (the rest scored 0)."""

    pids: list[int]
    scores: list[float]
    capped: bool = False
    # For partial matches: how many of the query's terms each paper holds.
    matched: dict[int, int] = field(default_factory=dict)
    # For every-word matches, when all of them were scored: those with every term in their
    # authors, in ranked order (None: not all were scored; ask the index).
    by_author: list[int] | None = None


EMPTY = Ranking([], [])


@dataclass(slots=True)
class Term:
    """One query term: its forms, its newest matches, and how rare it is."""

    text: str
    forms: list[str]  # variants (plural) and, for partial matching, the word family
    expr: str  # FTS5 expression matching any form
    newest: list[int]  # newest matches (at most the cap)
    capped: bool  # more papers match than ``newest`` holds
    df: float  # document frequency (exact, or estimated from the newest matches' density)
    idf: float


def idf_of(df: float, documents: int) -> float:
    return math.log(1.0 + (documents - df + 0.5) / (df + 0.5))


def term_info(
    conn: ix.Conn, text: str, documents: int, vocab: Vocabulary | None, *, family: bool
) -> Term:
    """Look a term up: its newest matches and its idf (one bounded FTS query)."""
    forms = list(q.variants(text))
    if family and vocab is not None:
        for form in vocab.family(text):
            if form not in forms:
                forms.append(form)
    expr = q.quote(forms[0]) if len(forms) == 1 else "(" + " OR ".join(map(q.quote, forms)) + ")"
    cap = PARTIAL_PER_TERM if family else MAX_CANDIDATES
    newest = ix.match_desc(conn, expr, cap + 1)
    capped = len(newest) > cap
    if capped:
        newest = newest[:cap]
        span = max(1, documents - newest[-1] + 1)
        df = cap * documents / span
    else:
        df = float(len(newest))
    return Term(text, forms, expr, newest, capped, df, idf_of(df, documents))


def _density(newest: list[int], cap: int, documents: int) -> float:
    """Document frequency from a term's newest matches (all of them, or the newest *cap*)."""
    if len(newest) <= cap:
        return float(len(newest))
    span = max(1, documents - newest[cap - 1] + 1)
    return cap * documents / span


def document_frequency(conn: ix.Conn, expr: str, documents: int) -> float:
    """How many papers match *expr*, exactly up to MAX_CANDIDATES and estimated beyond from
    the density of the newest matches."""
    return _density(ix.match_desc(conn, expr, MAX_CANDIDATES + 1), MAX_CANDIDATES, documents)


class DocumentFrequencies:
    """:func:`document_frequency` kept for one store while its size (newest pid) stays the
    same: terms recur across searches. One per search engine, shared by its reader threads."""

    def __init__(self, size: int = 4096) -> None:
        self.size = size
        self._known: OrderedDict[tuple[str, int], float] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, conn: ix.Conn, expr: str, documents: int) -> float:
        key = (expr, documents)
        with self._lock:
            cached = self._known.get(key)
            if cached is not None:
                self._known.move_to_end(key)
                return cached
        df = document_frequency(conn, expr, documents)
        with self._lock:
            self._known[key] = df
            while len(self._known) > self.size:
                self._known.popitem(last=False)
        return df


def _title_weight(title: str) -> float:
    length = max(1.0, len(title) / CHARS_PER_WORD) / AVG_TITLE_WORDS
    return WEIGHT_TITLE * (K1 + 1.0) / (1.0 + K1 * (1.0 - B + B * length))


class Words:
    """The words of a short text, tokenised only if a cheap substring test says it may help."""

    __slots__ = ("_folded", "_words")

    def __init__(self, text: str) -> None:
        self._folded = q.fold_token(text)
        self._words: set[str] | None = None

    def has(self, forms: list[str]) -> bool:
        if not any(v in self._folded for v in forms):
            return False
        if self._words is None:
            self._words = q.word_set(self._folded, folded=True)
        return any(v in self._words for v in forms)


# -- every word --------------------------------------------------------------------------------


def all_words(
    conn: ix.Conn,
    terms: list[str],
    documents: int,
    vocab: Vocabulary | None,
    dfs: DocumentFrequencies | None = None,
) -> Ranking:
    """Every reachable paper holding every term, best first (see the module docstring).
    *dfs* keeps the terms' document frequencies for later searches of the same store."""
    expr = q.all_of(terms)
    newest = ix.match_desc(conn, expr, MAX_CANDIDATES + 1)
    if not newest:
        return EMPTY
    capped = len(newest) > MAX_CANDIDATES
    matches = newest[:MAX_CANDIDATES]
    pool = matches[:RANK_POOL]
    in_title: list[int] = []
    if len(matches) > RANK_POOL:
        in_title = ix.match_desc(conn, expr, RANK_POOL, table="papers_title_fts")
    candidates = list(dict.fromkeys(pool + in_title))
    if len(terms) == 1:  # its matches are the term's own: no second lookup
        freqs = [_density(newest, MAX_CANDIDATES, documents)]
    else:
        lookup = dfs.get if dfs is not None else document_frequency
        freqs = [lookup(conn, q.term_expr(t), documents) for t in terms]
    texts = ix.titles_authors(conn, candidates)
    all_in_title = set(in_title)
    forms = [(idf_of(df, documents), q.variants(t)) for t, df in zip(terms, freqs, strict=True)]
    scores: dict[int, float] = {}
    authored: set[int] = set()
    for pid in candidates:
        title, authors = texts.get(pid, ("", ""))
        title_words, author_words = Words(title), Words(authors)
        title_weight = _title_weight(title)
        score = 0.0
        every_in_authors = True
        for weight, variants in forms:
            held_title = pid in all_in_title or title_words.has(variants)
            held_authors = author_words.has(variants)
            every_in_authors &= held_authors
            score += weight * (
                (title_weight if held_title else 0.0)
                + (WEIGHT_AUTHORS if held_authors else 0.0)
                + (WEIGHT_ABSTRACT if not held_title and not held_authors else 0.0)
            )
        scores[pid] = round(score, 6)
        if every_in_authors:
            authored.add(pid)
    head = sorted(candidates, key=lambda p: (-scores[p], -p))
    chosen = set(candidates)
    tail = [p for p in matches if p not in chosen]
    by_author = [p for p in head if p in authored] if not tail else None
    return Ranking(head + tail, [scores[p] for p in head], capped, by_author=by_author)


# -- most words --------------------------------------------------------------------------------


def partial(
    conn: ix.Conn,
    terms: list[str],
    documents: int,
    vocab: Vocabulary | None,
    exclude: set[int],
) -> Ranking:
    """Papers holding most of the query's weight (not all of it: those are *exclude*)."""
    if len(terms) < 2:
        return EMPTY
    infos = [term_info(conn, t, documents, vocab, family=True) for t in terms]
    total = sum(t.idf for t in infos) or 1.0
    # Cheap first scores from what the lookups already tell (a capped term's old matches are
    # not known yet: they are checked below for the best candidates).
    known: dict[int, set[int]] = {}
    titled: list[set[int]] = []
    for i, info in enumerate(infos):
        for pid in info.newest:
            known.setdefault(pid, set()).add(i)
        title_hits = ix.match_desc(
            conn, info.expr, PARTIAL_TITLE_PER_TERM, table="papers_title_fts"
        )
        titled.append(set(title_hits))
        for pid in title_hits:
            known.setdefault(pid, set()).add(i)
    rough: list[tuple[float, int]] = []
    for pid, held in known.items():
        if pid in exclude:
            continue
        weight = sum(infos[i].idf * (WEIGHT_TITLE if pid in titled[i] else 1.0) for i in held)
        rough.append((weight, pid))
    rough.sort(reverse=True)
    best = [pid for _, pid in rough[:PARTIAL_POOL]]
    if not best:
        return EMPTY
    # Exact for the best: which common (capped) terms they hold too; then where.
    holds: dict[int, set[int]] = {pid: set(known[pid]) for pid in best}
    probed = best[:PARTIAL_PROBE]
    for i, info in enumerate(infos):
        if info.capped:
            unsure = [pid for pid in probed if i not in holds[pid]]
            for pid in ix.matching_among(conn, info.expr, unsure):
                holds[pid].add(i)
    texts = ix.titles_authors(conn, best)
    scored: list[tuple[float, int]] = []
    matched: dict[int, int] = {}
    for pid in best:
        held = holds[pid]
        if sum(infos[i].idf for i in held) < PARTIAL_MIN_SHARE * total:
            continue
        title, authors = texts.get(pid, ("", ""))
        title_words, author_words = Words(title), Words(authors)
        title_weight = _title_weight(title)
        score = 0.0
        for i in held:
            info = infos[i]
            in_title = pid in titled[i] or title_words.has(info.forms)
            in_authors = author_words.has(info.forms)
            score += info.idf * (
                (title_weight if in_title else 0.0)
                + (WEIGHT_AUTHORS if in_authors else 0.0)
                + (WEIGHT_ABSTRACT if not in_title and not in_authors else 0.0)
            )
        scored.append((round(score, 6), pid))
        matched[pid] = len(held)
    scored.sort(key=lambda x: (-x[0], -x[1]))
    scored = scored[:PARTIAL_POOL]
    return Ranking(
        [p for _, p in scored],
        [s for s, _ in scored],
        matched={p: matched[p] for _, p in scored},
    )


def author_pids(conn: ix.Conn, terms: list[str], limit: int) -> list[int]:
    """The newest papers with every term in their authors (an author's name)."""
    expr = "{authors} : (" + q.all_of(terms) + ")"
    return ix.match_desc(conn, expr, limit)
