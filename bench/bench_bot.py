"""End-to-end benchmark: the real PaperBot (discord.py) answering interactions from the fake Discord.

    python -m bench.bench_bot                          # 10k papers, a quick run
    python -m bench.bench_bot --sizes 10000,1000000    # 1M: the store build takes minutes
    python -m bench.bench_bot --inproc                 # bot and fake in one event loop
    python -m bench.bench_bot --sizes 1000000 --evict-cache   # a cold start (page cache dropped)
    python -m bench.bench_bot --profile                # + cProfile of the bot's event loop

For every size:

* the store ``bench/out/bot-<size>.db`` is built by importing the synthetic corpus
  (bench/corpus.py) through the real loader (``bot.store.loader.load_file``), or reused when
  ``bench/out/bot-<size>.json`` says it is complete and the migrations did not change since;
* a :class:`~tests.fakediscord.FakeDiscord` starts on 127.0.0.1 in this process, with per-route
  rate limits so generous they never apply (429s are still counted and reported);
* the real ``bot.app.PaperBot`` starts **in its own process** (``--child``; with ``--inproc``
  in this event loop, as the e2e tests run it), discord.py pointed at the fake with
  ``patch_discord``; it logs in over the gateway, syncs its commands, and answers
  INTERACTION_CREATE events through discord.py's real HTTP/webhook paths. The bench adds one
  command to the bot's tree: ``/bench_noop``, the baseline. It does what ``/search`` does
  (defer, then a follow-up with the same results card and view built from 25 papers fetched
  once at start-up) minus the search, and its autocomplete returns 25 fixed choices;
* latency is measured on the fake's clock from the INTERACTION_CREATE dispatch
  (``InteractionRecord.created``) to the arrival of the interaction callback and of the
  follow-up carrying the results card (``RecordedRequest.time``), sequentially, over
  ``bench_store.query_mix`` (cut to the option's 300 characters) and an autocomplete prefix
  mix: the very first autocomplete and search after start-up ("cold"), one warm-up pass (each
  query's first use, reported apart), then ``--repeats`` recorded passes, /search and the
  baseline interleaved query by query so both see the same machine load;
* throughput: ``/search`` (and the baseline) with N interactions in flight, bounded by a count
  and a duration; interactions/s whose results follow-up arrived, latency under load, the
  CPU time of the bot process per interaction;
* checks: 429s sent by the fake, callbacks later than Discord's 3 s deadline (the fake answers
  them 10062), failed callbacks/follow-ups, cooldown or error replies, the bot's log warnings,
  and how much CPU other processes on the machine used meanwhile (the numbers are only as
  quiet as the machine).

The /search cooldown is raised in the bot's Settings (one fake member sends everything).

Results: a table per size on stdout, ``bench/out/bot-results-<size>.json``, the bot's log in
``bench/out/bot-<size>.log``.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import hashlib
import io
import itertools
import json
import logging
import math
import os
import pstats
import random
import resource
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Literal, cast

import discord
from discord import app_commands

from bench.bench_store import PREFIXES, query_mix
from bench.corpus import OUT, ROOT, CorpusGenerator, arxiv_id, write_corpus
from bench.report import pct, table
from bot import cards
from bot.app import PaperBot
from bot.cogs.search import ResultsView
from bot.config import Settings
from bot.interactions import send_answer
from bot.models import Paper
from bot.semantic.backfill import fill_vectors, prepare_model
from bot.semantic.model import Embedder
from bot.store import Store, search_index
from bot.store.loader import load_file
from tests.fakediscord import (
    BucketSpec,
    FakeDiscord,
    PendingInteraction,
    RateLimitConfig,
    RecordedRequest,
    patch_discord,
)
from tests.fakediscord.client import start_client, stop_client
from tests.fakediscord.payloads import focused, option

log = logging.getLogger(__name__)

Kind = Literal["search", "noop", "ac", "ac_noop", "about"]

ACK_DEADLINE = 3.0  # Discord's: the initial callback must arrive within 3 s
QUERY_MAX = 300  # /search's query option is Range[str, 1, 300]; Discord enforces it client-side
WAIT_SECONDS = 60.0  # give up on one interaction's callback / follow-up after this
SETTLE_SECONDS = 0.02  # pause between sequential interactions (the bot finishes its side)
DEFERRED, CHANNEL_MESSAGE, AUTOCOMPLETE_RESULT = 5, 4, 8
MIGRATIONS = ROOT / "bot" / "store" / "migrations"
# Limits no benchmark reaches: discord.py never waits on X-RateLimit-Remaining, no 429s.
GENEROUS_LIMITS = RateLimitConfig(default_bucket=BucketSpec(limit=1_000_000, per=1.0))


# -- the bot as benchmarked -------------------------------------------------------------------


class BenchBot(PaperBot):
    """PaperBot plus the baseline command; commands are always synced (the fake is new)."""

    bench_papers: list[Paper]

    async def setup_hook(self) -> None:
        await super().setup_hook()  # built with auto_sync=False
        pids = await self.store.db.read(lambda conn: search_index.newest_pids(conn, 25))
        self.bench_papers = await self.store.papers.get_by_pids(pids)
        self.tree.add_command(bench_noop)
        await self.sync_commands(force=True)


@app_commands.command(
    name="bench_noop", description="Benchmark baseline: /search without the search"
)
@app_commands.describe(query="Ignored")
async def bench_noop(
    interaction: discord.Interaction[BenchBot], query: app_commands.Range[str, 1, 300]
) -> None:
    papers = interaction.client.bench_papers
    by_id = {p.id: p for p in papers}

    async def load(paper_id: str) -> Paper | None:  # from memory: no store work
        return by_id.get(paper_id)

    view = ResultsView(
        owner_id=interaction.user.id,
        papers=papers,
        query=query,
        corrected=None,
        total=len(papers),
        load=load,
    )
    view.message = await send_answer(interaction, embed=view.embed(), view=view, ephemeral=False)


@bench_noop.autocomplete("query")
async def bench_noop_autocomplete(
    interaction: discord.Interaction[BenchBot], current: str
) -> list[app_commands.Choice[str]]:
    return [
        app_commands.Choice(name=cards.choice_label(p.title), value=p.id)
        for p in interaction.client.bench_papers[:25]
    ]


def make_bot(store: Store, db_path: Path) -> BenchBot:
    data_dir = OUT / "bot-data"  # empty: nothing to import at start
    data_dir.mkdir(parents=True, exist_ok=True)
    settings = Settings(
        database=db_path,
        data_dir=data_dir,
        refresh_enabled=False,
        # One fake member sends everything: the per-member /search cooldown (5 per 3 s by
        # default) would answer most of them "slow down" instead of searching.
        search_cooldown_uses=1_000_000,
        search_cooldown_seconds=1.0,
    )
    bot = BenchBot(settings, store, auto_sync=False)
    if os.environ.get("PAPERBOT_BENCH_RESULT_CACHE") != "1":
        # Every search computed: the bench repeats its queries (--result-cache: as deployed).
        bot.search._cache.size = 0
    return bot


async def child_main(
    db_path: Path, api_url: str, gateway_url: str, token: str, profile: Path | None
) -> None:
    """``--child``: run the bot against a fake in the parent process until stdin closes.

    With ``profile``, the event-loop thread is profiled (cProfile) while interactions run and
    the top functions are written to that file.
    """
    readers = os.environ.get("PAPERBOT_BENCH_READERS")
    store = await Store.open(db_path, readers=int(readers) if readers else None)
    try:
        bot = make_bot(store, db_path)
        shim = cast(FakeDiscord, SimpleNamespace(api_url=api_url, gateway_url=gateway_url))
        with patch_discord(shim):
            task = await start_client(bot, shim, token=token, timeout=300.0)
            profiler = cProfile.Profile() if profile else None
            print(json.dumps({"event": "ready", "pid": os.getpid()}), flush=True)
            if profiler is not None:
                profiler.enable()
            await asyncio.to_thread(sys.stdin.readline)
            if profiler is not None and profile is not None:
                profiler.disable()
                _write_profile(profiler, profile)
            await stop_client(bot, task)
    finally:
        await store.close()


def _write_profile(profiler: cProfile.Profile, path: Path) -> None:
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("tottime").print_stats(35)
    stats.sort_stats("cumulative").print_stats(45)
    path.write_text(out.getvalue())


class BotRunner:
    """The bot under test: a child process (default) or a client in this event loop."""

    def __init__(
        self,
        server: FakeDiscord,
        db_path: Path,
        log_path: Path,
        inproc: bool,
        profile: Path | None = None,
    ) -> None:
        self.profile = profile
        self.server = server
        self.db_path = db_path
        self.log_path = log_path
        self.inproc = inproc
        self.proc: asyncio.subprocess.Process | None = None
        self.store: Store | None = None
        self.bot: BenchBot | None = None
        self.task: asyncio.Task[None] | None = None
        self._log_file: Any = None

    async def start(self) -> None:
        if self.inproc:
            self.store = await Store.open(self.db_path)
            self.bot = make_bot(self.store, self.db_path)
            self.task = await start_client(self.bot, self.server, timeout=300.0)
            return
        self._log_file = _open_log(self.log_path)
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.bench_bot",
            "--child",
            "--db",
            str(self.db_path),
            "--api",
            self.server.api_url,
            "--gateway",
            self.server.gateway_url,
            "--token",
            self.server.token,
            *(["--profile-to", str(self.profile)] if self.profile else []),
            cwd=ROOT,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=self._log_file,
        )
        assert self.proc.stdout is not None
        line = await asyncio.wait_for(self.proc.stdout.readline(), 300.0)
        if not line or json.loads(line).get("event") != "ready":
            await self.stop()
            raise RuntimeError(f"the bot process did not become ready; see {self.log_path}")

    def cpu_seconds(self) -> float:
        """CPU time (user + system, every thread) of the process running the bot."""
        if self.proc is None:
            usage = resource.getrusage(resource.RUSAGE_SELF)
            return usage.ru_utime + usage.ru_stime
        return _proc_cpu(self.proc.pid)

    def own_cpu_seconds(self) -> float:
        """CPU time of the bot and of this process (fake + driver), each counted once."""
        return self.cpu_seconds() + (0.0 if self.proc is None else _driver_cpu())

    def loop_cpu_seconds(self) -> float:
        """CPU time of the thread running the bot's event loop (the rest: SQLite, aiohttp DNS)."""
        if self.proc is None:
            return time.thread_time()
        return _proc_cpu(self.proc.pid, self.proc.pid)

    def rss_mb(self, *, current: bool = False) -> float:
        """Peak (or current) resident memory of the process running the bot."""
        pid = os.getpid() if self.proc is None else self.proc.pid
        return _proc_rss_mb(pid, "VmRSS:" if current else "VmHWM:")

    async def stop(self) -> None:
        if self.bot is not None and self.task is not None:
            await stop_client(self.bot, self.task)
            self.bot = self.task = None
        if self.store is not None:
            await self.store.close()
            self.store = None
        if self.proc is not None:
            proc, self.proc = self.proc, None
            if proc.stdin is not None:
                proc.stdin.close()
            try:
                await asyncio.wait_for(proc.wait(), 30.0)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None


