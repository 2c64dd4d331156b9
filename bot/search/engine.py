"""Search, autocomplete, related papers and topic filters over the FTS5 index.

Why not plain ``ORDER BY bm25()``: FTS5's bm25 first counts, for every query term, all the
rows containing it (its idf), then looks up each matching row's column sizes. At a million
papers that is 10-25 ms per common term before a single row is ranked, plus ~15 us per match:
"model" took 10 s, "video generation" 0.8 s. Matching alone is cheap when it stops early:
FTS5 walks doclists newest-first (``ORDER BY rowid DESC``) and the newest thousand matches of
"the" take about a millisecond. So a search is bounded at every step:

1. *matches*: the newest ``MAX_CANDIDATES`` papers containing every term (stop-words dropped
   when the query has other words; singular/plural forms both match). Their number is the
   ``total`` (``capped`` when more match); paging reaches exactly these.
2. *ranked pool*: the newest ``RANK_POOL`` of them, plus - when there are more - the newest
   ``RANK_POOL`` papers with every term *in the title* (from the small title-only index), so an
   older paper whose title matches is not lost behind newer abstract-only mentions.
3. each pooled paper is scored with BM25F as far as the index supports it (``detail=column``
   records which columns hold a term, not how often): per term, idf x (title 10 with
   title-length normalisation | authors 4 | abstract 1). Title membership comes from the
   titles, author membership from one FTS query per term over the pool's rowid range, idf from
   the exact match count of a rare term or the density of a common term's newest matches.
4. the ranked pool comes first, the remaining matches follow newest first (score 0).

With at most ``RANK_POOL`` matches this ranks every match. ``sort="newest"`` orders the pool
by publication date (the rest by insertion order); ``sort="trending"`` puts the matching papers
of the trending lists (the top ``TRENDING_PROBE``) first. Few or no hits: each unknown word is
corrected against the title vocabulary (:mod:`bot.search.vocab`) and the search rerun.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
import sqlite3
import time
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from typing import Literal, TypeVar

from bot.models import Paper
from bot.search import query as q
from bot.search.vocab import Vocabulary
from bot.store.database import Database
from bot.store.papers import PaperRepo, fast_title_key
from bot.store.search_index import NEWEST_ORDER, UPVOTES_ORDER, SearchIndex

log = logging.getLogger(__name__)

T = TypeVar("T")

Sort = Literal["relevance", "newest", "trending"]
SORTS: tuple[Sort, ...] = ("relevance", "newest", "trending")

MAX_CANDIDATES = 1000  # newest matches counted and reachable by paging
RANK_POOL = 300  # newest matches ranked (plus as many with every word in the title)
MAX_LIMIT = 100
FEW_HITS = 3  # fewer hits than this -> try a spelling correction
TRENDING_PROBE = 100  # top trending papers always considered for sort="trending"
SUGGESTION_CHARS = 100
MAX_SUGGESTIONS = 25
COMPLETIONS = 12  # words a partial word expands to in autocomplete
MIN_COMPLETION_CHARS = 4  # a search word this long with no hits may be a partial word
AUTOCOMPLETE_POOL = 200  # newest title matches ordered for autocomplete
RELATED_TERMS = 6
WEIGHT_TITLE, WEIGHT_AUTHORS, WEIGHT_ABSTRACT = 10.0, 4.0, 1.0
K1, B = 1.2, 0.75
AVG_TITLE_WORDS = 10.0
CHARS_PER_WORD = 7.5  # title length in words, estimated from characters
VOCAB_CHECK_SECONDS = 5.0  # how often to look whether the title vocabulary is stale
VOCAB_INLINE_SECONDS = 0.05  # reload inline when the last load was this quick (small stores)
VOCAB_RELOAD_FACTOR = 300  # else reload in the background, at most every 300 x load time

_TITLE_ID = re.compile(r"^t-[0-9a-f]{12}$")


@dataclass(frozen=True, slots=True)
class Hit:
    paper: Paper
    score: float


@dataclass(frozen=True, slots=True)
class SearchResult:
    """One page of results.

    ``total`` counts the papers reachable by paging. Counting is bounded: when more papers
    match than the engine considers (about ``MAX_CANDIDATES``), ``capped`` is True and
    ``total`` is a lower bound ("1000+").
    """

    query: str
    hits: list[Hit]
    total: int
    corrected: str | None = None
    exact_id: bool = False
    capped: bool = False


@dataclass(frozen=True, slots=True)
class Suggestion:
    id: str
    label: str  # the title, at most SUGGESTION_CHARS characters


@dataclass(slots=True)
class _Ranking:
    pids: list[int]
    scores: list[float]
    capped: bool


_EMPTY = _Ranking([], [], False)


def trim_label(title: str, limit: int = SUGGESTION_CHARS) -> str:
    """``title`` cut to ``limit`` characters on a word boundary, ending with an ellipsis."""
    title = " ".join(title.split())
    if len(title) <= limit:
        return title
    cut = title[: limit - 1]
    space = cut.rfind(" ")
    if space > limit // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:.-") + "…"


class SearchEngine:
    """Search over the papers store. Pure: no Discord; every SQL statement is in
    :class:`bot.store.search_index.SearchIndex`."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.index = SearchIndex(db)
        self.papers = PaperRepo(db)
        self._vocab: Vocabulary | None = None
        self._vocab_pid = -1
        self._vocab_seconds = 0.0
        self._vocab_checked = 0.0
        self._vocab_loaded = 0.0
        self._vocab_lock = asyncio.Lock()
        self._vocab_task: asyncio.Task[None] | None = None

    # -- public API -------------------------------------------------------------------------

    async def warm(self) -> None:
        """Load the title vocabulary now (else the first correction/completion does)."""
        await self._load_vocab()

    async def search(
        self, query: str, *, sort: Sort = "relevance", limit: int = 10, offset: int = 0
    ) -> SearchResult:
        """Papers matching ``query`` (any text: it is never parsed as FTS5 syntax)."""
        if sort not in SORTS:
            raise ValueError(f"sort must be one of {', '.join(SORTS)}, not {sort!r}")
        limit = max(1, min(MAX_LIMIT, int(limit)))
        offset = max(0, int(offset))
        parsed = q.parse(query)
        if parsed.arxiv_id or _TITLE_ID.match(parsed.text):
            paper = await self.papers.get(parsed.arxiv_id or parsed.text)
            if paper is not None:
                hits = [Hit(paper, 1.0)] if offset == 0 else []
                return SearchResult(parsed.text, hits, 1, exact_id=True)
            if parsed.arxiv_id:  # an id or a paper URL we do not have: nothing else to find
                return SearchResult(parsed.text, [], 0)
        if not parsed.terms:
            return SearchResult(parsed.text, [], 0)

        ranking = await self._rank(parsed.terms, sort)
        corrected: str | None = None
        if len(ranking.pids) < FEW_HITS:
            fixed = await self._corrections(parsed.terms, len(ranking.pids))
            if fixed:
                better = await self._rank([fixed.get(t, t) for t in parsed.terms], sort)
                if len(better.pids) > len(ranking.pids):
                    ranking = better
                    words = q.tokens(parsed.text) or parsed.terms
                    corrected = " ".join(fixed.get(w, w) for w in words)
        page = ranking.pids[offset : offset + limit]
        scores = ranking.scores[offset : offset + limit]
        scores += [0.0] * (len(page) - len(scores))  # the unranked tail
        papers = await self.papers.get_by_pids(page)
        if len(papers) == len(page):
            hits = [Hit(p, s) for p, s in zip(papers, scores, strict=True)]
        else:  # a paper was deleted between the two queries: keep the rest, unscored
            hits = [Hit(p, 0.0) for p in papers]
        return SearchResult(
            parsed.text, hits, len(ranking.pids), corrected=corrected, capped=ranking.capped
        )

    async def autocomplete(self, prefix: str, limit: int = MAX_SUGGESTIONS) -> list[Suggestion]:
        """Titles for a partly typed query: whole-title prefix matches first, then titles with
        a word starting with the last (partial) word. Empty prefix: the trending papers."""
        limit = max(1, min(MAX_SUGGESTIONS, int(limit)))
        text = q.clean(prefix)
        words = q.tokens(text)
        if not words:
            pids = await self._safe(self.index.trending_pids(limit), [])
            if len(pids) < limit:
                pids += await self._safe(
                    self.index.newest_pids(limit - len(pids), exclude=pids), []
                )
            return await self._suggestions(pids, limit)

        partial = not prefix[-1:].isspace()
        full, last = words[:-1], words[-1]
        parts = [q.quote(w) for w in full]
        if partial:
            vocab = await self._vocabulary()
            completions = vocab.complete(last, COMPLETIONS) if vocab else []
            if not completions:
                return []  # no title has a word starting like that
            parts.append("(" + " OR ".join(q.quote(c) for c in completions) + ")")
        else:
            parts.append(q.quote(last))
        pool = await self._safe(
            self.index.match_desc(" AND ".join(parts), AUTOCOMPLETE_POOL, table="papers_title_fts"),
            [],
        )
        info = await self._safe(self.index.titles(pool), {})
        key = fast_title_key(text) + ("" if partial else " ")

        def order(pid: int) -> tuple[bool, tuple[int, int, int]]:
            entry = info.get(pid)
            whole = entry is not None and (fast_title_key(entry[1]) + " ").startswith(key)
            return (not whole, _popularity(entry, pid))

        ranked = sorted((p for p in pool if p in info), key=order)[:limit]
        return [Suggestion(info[p][0], trim_label(info[p][1])) for p in ranked]

    async def related(self, paper_id: str, limit: int = 5) -> list[Paper]:
        """Papers sharing this one's most distinctive title/abstract words (not itself)."""
        limit = max(1, min(MAX_LIMIT, int(limit)))
        paper = await self.papers.get(paper_id)
        if paper is None:
            return []
        pid = await self.papers.get_pid(paper.id)
        if pid is None:
            return []
        vocab = await self._vocabulary()
        terms = distinctive_terms(paper, vocab, RELATED_TERMS)
        if not terms:
            return []
        # Papers sharing any of the terms: the newest such papers, plus the newest with one in
        # the title; scored like search (idf x title 10 | elsewhere 1), summed over terms.
        expr = " OR ".join(q.term_expr(t) for t in terms)
        newest = await self._safe(self.index.match_desc(expr, RANK_POOL + 1), [])
        newest = [p for p in newest if p != pid][:RANK_POOL]
        if not newest:
            return []
        floor = newest[-1]
        titled = await self._safe(
            self.index.match_desc(expr, RANK_POOL, table="papers_title_fts"), []
        )
        candidates = list(dict.fromkeys(newest + [p for p in titled if p != pid]))
        texts = await self._safe(self.index.titles_authors(candidates), {})
        present = {
            t: set(await self._safe(self.index.match_from(q.term_expr(t), floor), []))
            for t in terms
        }
        idf = {t: vocab.idf(t) if vocab else 1.0 for t in terms}
        forms = {t: q.variants(t) for t in terms}
        scored: list[tuple[float, int]] = []
        for cand in candidates:
            title = _Words(texts.get(cand, ("", ""))[0])
            score = 0.0
            for term in terms:
                if title.has(forms[term]):
                    score += idf[term] * WEIGHT_TITLE
                elif cand in present[term]:
                    score += idf[term] * WEIGHT_ABSTRACT
            scored.append((score, cand))
        scored.sort(key=lambda x: (-x[0], -x[1]))
        return await self.papers.get_by_pids([c for _, c in scored[:limit]])

    async def matches(self, paper_id: str, query: str) -> bool:
        """Whether the paper matches a topic query (same matching as :meth:`search`, no
        spelling correction). An empty topic matches every paper."""
        parsed = q.parse(query)
        if parsed.arxiv_id:
            paper = await self.papers.get(paper_id)
            return paper is not None and paper.id == parsed.arxiv_id
        pid = await self.papers.get_pid(paper_id)
        if pid is None:
            return False
        if not parsed.terms:
            return True
        return await self._safe(self.index.matches_pid(q.all_of(parsed.terms), pid), False)

    async def candidates(self, query: str | None, limit: int = 50) -> list[str]:
        """Ids of papers matching a topic query, best first (no spelling correction); no
        topic: the trending papers, then the newest."""
        limit = max(1, min(MAX_CANDIDATES, int(limit)))
        parsed = q.parse(query or "")
        if not parsed.terms:
            if parsed.arxiv_id:
                paper = await self.papers.get(parsed.arxiv_id)
                return [paper.id] if paper else []
            pids = await self._safe(self.index.trending_pids(limit), [])
            if len(pids) < limit:
                pids += await self._safe(
                    self.index.newest_pids(limit - len(pids), exclude=pids), []
                )
        else:
            pids = (await self._rank(parsed.terms, "relevance")).pids[:limit]
        info = await self._safe(self.index.titles(pids), {})
        return [info[p][0] for p in pids if p in info]

    # -- ranking ----------------------------------------------------------------------------

    async def _rank(self, terms: list[str], sort: Sort) -> _Ranking:
        """Every reachable match of ``terms`` in ``sort`` order (see the module docstring)."""
        expr = q.all_of(terms)
        newest = await self._safe(self.index.match_desc(expr, MAX_CANDIDATES + 1), [])
        if not newest:
            return _EMPTY
        capped = len(newest) > MAX_CANDIDATES
        matches = newest[:MAX_CANDIDATES]
        pool = matches[:RANK_POOL]
        if sort == "newest":
            head = await self._safe(self.index.order(pool, NEWEST_ORDER), pool)
            return _Ranking(head + matches[len(pool) :], [], capped)
        if sort == "trending":
            top = await self._safe(self.index.trending_pids(TRENDING_PROBE), [])
            known = set(matches)
            hot = {p for p in top if p in known}
            if capped:  # trending papers older than the newest matches: probe them
                older = [p for p in top if p < matches[-1]]
                hot |= await self._safe(self.index.matching_among(expr, older), set())
            head = [p for p in top if p in hot]
            rest = [p for p in matches if p not in hot]
            voted = await self._safe(self.index.order(rest[:RANK_POOL], UPVOTES_ORDER), [])
            if len(voted) != len(rest[:RANK_POOL]):
                voted = rest[:RANK_POOL]
            return _Ranking(head + voted + rest[RANK_POOL:], [], capped)

        in_title: list[int] = []
        if len(matches) > RANK_POOL:
            in_title = await self._safe(
                self.index.match_desc(expr, RANK_POOL, table="papers_title_fts"), []
            )
        candidates = list(dict.fromkeys(pool + in_title))
        scores = await self._scores(
            terms, candidates, pool, matches if not capped else None, set(in_title)
        )
        head = sorted(candidates, key=lambda p: (-scores[p], -p))
        chosen = set(candidates)
        tail = [p for p in matches if p not in chosen]
        return _Ranking(head + tail, [scores[p] for p in head], capped)

    async def _scores(
        self,
        terms: list[str],
        candidates: list[int],
        pool: list[int],
        all_matches: list[int] | None,
        all_in_title: set[int],
    ) -> dict[int, float]:
        """BM25F with binary term frequency (see the module docstring)."""
        texts = await self._safe(self.index.titles_authors(candidates), {})
        documents = max(1, await self._safe(self.papers.latest_pid(), 1))
        idf: dict[str, float] = {}
        for term in terms:
            if len(terms) == 1 and all_matches is not None:
                df = float(len(all_matches))
            elif len(terms) == 1:  # the pool is this term's newest matches: use its density
                df = len(pool) * documents / max(1, documents - pool[-1] + 1)
            else:
                newest = await self._safe(
                    self.index.match_desc(q.term_expr(term), MAX_CANDIDATES + 1), []
                )
                if len(newest) > MAX_CANDIDATES:
                    span = max(1, documents - newest[MAX_CANDIDATES - 1] + 1)
                    df = MAX_CANDIDATES * documents / span
                else:
                    df = float(len(newest))
            idf[term] = math.log(1.0 + (documents - df + 0.5) / (df + 0.5))

        forms = [(idf[t], q.variants(t)) for t in terms]
        scores: dict[int, float] = {}
        for pid in candidates:
            title, authors = texts.get(pid, ("", ""))
            title_words = _Words(title)
            author_words = _Words(authors)
            title_weight = (
                WEIGHT_TITLE
                * (K1 + 1.0)
                / (
                    1.0
                    + K1 * (1.0 - B + B * max(1.0, len(title) / CHARS_PER_WORD) / AVG_TITLE_WORDS)
                )
            )
            score = 0.0
            for weight, variants in forms:
                in_title = pid in all_in_title or title_words.has(variants)
                in_authors = author_words.has(variants)
                score += weight * (
                    (title_weight if in_title else 0.0)
                    + (WEIGHT_AUTHORS if in_authors else 0.0)
                    + (WEIGHT_ABSTRACT if not in_title and not in_authors else 0.0)
                )
            scores[pid] = round(score, 6)
        return scores

    # -- spelling and vocabulary --------------------------------------------------------------

    async def _corrections(self, terms: list[str], hits: int) -> dict[str, str]:
        """Replacements for the words no title uses (with no hits at all: also for words
        only one or two titles use)."""
        vocab = await self._vocabulary()
        if vocab is None:
            return {}
        fixed: dict[str, str] = {}
        for term in terms:
            if term in q.STOP_WORDS or vocab.df.get(term, 0) > (2 if hits == 0 else 0):
                continue
            # a word typed halfway ("diffus") becomes its most common completion, a typo
            # ("difusion") its closest common neighbour
            better = None
            if len(term) >= MIN_COMPLETION_CHARS:
                better = next((w for w in vocab.complete(term, 2) if w != term), None)
            better = better or vocab.correct(term)
            if better:
                fixed[term] = better
        return fixed

    async def _vocabulary(self) -> Vocabulary | None:
        if self._vocab is None:
            await self._load_vocab()
            return self._vocab
        now = time.monotonic()
        if now - self._vocab_checked >= VOCAB_CHECK_SECONDS:
            self._vocab_checked = now
            latest = await self._safe(self.papers.latest_pid(), self._vocab_pid)
            # a big vocabulary is re-read at most every few minutes (0.4 s at 1M papers)
            due = now - self._vocab_loaded >= VOCAB_RELOAD_FACTOR * self._vocab_seconds
            if latest != self._vocab_pid and due:
                if self._vocab_seconds <= VOCAB_INLINE_SECONDS:
                    await self._load_vocab()
                elif self._vocab_task is None or self._vocab_task.done():
                    self._vocab_task = asyncio.create_task(self._load_vocab())
        return self._vocab

    def invalidate(self) -> None:
        """Forget the cached vocabulary (after a big import, or in tests)."""
        self._vocab = None
        self._vocab_checked = 0.0

    async def _load_vocab(self) -> None:
        async with self._vocab_lock:
            began = time.perf_counter()
            latest = await self._safe(self.papers.latest_pid(), 0)
            rows = await self._safe(self.index.title_vocabulary(), [])
            self._vocab = Vocabulary(rows, latest)
            self._vocab_pid = latest
            self._vocab_seconds = time.perf_counter() - began
            self._vocab_checked = self._vocab_loaded = time.monotonic()
            log.debug("title vocabulary: %d words in %.3fs", len(rows), self._vocab_seconds)

    # -- helpers ------------------------------------------------------------------------------

    async def _suggestions(self, pids: Sequence[int], limit: int) -> list[Suggestion]:
        info = await self._safe(self.index.titles(pids), {})
        out = [Suggestion(info[p][0], trim_label(info[p][1])) for p in pids if p in info]
        return out[:limit]

    async def _safe(self, coro: Awaitable[T], default: T) -> T:
        """Await a query; an SQLite error is logged and answered with ``default``.

        Expressions are built from quoted tokens only, so FTS5 syntax errors cannot happen;
        this is the belt to those braces (and covers e.g. a missing index in an old file)."""
        try:
            return await coro
        except sqlite3.OperationalError as exc:
            log.warning("search query failed: %s", exc)
            return default


