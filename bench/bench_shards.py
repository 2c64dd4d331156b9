"""Sharding benchmark: start-up through 10,000 servers, memory, and interactions on every shard.

    python -m bench.bench_shards                    # 10,000 servers, every variant
    python -m bench.bench_shards --servers 3000 --variants one,recommended

A :class:`~tests.fakediscord.FakeDiscord` with N small servers (``World.add_guilds``: two
text channels, two roles, two members each) runs in this process; GET /gateway/bot
recommends one shard per 1,000 servers, as Discord does, and the fake enforces Discord's
IDENTIFY rate limit (one per 5 s in each bucket ``shard % max_concurrency``; a faster one is
refused with op 9 and counted). The real ``bot.app.PaperBot`` runs in its own process(es)
(``--child``), discord.py pointed at the fake, with discord.py's own 2 s wait after the last
GUILD_CREATE of each shard (nothing shortened).

Variants (rows):

* ``one``: every server on one shard, as PaperBot ran before it was an AutoShardedBot (the
  fake's 2,500-servers-per-shard limit is lifted for this row: Discord closes such a
  session with 4011, so this is the baseline of the process only);
* ``recommended``: Discord's recommended shard count (GET /gateway/bot), one process, with
  ``max_concurrency`` 1, what Discord gives bots below 150,000 servers: shards start 5 s
  apart;
* ``concurrency16``: the same with ``max_concurrency`` 16 (large bot sharding): every shard
  starts at once; what is left is the process's own work;
* ``two-processes``: the recommended shards split over two processes on one database
  (``PAPERBOT_SHARDS``-style ranges), IDENTIFY paced between them through the database.

Measured per variant: time from ``bot.start()`` to ready (all of the process's shards have
their servers) and from process start (imports, store opening) to ready; seconds spent
waiting for IDENTIFY turns; resident memory after ready and its peak (``VmRSS``/``VmHWM``);
IDENTIFYs refused; then ``--per-shard`` /trending interactions in servers of every shard,
each checked to arrive on its shard's connection and answered (callback status 200).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.report import pct, table  # noqa: E402
from bot.app import PaperBot  # noqa: E402
from bot.config import Settings  # noqa: E402
from bot.logs import setup_logging  # noqa: E402
from bot.shards import shard_of  # noqa: E402
from bot.store import Store  # noqa: E402
from bot.store.loader import load_file  # noqa: E402
from tests.fakediscord import BucketSpec, FakeDiscord, RateLimitConfig, World  # noqa: E402
from tests.fakediscord.client import patch_discord  # noqa: E402
from tests.fakediscord.world import FakeGuild  # noqa: E402

DATA = ROOT / "tests" / "fixtures" / "trending-may-28.txt"
TOKEN = "MTA0OTk5OTk5OTk5OTk5OTk5OQ.GhJkLm.abcdefghijklmnopqrstuvwxyz0123456789AB"
GENEROUS = RateLimitConfig(default_bucket=BucketSpec(limit=1_000_000, per=1.0))
VARIANTS = ("one", "recommended", "concurrency16", "two-processes")


# -- the bot process ------------------------------------------------------------------------


async def child_main(args: argparse.Namespace) -> None:
    """``--child``: run PaperBot against the fake until stdin closes; report when ready."""
    setup_logging("INFO")
    store = await Store.open(args.db)
    ids = tuple(int(i) for i in args.shard_ids.split(",")) if args.shard_ids else None
    settings = Settings(
        database=Path(args.db),
        data_dir=Path(args.db).parent,
        refresh_enabled=False,
        shard_count=args.shard_count or None,
        shard_ids=ids,
    )
    bot = PaperBot(settings, store)
    shim = cast(FakeDiscord, SimpleNamespace(api_url=args.api, gateway_url=args.gateway))
    first_shard: list[float] = []

    async def on_shard_ready(shard_id: int) -> None:
        # The servers of this shard are served from now on, before the other shards start.
        first_shard.append(time.perf_counter())

    bot.add_listener(on_shard_ready)
    try:
        with patch_discord(shim):
            began = time.perf_counter()
            task = asyncio.create_task(bot.start(TOKEN))
            while not bot.is_ready():
                if task.done():
                    task.result()
                    raise RuntimeError("the bot stopped before it was ready")
                await asyncio.sleep(0.01)
            ready = time.perf_counter() - began
            print(
                json.dumps(
                    {
                        "event": "ready",
                        "seconds": ready,
                        "first_shard": (min(first_shard) - began) if first_shard else ready,
                        "guilds": len(bot.guilds),
                        "shards": sorted(bot.shards),
                        "shard_count": bot.shard_count,
                        "identify_wait": bot.identify_pacer.waited,
                        "cpu": time.process_time(),
                    }
                ),
                flush=True,
            )
            await asyncio.to_thread(sys.stdin.readline)
            await bot.close()
            await asyncio.wait({task}, timeout=30)
    finally:
        await store.close()


def _proc_kib(pid: int, key: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key):
            return float(line.split()[1])
    return math.nan


@dataclass
class BotProcess:
    proc: asyncio.subprocess.Process
    spawned: float
    ready: dict[str, Any] = field(default_factory=dict)
    ready_at: float = 0.0

    @property
    def rss_mb(self) -> float:
        return _proc_kib(self.proc.pid, "VmRSS:") / 1024

    @property
    def peak_mb(self) -> float:
        return _proc_kib(self.proc.pid, "VmHWM:") / 1024

    async def wait_ready(self, within: float) -> None:
        assert self.proc.stdout is not None
        line = await asyncio.wait_for(self.proc.stdout.readline(), within)
        if not line:
            raise RuntimeError("the bot process ended before it was ready (see its log)")
        self.ready = json.loads(line)
        self.ready_at = time.perf_counter()

    async def stop(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            await asyncio.wait_for(self.proc.wait(), 30)
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()


async def spawn(
    server: FakeDiscord, db: Path, shard_count: int | None, ids: tuple[int, ...] | None, log: Path
) -> BotProcess:
    with log.open("w") as err:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.bench_shards",
            "--child",
            "--db",
            str(db),
            "--api",
            server.api_url,
            "--gateway",
            server.gateway_url,
            "--shard-count",
            str(shard_count or 0),
            "--shard-ids",
            ",".join(map(str, ids)) if ids else "",
            cwd=ROOT,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=err,
        )
    return BotProcess(proc, time.perf_counter())


# -- one variant ----------------------------------------------------------------------------


@dataclass
class Result:
    variant: str
    processes: int
    shards: int
    max_concurrency: int
    servers: int
    ready_s: float  # bot.start() -> ready, slowest process
    first_shard_s: float  # bot.start() -> the first shard's servers are served
    process_s: float  # process start -> ready, slowest process
    identify_wait_s: float
    cpu_s: list[float]  # CPU time of each bot process until ready
    rss_mb: list[float]
    peak_mb: list[float]
    rejected: int
    answered: dict[int, tuple[int, int]]  # shard -> (answered, sent)
    callback_ms: list[float]
    wrong_shard: int


def pick_servers(world: World, count: int, per_shard: int) -> dict[int, list[FakeGuild]]:
    chosen: dict[int, list[FakeGuild]] = {s: [] for s in range(count)}
    for guild in world.guilds.values():
        if not guild.name.startswith("Server "):
            continue
        bucket = chosen[shard_of(guild.id, count)]
        if len(bucket) < per_shard:
            bucket.append(guild)
    return chosen


async def ask(server: FakeDiscord, guild: FakeGuild, shard: int) -> tuple[bool, float, bool]:
    """/trending in *guild*: (answered with the list, ms until it arrived, arrived on the
    right shard). The answer is the follow-up after the deferral, or the callback itself."""
    channel = next(c for c in guild.channels.values() if c.name == "papers-0")
    pending = await server.send_slash_command("trending", [], channel=channel, user="alice")
    try:
        callback = await pending.wait_callback(timeout=10)
        if callback.status == 200 and callback.json and callback.json.get("type") == 5:
            callback = await pending.wait_followup(timeout=10)
    except TimeoutError:
        return False, math.nan, False
    frames = [
        f for f in server.gateway.dispatched("INTERACTION_CREATE") if f.d["id"] == str(pending.id)
    ]
    conn = {c.id: c for c in server.gateway.connections}.get(frames[0].connection_id)
    session = conn.session if conn else None
    right = session is not None and session.shard is not None and session.shard[0] == shard
    ms = (callback.time - pending.record.created) * 1000
    return callback.status == 200, ms, right


async def run_variant(args: argparse.Namespace, variant: str, db: Path) -> Result:
    world = World.default()  # one server of its own ("Paper Club")
    world.add_guilds(args.servers - 1, channels=args.channels, roles=args.roles)
    concurrency = 16 if variant == "concurrency16" else 1
    server = FakeDiscord(
        world,
        token=TOKEN,
        rate_limits=GENEROUS,
        guilds_per_shard=1000,
        max_concurrency=concurrency,
        identify_interval=5.0,
        max_guilds_per_shard=None if variant == "one" else 2500,
        interaction_ack_deadline=3.0,
    )
    await server.start()
    procs: list[BotProcess] = []
    try:
        recommended = server.recommended_shards
        if variant == "one":
            plan: list[tuple[int | None, tuple[int, ...] | None]] = [(1, None)]
        elif variant == "two-processes":
            total = max(2, recommended)
            half = total // 2
            plan = [(total, tuple(range(half))), (total, tuple(range(half, total)))]
        else:
            plan = [(None, None)]  # Discord's recommendation, read by the bot
        with patch_discord(server):
            for i, (count, ids) in enumerate(plan):
                log = db.parent / f"shards-{variant}-{i}.log"
                procs.append(await spawn(server, db, count, ids, log))
            await asyncio.gather(*(p.wait_ready(600) for p in procs))
            shard_count = int(procs[0].ready["shard_count"])
            rss = [p.rss_mb for p in procs]
            answered: dict[int, tuple[int, int]] = {}
            latencies: list[float] = []
            wrong = 0
            for shard, guilds in pick_servers(world, shard_count, args.per_shard).items():
                ok = 0
                for guild in guilds:
                    good, ms, right = await ask(server, guild, shard)
                    ok += good
                    wrong += not right
                    latencies.append(ms)
                answered[shard] = (ok, len(guilds))
            peak = [p.peak_mb for p in procs]
        return Result(
            variant=variant,
            processes=len(procs),
            shards=shard_count,
            max_concurrency=concurrency,
            servers=len(world.guilds),
            ready_s=max(float(p.ready["seconds"]) for p in procs),
            first_shard_s=min(float(p.ready["first_shard"]) for p in procs),
            process_s=max(p.ready_at - p.spawned for p in procs),
            identify_wait_s=max(float(p.ready["identify_wait"]) for p in procs),
            cpu_s=[float(p.ready["cpu"]) for p in procs],
            rss_mb=rss,
            peak_mb=peak,
            rejected=server.gateway.identify_rejections,
            answered=answered,
            callback_ms=latencies,
            wrong_shard=wrong,
        )
    finally:
        for p in procs:
            await p.stop()
        await server.stop()


# -- report ---------------------------------------------------------------------------------


def report(results: list[Result], args: argparse.Namespace) -> str:
    header = [
        "variant",
        "procs",
        "shards",
        "conc.",
        "servers",
        "1st shard s",
        "ready s",
        "proc→ready s",
        "IDENTIFY wait s",
        "bot CPU s",
        "RSS MB",
        "peak MB",
        "refused",
        "shards answered",
        "answered",
        "answer p50/max ms",
    ]
    rows = []
    for r in results:
        sent = sum(n for _, n in r.answered.values())
        ok = sum(a for a, _ in r.answered.values())
        full = sum(1 for a, n in r.answered.values() if n and a == n)
        rows.append(
            [
                r.variant,
                str(r.processes),
                str(r.shards),
                str(r.max_concurrency),
                f"{r.servers:,}",
                f"{r.first_shard_s:.1f}",
                f"{r.ready_s:.1f}",
                f"{r.process_s:.1f}",
                f"{r.identify_wait_s:.1f}",
                " + ".join(f"{c:.1f}" for c in r.cpu_s),
                " + ".join(f"{m:.0f}" for m in r.rss_mb),
                " + ".join(f"{m:.0f}" for m in r.peak_mb),
                str(r.rejected),
                f"{full}/{r.shards}",
                f"{ok}/{sent}" + (f" ({r.wrong_shard} wrong shard)" if r.wrong_shard else ""),
                f"{pct(r.callback_ms, 50):.0f}/{max(r.callback_ms, default=math.nan):.0f}",
            ]
        )
    lines = [
        f"PaperBot start-up through {args.servers:,} servers on the fake Discord, each with "
        f"{args.channels} text channels, {args.roles + 2} roles, 2 members "
        f"({args.per_shard} /trending per shard; targets: ready <= 60 s, RSS <= 500 MB)",
        "",
        table(rows, header),
        "",
        "1st shard: bot.start() -> the first shard's servers are in (they are answered from "
        "then on); ready s: -> every shard of the process has its servers (slowest "
        "process); proc→ready: from process start (imports, store); RSS after ready (per "
        "process), peak = VmHWM; refused: IDENTIFYs the fake answered with op 9; answered: "
        "the /trending list arrived (follow-up), on the server's own shard.",
    ]
    if any(r.variant == "one" for r in results):
        lines.append(
            "one: a single shard with every server, the baseline; real Discord refuses a "
            "shard with more than 2,500 servers (close code 4011)."
        )
    return "\n".join(lines)


def log_problems(folder: Path) -> str:
    """Error lines in the bot processes' logs (there should be none)."""
    found = []
    for log in sorted(folder.glob("shards-*.log")):
        lines = log.read_text().splitlines()
        bad = [line for line in lines if " ERROR " in line or "Traceback" in line]
        if bad:
            found.append(f"{log.name}: {len(bad)} error line(s)")
            found += bad[:5]
    return "\n".join(found) or "bot logs: no errors"