def _open_log(path: Path) -> Any:
    return path.open("w", encoding="utf-8")


def _proc_cpu(pid: int, tid: int | None = None) -> float:
    path = f"/proc/{pid}/stat" if tid is None else f"/proc/{pid}/task/{tid}/stat"
    stat = Path(path).read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _proc_rss_mb(pid: int, key: str = "VmHWM:") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key):
            return int(line.split()[1]) / 1024
    return math.nan


def machine_cpu() -> float:
    """CPU-seconds used by everything on this machine so far (all CPUs, from /proc/stat)."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    busy = sum(int(v) for i, v in enumerate(fields[:8]) if i not in (3, 4))  # minus idle, iowait
    return busy / os.sysconf("SC_CLK_TCK")


def _driver_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# -- the store ----------------------------------------------------------------------------------


def migrations_digest() -> str:
    digest = hashlib.sha256()
    for path in sorted(MIGRATIONS.glob("*.sql")):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def db_files(db_path: Path) -> list[Path]:
    return [Path(str(db_path) + s) for s in ("", "-wal", "-shm")]


def store_info(size: int, seed: int) -> dict[str, Any] | None:
    """The marker of a complete, current ``bot-<size>.db`` or None."""
    db_path, marker = OUT / f"bot-{size}.db", OUT / f"bot-{size}.json"
    if not (db_path.exists() and marker.exists()):
        return None
    info: dict[str, Any] = json.loads(marker.read_text())
    if (info.get("size"), info.get("seed"), info.get("schema")) != (
        size,
        seed,
        migrations_digest(),
    ):
        return None
    return info


def build_store(size: int, seed: int, rebuild: bool) -> dict[str, Any]:
    """Import the synthetic corpus into ``bench/out/bot-<size>.db`` (or reuse it)."""
    info = None if rebuild else store_info(size, seed)
    if info is not None:
        return {**info, "reused": True}
    db_path, marker = OUT / f"bot-{size}.db", OUT / f"bot-{size}.json"
    marker.unlink(missing_ok=True)
    for path in db_files(db_path):
        path.unlink(missing_ok=True)
    schema = migrations_digest()  # before: an edit during the build makes the marker stale
    corpus = write_corpus(size, seed)
    print(f"building {db_path.name} from {corpus.name} ...", file=sys.stderr, flush=True)
    began = time.perf_counter()
    result = asyncio.run(_import(db_path, corpus))
    info = {
        "size": size,
        "seed": seed,
        "schema": schema,
        **result,
        "import_s": round(time.perf_counter() - began, 1),
        "db_mb": round(sum(p.stat().st_size for p in db_files(db_path) if p.exists()) / 1e6, 1),
    }
    if info["papers"] != size:
        raise RuntimeError(f"imported {info['papers']} papers of {size}: {info}")
    marker.write_text(json.dumps(info))
    return {**info, "reused": False}


def evict_page_cache(db_path: Path) -> None:
    """Drop this database's pages from the OS page cache (a bot starting after a reboot)."""
    for path in db_files(db_path):
        if path.exists():
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fsync(fd)
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)


