"""Search, autocomplete, related papers and topic filters: the entry point of :mod:`bot.search`.

A search runs whole in a reader thread (:meth:`bot.store.database.Database.read`): one hop
off the event loop, one snapshot of the store, and the CPU work (scoring, spelling, fusion)
never blocks the bot. In that thread:

1. an arXiv id, a paper URL or a title id is looked up directly: that paper alone;
2. words no paper uses are corrected, all together ("difusion drive autonomus" ->
   "diffusion drive autonomous"), against the title vocabulary (:mod:`bot.search.vocab`);
3. lexical ranking (:mod:`bot.search.lexical`): papers with every word first, then - when
   those are few - papers with most of the query's weight ("matches 3 of 4 words");
4. meaning (when a :class:`Meaning` is given): the nearest papers to the query's embedding;
5. the lists are fused (:mod:`bot.search.fusion`); an exact title and an author's name are
   pinned first.

Each hit says why it is shown when it is not a plain every-word match (``Hit.why``).
Keyword alerts and daily topics use :meth:`SearchEngine.matches` and
:meth:`SearchEngine.candidates`: exact every-word matching, no spelling, no meaning.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import sqlite3
import threading
import time
from collections import OrderedDict
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Literal, Protocol

from bot.models import Paper, fast_title_key
from bot.search import lexical
from bot.search import query as q
from bot.search.fusion import Mode, fuse
from bot.search.vocab import Vocabulary
from bot.store import search_index as ix
from bot.store.database import Database, ReadBudgetExceeded, StoreError
from bot.store.papers import PaperRepo
from bot.text import one_line, readable

log = logging.getLogger(__name__)

Sort = Literal["relevance", "newest", "trending"]
SORTS: tuple[Sort, ...] = ("relevance", "newest", "trending")

MAX_CANDIDATES = lexical.MAX_CANDIDATES
MAX_LIMIT = 100
FEW_HITS = 3  # fewer every-word hits than this: also correct rare words
PARTIAL_BELOW = 25  # fewer every-word hits than this: add papers with most of the words
MAX_CORRECTIONS = 4  # words corrected in one query, at most
MEANING_K = 50  # nearest papers by meaning fused into a search
TRENDING_PROBE = 100  # top trending papers always considered for sort="trending"
SUGGESTION_CHARS = 100
MAX_SUGGESTIONS = 25
COMPLETIONS = 12  # words a partial word expands to in autocomplete
MIN_COMPLETION_CHARS = 4  # a search word this long found nowhere may be a partial word
AUTOCOMPLETE_POOL = 200  # newest title matches ordered for autocomplete
AUTHOR_PINS = 50
RELATED_TERMS = 6
SEARCH_BUDGET = 2.0  # seconds a search may take in its reader thread
# Discord drops an autocomplete not answered within 3 s: past this, answer no suggestions
# rather than none at all (a cold start at 1M papers, every reader busy, a starved CPU).
AUTOCOMPLETE_DEADLINE = 2.0
VOCAB_CHECK_SECONDS = 5.0  # how often to look whether the title vocabulary is stale
VOCAB_RELOAD_FACTOR = 300  # reload at most every 300 x its load time (0.4 s at 1M papers)
# Fusion: lexical and meaning lists with these weights, in this mode (bench_relevance.py).
LEXICAL_WEIGHT, MEANING_WEIGHT = 1.0, 0.5
FUSION_MODE: Mode = "tiered"

# Whole-search orders are kept for repeated queries (a burst of members searching the same
# paper), while the store holds the same papers and vectors: keyed by the newest pid and the
# number of vectors loaded, and for a short time (votes and upvotes move the trending sort).
RESULT_CACHE_SIZE = 512
RESULT_CACHE_SECONDS = 30.0

WHY_TITLE = "exact title"
WHY_AUTHOR = "author"
WHY_MEANING = "similar in meaning"
WHY_FORMS = "matches other forms of the words"

_TITLE_ID = re.compile(r"^t-[0-9a-f]{12}$")


class SearchTooSlow(StoreError):
    """A search ran past its budget (the message is for the member)."""


class Meaning(Protocol):
    """Search by meaning: nearest papers to a text or to a paper (see bot.semantic)."""

    def search(self, conn: sqlite3.Connection, text: str, k: int) -> list[tuple[int, float]]:
        """``(pid, similarity)`` of the papers nearest to *text*, best first."""
        ...

    def neighbours(self, conn: sqlite3.Connection, pid: int, k: int) -> list[tuple[int, float]]:
        """``(pid, similarity)`` of the papers nearest to paper *pid* (not itself)."""
        ...

    def __len__(self) -> int:
        """How many papers it can find (its results change when this does)."""
        ...


@dataclass(frozen=True, slots=True)
class Tuning:
    """How a search combines its methods (the defaults are what the bot uses; the relevance
    benchmark compares the alternatives)."""

    lexical: bool = True  # words at all (False: meaning only)
    partial: bool = True  # papers with most of the words, when few have all
    lexical_weight: float = LEXICAL_WEIGHT
    meaning_weight: float = MEANING_WEIGHT
    mode: Mode = FUSION_MODE
    # Ask meaning only when fewer papers than this hold every word (None: always). With
    # tiered fusion, every-word matches fill the first page anyway: the vector search would
    # change nothing a member sees (bench_relevance: identical scores) and costs ~5 ms at 1M.
    meaning_below: int | None = PARTIAL_BELOW


@dataclass(frozen=True, slots=True)
class Hit:
    paper: Paper
    score: float
    why: str | None = None  # None: holds every word of the query


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
class _Found:
    """A whole search's order (before paging), and what each paper is there for."""

    pids: list[int]
    why: dict[int, str] = field(default_factory=dict)
    scores: dict[int, float] = field(default_factory=dict)
    corrected: str | None = None
    exact_id: bool = False
    capped: bool = False
    documents: int = 0


