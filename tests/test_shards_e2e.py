"""Shards end to end: the real PaperBot (an AutoShardedBot) against the fake Discord with a
few hundred servers over several shards.

The fake routes each server to shard ``(guild_id >> 22) % count``, recommends a shard count
in GET /gateway/bot, refuses an IDENTIFY that comes too soon in its bucket (op 9) and
delivers each interaction on its server's shard. The 10,000-server start-up is measured by
``bench/bench_shards.py``, not here.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot import app
from bot.app import PaperBot
from bot.config import Settings
from bot.shards import shard_of
from bot.store import Store
from tests.fakediscord import FakeDiscord, World, start_client
from tests.fakediscord.gateway import Op
from tests.fakediscord.world import FakeGuild
from tests.stores import OpenStore

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(60)]

Connect = Callable[..., Awaitable[Any]]
SERVERS = 300


def many_servers() -> World:
    world = World.default()
    world.add_guilds(SERVERS)
    return world


@pytest.fixture
def fake_discord_options() -> dict[str, Any]:
    # 301 servers, one shard per 100: Discord recommends 4. Four may IDENTIFY at once, each
    # bucket once per 5 s (enforced: a faster IDENTIFY is refused with op 9).
    return {
        "world": many_servers(),
        "guilds_per_shard": 100,
        "max_concurrency": 4,
        "identify_interval": 5.0,
    }


@pytest.fixture
async def store(open_store: OpenStore) -> Store:
    return await open_store("trending-may-28.txt")


def one_server_per_shard(fake: FakeDiscord, count: int) -> dict[int, FakeGuild]:
    chosen: dict[int, FakeGuild] = {}
    for guild in fake.world.guilds.values():
        if guild.name.startswith("Server "):  # made by add_guilds: has #papers-0
            chosen.setdefault(shard_of(guild.id, count), guild)
    assert sorted(chosen) == list(range(count))
    return chosen


async def ask_trending(fake: FakeDiscord, guild: FakeGuild) -> tuple[int, int]:
    """/trending in *guild*; returns the callback's status and the connection the
    INTERACTION_CREATE went out on."""
    channel = next(c for c in guild.channels.values() if c.name == "papers-0")
    pending = await fake.send_slash_command("trending", [], channel=channel, user="alice")
    callback = await pending.wait_callback()
    frame = next(
        f for f in fake.gateway.dispatched("INTERACTION_CREATE") if f.d["id"] == str(pending.id)
    )
    return callback.status, frame.connection_id


async def test_one_process_runs_discords_recommended_shards_and_answers_on_each(
    fake_discord: FakeDiscord, store: Store, connect_client: Connect
) -> None:
    bot = PaperBot(Settings(refresh_enabled=False), store)
    await connect_client(bot, timeout=30)
    assert bot.shard_count == 4 and sorted(bot.shards) == [0, 1, 2, 3]
    assert len(bot.guilds) == SERVERS + 1
    for guild in bot.guilds:
        assert guild.shard_id == shard_of(guild.id, 4)
    gateway = fake_discord.gateway
    identified = sorted(tuple(f.d["shard"]) for f in gateway.frames_in(Op.IDENTIFY))
    assert identified == [(0, 4), (1, 4), (2, 4), (3, 4)]
    assert gateway.identify_rejections == 0
    # Each shard's connection got exactly its own servers.
    shard_of_conn = {c.id: c.session.shard for c in gateway.connections if c.session}
    for frame in gateway.dispatched("GUILD_CREATE"):
        shard = shard_of_conn[frame.connection_id]
        assert shard is not None and shard_of(int(frame.d["id"]), 4) == shard[0]
    # An interaction in a server of each shard arrives on that shard and is answered.
    for shard, guild in one_server_per_shard(fake_discord, 4).items():
        status, conn = await ask_trending(fake_discord, guild)
        assert status == 200
        assert shard_of_conn[conn] == (shard, 4)


@pytest.mark.parametrize(
    "fake_discord_options",
    [{"world": many_servers(), "max_concurrency": 1, "identify_interval": 0.2}],
)
async def test_identify_waits_its_turn_in_the_bucket(
    fake_discord: FakeDiscord, store: Store, connect_client: Connect
) -> None:
    # Three shards; the bot paces one IDENTIFY per 0.4 s (a real bot: per 5 s), the fake
    # refuses any closer than 0.2 s (slack for a loaded machine delaying one frame): none is
    # refused, and they arrive apart. Without pacing all three arrive at once.
    settings = Settings(refresh_enabled=False, shard_count=3)
    bot = PaperBot(settings, store, identify_interval=0.4)
    await connect_client(bot, timeout=30)
    gateway = fake_discord.gateway
    times = [f.time for f in gateway.frames_in(Op.IDENTIFY)]
    assert len(times) == 3 and gateway.identify_rejections == 0
    assert all(b - a >= 0.25 for a, b in itertools.pairwise(times)), times


async def test_a_process_with_some_shards_gets_only_their_servers(
    fake_discord: FakeDiscord, store: Store, connect_client: Connect
) -> None:
    settings = Settings(refresh_enabled=False, shard_count=4, shard_ids=(1, 3))
    bot = PaperBot(settings, store)
    await connect_client(bot, timeout=30)
    assert sorted(bot.shards) == [1, 3]
    expected = {g.id for g in fake_discord.world.guilds.values() if shard_of(g.id, 4) in (1, 3)}
    assert {g.id for g in bot.guilds} == expected
    assert fake_discord.requests_for("GET", "/gateway/bot")  # session start limits only
    chosen = one_server_per_shard(fake_discord, 4)
    for shard in (1, 3):
        status, _ = await ask_trending(fake_discord, chosen[shard])
        assert status == 200


@pytest.mark.parametrize("fake_discord_options", [{}])
async def test_a_process_that_lost_its_shards_to_another_stops_running_them(
    fake_discord: FakeDiscord, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The claim of a running process lapsed (its database was locked for minutes) and
    another process, on another machine, claimed the same shard: at its next renewal the
    first one stops and says why, rather than both answering that shard's servers."""
    monkeypatch.setattr(app, "PROCESS_HEARTBEAT", 0.05)
    settings = Settings(refresh_enabled=False, shard_count=2, shard_ids=(0,))
    bot = PaperBot(settings, store)
    task = await start_client(bot, fake_discord)
    try:
        now = datetime.now(UTC)
        await store.leases.release(f"process:{bot.process_id}", bot.process_id)
        other = "elsewhere:4242:feedbeef"
        taken = await store.leases.register(
            f"process:{other}",
            other,
            ttl=timedelta(minutes=3),
            now=now,
            info="2:0",
            prefix="process:",
            conflicts=lambda lease: False,
        )
        assert taken is None
        with pytest.raises(app.ShardsTaken, match="both would run shard 0"):
            await asyncio.wait_for(task, 5)
        assert bot.is_closed()
        assert all(not c.open for c in fake_discord.gateway.connections)
    finally:
        await bot.close()
        if not task.done():
            task.cancel()
