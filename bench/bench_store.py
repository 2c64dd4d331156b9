"""Import + search benchmark on synthetic arXiv-snapshot corpora, with two baselines.

    python -m bench.bench_store                      # 10k papers, a quick smoke run
    python -m bench.bench_store --sizes 10000,100000,1000000 > bench/out/bench.txt

For every size, in a fresh process (so peak RSS is that size's alone):

* import: the corpus (bench/corpus.py, cached under bench/out/) through the real loader
  (``bot.store.loader.load_file``: parse + merge + index), papers/s;
* search latency p50/p99 over a fixed query mix (common words, rare words, multi-word, authors,
  typos, partial words, ids/URLs, hostile input), after one warm-up pass;
* autocomplete latency p50/p99 over a fixed prefix mix;
* peak RSS (``ru_maxrss``) and the database size.

Then, in another process holding the corpus in memory, the two baselines on the same corpus
and queries: a rapidfuzz scan of every title (``process.extract(..., scorer=WRatio,
limit=10)``) and arxiv-sanity-lite's search (a linear scan counting query-word occurrences:
title 20x, authors 10x, abstract 1x, as in its ``serve.py``), with the ratio baseline / ours.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.corpus import OUT, ROOT, CorpusGenerator, arxiv_id, write_corpus
from bench.report import table

SEARCH_REPEATS = 5
AC_REPEATS = 5


def query_mix(size: int, seed: int) -> list[tuple[str, str]]:
    """(class, query) pairs, deterministic for a corpus size and seed."""
    gen = CorpusGenerator(seed)
    tail = gen.tail
    ids = [arxiv_id(i) for i in (0, size // 3, size // 2, size - 1)]
    return [
        ("common", "the"),
        ("common", "model"),
        ("common", "learning"),
        ("common", "of the"),
        ("common", "a model for the"),
        ("common", "models"),
        ("common", "data results"),
        ("multi", "video generation"),
        ("multi", "graph neural network"),
        ("multi", "quantum field theory"),
        ("multi", "diffusion models for video editing"),
        ("multi", "stochastic interpolants"),
        ("multi", "deep learning software testing"),
        ("multi", "model learning data"),
        ("rare", tail[500]),
        ("rare", tail[5_000]),
        ("rare", tail[50_000]),
        ("rare", f"{tail[800]} {tail[3000]}"),
        ("rare", tail[150_000]),
        ("author", "Karpathy"),
        ("author", "Itô"),
        ("author", "Wang Chen"),
        ("typo", "stochastik interpolents"),
        ("typo", "difusion modle"),
        ("typo", "quantim feild"),
        ("typo", "nueral netwrk"),
        ("typo", tail[1000][:-1] + "q"),
        ("partial", "diffus"),
        ("partial", "transf"),
        ("partial", "interpol"),
        ("id", ids[0]),
        ("id", ids[1]),
        ("id", f"https://arxiv.org/abs/{ids[2]}v2"),
        ("id", f"https://huggingface.co/papers/{ids[3]}"),
        ("id", "2999.99999"),
        ("hostile", 'NEAR("the" model) AND -title:* OR "'),
        ("hostile", "🦀 ∑ \x00 'quantum' *"),
        ("hostile", ("deep learning " * 800)[:10_000]),
    ]


PREFIXES = [
    "",
    "d",
    "di",
    "dif",
    "diffusion",
    "diffusion mo",
    "stochastic in",
    "a ",
    "q",
    "quantum f",
    "tes",
    "graph neural n",
    "the ",
    "x",
    "zzzz",
]


def _pct(values: list[float], p: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    k = (len(ordered) - 1) * p / 100.0
    lo, hi = math.floor(k), math.ceil(k)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


# -- worker: import + our search ------------------------------------------------------------


async def _work(
    size: int, seed: int, corpus: Path, db_path: Path, reuse: bool, *, import_only: bool = False
) -> dict[str, Any]:
    from bot.search import SearchEngine
    from bot.semantic.backfill import fill_vectors, prepare_model
    from bot.semantic.model import Embedder
    from bot.semantic.search import MeaningIndex
    from bot.store import Store
    from bot.store.loader import load_file

    imported = _previous_import(db_path) if reuse else None
    if imported is not None and "vector_s" not in imported:
        imported = None  # made before vectors were part of the import: make it again
    reused = imported is not None
    if imported is None:
        _remove_db(db_path)
        store = await Store.open(db_path)
        began = time.perf_counter()
        report = await load_file(store, corpus)
        import_s = time.perf_counter() - began
        await store.db.fetchall("PRAGMA wal_checkpoint(TRUNCATE)")
        imported = {
            "papers": report.papers,
            "records": report.records,
            "rejected": report.rejected,
            "import_s": import_s,
            "import_rate": report.records / import_s,
            "rss_import_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "db_mb": _db_bytes(db_path) / 1e6,
        }
        # Vectors for search by meaning: the pass `python -m bot load` runs after the files.
        embedder = Embedder.load()
        await prepare_model(store, embedder)
        began = time.perf_counter()
        made = await fill_vectors(store, embedder, workers=os.cpu_count() or 1)
        imported["vector_s"] = time.perf_counter() - began
        imported["vector_rate"] = made / imported["vector_s"]
        imported["import_and_vectors_rate"] = report.records / (import_s + imported["vector_s"])
        await store.db.fetchall("PRAGMA wal_checkpoint(TRUNCATE)")
        imported["db_mb"] = _db_bytes(db_path) / 1e6
        imported.update(await _bytes_per_paper(store, report.papers))
        _save_import(db_path, imported)
        await store.close()
        if import_only:
            return imported
    # A fresh process state for what the bot holds: the store, the vectors, the vocabulary.
    store = await Store.open(db_path)
    rss_open = _rss_now_mb()
    embedder = Embedder.load()
    meaning = MeaningIndex(embedder)
    t0 = time.perf_counter()
    await store.db.read(meaning.sync, snapshot=False)
    index_s = time.perf_counter() - t0
    rss_vectors = _rss_now_mb()

    lexical = SearchEngine(store.db, result_cache=0)
    await lexical.warm()
    known = await _known_items(store, lexical, size, seed)
    # Every search computed (no result cache: the bench repeats its queries).
    engine = SearchEngine(store.db, meaning=meaning, result_cache=0)
    t0 = time.perf_counter()
    await engine.warm()
    warm_s = time.perf_counter() - t0
    mix = query_mix(size, seed)
    for _, text in mix:  # warm-up pass
        await engine.search(text)
    samples: list[dict[str, Any]] = []
    for _ in range(SEARCH_REPEATS):
        for cls, text in mix:
            t = time.perf_counter()
            result = await engine.search(text)
            ms = (time.perf_counter() - t) * 1000
            samples.append(
                {
                    "class": cls,
                    "query": text[:60],
                    "ms": ms,
                    "total": result.total,
                    "capped": result.capped,
                    "corrected": result.corrected,
                    "top": result.hits[0].paper.title[:70] if result.hits else None,
                }
            )
    sorts: dict[str, list[float]] = {}
    for sort in ("newest", "trending"):
        for _, text in mix:
            t = time.perf_counter()
            await engine.search(text, sort=sort)  # type: ignore[arg-type]
            sorts.setdefault(sort, []).append((time.perf_counter() - t) * 1000)
    ac: list[float] = []
    for prefix in PREFIXES:
        await engine.autocomplete(prefix)
    for _ in range(AC_REPEATS):
        for prefix in PREFIXES:
            t = time.perf_counter()
            await engine.autocomplete(prefix)
            ac.append((time.perf_counter() - t) * 1000)
    related: list[float] = []
    for i in (1, size // 4, size // 2, size - 2):
        t = time.perf_counter()
        await engine.related(arxiv_id(i))
        related.append((time.perf_counter() - t) * 1000)
    await store.close()
    return {
        "size": size,
        **imported,
        "reused_db": reused,
        "index_s": index_s,
        "index_mb": meaning.nbytes / 1e6,
        "rss_open_mb": rss_open,
        "rss_vectors_mb": rss_vectors,
        "rss_now_mb": _rss_now_mb(),
        "known": known,
        "rss_peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "vocab_s": warm_s,
        "search": samples,
        "sorts": sorts,
        "autocomplete": ac,
        "related": related,
    }


def _rss_now_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return math.nan


async def _bytes_per_paper(store: Any, papers: int) -> dict[str, float]:
    """Bytes a paper costs on disk: in all, and in each part (table, its indexes, FTS)."""
    rows = await store.db.fetchall("SELECT name, sum(pgsize) FROM dbstat GROUP BY name")
    sizes = {str(r[0]): int(r[1]) for r in rows}
    total = sum(sizes.values())
    fts = sum(v for k, v in sizes.items() if k.startswith(("papers_fts", "papers_title_fts")))
    vectors = sum(v for k, v in sizes.items() if "paper_vectors" in k)
    n = max(1, papers)
    return {
        "bytes_total": total / n,
        "bytes_fts": fts / n,
        "bytes_vectors": vectors / n,
        "bytes_rest": (total - fts - vectors) / n,
    }


async def _known_items(store: Any, engine: Any, size: int, seed: int) -> dict[str, int]:
    """Known-item search: old papers (the first 1% imported) found in the top 10 by their
    remembered title, and by three of its rarer words."""
    import random as _random

    from bot.search import query as q

    rng = _random.Random(seed)
    pids = rng.sample(range(1, max(2, size // 100)), k=min(20, max(1, size // 100 - 1)))
    papers = await store.papers.get_by_pids(pids)
    vocab = await engine._vocabulary()
    found = {"papers": len(papers), "title_top10": 0, "rare3_top10": 0}
    for paper in papers:
        by_title = await engine.search(paper.title, limit=10)
        found["title_top10"] += paper.id in {h.paper.id for h in by_title.hits}
        words = [w for w in dict.fromkeys(q.word_list(paper.title)) if w not in q.STOP_WORDS]
        words.sort(key=lambda w: vocab.df.get(w, 0) if vocab else 0)
        by_words = await engine.search(" ".join(words[:3]), limit=10)
        found["rare3_top10"] += paper.id in {h.paper.id for h in by_words.hits}
    return found


def _stats_file(db_path: Path) -> Path:
    return db_path.with_suffix(".import.json")


def _previous_import(db_path: Path) -> dict[str, Any] | None:
    stats = _stats_file(db_path)
    if stats.exists() and db_path.exists():
        return json.loads(stats.read_text())  # type: ignore[no-any-return]
    return None


def _save_import(db_path: Path, imported: dict[str, Any]) -> None:
    _stats_file(db_path).write_text(json.dumps(imported))


def _remove_db(db_path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(str(db_path) + suffix).unlink(missing_ok=True)
    _stats_file(db_path).unlink(missing_ok=True)


def _db_bytes(db_path: Path) -> int:
    return sum(
        Path(str(db_path) + s).stat().st_size
        for s in ("", "-wal")
        if Path(str(db_path) + s).exists()
    )


# -- worker: baselines ------------------------------------------------------------------------


def _baselines(size: int, seed: int, corpus: Path, queries: list[str]) -> dict[str, Any]:
    from rapidfuzz import fuzz, process

    pdb: dict[str, dict[str, Any]] = {}
    titles: list[str] = []
    with corpus.open(encoding="utf-8") as fh:
        for line in fh:
            rec = json.loads(line)
            title = " ".join(rec["title"].split())
            # arxiv-sanity-lite keeps arXiv API entries: title, summary, authors[{name}]
            pdb[rec["id"]] = {
                "title": title,
                "summary": rec["abstract"],
                "authors": [{"name": f"{a[1]} {a[0]}".strip()} for a in rec["authors_parsed"]],
            }
            titles.append(title)

    def asl_search_rank(q: str = "") -> tuple[list[str], list[float]]:
        # arxiv-sanity-lite serve.py search_rank, verbatim apart from the in-memory pdb
        if not q:
            return [], []  # no query? no results
        qs = q.lower().strip().split()  # split query by spaces and lowercase

        def match(s: str) -> int:
            return sum(min(3, s.lower().count(qp)) for qp in qs)

        def matchu(s: str) -> int:
            return sum(int(s.lower().count(qp) > 0) for qp in qs)

        pairs = []
        for pid, p in pdb.items():
            score = 0.0
            score += 10.0 * matchu(" ".join([a["name"] for a in p["authors"]]))
            score += 20.0 * matchu(p["title"])
            score += 1.0 * match(p["summary"])
            if score > 0:
                pairs.append((score, pid))
        pairs.sort(reverse=True)
        pids = [p[1] for p in pairs]
        scores = [p[0] for p in pairs]
        return pids, scores

    rf: list[float] = []
    asl: list[float] = []
    for q in queries:
        t = time.perf_counter()
        process.extract(q, titles, scorer=fuzz.WRatio, limit=10)
        rf.append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        asl_search_rank(q)
        asl.append((time.perf_counter() - t) * 1000)
    return {"queries": queries, "rapidfuzz": rf, "asl": asl}


# -- driver ---------------------------------------------------------------------------------


def _run_worker(args: list[str]) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-m", "bench.bench_store", *args],
        cwd=ROOT,
        check=True,
        stdout=subprocess.PIPE,
        text=True,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])  # type: ignore[no-any-return]


def _baseline_queries(size: int, seed: int) -> list[str]:
    """A subset of the mix for the (slow) baselines: linear scans cost seconds at 1M."""
    picks = {"the", "model", "video generation", "graph neural network", "stochastik interpolents"}
    mix = [t for _, t in query_mix(size, seed) if t in picks]
    gen = CorpusGenerator(seed)
    return [*mix, gen.tail[5_000], "Karpathy"]


def report_size(res: dict[str, Any], base: dict[str, Any] | None) -> str:
    lines = [
        f"\n== {res['size']:,} papers: import {res['import_rate']:,.0f} papers/s "
        f"({res['import_s']:.1f} s, {res['papers']:,} stored, {res['rejected']} rejected), "
        f"DB {res['db_mb']:,.0f} MB, peak RSS {res['rss_peak_mb']:.0f} MB "
        f"(after import {res['rss_import_mb']:.0f} MB), vocabulary load {res['vocab_s']:.2f} s",
        f"   vectors: {res['vector_rate']:,.0f} papers/s ({res['vector_s']:.1f} s); import with "
        f"vectors {res['import_and_vectors_rate']:,.0f} papers/s; index load {res['index_s']:.1f} s, "
        f"{res['index_mb']:.0f} MB in memory",
        f"   RSS: store open {res['rss_open_mb']:.0f} MB, + vectors {res['rss_vectors_mb']:.0f} MB, "
        f"after every search {res['rss_now_mb']:.0f} MB",
        f"   bytes per paper on disk: {res['bytes_total']:,.0f} (full text {res['bytes_fts']:,.0f}, "
        f"vectors {res['bytes_vectors']:,.0f}, papers and indexes {res['bytes_rest']:,.0f})",
        f"   known items (old papers): by title {res['known']['title_top10']}/"
        f"{res['known']['papers']} in the top 10, by three rarer title words "
        f"{res['known']['rare3_top10']}/{res['known']['papers']}",
    ]
    by_class: dict[str, list[float]] = {}
    worst: dict[str, tuple[float, str]] = {}
    for s in res["search"]:
        by_class.setdefault(s["class"], []).append(s["ms"])
        if s["ms"] > worst.get(s["class"], (0.0, ""))[0]:
            worst[s["class"]] = (s["ms"], s["query"])
    rows = []
    for cls, values in by_class.items():
        rows.append(
            [
                cls,
                str(len(values)),
                f"{_pct(values, 50):.1f}",
                f"{_pct(values, 99):.1f}",
                f"{max(values):.1f}",
                worst[cls][1][:40],
            ]
        )
    every = [s["ms"] for s in res["search"]]
    rows.append(
        [
            "ALL search",
            str(len(every)),
            f"{_pct(every, 50):.1f}",
            f"{_pct(every, 99):.1f}",
            f"{max(every):.1f}",
            "",
        ]
    )
    for sort, values in res["sorts"].items():
        rows.append(
            [
                f"sort={sort}",
                str(len(values)),
                f"{_pct(values, 50):.1f}",
                f"{_pct(values, 99):.1f}",
                f"{max(values):.1f}",
                "",
            ]
        )
    ac = res["autocomplete"]
    rows.append(
        [
            "autocomplete",
            str(len(ac)),
            f"{_pct(ac, 50):.1f}",
            f"{_pct(ac, 99):.1f}",
            f"{max(ac):.1f}",
            "",
        ]
    )
    rel = res["related"]
    rows.append(
        [
            "related",
            str(len(rel)),
            f"{_pct(rel, 50):.1f}",
            f"{_pct(rel, 99):.1f}",
            f"{max(rel):.1f}",
            "",
        ]
    )
    lines.append(table(rows, ["latency (ms)", "n", "p50", "p99", "max", "slowest query"]))
    if base:
        ours: dict[str, list[float]] = {}
        for s in res["search"]:
            ours.setdefault(s["query"], []).append(s["ms"])
        brows = []
        for i, q in enumerate(base["queries"]):
            mine = statistics.median(ours.get(q[:60], [math.nan]))
            rf, asl = base["rapidfuzz"][i], base["asl"][i]
            brows.append(
                [
                    q[:28],
                    f"{mine:.1f}",
                    f"{rf:.0f}",
                    f"{rf / mine:,.0f}x",
                    f"{asl:.0f}",
                    f"{asl / mine:,.0f}x",
                ]
            )
        lines.append(
            table(
                brows,
                ["query", "ours ms", "rapidfuzz ms", "ratio", "asl ms", "ratio"],
            )
        )
    return "\n".join(lines)


def summary(results: list[tuple[dict[str, Any], dict[str, Any] | None]]) -> str:
    rows = []
    for res, base in results:
        every = [s["ms"] for s in res["search"]]
        ac = res["autocomplete"]
        rf = asl = "-"
        if base:
            ours: dict[str, list[float]] = {}
            for s in res["search"]:
                ours.setdefault(s["query"], []).append(s["ms"])
            mine = [statistics.median(ours[q[:60]]) for q in base["queries"]]
            rf = f"{statistics.median(base['rapidfuzz']) / statistics.median(mine):,.0f}x"
            asl = f"{statistics.median(base['asl']) / statistics.median(mine):,.0f}x"
        rows.append(
            [
                f"{res['size']:,}",
                f"{res['import_rate']:,.0f}",
                f"{_pct(every, 50):.1f}",
                f"{_pct(every, 99):.1f}",
                f"{_pct(ac, 50):.1f}",
                f"{_pct(ac, 99):.1f}",
                f"{res['rss_peak_mb']:.0f}",
                f"{res['db_mb']:,.0f}",
                rf,
                asl,
            ]
        )
    return table(
        rows,
        [
            "papers",
            "import/s",
            "search p50",
            "p99",
            "autocompl p50",
            "p99",
            "RSS MB",
            "DB MB",
            "vs rapidfuzz",
            "vs asl",
        ],
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="PaperBot store/search benchmark")
    parser.add_argument("--sizes", default="10000", help="comma separated corpus sizes")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-baselines", action="store_true")
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="reuse bench/out/bench-<size>.db and its import figures (search-only rerun)",
    )
    parser.add_argument(
        "--worker", choices=("import", "search", "baselines"), help=argparse.SUPPRESS
    )
    parser.add_argument("--size", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker:
        corpus = write_corpus(args.size, args.seed)
        if args.worker in ("import", "search"):
            db = OUT / f"bench-{args.size}.db"
            only = args.worker == "import"
            res = asyncio.run(_work(args.size, args.seed, corpus, db, args.reuse, import_only=only))
        else:
            res = _baselines(args.size, args.seed, corpus, _baseline_queries(args.size, args.seed))
        print(json.dumps(res))
        return 0

    sizes = [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()]
    print(
        f"PaperBot bench: sizes {sizes}, seed {args.seed}, {os.cpu_count()} CPUs, "
        f"Python {sys.version.split()[0]}",
        flush=True,
    )
    results = []
    for size in sizes:
        t = time.perf_counter()
        write_corpus(size, args.seed)
        if not args.reuse:  # import (and vectors) in a process of its own...
            _run_worker(["--worker", "import", "--size", str(size), "--seed", str(args.seed)])
        # ...then search in a fresh one, holding what the bot holds: RSS as the bot's.
        res = _run_worker(
            ["--worker", "search", "--size", str(size), "--seed", str(args.seed), "--reuse"]
        )
        base = None
        if not args.no_baselines:
            base = _run_worker(
                ["--worker", "baselines", "--size", str(size), "--seed", str(args.seed)]
            )
        (OUT / f"results-{size}.json").write_text(json.dumps({"ours": res, "baselines": base}))
        print(report_size(res, base), flush=True)
        print(f"(size {size:,} took {time.perf_counter() - t:.0f} s)", flush=True)
        results.append((res, base))
    print("\n== summary (latencies in ms; ratios = baseline median / ours on the same queries)")
    print(summary(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