async def main_async(args: argparse.Namespace) -> None:
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        raise SystemExit(f"unknown variant(s) {', '.join(unknown)}; choose from {VARIANTS}")
    with tempfile.TemporaryDirectory(prefix="bench-shards-") as tmp:
        db = Path(tmp) / "bot.db"
        async with await Store.open(db) as store:
            await load_file(store, DATA)
        results = []
        for variant in variants:
            print(f"… {variant}", file=sys.stderr, flush=True)
            results.append(await run_variant(args, variant, db))
            # The same store each time; commands synced by the previous fake are re-synced
            # to the next (its own fresh world).
            # Each variant is a new Discord: no IDENTIFY of the previous one counts.
            async with await Store.open(db) as store:
                await store.meta.delete("command_hash:global")
                for bucket in range(16):
                    await store.meta.delete(f"lease:identify:{bucket}")
        print(report(results, args))
        print(log_problems(Path(tmp)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--servers", type=int, default=10_000)
    parser.add_argument("--per-shard", type=int, default=5, help="interactions per shard")
    parser.add_argument("--channels", type=int, default=12, help="text channels per server")
    parser.add_argument("--roles", type=int, default=6, help="roles per server (+2)")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    parser.add_argument("--api", help=argparse.SUPPRESS)
    parser.add_argument("--gateway", help=argparse.SUPPRESS)
    parser.add_argument("--shard-count", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--shard-ids", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        asyncio.run(child_main(args))
        return
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
