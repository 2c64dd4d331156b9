"""End to end: members subscribe with /alerts, the refresher imports papers from a local
Hugging Face stand-in, and the bot DMs digests through the fake Discord (a member with
closed DMs is told in the channel, once, and their alerts are paused)."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.app import PaperBot
from bot.cogs.alerts import DiscordAlertSender
from bot.cogs.refresh import RefreshCog
from bot.fetch.alerts import deliver_alerts
from bot.ingest import arxiv_snapshot
from bot.models import Paper
from bot.store import Store
from tests.fakediscord import FakeDiscord, payloads
from tests.fakediscord.world import Perm
from tests.fakesources import FakeSources
from tests.stores import OpenStore, StartBot, another_writer

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(30)]

Connect = Callable[..., Awaitable[Any]]
CHANNEL_OPTION = 7
ARXIV_SAMPLE = Path(__file__).parent / "fixtures" / "arxiv-metadata-oai-snapshot.200.jsonl"


@pytest.fixture
async def bot(
    tmp_path: Path, todays_sources: FakeSources, open_store: OpenStore, start_bot: StartBot
) -> PaperBot:
    store = await open_store(name="paperbot.db")
    return await start_bot(store, todays_sources.settings(tmp_path, alerts_daily_cap=3))


async def run(
    fake: FakeDiscord, user: str, sub: str, *options: Any, channel: str = "general"
) -> dict[str, Any]:
    pending = await fake.send_slash_command(
        "alerts", [payloads.subcommand(sub, list(options))], user=user, channel=channel
    )
    req = await pending.wait_callback()
    data: dict[str, Any] = req.json["data"]
    assert data["flags"] & 64, "alert commands answer privately"
    return data


def text_of(data: dict[str, Any]) -> str:
    parts = [data.get("content") or ""]
    for embed in data.get("embeds") or []:
        parts += [embed.get("title", ""), embed.get("description", "")]
    return "\n".join(parts)


def refresher(bot: PaperBot) -> RefreshCog:
    # load_extension imports the module afresh: compare by name, not by class identity.
    cog = bot.get_cog("RefreshCog")
    assert cog is not None and type(cog).__name__ == "RefreshCog"
    return cog  # type: ignore[return-value]


def dm_messages(fake: FakeDiscord, user: str) -> list[dict[str, Any]]:
    uid = fake.world.user(user).id
    return [
        m
        for c in fake.world.dm_channels.values()
        if c.recipients == [uid]
        for m in fake.messages(c.id)
    ]


async def test_alerts_from_subscription_to_dm(
    fake_discord: FakeDiscord, bot: PaperBot, todays_sources: FakeSources
) -> None:
    added = await run(fake_discord, "alice", "add", payloads.option("query", "agents"))
    assert "Alert added" in text_of(added) and "at most 3 a day" in text_of(added)
    await run(fake_discord, "carol", "add", payloads.option("query", "software"))
    bad = await run(fake_discord, "bob", "add", payloads.option("query", "!"))
    assert "won't work" in text_of(bad)
    papers_channel = fake_discord.world.channel("papers").id
    denied = await run(
        fake_discord,
        "bob",
        "add",
        payloads.option("query", "rlvr"),
        payloads.option("channel", str(papers_channel), type=CHANNEL_OPTION),
    )
    assert "Manage Server" in text_of(denied)

    cog = refresher(bot)
    guild_id = fake_discord.world.guild_of(fake_discord.world.channel("general")).id
    before = {p.id for p in await bot.trending(guild_id, 1000)}  # fills the ranked pool cache
    reports, alerts = await cog.run_once(due_only=False)
    assert reports[0].ok and reports[0].new == 5
    # The refresh invalidated the cached pool: the new papers can trend (and be picked) today.
    after = {p.id for p in await bot.trending(guild_id, 1000)}
    assert "2603.21489" not in before and "2603.21489" in after
    assert (alerts.digests, alerts.blocked) == (1, 1)

    (dm,) = dm_messages(fake_discord, "alice")
    assert "New papers for your alert" in dm["embeds"][0]["title"]
    assert (
        "Effective Strategies for Asynchronous Software Engineering Agents"
        in dm["embeds"][0]["description"]
    )
    assert dm_messages(fake_discord, "carol") == []
    notices = [m for m in fake_discord.messages("general") if "paused" in m["content"]]
    assert len(notices) == 1
    carol_id = fake_discord.world.user("carol").id
    assert f"<@{carol_id}>" in notices[0]["content"] and "/alerts resume" in notices[0]["content"]

    # A second run: nothing new, nothing sent again, nobody told twice.
    await cog.run_once(due_only=False)
    assert len(dm_messages(fake_discord, "alice")) == 1
    assert len([m for m in fake_discord.messages("general") if "paused" in m["content"]]) == 1

    listed = await run(fake_discord, "carol", "list")
    assert "software → DM (paused)" in text_of(listed) and "/alerts resume" in text_of(listed)
    resumed = await run(fake_discord, "carol", "resume")
    assert "Resumed 1 alert" in text_of(resumed)


async def test_remove_with_autocomplete(fake_discord: FakeDiscord, bot: PaperBot) -> None:
    await run(fake_discord, "alice", "add", payloads.option("query", "diffusion models"))
    await run(fake_discord, "alice", "add", payloads.option("query", "agents"))
    await run(fake_discord, "bob", "add", payloads.option("query", "agents"))
    pending = await fake_discord.send_autocomplete(
        "alerts", [payloads.subcommand("remove", [payloads.focused("alert", "diff")])], user="alice"
    )
    choices = (await pending.wait_callback()).json["data"]["choices"]
    assert [c["name"] for c in choices] == ["diffusion models → DM"]
    removed = await run(
        fake_discord, "alice", "remove", payloads.option("alert", choices[0]["value"])
    )
    assert "removed" in text_of(removed)
    remaining = await bot.store.alerts.for_member(
        fake_discord.world.guild.id, fake_discord.world.user("alice").id
    )
    assert [a.query for a in remaining] == ["agents"]
    # Someone else's alert id cannot be removed.
    bobs = await bot.store.alerts.for_member(
        fake_discord.world.guild.id, fake_discord.world.user("bob").id
    )
    refused = await run(fake_discord, "alice", "remove", payloads.option("alert", str(bobs[0].id)))
    assert "can't find" in text_of(refused)


async def test_alert_commands_waiting_behind_another_writer_are_acknowledged_in_time(
    fake_discord: FakeDiscord, bot: PaperBot
) -> None:
    """Another process (`python -m bot load`) holds SQLite's write lock for 4 s: /alerts add
    and /alerts remove are acknowledged privately within Discord's 3 s, then answer once
    their write went through."""
    loop = asyncio.get_running_loop()
    alice = fake_discord.world.user("alice").id
    guild = fake_discord.world.guild.id
    for sub, option, said in (
        ("add", payloads.option("query", "agents"), "Alert added"),
        ("remove", payloads.option("alert", "agents"), "Alert “agents” removed."),
    ):
        async with another_writer(bot.store.db.path, 4.0):
            pending = await fake_discord.send_slash_command(
                "alerts", [payloads.subcommand(sub, [option])], user="alice"
            )
            started = loop.time()
            callback = await pending.wait_callback(timeout=6.0)
            took = loop.time() - started
        assert took < 3.0 and callback.status < 300, (sub, took, callback.status)
        assert callback.json["type"] == 5 and callback.json["data"]["flags"] & 64
        followup = await pending.wait_followup(timeout=6.0)
        assert said in followup.json["content"], followup.json
        assert followup.response["flags"] & 64
        left = await bot.store.alerts.for_member(guild, alice)
        assert [a.query for a in left] == (["agents"] if sub == "add" else [])


async def test_channel_alert_by_a_moderator_posts_in_the_channel(
    fake_discord: FakeDiscord, bot: PaperBot
) -> None:
    papers_channel = fake_discord.world.channel("papers").id
    added = await run(
        fake_discord,
        "carol",
        "add",
        payloads.option("query", "reasoning"),
        payloads.option("channel", str(papers_channel), type=CHANNEL_OPTION),
    )
    assert "will be sent in <#" in text_of(added)
    # A channel the bot cannot send to is refused when set, naming what is missing.
    refused = await run(
        fake_discord,
        "carol",
        "add",
        payloads.option("query", "agents"),
        payloads.option(
            "channel", str(fake_discord.world.channel("announcements").id), type=CHANNEL_OPTION
        ),
    )
    assert "I'm missing Send Messages there" in text_of(refused)
    cog = refresher(bot)
    _, alerts = await cog.run_once(due_only=False)
    assert alerts.digests == 1
    (post,) = fake_discord.messages("papers")
    assert "reasoning" in post["embeds"][0]["title"]


async def test_a_channel_alert_needs_the_members_own_right_to_post_there(
    fake_discord: FakeDiscord, bot: PaperBot
) -> None:
    fake = fake_discord
    papers = fake.world.channel("papers")
    fake.world.deny(papers, "carol", Perm.SEND_MESSAGES)
    await fake.notify_channel_update(papers)
    await asyncio.sleep(0.05)
    refused = await run(
        fake,
        "carol",
        "add",
        payloads.option("query", "reasoning"),
        payloads.option("channel", str(papers.id), type=CHANNEL_OPTION),
    )
    assert text_of(refused) == (
        f"You can't send messages in <#{papers.id}>, so I won't post there for you."
    )
    fake.world.deny(papers, "carol", Perm.VIEW_CHANNEL)
    await fake.notify_channel_update(papers)
    await asyncio.sleep(0.05)
    hidden = await run(
        fake,
        "carol",
        "add",
        payloads.option("query", "reasoning"),
        payloads.option("channel", str(papers.id), type=CHANNEL_OPTION),
    )
    assert text_of(hidden) == f"You can't see <#{papers.id}>, so I won't post there for you."
    assert await bot.store.alerts.for_guild(fake.world.guild.id) == []
    # Her DM alerts are hers to make wherever she is.
    added = await run(fake, "carol", "add", payloads.option("query", "reasoning"))
    assert "Alert added" in text_of(added)


async def test_closed_dms_notice_only_where_the_member_can_write_and_resume_everywhere(
    fake_discord: FakeDiscord, bot: PaperBot, caplog: pytest.LogCaptureFixture
) -> None:
    fake = fake_discord
    carol = fake.world.user("carol")  # her DMs are closed
    await run(fake, "carol", "add", payloads.option("query", "software"))
    # The same member's DM alert from another server the bot is in.
    await bot.store.alerts.add(
        guild_id=fake.world.guild.id + 1,
        user_id=carol.id,
        query="agents",
        origin_channel_id=fake.world.channel("papers").id + 1,
    )
    # Since then, she lost Send Messages in #general, where she made the alert.
    general = fake.world.channel("general")
    fake.world.deny(general, carol, Perm.SEND_MESSAGES)
    await fake.notify_channel_update(general)
    await asyncio.sleep(0.05)

    caplog.set_level("INFO", logger="bot.cogs.alerts")
    _, alerts = await refresher(bot).run_once(due_only=False)
    assert alerts.blocked == 1
    assert [m for m in fake.messages("general") if "paused" in (m["content"] or "")] == []
    assert "not telling user" in caplog.text and "can't send messages" in caplog.text
    assert [a.query for a in await bot.store.alerts.active()] == []

    resumed = await run(fake, "carol", "resume")
    assert text_of(resumed) == (
        "Resumed 2 alert(s), 1 of them by DM from other servers. "
        "New matches will reach you from now on."
    )
    assert sorted(a.query for a in await bot.store.alerts.active()) == ["agents", "software"]


async def test_a_long_digest_loses_no_paper(fake_discord: FakeDiscord, bot: PaperBot) -> None:
    # The 50 longest real titles of the arXiv sample, as if a refresh had just brought them.
    records = ARXIV_SAMPLE.read_text().splitlines()
    real = [p for p in arxiv_snapshot.iter_papers(records) if isinstance(p, Paper)]
    real.sort(key=lambda p: -len(p.title))
    today = datetime.now(UTC).date()
    fresh = [
        dataclasses.replace(p, published=today, abstract=p.abstract + " Quasars.")
        for p in real[:50]
    ]
    await run(fake_discord, "alice", "add", payloads.option("query", "quasars"))
    await bot.store.papers.upsert_many(fresh, "hf-daily")

    report = await deliver_alerts(bot.store, DiscordAlertSender(bot), daily_cap=50)
    dms = dm_messages(fake_discord, "alice")
    assert len(dms) > 1  # more than one message can hold
    for dm in dms:
        assert (
            sum(
                len(e.get("title", "")) + len(e.get("description", "")) + len(e["footer"]["text"])
                for e in dm["embeds"]
            )
            <= 6000
        )
    text = "\n".join(e["description"] for dm in dms for e in dm["embeds"])
    for paper in fresh:
        assert f"`{paper.arxiv_id}`" in text, paper.title
    assert report.papers == 50
    pids = [int(r[0]) for r in await bot.store.db.fetchall("SELECT pid FROM papers")]
    assert (
        len(await bot.store.alerts.delivered("user", fake_discord.world.user("alice").id, pids))
        == 50
    )


async def test_a_short_prefix_alert_is_refused_saying_why(
    fake_discord: FakeDiscord, bot: PaperBot
) -> None:
    refused = await run(fake_discord, "alice", "add", payloads.option("query", "co*"))
    assert text_of(refused).startswith("That alert won't work: `co*` is too short a prefix")
    assert await bot.store.alerts.for_guild(fake_discord.world.guild.id) == []
    added = await run(fake_discord, "alice", "add", payloads.option("query", "transform*"))
    assert "Alert added" in text_of(added)


async def test_an_old_short_prefix_alert_is_paused_and_explained(
    fake_discord: FakeDiscord, bot: PaperBot
) -> None:
    alice = fake_discord.world.user("alice")
    # Made before the rule (straight into the store, as an older bot version would have).
    await bot.store.alerts.add(
        guild_id=fake_discord.world.guild.id,
        user_id=alice.id,
        query="co*",
        origin_channel_id=fake_discord.world.channel("general").id,
    )
    await bot.store.papers.upsert_many([Paper.create(title="Compilers", source="hf-daily")], "x")
    await deliver_alerts(bot.store, DiscordAlertSender(bot), daily_cap=3)
    listed = text_of(await run(fake_discord, "alice", "list"))
    assert "co\\* → DM (paused) — no longer accepted: `co*` is too short a prefix" in listed
    assert "remove it and add" in listed
    # Resuming would only pause it again: it stays paused, and the answer says so.
    resumed = await run(fake_discord, "alice", "resume")
    assert text_of(resumed) == (
        "Nothing to resume: an alert whose query is no longer accepted stays paused "
        "(see `/alerts list`)."
    )
    assert [
        a.paused for a in await bot.store.alerts.for_member(fake_discord.world.guild.id, alice.id)
    ] == [True]


async def test_following_an_author_sends_their_new_papers_by_dm(
    fake_discord: FakeDiscord, bot: PaperBot
) -> None:
    added = await run(fake_discord, "alice", "add", payloads.option("author", "Neubig, G."))
    assert "Alert added: new papers by Neubig, G. will be sent by DM" in text_of(added)
    both = await run(
        fake_discord,
        "bob",
        "add",
        payloads.option("query", "agents"),
        payloads.option("author", "G. Neubig"),
    )
    assert "either a `query`" in text_of(both)
    alone = await run(fake_discord, "bob", "add", payloads.option("author", "Huang"))
    assert "won't work: add a first name or an initial" in text_of(alone)
    await run(fake_discord, "bob", "add", payloads.option("author", "K. Huang"))
    await run(fake_discord, "bob", "add", payloads.option("author", "H. Neubig"))  # not Graham
    await run(fake_discord, "carol", "add", payloads.option("author", "Graham Neubig"))

    reports, alerts = await refresher(bot).run_once(due_only=False)
    assert reports[0].ok and (alerts.digests, alerts.papers, alerts.blocked) == (2, 2, 1)

    (dm,) = dm_messages(fake_discord, "alice")
    (embed,) = dm["embeds"]
    assert embed["title"] == "🔔 New papers for your alert"
    assert embed["description"].startswith("By Neubig, G.\n\n**1.** [Effective Strategies")
    assert "Graham Neubig" in embed["description"]
    (dm,) = dm_messages(fake_discord, "bob")
    assert dm["embeds"][0]["description"].startswith(
        "By K. Huang.\n\n**1.** [On the Direction of RLVR Updates for LLM Reasoning"
    )
    assert "Kexin Huang" in dm["embeds"][0]["description"]
    assert "**2.**" not in dm["embeds"][0]["description"]
    # Carol's DMs are closed: told once where she made the alert, the alert paused.
    notices = [m for m in fake_discord.messages("general") if "paused" in m["content"]]
    assert len(notices) == 1 and dm_messages(fake_discord, "carol") == []

    listed = await run(fake_discord, "alice", "list")
    assert "author: Neubig, G. → DM" in text_of(listed)
    removed = await run(fake_discord, "alice", "remove", payloads.option("alert", "Neubig, G."))
    assert "Alert by Neubig, G. removed." in text_of(removed)


async def test_two_processes_on_one_database_refresh_and_alert_once(
    tmp_path: Path, todays_sources: FakeSources, fake_discord: FakeDiscord, connect_client: Connect
) -> None:
    # Two bot processes (two stores on one file: their own connections, like processes), both
    # due for the refresh at the same moment: one is elected, the papers are fetched and the
    # member's digest sent once; when it shuts down the other takes over.
    stores = [await Store.open(tmp_path / "paperbot.db") for _ in range(2)]
    try:
        settings = todays_sources.settings(tmp_path)
        # (the fake does not keep Discord's 5 s between IDENTIFYs here: neither need the bots)
        bots = [PaperBot(settings, s, identify_interval=0.05) for s in stores]
        for client in bots:
            await connect_client(client)
        await run(fake_discord, "alice", "add", payloads.option("query", "agents"))
        first, second = (refresher(b) for b in bots)
        results = await asyncio.gather(
            first.run_once(due_only=False), second.run_once(due_only=False)
        )
        done = [r for r in results if r is not None]
        assert len(done) == 1, "exactly one process runs the refresh and the alerts"
        reports, alerts = done[0]
        assert reports[0].new == 5 and alerts.digests == 1
        assert len(dm_messages(fake_discord, "alice")) == 1
        assert len(todays_sources.requests("hf")) >= 1
        fetched = len(todays_sources.requests("hf"))

        leader, other = (first, second) if results[0] is not None else (second, first)
        assert leader.leading and not other.leading
        assert await other.run_once(due_only=False) is None  # still the other's turn
        await leader.cog_unload()  # a clean shutdown hands the lease over at once
        took_over = await other.run_once(due_only=False)
        assert took_over is not None and other.leading
        assert took_over[0][0].new == 0 and took_over[1].digests == 0
        assert len(dm_messages(fake_discord, "alice")) == 1
        assert len(todays_sources.requests("hf")) > fetched
    finally:
        for s in stores:
            await s.close()
