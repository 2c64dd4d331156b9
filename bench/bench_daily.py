"""Daily posts at scale: N schedules due in the same minute, against the local fake Discord.

The fake enforces Discord's global limit (50 requests/s, answering 429 "global" beyond it)
and per-route buckets (5 messages / 5 s per channel), sends real ``X-RateLimit-*`` headers,
and a few posts fail on purpose (429s and 502s after the message was created). Variants:

* ``naive``: every channel's post sent at once (``asyncio.gather`` over discord.py), relying
  on discord.py's own 429 handling only — the baseline;
* ``runner``: the real path — ``DailyRunner`` (claim, lease, pick, ``sending`` before the
  call, record) + ``DiscordPoster`` (nonce, rate limiter 40/s burst 5, 50 in flight);
* ``runner-nolimit`` (``--all``): the runner without its own rate limiter.

    python -m bench.bench_daily                 # 10,000 schedules, naive + runner
    python -m bench.bench_daily --schedules 1000 --all

Printed: time until every post is out, requests in the busiest one-second window (sliding),
429 answers, failed posts, channels with more than one post.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import tempfile
import time
from bisect import bisect_right
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import discord  # noqa: E402

from bot import cards  # noqa: E402
from bot.schedule.leased import SystemClock  # noqa: E402
from bot.schedule.picker import DailyPicker  # noqa: E402
from bot.schedule.ratelimit import RateLimiter  # noqa: E402
from bot.schedule.runner import DailyRunner  # noqa: E402
from bot.store import Store  # noqa: E402
from bot.store.loader import load_file  # noqa: E402
from bot.trending import Trending  # noqa: E402
from bot.views import card_view  # noqa: E402
from tests.fakediscord import FakeDiscord  # noqa: E402
from tests.fakediscord.client import patch_discord, running_client  # noqa: E402
from tests.fakediscord.ratelimit import (  # noqa: E402
    DISCORD_LIKE_BUCKETS,
    FakeResponse,
    RateLimitConfig,
    rate_limited,
)
from tests.fakediscord.world import (  # noqa: E402
    DEFAULT_EVERYONE,
    FakeChannel,
    FakeGuild,
    FakeMember,
    FakeRole,
    Perm,
    World,
)

DATA = ROOT / "data" / "trending-may-28.txt"
CHANNELS_PER_GUILD = 500  # Discord's cap on channels in a server
INJECTED_429 = 20
INJECTED_502 = 20

log = logging.getLogger("bench.daily")


@dataclass
class Row:
    variant: str
    schedules: int
    posted: int
    failed: int
    duplicates: int
    seconds: float
    peak_1s: int
    got_429: int
    requests: int


def build_world(n: int) -> tuple[World, list[int]]:
    world = World.default()
    owner = world.user("alice")
    bot = world.bot
    channel_ids: list[int] = []
    perms = int(
        Perm.VIEW_CHANNEL
        | Perm.SEND_MESSAGES
        | Perm.SEND_MESSAGES_IN_THREADS
        | Perm.CREATE_PUBLIC_THREADS
        | Perm.EMBED_LINKS
        | Perm.READ_MESSAGE_HISTORY
    )
    made = 0
    g_index = 0
    while made < n:
        gid = world.snowflakes.next()
        guild = FakeGuild(id=gid, name=f"Bench {g_index}", owner_id=owner.id)
        guild.roles[gid] = FakeRole(id=gid, name="@everyone", permissions=int(DEFAULT_EVERYONE))
        role = FakeRole(
            id=world.snowflakes.next(),
            name="PaperBot",
            permissions=perms,
            position=1,
            managed=True,
            bot_id=bot.id,
        )
        guild.roles[role.id] = role
        guild.members[bot.id] = FakeMember(user_id=bot.id, roles=[role.id])
        guild.members[owner.id] = FakeMember(user_id=owner.id)
        for i in range(min(CHANNELS_PER_GUILD, n - made)):
            cid = world.snowflakes.next()
            guild.channels[cid] = FakeChannel(id=cid, name=f"papers-{i}", guild_id=gid, position=i)
            channel_ids.append(cid)
            made += 1
        world.guilds[gid] = guild
        g_index += 1
    return world, channel_ids


def make_server(n: int) -> tuple[FakeDiscord, list[int]]:
    world, channel_ids = build_world(n)
    limits = RateLimitConfig(
        buckets=dict(DISCORD_LIKE_BUCKETS), global_limit=50, enforce_global=True
    )
    server = FakeDiscord(world, rate_limits=limits, heartbeat_interval_ms=30_000)
    # Trouble on purpose, spread over the run: some posts are rate limited (429, not created),
    # some get a 502 after the message was created (the client cannot know it went out).
    step = max(1, n // (INJECTED_429 + INJECTED_502))
    picked = [cid for i, cid in enumerate(channel_ids) if i % step == step // 2]
    server.inject(
        "POST",
        "/channels/{channel_id}/messages",
        rate_limited(0.5, scope="shared"),
        times=INJECTED_429,
        predicate=_once(set(picked[0::2])),
    )
    server.inject(
        "POST",
        "/channels/{channel_id}/messages",
        FakeResponse(
            502, "<html>502 Bad Gateway</html>", content_type="text/html", passthrough=True
        ),
        times=INJECTED_502,
        predicate=_once(set(picked[1::2])),
    )
    return server, channel_ids


def _once(channels: set[int]) -> Any:
    """An injection predicate: the first request to each of *channels*, once."""

    def hit(req: Any) -> bool:
        cid = int(req.params.get("channel_id", 0))
        if cid in channels:
            channels.discard(cid)
            return True
        return False

    return hit


class BenchClient(discord.Client):
    def __init__(self) -> None:
        intents = discord.Intents.none()
        intents.guilds = True
        super().__init__(intents=intents, allowed_mentions=discord.AllowedMentions.none())


def peak_per_second(times: list[float]) -> int:
    times = sorted(times)
    best = 0
    for i, t in enumerate(times):
        best = max(best, bisect_right(times, t + 1.0 - 1e-9) - i)
    return best


def measure(
    server: FakeDiscord,
    since: int,
    variant: str,
    n: int,
    seconds: float,
    channel_ids: list[int],
    failed: int,
) -> Row:
    reqs = [r for r in server.requests[since:] if not r.path.startswith("/interactions")]
    per_channel = [
        sum(
            1
            for m in server.world.channel_messages(cid)
            if m["author"]["id"] == str(server.world.bot.id)
        )
        for cid in channel_ids
    ]
    return Row(
        variant=variant,
        schedules=n,
        posted=sum(1 for c in per_channel if c >= 1),
        failed=failed,
        duplicates=sum(1 for c in per_channel if c > 1),
        seconds=seconds,
        peak_1s=peak_per_second([r.time for r in reqs]),
        got_429=sum(1 for r in reqs if r.status == 429),
        requests=len(reqs),
    )


async def run_naive(n: int, paper: Any) -> Row:
    server, channel_ids = make_server(n)
    await server.start()
    try:
        with patch_discord(server):
            async with running_client(BenchClient(), server, timeout=120) as client:
                mark = len(server.requests)
                channels = [client.get_channel(cid) for cid in channel_ids]
                embed = cards.paper_embed(paper, context="📈 Trending today")

                async def send(ch: Any) -> None:
                    await ch.send(embed=embed, view=card_view(paper))

                began = time.perf_counter()
                results = await asyncio.gather(
                    *(send(ch) for ch in channels), return_exceptions=True
                )
                seconds = time.perf_counter() - began
                failed = sum(1 for r in results if isinstance(r, BaseException))
                return measure(server, mark, "naive gather", n, seconds, channel_ids, failed)
    finally:
        await server.stop()


async def run_runner(n: int, *, limited: bool, workdir: Path) -> Row:
    server, channel_ids = make_server(n)
    await server.start()
    db_path = workdir / f"bench-{'lim' if limited else 'nolim'}.db"
    store = await Store.open(db_path)
    try:
        await load_file(store, DATA)
        now = datetime.now(UTC)
        repo = store.schedules
        for cid in channel_ids:
            await repo.upsert(
                channel_id=cid,
                guild_id=0,
                local_time=now.strftime("%H:%M"),
                tz="UTC",
                topic=None,
                thread=False,
                role_id=None,
                next_run=now,  # due now: all N in the same minute
                created_by=None,
                today_key=now.date().isoformat(),
                now=now,
            )
        with patch_discord(server):
            async with running_client(BenchClient(), server, timeout=120) as client:
                from bot.cogs.daily import DiscordPoster

                limiter = (
                    RateLimiter(rate=40.0, burst=5)
                    if limited
                    else RateLimiter(rate=1e9, burst=10**9)
                )
                poster = DiscordPoster(client, limiter)  # type: ignore[arg-type]
                runner = DailyRunner(
                    repo,
                    DailyPicker(Trending(store.signals, store.social), repo),
                    store.papers,
                    poster,
                    SystemClock(),
                    concurrency=50,
                )
                mark = len(server.requests)
                began = time.perf_counter()
                deadline = began + 1800
                while time.perf_counter() < deadline:
                    await runner.tick()
                    open_runs = await store.db.fetchval(
                        "SELECT count(*) FROM daily_runs WHERE state IN ('pending', 'sending')"
                    )
                    if not open_runs:
                        break
                    await asyncio.sleep(0.5)
                seconds = time.perf_counter() - began
                failed = int(
                    await store.db.fetchval("SELECT count(*) FROM daily_runs WHERE state != 'sent'")
                )
                name = "runner (ours)" if limited else "runner, no own limiter"
                return measure(server, mark, name, n, seconds, channel_ids, failed)
    finally:
        await store.close()
        await server.stop()


def print_table(rows: list[Row]) -> None:
    head = (
        f"{'variant':<24}{'schedules':>10}{'posted':>8}{'failed':>8}{'dupes':>7}{'time s':>9}"
        f"{'posts/s':>9}{'max req/1s':>12}{'429s':>8}{'requests':>10}"
    )
    print(head)
    print("-" * len(head))
    for r in rows:
        rate = r.posted / r.seconds if r.seconds else 0.0
        print(
            f"{r.variant:<24}{r.schedules:>10}{r.posted:>8}{r.failed:>8}{r.duplicates:>7}"
            f"{r.seconds:>9.1f}{rate:>9.1f}{r.peak_1s:>12}{r.got_429:>8}{r.requests:>10}"
        )
    base, last = rows[0], rows[-1]
    if last is not base:
        print(
            f"{last.variant} vs {base.variant}: {_ratio(last.posted, base.posted)} the posts "
            f"delivered, {_ratio(base.peak_1s, last.peak_1s)} fewer requests in the busiest "
            f"second, {_ratio(base.got_429, last.got_429)} fewer 429s"
        )


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.1f}x" if b else "∞x"


async def main_async(args: argparse.Namespace) -> list[Row]:
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        store = await Store.open(workdir / "papers.db")
        await load_file(store, DATA)
        top = await store.papers.top_by_source_rank(1)
        await store.close()
        print(
            f"{args.schedules} schedules due in the same minute; fake Discord: global limit 50/s, "
            f"5 msgs/5 s per channel, {INJECTED_429} injected 429s, {INJECTED_502} injected 502s",
            flush=True,
        )
        rows.append(await run_naive(args.schedules, top[0]))
        print_table(rows)
        print(flush=True)
        if args.all:
            rows.append(await run_runner(args.schedules, limited=False, workdir=workdir))
            print_table(rows)
            print(flush=True)
        rows.append(await run_runner(args.schedules, limited=True, workdir=workdir))
    print_table(rows)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--schedules", type=int, default=10_000)
    parser.add_argument(
        "--all", action="store_true", help="also run the runner without its limiter"
    )
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO if args.verbose else logging.ERROR)
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