class ResultCache:
    """A small LRU of whole-search orders, shared by the reader threads (a lock guards it)."""

    def __init__(self, size: int, seconds: float) -> None:
        self.size = size
        self.seconds = seconds
        self._items: OrderedDict[Hashable, tuple[float, _Found]] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def get(self, key: Hashable) -> _Found | None:
        if not self.size:
            return None
        now = time.monotonic()
        with self._lock:
            entry = self._items.get(key)
            if entry is None or now - entry[0] > self.seconds:
                self.misses += 1
                return None
            self._items.move_to_end(key)
            self.hits += 1
            return entry[1]

    def put(self, key: Hashable, found: _Found) -> None:
        if not self.size:
            return
        with self._lock:
            self._items[key] = (time.monotonic(), found)
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


def trim_label(title: str, limit: int = SUGGESTION_CHARS) -> str:
    """A title as a one-line label of at most *limit* characters (bot/text.py's helper)."""
    return one_line(title, limit)


class SearchEngine:
    """Search over the papers store. Pure: no Discord; every SQL statement is in
    :mod:`bot.store.search_index`."""

    def __init__(
        self,
        db: Database,
        *,
        meaning: Meaning | None = None,
        tuning: Tuning | None = None,
        result_cache: int = RESULT_CACHE_SIZE,
    ) -> None:
        self.db = db
        self.papers = PaperRepo(db)
        self.meaning = meaning
        self.tuning = tuning or Tuning()
        self._cache = ResultCache(result_cache, RESULT_CACHE_SECONDS)
        self._vocab: Vocabulary | None = None
        self._dfs = lexical.DocumentFrequencies()
        self._vocab_seconds = 0.0
        self._vocab_checked = 0.0
        self._vocab_loaded = 0.0
        self._vocab_generation = -1  # Database.generation when the vocabulary was read
        self._vocab_lock = asyncio.Lock()
        self._vocab_task: asyncio.Task[None] | None = None
        # Searches running now, by their arguments: a burst of members asking the same thing
        # (a paper-reading event) computes it once. Part of result reuse: off with the cache.
        self._running: dict[Hashable, asyncio.Future[SearchResult]] = {}
        self.joined = 0  # searches answered by joining an identical one already running

    # -- public API -------------------------------------------------------------------------

    async def warm(self) -> None:
        """Load the title vocabulary now (else the first search does)."""
        await self._load_vocab()

    async def search(
        self, query: str, *, sort: Sort = "relevance", limit: int = 10, offset: int = 0
    ) -> SearchResult:
        """Papers for ``query`` (any text: it is never parsed as FTS5 syntax). The same search
        asked again while it runs waits for that one instead of computing it twice."""
        if sort not in SORTS:
            raise ValueError(f"sort must be one of {', '.join(SORTS)}, not {sort!r}")
        limit = max(1, min(MAX_LIMIT, int(limit)))
        offset = max(0, int(offset))
        if not self._cache.size:
            return await self._search_now(query, sort, limit, offset)
        key = (query, sort, limit, offset)
        running = self._running.get(key)
        if running is None:
            running = asyncio.ensure_future(self._search_now(query, sort, limit, offset))
            self._running[key] = running
            running.add_done_callback(lambda done: self._forget_running(key, done))
        else:
            self.joined += 1
        # shield: a member who gives up must not cancel the others' answer
        return await asyncio.shield(running)

    def _forget_running(self, key: Hashable, done: asyncio.Future[SearchResult]) -> None:
        if self._running.get(key) is done:
            del self._running[key]
        if not done.cancelled():
            done.exception()  # retrieved: an error reaches every waiter, not the loop's log

    async def _search_now(self, query: str, sort: Sort, limit: int, offset: int) -> SearchResult:
        vocab = await self._vocabulary()
        parsed = q.parse(query)
        # Read before the snapshot is taken: a write committed meanwhile makes the key stale.
        generation = self.db.generation
        try:
            found, page = await self.db.read(
                partial(self._search, parsed, sort, vocab, offset, limit, generation),
                budget=SEARCH_BUDGET,
            )
        except ReadBudgetExceeded:
            raise SearchTooSlow(
                "That search took too long. Try fewer or more specific words."
            ) from None
        self._note_size(found.documents)
        hits = [
            Hit(page[p], found.scores.get(p, 0.0), found.why.get(p))
            for p in found.pids[offset : offset + limit]
            if p in page
        ]
        return SearchResult(
            parsed.text,
            hits,
            len(found.pids),
            corrected=found.corrected,
            exact_id=found.exact_id,
            capped=found.capped,
        )

    async def autocomplete(self, prefix: str, limit: int = MAX_SUGGESTIONS) -> list[Suggestion]:
        """Titles for a partly typed query: whole-title prefix matches first, then titles with
        a word starting with the last (partial) word. Empty prefix: the trending papers."""
        limit = max(1, min(MAX_SUGGESTIONS, int(limit)))
        try:
            async with asyncio.timeout(AUTOCOMPLETE_DEADLINE):
                # Never wait for the word list (just after start it may still be loading):
                # without it the last word is completed by the index itself, more slowly.
                vocab = self._vocabulary_if_ready()
                # This process's own changes since the word list was read (others': by pid).
                stale = vocab is not None and self._vocab_generation != self.db.generation
                found, documents = await self.db.read(
                    partial(_autocomplete, prefix, limit, vocab, stale),
                    budget=AUTOCOMPLETE_DEADLINE,
                )
            # A bot asked only for suggestions must follow new papers too.
            self._note_size(documents)
            return found
        except (TimeoutError, ReadBudgetExceeded):
            log.warning(
                "autocomplete for %r took over %.1f s: no suggestions",
                prefix,
                AUTOCOMPLETE_DEADLINE,
            )
            return []

    async def related(self, paper_id: str, limit: int = 5) -> list[Paper]:
        """Papers about the same thing: nearest by meaning (when vectors are there), else the
        papers sharing this one's most distinctive words. Never the paper itself."""
        limit = max(1, min(MAX_LIMIT, int(limit)))
        vocab = await self._vocabulary()
        return await self.db.read(partial(self._related, paper_id, limit, vocab))

    async def matches(self, paper_id: str, query: str) -> bool:
        """Whether the paper matches a topic query (every word, no spelling, no meaning). An
        empty topic matches every paper."""
        return await self.db.read(partial(_matches, paper_id, query))

    async def candidates(self, query: str | None, limit: int = 50) -> list[str]:
        """Ids of papers matching a topic query (every word), best first; no topic: the
        trending papers, then the newest."""
        limit = max(1, min(MAX_CANDIDATES, int(limit)))
        return await self.db.read(partial(_candidates, query, limit))

    def invalidate(self) -> None:
        """Forget the cached vocabulary and results (after a big import, or in tests)."""
        self._vocab = None
        self._vocab_checked = 0.0
        self._cache.clear()

    # -- the search, in a reader thread ----------------------------------------------------------

    def _search(
        self,
        parsed: q.ParsedQuery,
        sort: Sort,
        vocab: Vocabulary | None,
        offset: int,
        limit: int,
        generation: int,
        conn: sqlite3.Connection,
    ) -> tuple[_Found, dict[int, Paper]]:
        documents = max(1, ix.latest_pid(conn))
        meaning = (
            None
            if self.meaning is None
            else (len(self.meaning), getattr(self.meaning, "version", 0))
        )
        # The newest pid catches papers added by another process; the generation every
        # change (new, changed, deleted papers, upvotes, ranks) this process commits.
        key = (parsed.text, sort, documents, meaning, generation)
        found = self._cache.get(key)
        if found is None:
            found = self._find(conn, parsed, sort, vocab, documents)
            self._cache.put(key, found)
        return found, ix.papers(conn, found.pids[offset : offset + limit])

    def _find(
        self,
        conn: sqlite3.Connection,
        parsed: q.ParsedQuery,
        sort: Sort,
        vocab: Vocabulary | None,
        documents: int,
    ) -> _Found:
        if parsed.arxiv_id or _TITLE_ID.match(parsed.text):
            hit = ix.paper_by_id(conn, parsed.arxiv_id or parsed.text)
            if hit is not None:
                return _Found([hit[0]], {}, {hit[0]: 1.0}, exact_id=True, documents=documents)
            if parsed.arxiv_id:  # an id or a paper URL we do not have: nothing else to find
                return _Found([], documents=documents)
        if not parsed.terms:
            return _Found([], documents=documents)

        terms = parsed.terms
        tune = self.tuning
        if not tune.lexical:
            near = self.meaning.search(conn, parsed.text, MEANING_K) if self.meaning else []
            pids = [p for p, _ in near]
            return _Found(pids, dict.fromkeys(pids, WHY_MEANING), dict(near), documents=documents)
        ranking = lexical.all_words(conn, terms, documents, vocab, self._dfs)
        corrected: str | None = None
        fixed = _corrections(conn, terms, vocab, rare_too=len(ranking.pids) < FEW_HITS)
        if fixed:
            better_terms = list(dict.fromkeys(fixed.get(t, t) for t in terms))
            better = lexical.all_words(conn, better_terms, documents, vocab, self._dfs)
            if len(better.pids) >= len(ranking.pids):
                ranking, terms = better, better_terms
                words = q.tokens(parsed.text) or parsed.terms
                corrected = " ".join(fixed.get(w, w) for w in words)
        text = corrected or parsed.text

        every = set(ranking.pids)
        why: dict[int, str] = {}
        scores = dict(zip(ranking.pids, ranking.scores, strict=False))
        lists: list[tuple[Sequence[int], float]] = [(ranking.pids, tune.lexical_weight)]
        if tune.partial and len(ranking.pids) < PARTIAL_BELOW:
            most = lexical.partial(conn, terms, documents, vocab, exclude=every)
            lists[0] = (ranking.pids + most.pids, tune.lexical_weight)
            for pid, held in most.matched.items():
                why[pid] = (
                    WHY_FORMS if held == len(terms) else f"matches {held} of {len(terms)} words"
                )
            scores.update(zip(most.pids, most.scores, strict=True))
        wanted = tune.meaning_below is None or len(ranking.pids) < tune.meaning_below
        if self.meaning is not None and wanted:
            near = self.meaning.search(conn, text, MEANING_K)
            lists.append(([p for p, _ in near], tune.meaning_weight))
            lexical_pids = set(lists[0][0])
            for pid, similarity in near:
                if pid not in lexical_pids:
                    why[pid] = WHY_MEANING
                    scores[pid] = similarity

        pinned = ix.pids_with_title(conn, fast_title_key(text))
        for pid in pinned:
            why[pid] = WHY_TITLE
        if ranking.pids and not ranking.capped and len(terms) <= 4:
            by_author = ranking.by_author  # known when every match was scored
            if by_author is None:
                authors = set(lexical.author_pids(conn, terms, AUTHOR_PINS))
                by_author = [p for p in ranking.pids if p in authors]
            pinned += [p for p in by_author[:AUTHOR_PINS] if p not in pinned]
        order = fuse(lists, pinned=pinned, first_tier=every, mode=tune.mode)
        if sort != "relevance":
            order = _resort(conn, order, sort)
        return _Found(order, why, scores, corrected, False, ranking.capped, documents)

    def _related(
        self, paper_id: str, limit: int, vocab: Vocabulary | None, conn: sqlite3.Connection
    ) -> list[Paper]:
        found = ix.paper_by_id(conn, paper_id.strip())
        if found is None:
            return []
        pid, paper = found
        pids: list[int] = []
        if self.meaning is not None:
            pids = [p for p, _ in self.meaning.neighbours(conn, pid, limit)]
        if not pids:
            pids = _related_by_words(conn, pid, paper, vocab, limit)
        by_pid = ix.papers(conn, pids)
        return [by_pid[p] for p in pids if p in by_pid and p != pid][:limit]

    # -- the title vocabulary -------------------------------------------------------------------

    async def _vocabulary(self) -> Vocabulary | None:
        if self._vocab is None:
            await self._load_vocab()
        return self._vocab

    def _vocabulary_if_ready(self) -> Vocabulary | None:
        """The word list if loaded; if not, its loading is started (unless under way)."""
        idle = self._vocab_task is None or self._vocab_task.done()
        if self._vocab is None and idle and not self._vocab_lock.locked():
            self._vocab_task = asyncio.create_task(self._load_vocab(), name="vocabulary")
        return self._vocab

    def _note_size(self, documents: int) -> None:
        """After a search: reload the vocabulary in the background if papers were added,
        changed or deleted."""
        vocab = self._vocab
        now = time.monotonic()
        if vocab is None or now - self._vocab_checked < VOCAB_CHECK_SECONDS:
            return
        self._vocab_checked = now
        due = now - self._vocab_loaded >= VOCAB_RELOAD_FACTOR * self._vocab_seconds
        idle = self._vocab_task is None or self._vocab_task.done()
        stale = documents != vocab.documents or self._vocab_generation != self.db.generation
        if stale and due and idle:
            self._vocab_task = asyncio.create_task(self._load_vocab(), name="vocabulary")

    async def _load_vocab(self) -> None:
        async with self._vocab_lock:
            began = time.perf_counter()
            generation = self.db.generation  # before the snapshot: see _search_now
            # Read and built in a reader thread: at a million papers about a second of work.
            vocab = await self.db.read(_build_vocabulary, snapshot=True)
            self._vocab = vocab
            self._vocab_generation = generation
            self._vocab_seconds = time.perf_counter() - began
            self._vocab_checked = self._vocab_loaded = time.monotonic()
            log.debug("title vocabulary: %d words in %.3fs", len(vocab), self._vocab_seconds)

    async def close(self) -> None:
        """Wait for a background vocabulary reload (it uses a reader connection)."""
        task = self._vocab_task
        if task is not None and not task.done():
            with contextlib.suppress(Exception):
                await task


