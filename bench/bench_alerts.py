"""What one keyword alert costs per refresh, by query shape, on a large store.

    python -m bench.bench_alerts --size 1000000       # builds/reuses bench/out/alerts-<size>.db

After a refresh every active alert looks at the papers stored since it last looked (a few
hundred). A whole word in the FTS5 query is cheap whatever the store's size; a prefix
(``co*``) makes FTS5 merge the posting lists of every indexed term starting with it, across the
whole store, before the row-id window applies. For each query this prints, as the median of a
few runs: the FTS5 match with the prefix in it ("index", how alerts matched before), and
:func:`bot.fetch.alerts.find_matches` as alerts match now (prefixes checked on the new papers),
with the number of index terms a prefix expands to; whole words are the baseline.

A second table does the same for followed authors (``/alerts add author:``): the index finds
the new papers with the surname in their authors field, then names are compared in Python;
the alternative, comparing the names of every new paper, is the baseline.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.corpus import _LAST, OUT, CorpusGenerator, write_corpus
from bot.fetch.alerts import (
    ALERT_SOURCES,
    MATCHES_PER_ALERT,
    MAX_AGE_DAYS,
    AlertQuery,
    AuthorQuery,
    compile_author,
    compile_query,
    find_matches,
)
from bot.models import Paper
from bot.search import query as sq
from bot.store import Store
from bot.store.loader import load_file

NEW_PAPERS = 300  # about one refresh's worth of new papers
REPEATS = 5
# Prefixes of frequent stems, 2 to 7 letters; whole words as the baseline.
PREFIXES = ("co", "re", "in", "de", "pro", "con", "tra", "int", "comp", "mode", "gene", "stru",
            "trans", "learn", "quant", "neural", "diffus")  # fmt: skip
WORDS = ("model", "learning", "diffusion", "graph neural network")


def _loaded(db: Path, done: Path) -> bool:
    """Whether *db* holds a finished load; if not, clear what a broken one left."""
    if db.exists() and done.exists():
        return True
    for suffix in ("", "-wal", "-shm"):
        Path(str(db) + suffix).unlink(missing_ok=True)
    return False


async def _open(size: int, seed: int) -> tuple[Store, Path]:
    db = OUT / f"alerts-{size}.db"
    done = db.with_suffix(".loaded")
    if not _loaded(db, done):
        corpus = write_corpus(size, seed)
        store = await Store.open(db)
        t = time.perf_counter()
        report = await load_file(store, corpus)
        print(f"loaded {report.records:,} papers in {time.perf_counter() - t:.0f} s", flush=True)
        await store.db.fetchall("PRAGMA wal_checkpoint(TRUNCATE)")
        await store.close()
        done.write_text(str(size))
    return await Store.open(db), db


async def _new_papers(store: Store, count: int) -> tuple[int, int]:
    """Store *count* fresh papers from a live source, as a refresh would; their pid window."""
    before = await store.papers.latest_pid()
    gen = CorpusGenerator(seed=7)
    yesterday = datetime.now(UTC).date() - timedelta(days=1)
    papers = []
    for i in range(count):
        # Unique per run (keyed by the store's size), so the bench can run again on one db.
        rec = gen.paper(5_000_000 + before + i)
        papers.append(
            Paper.create(
                title=" ".join(str(rec["title"]).split()) + f" (new {before + i})",
                abstract=" ".join(str(rec["abstract"]).split()),
                authors=str(rec["authors"]).replace(" and ", ", ").split(", "),
                published=yesterday,
                source="hf-daily",
            )
        )
    await store.papers.upsert_many(papers, "hf-daily")
    return before, await store.papers.latest_pid()


async def _terms(store: Store, prefix: str) -> int:
    """How many distinct index terms start with *prefix*."""
    end = prefix[:-1] + chr(ord(prefix[-1]) + 1)
    # (a temp table lives on one connection: create and read it on the writer's)
    async with store.db.transaction() as conn:
        await conn.execute(
            "CREATE VIRTUAL TABLE IF NOT EXISTS temp.bench_vocab "
            "USING fts5vocab(main, papers_fts, row)"
        )
        async with conn.execute(
            "SELECT count(*) FROM temp.bench_vocab WHERE term >= ? AND term < ?", (prefix, end)
        ) as cur:
            row = await cur.fetchone()
    return int(row[0]) if row else 0


def _as_index_query(query: AlertQuery) -> str:
    """The FTS5 expression with the prefixes in it (how alert queries were run before)."""
    parts = [query.fts] if query.fts else []
    parts += [sq.quote(p) + "*" for p in query.prefixes]
    return " AND ".join(parts)


async def _median_ms(run: Callable[[], Awaitable[int]]) -> tuple[float, int]:
    times, found = [], 0
    for _ in range(REPEATS):
        t = time.perf_counter()
        found = await run()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times), found


async def _row(store: Store, text: str, after: int, upto: int) -> tuple[float, float, int]:
    query = compile_query(text, prefix_min=1)
    since = datetime.now(UTC).date() - timedelta(days=MAX_AGE_DAYS)

    async def by_index() -> int:
        rows = await store.alerts.match(
            _as_index_query(query),
            after_pid=after,
            upto_pid=upto,
            published_since=since,
            sources=ALERT_SOURCES,
            limit=MATCHES_PER_ALERT,
        )
        return len([m for m in rows if query.accepts(m.title, m.authors, m.abstract)])

    async def now() -> int:
        found, _ = await find_matches(
            store, query, after_pid=after, upto_pid=upto, published_since=since
        )
        return len(found)

    before_ms, before_found = await _median_ms(by_index)
    now_ms, now_found = await _median_ms(now)
    assert before_found == now_found, (text, before_found, now_found)
    return before_ms, now_ms, now_found


async def _author_row(store: Store, name: str, after: int, upto: int) -> tuple[float, float, int]:
    query = compile_author(name)
    everyone = AuthorQuery(query.text, query.name, "")  # no index: every new paper's names
    since = datetime.now(UTC).date() - timedelta(days=MAX_AGE_DAYS)

    def run(q: AuthorQuery) -> Callable[[], Awaitable[int]]:
        async def go() -> int:
            found, _ = await find_matches(
                store, q, after_pid=after, upto_pid=upto, published_since=since
            )
            return len(found)

        return go

    scan_ms, scan_found = await _median_ms(run(everyone))
    now_ms, now_found = await _median_ms(run(query))
    assert scan_found == now_found, (name, scan_found, now_found)
    return scan_ms, now_ms, now_found


async def _run(size: int, seed: int) -> None:
    store, db = await _open(size, seed)
    try:
        after, upto = await _new_papers(store, NEW_PAPERS)
        papers = await store.papers.latest_pid()
        print(f"\n{papers:,} papers in {db.name}; {upto - after} new since the last refresh\n")
        print("| alert | letters | index terms | prefix in the index, ms | now, ms | matches |")
        print("|---|---|---|---|---|---|")
        for word in WORDS:
            before, now, found = await _row(store, word, after, upto)
            print(f"| {word} | – | – | {before:.1f} | {now:.1f} | {found} |", flush=True)
        for prefix in PREFIXES:
            terms = await _terms(store, prefix)
            before, now, found = await _row(store, prefix + "*", after, upto)
            print(
                f"| {prefix}* | {len(prefix)} | {terms:,} | {before:.1f} | {now:.1f} | {found} |",
                flush=True,
            )
        print("\n| followed author | every new paper's names, ms | index + names, ms | matches |")
        print("|---|---|---|---|")
        # Authors of the new papers: one in full, the same by initial, and a stranger.
        newest = await store.papers.get_by_pids(range(upto, after, -1))
        first = next(a for p in newest for a in p.authors if "." not in a)
        given, _, surname = first.partition(" ")
        for name in (first, f"{given[0]}. {surname}", f"Q. {_LAST[-1]}son"):
            scan, now, found = await _author_row(store, name, after, upto)
            print(f"| {name} | {scan:.1f} | {now:.1f} | {found} |", flush=True)
    finally:
        await store.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    print(f"Python {sys.version.split()[0]}", flush=True)
    asyncio.run(_run(args.size, args.seed))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