async def _import(db_path: Path, corpus: Path) -> dict[str, Any]:
    store = await Store.open(db_path)
    shown = [0]

    def progress(done: int, read: int, total: int) -> None:
        if done >= shown[0] + 100_000:
            shown[0] = done
            print(f"  import: {done:,} records", file=sys.stderr, flush=True)

    try:
        report = await load_file(store, corpus, progress=progress)
        # The bot at this size has its vectors (python -m bot load makes them too).
        embedder = Embedder.load()
        await prepare_model(store, embedder)
        await fill_vectors(store, embedder)
        await store.db.fetchall("PRAGMA wal_checkpoint(TRUNCATE)")
        papers = await store.papers.count()
    finally:
        await store.close()
    return {"papers": papers, "rejected": report.rejected}


# -- driving interactions -------------------------------------------------------------------------


@dataclass(slots=True)
class Sample:
    kind: str
    cls: str
    query: str
    created: float  # the fake's clock, when INTERACTION_CREATE was dispatched
    ack_ms: float = math.nan  # dispatch -> the initial callback arrives at the fake
    done_ms: float = math.nan  # dispatch -> the follow-up with the results (deferred commands)
    callback_status: int = 0
    callback_type: int | None = None
    followup_status: int | None = None
    outcome: str = "ok"
    items: int = 0  # results in the select / autocomplete choices

    @property
    def finished_at(self) -> float:
        last = self.done_ms if not math.isnan(self.done_ms) else self.ack_ms
        return self.created + last / 1000

    @property
    def late(self) -> bool:
        return self.ack_ms > ACK_DEADLINE * 1000 or self.callback_status == 404