# -- helpers that run in a reader thread ---------------------------------------------------------


def _build_vocabulary(conn: sqlite3.Connection) -> Vocabulary:
    return Vocabulary(ix.title_vocabulary(conn), ix.latest_pid(conn))


def _corrections(
    conn: sqlite3.Connection, terms: list[str], vocab: Vocabulary | None, *, rare_too: bool
) -> dict[str, str]:
    """Replacements for the words no paper uses (with *rare_too*: also for words only one or
    two papers use), all found at once; at most ``MAX_CORRECTIONS``."""
    if vocab is None:
        return {}
    fixed: dict[str, str] = {}
    for term in terms:
        if len(fixed) >= MAX_CORRECTIONS:
            break
        if term in q.STOP_WORDS or vocab.df.get(term, 0) > (2 if rare_too else 0):
            continue
        if any(vocab.df.get(form, 0) for form in q.variants(term)[1:]):
            continue  # "garments": its singular is a title word, and matches already
        used = len(ix.match_desc(conn, q.term_expr(term), 3))
        if used >= 3 or (used and not rare_too):
            continue  # a word of the abstracts, not a typo
        # a word typed halfway ("diffus") becomes its most common completion, a typo
        # ("difusion") its closest common neighbour
        better = None
        if len(term) >= MIN_COMPLETION_CHARS and not used:
            better = next((w for w in vocab.complete(term, 2) if w != term), None)
        better = better or vocab.correct(term)
        if better:
            fixed[term] = better
    return fixed