class _Words:
    """The words of a short text, tokenised only if a cheap substring test says it may help."""

    __slots__ = ("_folded", "_words")

    def __init__(self, text: str) -> None:
        self._folded = q.fold_token(text)
        self._words: set[str] | None = None

    def has(self, variants: list[str]) -> bool:
        if not any(v in self._folded for v in variants):
            return False
        if self._words is None:
            self._words = q.word_set(self._folded, folded=True)
        return any(v in self._words for v in variants)


def _popularity(
    entry: tuple[str, str, int | None, int | None] | None, pid: int
) -> tuple[int, int, int]:
    if entry is None:
        return (1, 0, -pid)
    _, _, rank, upvotes = entry
    return (0 if rank is not None else 1, rank if rank is not None else -(upvotes or 0), -pid)


def distinctive_terms(paper: Paper, vocab: Vocabulary | None, count: int) -> list[str]:
    """The words that best identify a paper's topic: title words and keywords count most,
    abstract words by frequency; all weighted by how rare they are among titles."""
    weights: dict[str, float] = {}
    for word in q.word_list(paper.title):
        weights[word] = weights.get(word, 0.0) + 3.0
    for keyword in paper.ai_keywords:
        for word in q.word_list(keyword):
            weights[word] = weights.get(word, 0.0) + 2.0
    for word in q.word_list(paper.abstract):
        weights[word] = weights.get(word, 0.0) + 1.0
    scored: list[tuple[float, str]] = []
    for word, weight in weights.items():
        if len(word) < 3 or word in q.BORING_WORDS or not any(c.isalpha() for c in word):
            continue
        if vocab is not None:
            df = vocab.df.get(word, 0)
            if df < 2:  # in no other title: a typo, a name, or too rare to connect papers
                continue
            weight *= vocab.idf(word)
        scored.append((weight, word))
    scored.sort(key=lambda x: (-x[0], x[1]))
    return [w for _, w in scored[:count]]
