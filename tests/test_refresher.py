"""The refresher's loop (a discord.ext.tasks loop): it runs the refresh at once, then every
interval; a failed run is logged and retried, never ends the loop; of two processes sharing a
database only the lease holder refreshes, and the other takes over when it stops."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import bot.cogs.refresh as refresh_module
from bot.app import PaperBot
from bot.cogs.refresh import RefreshCog
from tests.fakesources import FakeSources
from tests.stores import OpenStore, StartBot

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(30)]

BEAT = 0.05


@pytest.fixture
async def bot(
    tmp_path: Path, todays_sources: FakeSources, open_store: OpenStore, start_bot: StartBot
) -> PaperBot:
    store = await open_store(name="paperbot.db")
    # the refreshers under test are started by hand
    return await start_bot(store, todays_sources.settings(tmp_path, refresh_enabled=False))


async def until(check: Callable[[], bool], within: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.02)


def refresher(bot: PaperBot, interval: float = 0.3) -> RefreshCog:
    return RefreshCog(bot, first_delay=0.0, heartbeat=BEAT, interval=interval)


async def test_the_bots_own_refresher_is_off_when_disabled(bot: PaperBot) -> None:
    cog = bot.get_cog("RefreshCog")
    assert cog is not None
    assert not cog.beat.is_running()  # type: ignore[attr-defined]


async def test_runs_at_once_then_every_interval_and_survives_a_failed_run(
    bot: PaperBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = refresh_module.deliver_alerts
    calls = 0

    async def flaky(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise RuntimeError("the alerts broke this time")
        return await real(*args, **kwargs)

    monkeypatch.setattr(refresh_module, "deliver_alerts", flaky)
    before = await bot.store.papers.count()
    cog = refresher(bot)
    cog.start()
    try:
        await until(lambda: cog.runs >= 4)
        assert cog.failures == 1
        assert cog.beat.is_running(), "a failed run must not end the loop"
        assert await bot.store.papers.count() > before, "the first run imported the papers"
    finally:
        await cog.cog_unload()
    assert not cog.beat.is_running()
    runs = cog.runs
    await asyncio.sleep(0.5)
    assert cog.runs == runs, "stopped means stopped"


async def test_only_the_lease_holder_refreshes_and_the_other_takes_over(bot: PaperBot) -> None:
    first, second = refresher(bot, interval=0.2), refresher(bot, interval=0.2)
    first.start()
    await until(lambda: first.runs >= 1)
    second.start()
    try:
        await until(lambda: first.runs >= 4)
        assert second.runs == 0 and not second.leading
        await first.cog_unload()  # shuts down cleanly: gives the lease up
        await until(lambda: second.runs >= 1, within=5)
        assert second.leading and not first.leading
    finally:
        await first.cog_unload()
        await second.cog_unload()