def _resort(conn: sqlite3.Connection, order: list[int], sort: Sort) -> list[int]:
    """*order* (relevance) re-ordered newest first or trending first (the same papers)."""
    head, tail = order[: lexical.RANK_POOL], order[lexical.RANK_POOL :]
    if sort == "newest":
        return ix.order(conn, head, ix.NEWEST_ORDER) + tail
    top = ix.trending_pids(conn, TRENDING_PROBE)
    known = set(order)
    hot = [p for p in top if p in known]
    hot_set = set(hot)
    rest = [p for p in order if p not in hot_set]
    voted = ix.order(conn, rest[: lexical.RANK_POOL], ix.UPVOTES_ORDER)
    return hot + voted + rest[lexical.RANK_POOL :]


def _autocomplete(
    prefix: str, limit: int, vocab: Vocabulary | None, stale: bool, conn: sqlite3.Connection
) -> tuple[list[Suggestion], int]:
    """The suggestions, and the store's size (the newest pid: whether the word list is stale).
    *stale*: papers changed since the word list was read."""
    documents = max(1, ix.latest_pid(conn))
    stale = stale or (vocab is not None and documents != vocab.documents)
    return _suggestions(prefix, limit, vocab, stale, conn), documents


def _suggestions(
    prefix: str, limit: int, vocab: Vocabulary | None, stale: bool, conn: sqlite3.Connection
) -> list[Suggestion]:
    text = q.clean(prefix)
    words = q.tokens(text)
    if not words:
        pids = ix.trending_pids(conn, limit)
        if len(pids) < limit:
            pids += ix.newest_pids(conn, limit - len(pids), exclude=pids)
        info = ix.titles(conn, pids)
        return [
            Suggestion(info[p][0], trim_label(readable(info[p][1]))) for p in pids if p in info
        ][:limit]

    partial_word = not prefix[-1:].isspace()
    full, last = words[:-1], words[-1]
    parts = [q.quote(w) for w in full]
    if partial_word and vocab is None:  # the word list is loading: FTS5's prefix match
        parts.append(q.quote(last) + " *")
    elif partial_word:
        completions = vocab.complete(last, COMPLETIONS) if vocab else []
        if completions:
            parts.append("(" + " OR ".join(q.quote(c) for c in completions) + ")")
        elif stale:  # a word of a paper added or retitled since the list was read?
            parts.append(q.quote(last) + " *")
        else:
            return []  # no title has a word starting like that
    else:
        parts.append(q.quote(last))
    pool = ix.match_desc(conn, " AND ".join(parts), AUTOCOMPLETE_POOL, table="papers_title_fts")
    info = ix.titles(conn, pool)
    key = fast_title_key(text) + ("" if partial_word else " ")

    def rank(pid: int) -> tuple[bool, tuple[int, int, int]]:
        entry = info.get(pid)
        whole = entry is not None and (fast_title_key(entry[1]) + " ").startswith(key)
        return (not whole, _popularity(entry, pid))

    ranked = sorted((p for p in pool if p in info), key=rank)[:limit]
    return [Suggestion(info[p][0], trim_label(readable(info[p][1]))) for p in ranked]