def _outcome_of_followup(req: RecordedRequest) -> tuple[str, int]:
    if req.status != 200:
        return f"follow-up {req.status}", 0
    return _outcome_of_card(req.json or {})


def _outcome_of_card(body: dict[str, Any]) -> tuple[str, int]:
    """What a search answer (a follow-up's body, or an immediate response's data) shows."""
    embeds = body.get("embeds") or []
    if not embeds:
        return "error reply", 0
    if embeds[0].get("title") == "No results":
        return "no results", 0
    options = [
        c
        for row in body.get("components") or []
        for c in row.get("components") or []
        if c.get("custom_id") == "pb:search:jump"
    ]
    return "ok", len(options[0].get("options") or []) if options else 1


async def send(server: FakeDiscord, kind: Kind, query: str) -> PendingInteraction:
    if kind == "search":
        return await server.send_slash_command("search", [option("query", query)])
    if kind == "noop":
        return await server.send_slash_command("bench_noop", [option("query", query)])
    if kind == "ac":
        return await server.send_autocomplete("paper", [focused("paper", query)])
    if kind == "ac_noop":
        return await server.send_autocomplete("bench_noop", [focused("query", query)])
    return await server.send_slash_command("about")


async def run_one(server: FakeDiscord, kind: Kind, cls: str, query: str) -> Sample:
    pending = await send(server, kind, query)
    created = pending.record.created
    sample = Sample(kind, cls, query[:60], created)
    try:
        cb = await pending.wait_callback(timeout=WAIT_SECONDS)
    except TimeoutError:
        sample.outcome = "no callback"
        return sample
    sample.ack_ms = (cb.time - created) * 1000
    sample.callback_status = cb.status
    body = cb.json or {}
    sample.callback_type = body.get("type")
    if cb.status not in (200, 204):
        sample.outcome = f"callback {cb.status}"
        return sample
    if sample.callback_type == AUTOCOMPLETE_RESULT:
        sample.items = len((body.get("data") or {}).get("choices") or [])
        return sample
    if sample.callback_type == CHANNEL_MESSAGE:
        data = body.get("data") or {}
        if kind in ("search", "noop"):  # answered at once: the card, or a cooldown/error line
            sample.done_ms = sample.ack_ms
            sample.outcome, sample.items = _outcome_of_card(data)
            if sample.outcome == "error reply":
                sample.outcome = "error reply: " + str(data.get("content", ""))[:40]
        return sample
    try:
        fu = await pending.wait_followup(timeout=WAIT_SECONDS)
    except TimeoutError:
        sample.outcome = "no follow-up"
        return sample
    sample.done_ms = (fu.time - created) * 1000
    sample.followup_status = fu.status
    sample.outcome, sample.items = _outcome_of_followup(fu)
    return sample


