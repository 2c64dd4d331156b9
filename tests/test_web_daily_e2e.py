"""A daily schedule's public feed, end to end: the admin turns it on with ``/daily set ...
public_feed:true`` (the real bot against the fake Discord), the private answer holds the link,
the posts go out, and the feed served by the web site lists them."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import feedparser
import pytest

from bot.app import PaperBot
from bot.store import Store
from tests.daily_support import SteppedClock
from tests.fakediscord import FakeDiscord, payloads
from tests.stores import OpenStore, StartBot
from tests.test_daily_e2e import (
    berlin,
    bot_messages,
    channel_opt,
    clock,
    run,
    ticks_after,
    until,
)
from tests.web_support import BASE_URL, Site, make_context, serve, web_settings

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(60)]

FEED_LINK = re.compile(re.escape(BASE_URL) + r"/feeds/daily/([A-Za-z0-9_-]{32,})\.atom")


@pytest.fixture
async def store(open_store: OpenStore) -> Store:
    return await open_store("trending-may-28.txt")


@pytest.fixture
async def bot(store: Store, start_bot: StartBot) -> PaperBot:
    # PAPERBOT_WEB_URL is where the link the admin is shown points.
    settings = web_settings(web_rate_requests=0)
    return await start_bot(store, settings, clock=SteppedClock(berlin(7, 0)))


@pytest.fixture
async def site(bot: PaperBot, store: Store) -> AsyncIterator[Site]:
    # The site serves the bot's own store (python -m bot run).
    async with serve(make_context(store, settings=bot.settings)) as running:
        yield running


def options(fake: FakeDiscord, *extra: dict[str, object]) -> list[dict[str, object]]:
    return [
        channel_opt(fake, "papers"),
        payloads.option("time", "09:00"),
        payloads.option("timezone", "Europe/Berlin"),
        *extra,
    ]


async def test_admin_turns_on_a_public_feed_and_it_lists_the_posts(
    fake_discord: FakeDiscord,
    bot: PaperBot,
    site: Site,
) -> None:
    fake = fake_discord
    plain = await run(fake, "set", *options(fake))
    assert "feed" not in plain["content"]  # off by default, and not mentioned

    data = await run(fake, "set", *options(fake, payloads.option("public_feed", True)))
    assert data["flags"] & payloads.MessageFlag.EPHEMERAL  # only the admin sees the link
    found = FEED_LINK.search(data["content"])
    assert found, data["content"]
    token, url = found.group(1), found.group(0)
    assert f"<{url}>" in data["content"]  # no preview card for the link
    # running /daily set again without the option keeps the feed and its link
    again = await run(fake, "set", *options(fake))
    assert url in again["content"]
    status = await run(fake, "status")
    assert f"Public feed: <{url}>" in status["content"]

    feed = feedparser.parse((await site.get(f"/feeds/daily/{token}.atom"))[2])
    assert not feed.bozo and feed.entries == []

    for day in (1, 2):
        clock(bot).set(berlin(9, 0, day=day))
        await until(lambda day=day: len(bot_messages(fake, "papers")) == day)  # type: ignore[misc]
        await ticks_after(bot, berlin(9, 0, day=day))
    posted = [m["embeds"][0]["title"] for m in bot_messages(fake, "papers")]
    feed = feedparser.parse((await site.get(f"/feeds/daily/{token}.atom"))[2])
    assert not feed.bozo, feed.bozo_exception
    assert [e.title for e in feed.entries] == posted[::-1]  # newest first
    assert feed.entries[0].updated == berlin(9, 0, day=2).isoformat()
    body = (await site.get(f"/feeds/daily/{token}.atom"))[2]
    for private in (fake.world.guild.id, fake.world.channel("papers").id, "alice"):
        assert str(private) not in body

    off = await run(fake, "set", *options(fake, payloads.option("public_feed", False)))
    assert "Public feed: off." in off["content"] and token not in off["content"]
    assert (await site.get(f"/feeds/daily/{token}.atom"))[0] == 404
    status = await run(fake, "status")
    assert "Public feed" not in status["content"]