def _matches(paper_id: str, query: str, conn: sqlite3.Connection) -> bool:
    parsed = q.parse(query)
    found = ix.paper_by_id(conn, paper_id)
    if found is None:
        return False
    if parsed.arxiv_id:
        return found[1].id == parsed.arxiv_id
    if not parsed.terms:
        return True
    return ix.matches_pid(conn, q.all_of(parsed.terms), found[0])


def _candidates(query: str | None, limit: int, conn: sqlite3.Connection) -> list[str]:
    parsed = q.parse(query or "")
    if not parsed.terms:
        if parsed.arxiv_id:
            found = ix.paper_by_id(conn, parsed.arxiv_id)
            return [found[1].id] if found else []
        pids = ix.trending_pids(conn, limit)
        if len(pids) < limit:
            pids += ix.newest_pids(conn, limit - len(pids), exclude=pids)
    else:
        documents = max(1, ix.latest_pid(conn))
        pids = lexical.all_words(conn, parsed.terms, documents, None).pids[:limit]
    info = ix.titles(conn, pids)
    return [info[p][0] for p in pids if p in info]


def _related_by_words(
    conn: sqlite3.Connection, pid: int, paper: Paper, vocab: Vocabulary | None, limit: int
) -> list[int]:
    """Papers sharing a paper's most distinctive words, scored like search (idf x title 10 |
    elsewhere 1), summed over terms: the newest such papers, plus the newest with one in the
    title."""
    terms = distinctive_terms(paper, vocab, RELATED_TERMS)
    if not terms:
        return []
    expr = " OR ".join(q.term_expr(t) for t in terms)
    newest = [p for p in ix.match_desc(conn, expr, lexical.RANK_POOL + 1) if p != pid]
    newest = newest[: lexical.RANK_POOL]
    if not newest:
        return []
    floor = newest[-1]
    titled = ix.match_desc(conn, expr, lexical.RANK_POOL, table="papers_title_fts")
    candidates = list(dict.fromkeys(newest + [p for p in titled if p != pid]))
    texts = ix.titles_authors(conn, candidates)
    present = {t: set(ix.match_from(conn, q.term_expr(t), floor)) for t in terms}
    idf = {t: vocab.idf(t) if vocab else 1.0 for t in terms}
    forms = {t: q.variants(t) for t in terms}
    scored: list[tuple[float, int]] = []
    for cand in candidates:
        title = lexical.Words(texts.get(cand, ("", ""))[0])
        score = 0.0
        for term in terms:
            if title.has(forms[term]):
                score += idf[term] * lexical.WEIGHT_TITLE
            elif cand in present[term]:
                score += idf[term] * lexical.WEIGHT_ABSTRACT
        scored.append((score, cand))
    scored.sort(key=lambda x: (-x[0], -x[1]))
    return [c for _, c in scored[:limit]]


def _popularity(entry: ix.TitleInfo | None, pid: int) -> tuple[int, int, int]:
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