def autocomplete_mix(size: int, seed: int) -> list[tuple[str, str]]:
    """(class, typed text) pairs for /paper autocomplete."""
    tail = CorpusGenerator(seed).tail
    mix = [("empty", p) if not p else ("prefix", p) for p in PREFIXES]
    return [
        *mix,
        ("typo", "difusion mo"),
        ("typo", "stochastik"),
        ("rare", tail[5_000][:5]),
        ("author", "Karpat"),
        ("id", arxiv_id(size // 2)),
        ("id", arxiv_id(size // 2)[:7]),
    ]


def distinct_queries(size: int, seed: int, count: int) -> list[tuple[str, str]]:
    """*count* different two- and three-word queries from the words of the search mix and the
    corpus' own vocabulary: a burst where no search can reuse another's answer."""
    words: list[str] = []
    for _, text in search_mix(size, seed):
        for word in text.lower().split():
            if word.isalpha() and len(word) > 3 and word not in words:
                words.append(word)
    tail = CorpusGenerator(seed).tail
    words += [tail[i] for i in range(200, 200 + 40 * 97, 97)]
    rng = random.Random(seed)
    found: dict[str, None] = {}
    while len(found) < count:
        found[" ".join(rng.sample(words, rng.choice((2, 3))))] = None
    return [("distinct", q) for q in found]


def search_mix(size: int, seed: int) -> list[tuple[str, str]]:
    return [(cls, text[:QUERY_MAX]) for cls, text in query_mix(size, seed)]


async def sequential(
    server: FakeDiscord,
    searches: list[tuple[str, str]],
    prefixes: list[tuple[str, str]],
    repeats: int,
) -> dict[str, Any]:
    async def one(kind: Kind, cls: str, text: str) -> Sample:
        sample = await run_one(server, kind, cls, text)
        await asyncio.sleep(SETTLE_SECONDS)
        return sample

    # Cold: the first autocomplete loads the title vocabulary (the first typo search would).
    cold = [await one("ac", "cold", "diffusion mo"), await one("search", "cold", "difusion modle")]
    # Warm-up pass: the first use of every query (reported apart, and in the checks).
    warmup: list[Sample] = []
    for cls, text in searches:
        warmup.append(await one("search", cls, text))
        warmup.append(await one("noop", cls, text))
    for cls, text in prefixes:
        warmup.append(await one("ac", cls, text))
        warmup.append(await one("ac_noop", cls, text))
    samples: list[Sample] = []
    for _ in range(repeats):
        for cls, text in searches:  # interleaved, so both see the same conditions
            samples.append(await one("search", cls, text))
            samples.append(await one("noop", cls, text))
        for cls, text in prefixes:
            samples.append(await one("ac", cls, text))
            samples.append(await one("ac_noop", cls, text))
        samples.append(await one("about", "about", ""))
    return {"cold": cold, "warmup": warmup, "samples": samples}


async def throughput(
    server: FakeDiscord,
    bot: BotRunner,
    kind: Kind,
    concurrency: int,
    searches: list[tuple[str, str]],
    max_count: int,
    max_seconds: float,
) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    counter = itertools.count()
    samples: list[Sample] = []
    cpu0, loop0, drv0 = bot.cpu_seconds(), bot.loop_cpu_seconds(), _driver_cpu()
    own0, all0 = bot.own_cpu_seconds(), machine_cpu()
    t0 = loop.time()
    deadline = t0 + max_seconds

    async def worker() -> None:
        while True:
            i = next(counter)
            if i >= max_count or loop.time() >= deadline:
                return
            cls, text = searches[i % len(searches)]
            samples.append(await run_one(server, kind, cls, text))

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    wall = loop.time() - t0
    cpu, drv = bot.cpu_seconds() - cpu0, _driver_cpu() - drv0
    loop_cpu = bot.loop_cpu_seconds() - loop0
    others = machine_cpu() - all0 - (bot.own_cpu_seconds() - own0)
    answered = [s for s in samples if not math.isnan(s.done_ms)]
    elapsed = max((s.finished_at for s in answered), default=loop.time()) - t0
    return {
        "kind": kind,
        "concurrency": concurrency,
        "count": len(samples),
        "answered": len(answered),
        "seconds": elapsed,
        "per_second": len(answered) / elapsed if elapsed > 0 else math.nan,
        "bot_cpu_s": cpu,
        "bot_cpu_ms_per": cpu * 1000 / max(1, len(samples)),
        "bot_cpu_pct": 100 * cpu / wall,
        "bot_loop_cpu_pct": 100 * loop_cpu / wall,
        # --inproc: the bot's figures already are the whole process's (bot + fake)
        "driver_cpu_pct": math.nan if bot.inproc else 100 * drv / wall,
        "others_cpu_pct": 100 * max(0.0, others) / wall,
        "bot_rss_mb": bot.rss_mb(current=True),
        "samples": samples,
    }


async def bench_size(size: int, args: argparse.Namespace, store: dict[str, Any]) -> dict[str, Any]:
    db_path = OUT / f"bot-{size}.db"
    searches = search_mix(size, args.seed)
    prefixes = autocomplete_mix(size, args.seed)
    server = FakeDiscord(rate_limits=GENEROUS_LIMITS, interaction_ack_deadline=ACK_DEADLINE)
    await server.start()
    profile = OUT / f"bot-{size}.profile.txt" if args.profile else None
    bot = BotRunner(server, db_path, OUT / f"bot-{size}.log", args.inproc, profile)
    try:
        with patch_discord(server):
            began = time.perf_counter()
            await bot.start()
            startup_s = time.perf_counter() - began
            ready_rss = bot.rss_mb(current=True)
            print(
                f"  bot ready in {startup_s:.1f} s; sequential pass ...",
                file=sys.stderr,
                flush=True,
            )
            own0, all0, wall0 = bot.own_cpu_seconds(), machine_cpu(), time.monotonic()
            seq = await sequential(server, searches, prefixes, args.repeats)
            own = bot.own_cpu_seconds() - own0
            seq_wall = time.monotonic() - wall0
            seq_cpu = {
                "bot_rss_mb": bot.rss_mb(current=True),
                "seconds": seq_wall,
                "own_pct": 100 * own / seq_wall,
                "others_pct": 100 * max(0.0, machine_cpu() - all0 - own) / seq_wall,
            }
            runs = []
            for n in args.concurrency:
                kinds: tuple[Kind, ...] = ("search", "noop")
                for kind in kinds:
                    print(f"  throughput {kind} x{n} ...", file=sys.stderr, flush=True)
                    await asyncio.sleep(0.5)
                    runs.append(
                        await throughput(
                            server,
                            bot,
                            kind,
                            n,
                            searches,
                            args.max_interactions,
                            args.max_seconds,
                        )
                    )
            if args.burst:
                # N members search at the same moment (a paper-reading event): one round each,
                # with the usual mix (queries repeat, as members look for the same paper) and
                # with N different queries (no answer can be reused: raw capacity).
                distinct = distinct_queries(size, args.seed, args.burst)
                for label, mix in (("mix", searches), ("distinct", distinct)):
                    for kind in ("search", "noop"):
                        print(f"  burst {kind} x{args.burst} ({label}) ...", file=sys.stderr)
                        await asyncio.sleep(1.0)
                        burst = await throughput(
                            server, bot, kind, args.burst, mix, args.burst, 120.0
                        )
                        burst["burst"] = label
                        runs.append(burst)
            rss = bot.rss_mb()
    finally:
        await bot.stop()
        await server.stop()
    stats = server.limiter.stats
    edits = server.requests_for("PATCH", "/webhooks/{app}/{token}/messages/{message}")
    return {
        "size": size,
        "store": store,
        "layout": "inproc" if args.inproc else "split",
        "cpus": os.cpu_count(),
        "startup_s": startup_s,
        "ready_rss_mb": ready_rss,
        "bot_peak_rss_mb": rss,
        "sequential_cpu": seq_cpu,
        "load_average": os.getloadavg(),
        "cold": seq["cold"],
        "warmup": seq["warmup"],
        "samples": seq["samples"],
        "throughput": runs,
        "fake": {
            "requests": stats.requests,
            "rate_limited_responses": stats.rate_limited_responses,
            "bucket_violations": stats.bucket_violations,
            "global_violations": stats.global_violations,
            "internal_errors": [repr(e) for e in server.internal_errors],
            "unhandled": [f"{r.method} {r.path}" for r in server.unhandled_requests],
            "view_edits": len(edits),
        },
        "bot_log": _log_problems(OUT / f"bot-{size}.log") if not args.inproc else [],
    }


def _log_problems(path: Path) -> list[str]:
    if not path.exists():
        return []
    return [
        line.rstrip()
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines()
        if " WARNING " in line or " ERROR " in line or " CRITICAL " in line
    ]


# -- report -----------------------------------------------------------------------------------------


def _ms(value: float) -> str:
    if math.isnan(value):
        return "-"
    return f"{value:,.0f}" if value >= 100 else f"{value:.1f}"


def _quartet(values: Sequence[float]) -> list[str]:
    return [
        _ms(pct(values, 50)),
        _ms(pct(values, 95)),
        _ms(pct(values, 99)),
        _ms(max(values, default=math.nan)),
    ]


def _latency_row(label: str, samples: Sequence[Sample]) -> list[str]:
    acks = [s.ack_ms for s in samples]
    done = [s.done_ms for s in samples if not math.isnan(s.done_ms)]
    return [label, str(len(samples)), *_quartet(acks), *(_quartet(done) if done else ["-"] * 4)]


def _worst_ms(s: Sample) -> float:
    values = [v for v in (s.ack_ms, s.done_ms) if not math.isnan(v)]
    return max(values) if values else math.inf


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.1f}x" if b and not math.isnan(a) and not math.isnan(b) else "-"


def report_size(res: dict[str, Any]) -> str:
    samples: list[Sample] = res["samples"]
    store = res["store"]
    where = (
        "bot and fake in one event loop (--inproc)"
        if res["layout"] == "inproc"
        else "bot in its own process, fake + driver in this one"
    )
    built = "reused" if store["reused"] else f"built in {store['import_s']:.0f} s"
    if res.get("evicted_page_cache"):
        built += ", evicted from the page cache before the start"
    out = [
        f"\n== {res['size']:,} papers: store {store['db_mb']:,.0f} MB ({built}); {where}; "
        f"{res['cpus']} CPUs; bot ready in {res['startup_s']:.1f} s with RSS {res['ready_rss_mb']:.0f} MB, "
        f"peak RSS {res['bot_peak_rss_mb']:.0f} MB",
        "Latency, one interaction at a time (ms from INTERACTION_CREATE dispatch to the request "
        "arriving at the fake): ack = the initial callback, result = the follow-up with the card; "
        f"meanwhile other processes used {res['sequential_cpu']['others_pct']:.0f}% of a CPU "
        f"(ours {res['sequential_cpu']['own_pct']:.0f}%); bot RSS after it "
        f"{res['sequential_cpu']['bot_rss_mb']:.0f} MB",
    ]
    by: dict[tuple[str, str], list[Sample]] = {}
    for s in samples:
        by.setdefault((s.kind, s.cls), []).append(s)
    of = {
        k: [s for s in samples if s.kind == k] for k in ("search", "noop", "ac", "ac_noop", "about")
    }
    rows = [_latency_row(f"/search {cls}", v) for (k, cls), v in by.items() if k == "search"]
    rows.append(_latency_row("/search ALL", of["search"]))
    rows.append(_latency_row("baseline /bench_noop", of["noop"]))
    s_ack, n_ack = [s.ack_ms for s in of["search"]], [s.ack_ms for s in of["noop"]]
    s_done, n_done = [s.done_ms for s in of["search"]], [s.done_ms for s in of["noop"]]
    rows.append(
        [
            "ratio /search ÷ baseline",
            "",
            _ratio(pct(s_ack, 50), pct(n_ack, 50)),
            _ratio(pct(s_ack, 95), pct(n_ack, 95)),
            _ratio(pct(s_ack, 99), pct(n_ack, 99)),
            _ratio(max(s_ack), max(n_ack)),
            _ratio(pct(s_done, 50), pct(n_done, 50)),
            _ratio(pct(s_done, 95), pct(n_done, 95)),
            _ratio(pct(s_done, 99), pct(n_done, 99)),
            _ratio(max(s_done), max(n_done)),
        ]
    )
    rows += [
        _latency_row(f"/paper autocomplete {cls}", v) for (k, cls), v in by.items() if k == "ac"
    ]
    rows.append(_latency_row("/paper autocomplete ALL", of["ac"]))
    rows.append(_latency_row("baseline autocomplete", of["ac_noop"]))
    a_ack, b_ack = [s.ack_ms for s in of["ac"]], [s.ack_ms for s in of["ac_noop"]]
    rows.append(
        [
            "ratio autocomplete ÷ baseline",
            "",
            _ratio(pct(a_ack, 50), pct(b_ack, 50)),
            _ratio(pct(a_ack, 95), pct(b_ack, 95)),
            _ratio(pct(a_ack, 99), pct(b_ack, 99)),
            _ratio(max(a_ack), max(b_ack)),
            *["-"] * 4,
        ]
    )
    rows.append(_latency_row("/about (store counts)", of["about"]))
    for s in res["cold"]:
        rows.append(_latency_row(f"cold: first {s.kind} {s.query!r}", [s]))
    warm: list[Sample] = res["warmup"]
    rows.append(_latency_row("warm-up pass /search", [s for s in warm if s.kind == "search"]))
    rows.append(_latency_row("warm-up pass baseline", [s for s in warm if s.kind == "noop"]))
    rows.append(_latency_row("warm-up pass /paper autocompl.", [s for s in warm if s.kind == "ac"]))
    rows.append(
        _latency_row("warm-up pass baseline autoc.", [s for s in warm if s.kind == "ac_noop"])
    )
    out.append(
        table(
            rows,
            ["command", "n", "ack p50", "p95", "p99", "max", "result p50", "p95", "p99", "max"],
        )
    )
    seen = samples + warm
    slow = sorted((s for s in seen if s.kind == "search"), key=_worst_ms, reverse=True)[:3]
    slow += sorted((s for s in seen if s.kind == "ac"), key=_worst_ms, reverse=True)[:3]
    out.append(
        "slowest: " + "; ".join(f"{s.kind} {s.query[:30]!r} {_worst_ms(s):,.0f} ms" for s in slow)
    )

    out.append(
        "\nThroughput: N interactions in flight, results follow-ups delivered per second "
        "(latency under load in ms; CPU = the bot's process, per interaction and % of one core"
        + ("; --inproc: bot + fake share the process" if res["layout"] == "inproc" else "")
        + ")"
    )
    trows = []
    runs: list[dict[str, Any]] = res["throughput"]
    for run in runs:
        ss: list[Sample] = run["samples"]
        done = [s.done_ms for s in ss if not math.isnan(s.done_ms)]
        label = "/search" if run["kind"] == "search" else "baseline"
        if run.get("burst"):
            label += f" burst ({run['burst']})"
        base = next(
            (
                r
                for r in runs
                if r["kind"] == "noop"
                and r["concurrency"] == run["concurrency"]
                and r.get("burst") == run.get("burst")
            ),
            None,
        )
        trows.append(
            [
                label,
                str(run["concurrency"]),
                f"{run['answered']}/{run['count']}",
                f"{run['seconds']:.1f}",
                f"{run['per_second']:.1f}",
                _ratio(run["per_second"], base["per_second"])
                if base and run["kind"] == "search"
                else "",
                _ms(pct([s.ack_ms for s in ss], 95)),
                _ms(max((s.ack_ms for s in ss), default=math.nan)),
                _ms(pct(done, 50)),
                _ms(pct(done, 95)),
                _ms(pct(done, 99)),
                _ms(max(done, default=math.nan)),
                str(sum(s.late for s in ss)),
                str(sum(s.outcome not in ("ok", "no results") for s in ss)),
                f"{run['bot_cpu_ms_per']:.1f}",
                f"{run['bot_cpu_pct']:.0f}%",
                f"{run['bot_loop_cpu_pct']:.0f}%",
                "-" if math.isnan(run["driver_cpu_pct"]) else f"{run['driver_cpu_pct']:.0f}%",
                f"{run['others_cpu_pct']:.0f}%",
                f"{run['bot_rss_mb']:.0f}",
            ]
        )
    out.append(
        table(
            trows,
            [
                "command",
                "N",
                "answered",
                "s",
                "per s",
                "vs base",
                "ack p95",
                "ack max",
                "result p50",
                "p95",
                "p99",
                "max",
                "late acks",
                "errors",
                "CPU ms/int",
                "bot CPU",
                "bot loop",
                "fake CPU",
                "other procs",
                "bot RSS MB",
            ],
        )
    )

    every = samples + list(res["cold"]) + warm + [s for r in runs for s in r["samples"]]
    late = [s for s in every if s.late]
    bad = [s for s in every if s.outcome not in ("ok", "no results")]
    fake = res["fake"]
    outcomes: dict[str, int] = {}
    for s in bad:
        outcomes[s.outcome] = outcomes.get(s.outcome, 0) + 1
    out.append(
        f"\nchecks: {len(every)} interactions; callbacks later than {ACK_DEADLINE:.0f} s: {len(late)}"
        f"{' (' + ', '.join(f'{s.kind} {s.query[:20]!r} {s.ack_ms:,.0f} ms' for s in late[:5]) + ')' if late else ''}; "
        f"failed or error replies: {len(bad)} {outcomes or ''}; "
        f"429s from the fake: {fake['rate_limited_responses']} (bucket violations "
        f"{fake['bucket_violations']}); no-result searches: "
        f"{sum(s.outcome == 'no results' for s in every if s.kind == 'search')}; "
        f"fake internal errors: {len(fake['internal_errors'])}, unhandled routes: "
        f"{len(fake['unhandled'])}; results-view expiry edits: {fake['view_edits']}; "
        f"bot log warnings/errors: {len(res['bot_log'])}"
    )
    for line in res["bot_log"][:5]:
        out.append(f"  log: {line[:160]}")
    return "\n".join(out)


def summary(results: list[dict[str, Any]]) -> str:
    rows = []
    for res in results:
        of = {
            k: [s for s in res["samples"] if s.kind == k]
            for k in ("search", "noop", "ac", "ac_noop")
        }
        best = {
            kind: max(
                (r["per_second"] for r in res["throughput"] if r["kind"] == kind), default=math.nan
            )
            for kind in ("search", "noop")
        }
        done = [s.done_ms for s in of["search"]]
        rows.append(
            [
                f"{res['size']:,}",
                _ms(pct([s.ack_ms for s in of["search"]], 50)),
                _ms(pct(done, 50)),
                _ms(pct(done, 95)),
                _ratio(pct(done, 50), pct([s.done_ms for s in of["noop"]], 50)),
                _ms(pct([s.ack_ms for s in of["ac"]], 50)),
                _ms(pct([s.ack_ms for s in of["ac"]], 95)),
                _ratio(
                    pct([s.ack_ms for s in of["ac"]], 50),
                    pct([s.ack_ms for s in of["ac_noop"]], 50),
                ),
                f"{best['search']:.1f}",
                f"{best['noop']:.1f}",
                _ratio(best["search"], best["noop"]),
            ]
        )
    return table(
        rows,
        [
            "papers",
            "search ack p50",
            "result p50",
            "p95",
            "vs base",
            "autocompl p50",
            "p95",
            "vs base",
            "search/s",
            "base/s",
            "ratio",
        ],
    )


def _jsonable(res: dict[str, Any]) -> dict[str, Any]:
    def conv(value: Any) -> Any:
        if isinstance(value, Sample):
            return asdict(value)
        if isinstance(value, dict):
            return {k: conv(v) for k, v in value.items()}
        if isinstance(value, list):
            return [conv(v) for v in value]
        if isinstance(value, float) and math.isnan(value):
            return None
        return value

    return cast(dict[str, Any], conv(res))


def _ints(text: str) -> list[int]:
    return [int(s.replace("_", "")) for s in text.split(",") if s.strip()]


def main(argv: Iterable[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="PaperBot end-to-end benchmark (fake Discord)")
    parser.add_argument("--sizes", default="10000", help="comma separated corpus sizes")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3, help="recorded passes over the mixes")
    parser.add_argument("--concurrency", default="1,8,32", help="interactions in flight")
    parser.add_argument("--max-interactions", type=int, default=300, help="per throughput run")
    parser.add_argument("--max-seconds", type=float, default=20.0, help="per throughput run")
    parser.add_argument(
        "--burst", type=int, default=0, help="also N searches dispatched at once (0: none)"
    )
    parser.add_argument("--inproc", action="store_true", help="run the bot in this event loop")
    parser.add_argument("--rebuild", action="store_true", help="rebuild the store databases")
    parser.add_argument("--build-only", action="store_true", help="only build the stores")
    parser.add_argument(
        "--evict-cache",
        action="store_true",
        help="drop the store's pages from the OS page cache first (a cold start)",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="cProfile the bot's event loop; top functions in bench/out/bot-<size>.profile.txt",
    )
    parser.add_argument(
        "--result-cache",
        action="store_true",
        help="keep the bot's cache of repeated searches on (off: every search is computed)",
    )
    parser.add_argument(
        "--readers", type=int, help="the bot's reader connections (default: the store's, 3)"
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--profile-to", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--db", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--api", help=argparse.SUPPRESS)
    parser.add_argument("--gateway", help=argparse.SUPPRESS)
    parser.add_argument("--token", help=argparse.SUPPRESS)
    args = parser.parse_args(None if argv is None else list(argv))
    if args.result_cache:
        os.environ["PAPERBOT_BENCH_RESULT_CACHE"] = "1"  # the child process inherits it
    if args.readers:
        os.environ["PAPERBOT_BENCH_READERS"] = str(args.readers)

    if args.child:
        logging.basicConfig(
            level=logging.INFO,
            stream=sys.stderr,
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        )
        asyncio.run(child_main(args.db, args.api, args.gateway, args.token, args.profile_to))
        return 0

    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    args.concurrency = _ints(args.concurrency)
    sizes = _ints(args.sizes)
    print(
        f"PaperBot end-to-end bench: sizes {sizes}, seed {args.seed}, {os.cpu_count()} CPUs, "
        f"Python {sys.version.split()[0]}, discord.py {discord.__version__}",
        flush=True,
    )
    results = []
    for size in sizes:
        t = time.perf_counter()
        store = build_store(size, args.seed, args.rebuild)
        if args.build_only:
            print(f"{size:,}: {store}", flush=True)
            continue
        if args.evict_cache:
            evict_page_cache(OUT / f"bot-{size}.db")
        res = asyncio.run(bench_size(size, args, store))
        res["evicted_page_cache"] = args.evict_cache
        suffix = ("-inproc" if args.inproc else "") + ("-cold" if args.evict_cache else "")
        (OUT / f"bot-results-{size}{suffix}.json").write_text(json.dumps(_jsonable(res)))
        print(report_size(res), flush=True)
        print(f"(size {size:,} took {time.perf_counter() - t:.0f} s)", flush=True)
        results.append(res)
    if not results:
        return 0
    print("\n== summary (ms; ratios = PaperBot ÷ the no-store baseline through the same pipeline)")
    print(summary(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
