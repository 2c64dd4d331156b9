"""Web benchmark: requests/s and latency of the site's API at 10k..1M papers, against a
baseline route that does no store work, measured in the same run.

    python -m bench.bench_web                            # 10k papers, a quick run
    python -m bench.bench_web --sizes 10000,1000000      # 1M: the store build takes minutes

For every size:

* the store is ``bench/out/bot-<size>.db``, built (or reused) exactly as bench_bot builds it:
  the synthetic corpus (bench/corpus.py) through the real loader;
* the site runs **in its own process** (``--serve``): the real ``bot.web.build_app`` on
  127.0.0.1 (rate limit off: one client sends everything), with the search vocabulary and the
  trending pool warmed first, as ``python -m bot run`` warms them. The bench adds one route,
  ``/bench/baseline``: the JSON of a real 10-result ``/api/search`` answer, built once at
  start and serialised again on every request, through the same middlewares - everything an
  API answer costs except the store and the search;
* the client (this process, aiohttp) sends GETs over keep-alive connections, first one at a
  time (latency without queueing), then with ``--concurrency`` in flight (throughput), for
  ``--seconds`` per route and level, in rounds that alternate the routes so all see the same
  machine load; every loop is bounded by a count and a duration;
* routes: the baseline, ``/healthz`` (one indexed read), ``/api/search`` over
  ``bench_store.query_mix`` (common and rare words, authors, typos, partial words, ids, URLs,
  hostile input; cut to 300 characters like the search box), the HTML ``/search`` page over
  the same queries, ``/api/papers/<id>`` (a paper and its related papers), ``/api/trending``;
* reported: requests, requests/s, p50/p99 latency, answers other than 200, and the server
  process's CPU time per request (from /proc), so a busy client does not pass for a slow
  server.

Results: a table per size on stdout and ``bench/out/web-results-<size>.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

from aiohttp import ClientSession, ClientTimeout, TCPConnector, web

from bench.bench_bot import build_store
from bench.bench_store import _pct, query_mix
from bench.corpus import OUT, ROOT, arxiv_id

SEED = 1
QUERY_CHARS = 300
MAX_REQUESTS = 200_000  # per route and level: a bound besides the duration


# -- the server process ---------------------------------------------------------------------------


async def serve(db_path: Path) -> None:
    from bot.config import Settings
    from bot.search import SearchEngine
    from bot.store import Store
    from bot.trending import Trending
    from bot.web import WebContext, build_app
    from bot.web.api import json_response
    from bot.web.present import paper_json

    store = await Store.open(db_path)
    engine = SearchEngine(store.db)
    trends = Trending(store.signals, store.social, engine.candidates)
    settings = replace(Settings(), web_rate_requests=0)
    ctx = WebContext(store, engine, trends, settings)
    await engine.warm()
    await trends.ranked_for_guild(0, datetime.now(UTC), 1)
    sample = await engine.search("graph neural network", limit=10)
    answer = {
        "query": sample.query,
        "corrected": None,
        "sort": "relevance",
        "offset": 0,
        "limit": 10,
        "total": sample.total,
        "total_is_lower_bound": sample.capped,
        "results": [
            {**paper_json(h.paper, ctx.base_url), "score": round(h.score, 6), "why": h.why}
            for h in sample.hits
        ],
    }

    async def baseline(request: web.Request) -> web.Response:
        return json_response(answer)

    app = build_app(ctx)
    app.router.add_get("/bench/baseline", baseline)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = next(int(a[1]) for a in runner.addresses)
    print(f"PORT {port}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await runner.cleanup()
    await engine.close()
    await store.close()


# -- the client -----------------------------------------------------------------------------------


@dataclass
class Measured:
    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    elapsed: float = 0.0
    server_cpu: float = 0.0

    def add(self, other: Measured) -> None:
        self.latencies += other.latencies
        for k, v in other.statuses.items():
            self.statuses[k] = self.statuses.get(k, 0) + v
        self.elapsed += other.elapsed
        self.server_cpu += other.server_cpu

    def row(self) -> dict[str, Any]:
        n = len(self.latencies)
        return {
            "requests": n,
            "rps": n / self.elapsed if self.elapsed else 0.0,
            "p50_ms": _pct(self.latencies, 50) * 1000 if n else float("nan"),
            "p99_ms": _pct(self.latencies, 99) * 1000 if n else float("nan"),
            "mean_ms": statistics.fmean(self.latencies) * 1000 if n else float("nan"),
            "not_200": sum(v for k, v in self.statuses.items() if k != 200),
            "server_cpu_ms": self.server_cpu / n * 1000 if n else float("nan"),
        }


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


async def load(
    session: ClientSession, base: str, paths: list[str], concurrency: int, seconds: float, pid: int
) -> Measured:
    measured = Measured()
    counter = iter(range(MAX_REQUESTS))
    deadline = time.perf_counter() + seconds

    async def worker(offset: int) -> None:
        for n in counter:
            if time.perf_counter() >= deadline:
                return
            path = paths[(n + offset) % len(paths)]
            began = time.perf_counter()
            async with session.get(base + path) as resp:
                await resp.read()
                status = resp.status
            measured.latencies.append(time.perf_counter() - began)
            measured.statuses[status] = measured.statuses.get(status, 0) + 1

    cpu_before = cpu_seconds(pid)
    began = time.perf_counter()
    await asyncio.gather(*(worker(i * 7) for i in range(concurrency)))
    measured.elapsed = time.perf_counter() - began
    measured.server_cpu = cpu_seconds(pid) - cpu_before
    return measured


def routes(size: int) -> dict[str, list[str]]:
    queries = [q[:QUERY_CHARS] for _, q in query_mix(size, SEED)]
    ids = [arxiv_id(i) for i in (0, size // 7, size // 3, size // 2, size - 1)]
    return {
        "baseline (no store work)": ["/bench/baseline"],
        "/healthz": ["/healthz"],
        "/api/search": [f"/api/search?q={quote_plus(q)}&limit=10" for q in queries],
        "/search (HTML page)": [f"/search?q={quote_plus(q)}" for q in queries],
        "/api/papers/<id>": [f"/api/papers/{i}" for i in ids],
        "/api/trending": ["/api/trending?limit=10"],
    }


async def measure(size: int, base: str, pid: int, args: argparse.Namespace) -> dict[str, Any]:
    table = routes(size)
    levels = [1, args.concurrency]
    results: dict[str, dict[int, Measured]] = {r: {c: Measured() for c in levels} for r in table}
    per_class: dict[str, list[float]] = {}
    connector = TCPConnector(limit=args.concurrency)
    async with ClientSession(connector=connector, timeout=ClientTimeout(total=30)) as session:
        # warm-up: every path once (each query's first use pays for its FTS pages)
        for paths in table.values():
            for path in paths:
                async with session.get(base + path) as resp:
                    await resp.read()
        for cls, query in query_mix(size, SEED):  # sequential latency per query class
            path = f"/api/search?q={quote_plus(query[:QUERY_CHARS])}&limit=10"
            began = time.perf_counter()
            async with session.get(base + path) as resp:
                await resp.read()
            per_class.setdefault(cls, []).append(time.perf_counter() - began)
        slice_s = args.seconds / args.rounds
        for _ in range(args.rounds):
            for level in levels:
                for route, paths in table.items():
                    got = await load(session, base, paths, level, slice_s, pid)
                    results[route][level].add(got)
    return {
        "size": size,
        "concurrency": args.concurrency,
        "seconds": args.seconds,
        "routes": {r: {str(c): m.row() for c, m in by.items()} for r, by in results.items()},
        "search_by_class_ms": {
            cls: {"p50": _pct(v, 50) * 1000, "max": max(v) * 1000} for cls, v in per_class.items()
        },
    }


def run_size(size: int, args: argparse.Namespace) -> dict[str, Any]:
    store = build_store(size, SEED, args.rebuild)
    db_path = OUT / f"bot-{size}.db"
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.bench_web", "--serve", "--db", str(db_path)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line.startswith("PORT "):
            raise RuntimeError(f"the site did not start: {line!r}")
        base = f"http://127.0.0.1:{int(line.split()[1])}"
        result = asyncio.run(measure(size, base, proc.pid, args))
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    result["store"] = {k: store.get(k) for k in ("papers", "db_mb", "reused")}
    (OUT / f"web-results-{size}.json").write_text(json.dumps(result, indent=2))
    return result


def report(res: dict[str, Any]) -> str:
    conc = res["concurrency"]
    lines = [
        f"\n## {res['size']:,} papers ({res['store'].get('db_mb')} MB store), "
        f"{res['seconds']:.0f} s per route and level, in flight: 1 and {conc}",
        "",
        "| route | in flight | requests | req/s | p50 ms | p99 ms | not 200 | server CPU ms/req |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for route, by in res["routes"].items():
        for level, row in by.items():
            lines.append(
                f"| {route} | {level} | {row['requests']:,} | {row['rps']:,.0f} | "
                f"{row['p50_ms']:.2f} | {row['p99_ms']:.2f} | {row['not_200']} | "
                f"{row['server_cpu_ms']:.2f} |"
            )
    base = res["routes"]["baseline (no store work)"][str(conc)]
    api = res["routes"]["/api/search"][str(conc)]
    lines += [
        "",
        f"/api/search at {conc} in flight: {api['rps']:,.0f} req/s vs the baseline's "
        f"{base['rps']:,.0f} ({api['rps'] / base['rps']:.0%} of it); p99 {api['p99_ms']:.1f} ms "
        f"vs {base['p99_ms']:.1f} ms.",
        "",
        "/api/search, one at a time, by query class (p50 / max ms): "
        + ", ".join(
            f"{cls} {v['p50']:.1f} / {v['max']:.1f}" for cls, v in res["search_by_class_ms"].items()
        ),
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="PaperBot web benchmark")
    parser.add_argument("--sizes", default="10000", help="comma-separated store sizes")
    parser.add_argument("--seconds", type=float, default=12.0, help="per route and level")
    parser.add_argument("--rounds", type=int, default=3, help="alternations of the routes")
    parser.add_argument("--concurrency", type=int, default=8, help="requests in flight")
    parser.add_argument("--rebuild", action="store_true", help="build the stores anew")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--db", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        asyncio.run(serve(args.db))
        return 0
    for size in (int(s) for s in args.sizes.split(",")):
        print(report(run_size(size, args)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
