"""Two real bot processes (``python -m bot run``) on one SQLite file, each running half of the
shards, against the fake Discord: every channel gets its daily post exactly once, from the
process whose shards hold its server, and interactions are answered on every shard.

The processes are the real command line (``tests/run_on_fake.py`` only points discord.py at
the fake); the schedules are written to the database before they start, due at the minute
that has just begun, so both processes find them due at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import sqlite3
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.schedule.timecalc import today_key
from bot.shards import shard_of
from bot.store import Store
from bot.store.loader import load_data_dir
from tests.fakediscord import FakeDiscord, World
from tests.fakediscord.client import patch_discord
from tests.fakediscord.gateway import Op
from tests.fakediscord.world import FakeChannel

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(90)]

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).parent / "fixtures"
TOKEN = "MTA0OTk5OTk5OTk5OTk5OTk5OQ.GhJkLm.abcdefghijklmnopqrstuvwxyz0123456789AB"
SERVERS = 24
SHARDS = 4
PROCESSES = {"A": "0-1", "B": "2-3"}
POSTED = re.compile(r"daily post in channel (\d+) \(")


def midday_zone(now: datetime) -> ZoneInfo:
    """A fixed-offset zone where it is about noon now: 'today' cannot end during the test."""
    offset = 12 - now.hour  # local = UTC + offset, between -11 and +12
    return ZoneInfo(f"Etc/GMT{-offset:+d}" if offset else "Etc/GMT")


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    world = World.default()
    world.add_guilds(SERVERS)
    # Two buckets: each process's first two shards start together, the other process's
    # two wait 5 s for theirs; a too-early IDENTIFY would be refused (op 9) and counted.
    server = FakeDiscord(world, token=TOKEN, max_concurrency=2, identify_interval=5.0)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()
    assert not server.internal_errors, server.internal_errors


async def prepare(tmp_path: Path, fake: FakeDiscord) -> dict[int, int]:
    """The store with papers and one schedule per server due now; channel -> its shard."""
    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(FIXTURES / "trending-may-28.txt", data)
    now = datetime.now(UTC)
    zone = midday_zone(now)
    local = now.astimezone(zone)
    due = local.replace(second=0, microsecond=0).astimezone(UTC)
    channels: dict[int, int] = {}
    async with await Store.open(tmp_path / "paperbot.db") as store:
        await load_data_dir(store, data)
        for guild in fake.world.guilds.values():
            channel = next((c for c in guild.channels.values() if c.name == "papers-0"), None)
            if channel is None:
                continue
            await store.schedules.upsert(
                channel_id=channel.id,
                guild_id=guild.id,
                local_time=f"{local:%H:%M}",
                tz=zone.key,
                topic=None,
                thread=False,
                role_id=None,
                next_run=due,
                created_by=fake.world.user("alice").id,
                today_key=today_key(zone.key, now),
                now=now,
            )
            channels[channel.id] = shard_of(guild.id, SHARDS)
    assert len(channels) == SERVERS
    return channels


async def start(
    tmp_path: Path, fake: FakeDiscord, name: str, shards: str | None = None
) -> asyncio.subprocess.Process:
    env = {
        **os.environ,
        "DISCORD_TOKEN": TOKEN,
        "PAPERBOT_DATABASE": str(tmp_path / "paperbot.db"),
        "PAPERBOT_DATA_DIR": str(tmp_path / "data"),
        "PAPERBOT_REFRESH": "false",
        "PAPERBOT_LOG_LEVEL": "INFO",
        "PAPERBOT_WEB_PORT": "0",  # two processes on one machine: a free port each
        "PAPERBOT_SHARD_COUNT": str(SHARDS),
        "PAPERBOT_SHARDS": shards or PROCESSES[name],
    }
    (tmp_path / "empty.env").touch()  # no settings file: only the environment above
    log = (tmp_path / f"{name}.log").open("w")
    try:
        return await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.run_on_fake",
            fake.api_url,
            fake.gateway_url,
            "--env-file",
            str(tmp_path / "empty.env"),
            "run",
            cwd=ROOT,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=log,
            stderr=log,
        )
    finally:
        log.close()


def posted_in(fake: FakeDiscord, channel_id: int) -> int:
    return len(fake.world.channel_messages(channel_id))


async def until(predicate: object, within: float, what: str) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + within
    while not predicate():  # type: ignore[operator]
        if loop.time() > end:
            raise AssertionError(f"not reached within {within:.0f} s: {what}")
        await asyncio.sleep(0.05)


async def test_two_shard_processes_post_once_per_channel_and_answer_every_shard(
    tmp_path: Path, fake: FakeDiscord
) -> None:
    channels = await prepare(tmp_path, fake)
    procs = {name: await start(tmp_path, fake, name) for name in PROCESSES}
    try:
        await until(
            lambda: all(posted_in(fake, c) for c in channels),
            60,
            "a daily post in every channel (see A.log and B.log)",
        )
        # Both schedulers go on ticking: give a second post every chance to happen.
        await asyncio.sleep(2.0)
        assert {c: posted_in(fake, c) for c in channels} == dict.fromkeys(channels, 1)

        # Interactions: a server of each shard asks /trending; the process running that
        # shard answers.
        with patch_discord(fake):
            for shard in range(SHARDS):
                guild = next(
                    g
                    for g in fake.world.guilds.values()
                    if g.name.startswith("Server ") and shard_of(g.id, SHARDS) == shard
                )
                channel: FakeChannel = next(iter(guild.channels.values()))
                pending = await fake.send_slash_command("trending", [], channel=channel)
                assert (await pending.wait_callback(timeout=10)).status == 200
        # A third process by mistake with shards the others run: refused at once, saying why.
        third = await start(tmp_path, fake, "C", shards="1-2")
        assert await asyncio.wait_for(third.wait(), 30) == 2
        said = (tmp_path / "C.log").read_text()
        assert "both would run shard 1 (shards 0-1 of 4 there)" in said, said
        assert "give each process its own PAPERBOT_SHARDS range" in said
    finally:
        for proc in procs.values():
            with contextlib.suppress(ProcessLookupError):
                proc.terminate()
        codes = [await asyncio.wait_for(p.wait(), 30) for p in procs.values()]
    logs = {name: (tmp_path / f"{name}.log").read_text() for name in PROCESSES}
    assert codes == [0, 0], logs

    # Each process posted in the channels of its own shards' servers, and only there.
    for name, shard_range in PROCESSES.items():
        first, last = (int(x) for x in shard_range.split("-"))
        mine = {c for c, shard in channels.items() if first <= shard <= last}
        assert {int(c) for c in POSTED.findall(logs[name])} == mine, logs[name]

    gateway = fake.gateway
    identified = sorted(tuple(f.d["shard"]) for f in gateway.frames_in(Op.IDENTIFY))
    assert identified == [(s, SHARDS) for s in range(SHARDS)]
    assert gateway.identify_rejections == 0  # the IDENTIFY pacing held across processes

    with sqlite3.connect(tmp_path / "paperbot.db") as db:
        states = db.execute("SELECT state, count(*) FROM daily_runs GROUP BY state").fetchall()
    assert states == [("sent", SERVERS)]
