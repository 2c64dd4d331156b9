"""Soak: the bot at 1M papers stays live while a big load and a failing refresher run beside it.

    python -m bench.soak                          # 1M papers, 100k more loaded, ~3-5 minutes
    python -m bench.soak --size 100000 --load 20000 --rate 10    # a quicker run

Loopback only, bounded in time. In order:

* the bot's store: ``bench/out/bot-<size>.db`` (built by bench_bot, vectors included) copied to
  ``bench/out/soak-<size>.db``, so the run never changes the benchmark store;
* a fake Discord (tests/fakediscord) and fake live sources (tests/fakesources) that answer
  every Hugging Face request with HTML, a 429 or a 500, in turn;
* the real bot in a child process (``--child``), refresh on every 20 s against those sources;
* a steady mix of interactions at ``--rate`` per second: /search (60%), /paper autocomplete
  (15%), 👍 votes (15%) and ⭐ saves (10%), each on a paper of its own so every click adds
  one row; latency from the interaction's dispatch to its callback (writes, autocomplete) or
  to the search's results follow-up;
* after ``--warmup`` seconds, ``python -m bot load`` imports ``--load`` new papers (new ids)
  into the same database file in another process (vectors included), while the mix goes on;
* the mix stops ``--tail`` seconds after the load ends (or at ``--seconds``).

The table: requests served and errors before / during / after the load, search and write
latency p50 / p99, and the invariants: votes and saves recorded = sent, papers after = papers
before + the loaded file, 0 interactions past Discord's 3 s, the bot's log free of errors.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import random
import shutil
import sqlite3
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import cast

from bench.bench_bot import GENEROUS_LIMITS, build_store, db_files
from bench.bench_store import PREFIXES, query_mix
from bench.corpus import OUT, ROOT, write_corpus
from bench.report import pct
from tests.fakediscord import FakeDiscord, patch_discord
from tests.fakediscord.client import start_client, stop_client
from tests.fakediscord.payloads import focused, option
from tests.fakesources import FakeSources

ACK_DEADLINE = 3.0
CHANNEL_MESSAGE = 4  # an interaction answered at once (5: acknowledged first)
WAIT = 60.0
KINDS = (("search", 0.60), ("ac", 0.15), ("vote", 0.15), ("save", 0.10))


# -- the bot, in its own process -------------------------------------------------------------


async def child_main(db: Path, api: str, gateway: str, token: str, sources: str) -> None:
    import bot.cogs.refresh as refresh_cog
    from bot.app import PaperBot
    from bot.config import Settings
    from bot.store import Store

    # The first (failing) refresh soon after start.
    refresh_cog.RefreshCog.__init__.__kwdefaults__["first_delay"] = 5.0

    data_dir = OUT / "soak-data"
    data_dir.mkdir(parents=True, exist_ok=True)
    settings = Settings(
        database=db,
        data_dir=data_dir,
        refresh_enabled=True,
        refresh_hf=True,
        refresh_arxiv=False,
        hf_api_base=sources,
        refresh_interval_minutes=cast(int, 1 / 3),  # every 20 s: many failing runs
        search_cooldown_uses=1_000_000,
        search_cooldown_seconds=1.0,
    )
    store = await Store.open(db)
    try:
        bot = PaperBot(settings, store, auto_sync=True)
        shim = cast(FakeDiscord, SimpleNamespace(api_url=api, gateway_url=gateway))
        with patch_discord(shim):
            task = await start_client(bot, shim, token=token, timeout=600.0)
            for _ in range(6000):  # the vectors of the store are loaded: meaning is on
                if bot.search.meaning is not None:
                    break
                await asyncio.sleep(0.1)
            print(json.dumps({"event": "ready", "meaning": bot.vectors.status}), flush=True)
            await asyncio.to_thread(sys.stdin.readline)
            await stop_client(bot, task)
    finally:
        await store.close()


# -- driving -----------------------------------------------------------------------------------


@dataclass(slots=True)
class Sample:
    kind: str
    phase: str
    ms: float = math.nan
    ack_ms: float = math.nan
    ok: bool = False
    why: str = ""


@dataclass(slots=True)
class Run:
    samples: list[Sample] = field(default_factory=list)
    votes_sent: int = 0
    saves_sent: int = 0
    phase: str = "before"


def _status(db: Path) -> tuple[int, int, int]:
    """(papers, votes, saves) read on a read-only connection of this process."""
    conn = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True)
    try:
        conn.execute("PRAGMA busy_timeout=10000")
        row = conn.execute(
            "SELECT (SELECT count(*) FROM papers), (SELECT count(*) FROM votes), "
            "(SELECT count(*) FROM saves)"
        ).fetchone()
        return int(row[0]), int(row[1]), int(row[2])
    finally:
        conn.close()


def _paper_ids(db: Path, count: int, seed: int) -> list[str]:
    conn = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True)
    try:
        top = int(conn.execute("SELECT max(pid) FROM papers").fetchone()[0])
        rng = random.Random(seed)
        pids = rng.sample(range(1, top + 1), k=min(count, top))
        rows = conn.execute(
            "SELECT id FROM papers WHERE pid IN (SELECT value FROM json_each(?))",
            (json.dumps(pids),),
        ).fetchall()
        return [str(r[0]) for r in rows]
    finally:
        conn.close()


async def one(server: FakeDiscord, run: Run, kind: str, arg: str) -> None:
    sample = Sample(kind, run.phase)
    run.samples.append(sample)
    try:
        if kind == "search":
            pending = await server.send_slash_command("search", [option("query", arg)])
        elif kind == "ac":
            pending = await server.send_autocomplete("paper", [focused("paper", arg)])
        else:
            # A member opens the paper's card, then clicks its 👍 or ⭐ (discord.py only
            # dispatches a button that is on the clicked message).
            card = await server.send_slash_command("paper", [option("paper", arg)])
            await card.wait_callback(timeout=WAIT)
            message = card.original_message
            if message is None:
                sample.why = "no card"
                return
            if kind == "vote":
                run.votes_sent += 1
            else:
                run.saves_sent += 1
            pending = await server.click_button(message, f"pb:{kind}:{arg}")
        created = pending.record.created
        callback = await pending.wait_callback(timeout=WAIT)
        sample.ack_ms = (callback.time - created) * 1000
        if callback.status not in (200, 204):
            sample.why = f"callback {callback.status}"
            return
        if kind == "search" and (callback.json or {}).get("type") == CHANNEL_MESSAGE:
            sample.ms = sample.ack_ms  # answered at once, the card in the response
            if not ((callback.json or {}).get("data") or {}).get("embeds"):
                sample.why = "no card in the answer"
                return
        elif kind == "search":  # acknowledged first ("thinking…"), then followed up
            followup = await pending.wait_followup(timeout=WAIT)
            sample.ms = (followup.time - created) * 1000
            body = followup.json or {}
            if followup.status != 200 or not body.get("embeds"):
                sample.why = f"follow-up {followup.status}"
                return
        else:
            sample.ms = sample.ack_ms
        sample.ok = sample.ack_ms <= ACK_DEADLINE * 1000
        if not sample.ok:
            sample.why = "past 3 s"
    except TimeoutError:
        sample.why = "no answer"
    except Exception as exc:  # the bench reports every failure, whatever it is
        sample.why = f"{type(exc).__name__}: {exc}"[:80]


async def drive(
    server: FakeDiscord,
    run: Run,
    rate: float,
    stop: asyncio.Event,
    queries: Sequence[str],
    papers: list[str],
    seed: int,
) -> None:
    rng = random.Random(seed)
    kinds = [k for k, _ in KINDS]
    weights = [w for _, w in KINDS]
    tasks: set[asyncio.Task[None]] = set()
    votes = iter(papers[: len(papers) // 2])
    saves = iter(papers[len(papers) // 2 :])
    loop = asyncio.get_running_loop()
    next_at = loop.time()
    while not stop.is_set():
        kind = rng.choices(kinds, weights)[0]
        if kind == "search":
            arg = rng.choice(queries)
        elif kind == "ac":
            arg = rng.choice(PREFIXES) or "diff"
        else:
            arg = next(votes if kind == "vote" else saves, "")
            if not arg:
                continue
        task = asyncio.create_task(one(server, run, kind, arg))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        next_at += 1.0 / rate
        await asyncio.sleep(max(0.0, next_at - loop.time()))
    if tasks:
        await asyncio.wait(tasks, timeout=WAIT + 5)


def _new_papers(size: int, count: int) -> Path:
    """*count* synthetic papers with ids no paper of the store has ("29xx.xxxxx")."""
    path = OUT / f"soak-new-{count}.jsonl"
    if path.exists():
        return path
    source = write_corpus(count, seed=7)
    with source.open(encoding="utf-8") as inp, path.open("w", encoding="utf-8") as out:
        for i, line in enumerate(inp):
            record = json.loads(line)
            record["id"] = f"{2901 + i // 99_999:04d}.{i % 99_999 + 1:05d}"
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
    return path


def table(run: Run) -> str:
    header = ["phase", "served", "errors", "search p50", "p99", "write p50", "p99", "ac p99"]
    rows = []
    for phase in ("before", "during", "after", "all"):
        got = [s for s in run.samples if phase in ("all", s.phase)]
        if not got:
            continue
        search = [s.ms for s in got if s.kind == "search" and s.ok]
        writes = [s.ms for s in got if s.kind in ("vote", "save") and s.ok]
        ac = [s.ms for s in got if s.kind == "ac" and s.ok]
        rows.append(
            [
                phase,
                str(sum(s.ok for s in got)),
                str(sum(not s.ok for s in got)),
                f"{pct(search, 50):.0f}",
                f"{pct(search, 99):.0f}",
                f"{pct(writes, 50):.0f}",
                f"{pct(writes, 99):.0f}",
                f"{pct(ac, 99):.0f}",
            ]
        )
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    lines = ["  ".join(h.rjust(w) for h, w in zip(header, widths, strict=True))]
    lines.append("-" * len(lines[0]))
    lines += ["  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(lines)


async def main_async(args: argparse.Namespace) -> int:
    source_db = OUT / f"bot-{args.size}.db"
    db = OUT / f"soak-{args.size}.db"
    for path in db_files(db):
        path.unlink(missing_ok=True)
    print(f"copying {source_db.name} ...", file=sys.stderr, flush=True)
    shutil.copyfile(source_db, db)
    # Write the copy out before the clock starts: gigabytes of dirty pages left to the kernel
    # make the first fsyncs of the WAL wait for them (a commit of the load's first batch took
    # 1.1 s after an unsynced copy, 0.1 s after a synced one) - a cost of the set-up, not of
    # the bot or the loader.
    os.sync()
    new_file = _new_papers(args.size, args.load)
    papers_before, votes_before, saves_before = _status(db)
    clicks = _paper_ids(db, 4 * int(args.rate * args.seconds), args.seed)

    sources = await FakeSources().start()
    cycle = [
        ("html", {}),
        ("status", {"status": 429, "headers": {"Retry-After": "1"}}),
        ("status", {"status": 500}),
    ]
    for i in range(3000):
        kind, extra = cycle[i % 3]
        sources.fail(kind, times=1, **extra)
    server = FakeDiscord(rate_limits=GENEROUS_LIMITS, interaction_ack_deadline=ACK_DEADLINE)
    await server.start()
    log_path = OUT / f"soak-{args.size}.log"
    log = log_path.open("w", encoding="utf-8")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.soak", "--child", "--db", str(db), "--api",
        server.api_url, "--gateway", server.gateway_url, "--token", server.token,
        "--sources", sources.base,
        cwd=ROOT, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=log,
    )  # fmt: skip
    assert proc.stdout is not None and proc.stdin is not None
    ready = json.loads(await asyncio.wait_for(proc.stdout.readline(), 900))
    print(f"bot ready (meaning: {ready.get('meaning')}); soaking ...", file=sys.stderr)

    run = Run()
    stop = asyncio.Event()
    queries = [q for _, q in query_mix(args.size, args.seed) if len(q) <= 300]
    driver = asyncio.create_task(drive(server, run, args.rate, stop, queries, clicks, args.seed))
    began = time.monotonic()
    await asyncio.sleep(args.warmup)
    run.phase = "during"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PAPERBOT_", "DISCORD_"))}
    env.update(PAPERBOT_DATABASE=str(db), PAPERBOT_DATA_DIR=str(OUT / "soak-data"))
    load_began = time.monotonic()
    loader = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "--env-file", str(OUT / "none.env"), "load", "--quiet",
        str(new_file), cwd=ROOT, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    remaining = max(1.0, args.seconds - (time.monotonic() - began))
    try:
        _, err = await asyncio.wait_for(loader.communicate(), remaining)
    except TimeoutError:
        loader.kill()
        _, err = await loader.communicate()
    load_s = time.monotonic() - load_began
    run.phase = "after"
    await asyncio.sleep(args.tail)
    stop.set()
    await driver
    proc.stdin.close()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(proc.wait(), 60)
    if proc.returncode is None:
        proc.kill()
    log.close()
    await server.stop()
    await sources.stop()

    papers_after, votes_after, saves_after = _status(db)
    votes = votes_after - votes_before
    saves = saves_after - saves_before
    loaded = sum(1 for _ in new_file.open(encoding="utf-8"))
    problems = [
        line.strip()
        for line in log_path.read_text(encoding="utf-8").splitlines()
        if " ERROR " in line or "Traceback" in line
    ]
    hf = sources.requests("hf")
    print(f"\n== soak at {args.size:,} papers, {args.rate:g} interactions/s")
    print(
        f"load of {loaded:,} new papers in another process: {load_s:.0f} s, "
        f"exit {loader.returncode}; refresher: {len(hf)} requests to the failing source"
    )
    print(table(run))
    late = sum(1 for s in run.samples if s.why == "past 3 s")
    failed = [s for s in run.samples if not s.ok]
    print(
        f"votes recorded {votes:,} = sent {run.votes_sent:,}: {votes == run.votes_sent}; "
        f"saves recorded {saves:,} = sent {run.saves_sent:,}: {saves == run.saves_sent}"
    )
    print(
        f"papers after {papers_after:,} = before {papers_before:,} + new {loaded:,}: "
        f"{papers_after == papers_before + loaded}"
    )
    print(f"interactions past 3 s: {late}; bot log errors: {len(problems)}")
    for sample in failed[:10]:
        print(f"  failed {sample.kind} ({sample.phase}): {sample.why}")
    for line in problems[:10]:
        print(f"  log: {line[:160]}")
    if loader.returncode:
        print(err.decode()[-2000:])
    results = {
        "size": args.size,
        "rate": args.rate,
        "load_s": load_s,
        "loaded": loaded,
        "votes_ok": votes == run.votes_sent,
        "saves_ok": saves == run.saves_sent,
        "papers_ok": papers_after == papers_before + loaded,
        "late": late,
        "errors": len(failed),
        "log_errors": len(problems),
    }
    (OUT / f"soak-{args.size}.json").write_text(json.dumps(results))
    ok = results["votes_ok"] and results["saves_ok"] and results["papers_ok"]
    return 0 if ok and not failed and not problems else 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--load", type=int, default=100_000, help="new papers loaded meanwhile")
    parser.add_argument("--rate", type=float, default=20.0, help="interactions per second")
    parser.add_argument("--seconds", type=float, default=600.0, help="at most this long")
    parser.add_argument("--warmup", type=float, default=20.0)
    parser.add_argument("--tail", type=float, default=15.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--db", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--api", help=argparse.SUPPRESS)
    parser.add_argument("--gateway", help=argparse.SUPPRESS)
    parser.add_argument("--token", help=argparse.SUPPRESS)
    parser.add_argument("--sources", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        asyncio.run(child_main(args.db, args.api, args.gateway, args.token, args.sources))
        return 0
    build_store(args.size, args.seed, rebuild=False)  # (its own event loop)
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    sys.exit(main())
