"""/daily end to end: the real PaperBot (discord.py) against the local fake Discord.

An admin configures the daily post with an INTERACTION_CREATE, a controlled clock reaches
the time, and the fake server must receive exactly one message with the expected card in
the right channel, and none on the following ticks that day. Also: the refusals admins
see, pausing on a channel the bot lost access to, resuming, status, post-now, autocomplete.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot import cards
from bot.app import PaperBot
from bot.cogs.daily import DailyCog
from bot.config import Settings
from bot.store import Store
from tests.daily_support import SteppedClock
from tests.fakediscord import FakeDiscord, payloads
from tests.fakediscord.payloads import OptionType
from tests.fakediscord.world import Perm
from tests.stores import OpenStore, StartBot, another_writer

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(60)]

BERLIN = ZoneInfo("Europe/Berlin")
Connect = Callable[..., Awaitable[Any]]


def berlin(h: int, mi: int = 0, day: int = 1) -> datetime:
    return datetime(2024, 5, day, h, mi, tzinfo=BERLIN).astimezone(UTC)


@pytest.fixture
async def store(open_store: OpenStore) -> Store:
    return await open_store("trending-may-28.txt")


@pytest.fixture
async def bot(store: Store, start_bot: StartBot) -> PaperBot:
    return await start_bot(store, Settings(refresh_enabled=False), clock=SteppedClock(berlin(7, 0)))


def cog(bot: PaperBot) -> DailyCog:
    found = bot.get_cog("DailyCog")
    # load_extension imports the module afresh, so compare by name, not by class identity
    assert found is not None and type(found).__name__ == "DailyCog"
    return found  # type: ignore[return-value]


def clock(bot: PaperBot) -> SteppedClock:
    c = cog(bot).runner.clock
    assert type(c).__name__ == "SteppedClock"
    return c  # type: ignore[return-value]


async def run(
    fake: FakeDiscord, sub: str, *options: dict[str, Any], user: str = "alice"
) -> dict[str, Any]:
    """Run /daily <sub> and return the text of the (private) answer."""
    pending = await fake.send_slash_command(
        "daily", [payloads.subcommand(sub, list(options))], channel="general", user=user
    )
    cb = await pending.wait_callback()
    data: dict[str, Any] = cb.json.get("data") or {}
    if cb.json["type"] == 5:  # deferred: the answer is the follow-up
        follow = await pending.wait_followup()
        data = follow.json
    return data


def channel_opt(fake: FakeDiscord, name: str) -> dict[str, Any]:
    return payloads.option("channel", str(fake.world.channel(name).id), OptionType.CHANNEL)


async def set_daily(
    fake: FakeDiscord,
    channel: str,
    *more: dict[str, Any],
    time: str = "09:00",
    zone: str = "Europe/Berlin",
) -> dict[str, Any]:
    """Run /daily set for *channel* at *time* in *zone*, with *more* options; the answer."""
    when = [payloads.option("time", time), payloads.option("timezone", zone)]
    return await run(fake, "set", channel_opt(fake, channel), *when, *more)


async def until(predicate: Callable[[], bool], within: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + within
    while not predicate():
        if loop.time() > end:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)


async def ticks_after(bot: PaperBot, when: datetime, count: int = 3) -> None:
    """Wait until the scheduler has completed *count* passes at (or after) *when*."""
    runner = cog(bot).runner
    target = runner.ticks + count
    await until(lambda: runner.ticks >= target)
    assert runner.last_tick is not None and runner.last_tick >= when


def bot_messages(fake: FakeDiscord, channel: str) -> list[dict[str, Any]]:
    bot_id = str(fake.world.bot.id)
    return [m for m in fake.messages(channel) if m["author"]["id"] == bot_id]


async def test_admin_sets_a_daily_post_and_it_goes_out_exactly_once(
    fake_discord: FakeDiscord, bot: PaperBot, store: Store
) -> None:
    fake = fake_discord
    data = await set_daily(fake, "papers")
    assert data["flags"] & payloads.MessageFlag.EPHEMERAL
    assert data["content"].startswith("✅ Daily trending paper in <#")
    assert "09:00 Europe/Berlin" in data["content"]
    assert "Wed 1 May 09:00 CEST" in data["content"]

    await ticks_after(bot, berlin(7, 0))
    assert bot_messages(fake, "papers") == []

    mark = fake.mark()
    clock(bot).set(berlin(9, 0))
    await until(lambda: len(bot_messages(fake, "papers")) == 1)
    await ticks_after(bot, berlin(9, 0))
    clock(bot).set(berlin(9, 30))
    await ticks_after(bot, berlin(9, 30))
    clock(bot).set(berlin(23, 59))
    await ticks_after(bot, berlin(23, 59))

    posts = bot_messages(fake, "papers")
    assert len(posts) == 1
    assert bot_messages(fake, "general") == []
    top = (await store.papers.top_by_source_rank(1))[0]
    (embed,) = posts[0]["embeds"]
    assert embed["title"] == "ROICtrl: Boosting Instance Control for Visual Generation" == top.title
    assert embed["author"]["name"] == "📈 Trending today"
    buttons = [c for row in posts[0]["components"] for c in row["components"]]
    assert f"pb:vote:{top.id}" in {b.get("custom_id") for b in buttons}
    creates = [
        r
        for r in fake.requests[mark:]
        if r.method == "POST" and r.route == "POST /channels/{channel_id}/messages"
    ]
    assert len(creates) == 1
    assert creates[0].json["allowed_mentions"] == {"parse": []}
    assert creates[0].json["enforce_nonce"] is True and creates[0].json["nonce"].startswith("pb")

    # the next day: the next paper, once
    clock(bot).set(berlin(9, 0, day=2))
    await until(lambda: len(bot_messages(fake, "papers")) == 2)
    await ticks_after(bot, berlin(9, 0, day=2))
    second = bot_messages(fake, "papers")[1]["embeds"][0]["title"]
    assert second != embed["title"]

    status = await run(fake, "status")
    assert "09:00 Europe/Berlin" in status["content"]
    assert "Next: Fri 3 May 09:00 CEST" in status["content"]
    assert "Last: posted “" in status["content"]


async def test_wrong_input_gets_a_clear_private_answer(
    fake_discord: FakeDiscord, bot: PaperBot
) -> None:
    fake = fake_discord
    base = [channel_opt(fake, "papers"), payloads.option("time", "09:00")]
    zone = await run(fake, "set", *base, payloads.option("timezone", "Europe/Berln"))
    assert zone["flags"] & payloads.MessageFlag.EPHEMERAL
    assert "Did you mean Europe/Berlin?" in zone["content"]

    bad_time = await set_daily(fake, "papers", time="9am")
    assert "Use 24-hour HH:MM" in bad_time["content"]

    no_send = await set_daily(fake, "announcements", zone="UTC")
    assert "missing Send Messages" in no_send["content"]

    hidden = await set_daily(fake, "mod-only", zone="UTC")
    assert "View Channel" in hidden["content"]

    fake.world.deny_bot("papers", Perm.CREATE_PUBLIC_THREADS)
    await fake.notify_channel_update("papers")
    await asyncio.sleep(0.05)
    threads = await set_daily(fake, "papers", payloads.option("thread", True), zone="UTC")
    assert "missing Create Public Threads" in threads["content"]

    role = fake.world.add_role("Readers", mentionable=False)
    ping = await set_daily(
        fake, "general", payloads.option("role", str(role.id), OptionType.ROLE), zone="UTC"
    )
    assert "make it mentionable" in ping["content"]

    member = await run(fake, "status", user="bob")
    assert "Manage Server" in member["content"]
    assert await bot.store.schedules.for_guild(fake.world.guild.id) == []


async def test_zone_autocomplete(fake_discord: FakeDiscord, bot: PaperBot) -> None:
    pending = await fake_discord.send_autocomplete(
        "daily",
        [
            payloads.subcommand(
                "set",
                [channel_opt(fake_discord, "papers"), payloads.focused("timezone", "berl")],
            )
        ],
        channel="general",
    )
    cb = await pending.wait_callback()
    choices = cb.json["data"]["choices"]
    assert choices[0] == {"name": "Europe/Berlin", "value": "Europe/Berlin"}


async def test_lost_access_pauses_and_resume_posts_the_day_once(
    fake_discord: FakeDiscord, bot: PaperBot
) -> None:
    fake = fake_discord
    role = fake.world.add_role("Readers", mentionable=True)
    await fake.dispatch(
        "GUILD_ROLE_CREATE",
        {"guild_id": str(fake.world.guild.id), "role": payloads.role(role)},
        guild_id=fake.world.guild.id,
    )
    await asyncio.sleep(0.05)
    data = await set_daily(
        fake,
        "papers",
        payloads.option("thread", True),
        payloads.option("role", str(role.id), OptionType.ROLE),
    )
    assert data["content"].startswith("✅"), data["content"]
    # someone removes the bot's Send Messages in #papers (the bot is told via CHANNEL_UPDATE)
    fake.world.deny_bot("papers", Perm.SEND_MESSAGES)
    await fake.notify_channel_update("papers")
    clock(bot).set(berlin(9, 0))
    await ticks_after(bot, berlin(9, 0))
    schedule = await bot.store.schedules.get(fake.world.channel("papers").id)
    assert schedule is not None
    assert schedule.paused_reason == "missing permission: Send Messages"
    status = await run(fake, "status")
    assert "Paused: missing permission: Send Messages" in status["content"]
    assert "/daily resume" in status["content"]

    # resume before fixing: refused with the reason
    still = await run(fake, "resume", payloads.option("channel", "papers"))
    assert "missing Send Messages" in still["content"]

    # the admin fixes it at 11:00 and resumes: today's post goes out now, once, with a thread
    for ow in fake.world.channel("papers").overwrites:
        ow.deny &= ~int(Perm.SEND_MESSAGES)
    await fake.notify_channel_update("papers")
    await asyncio.sleep(0.05)
    clock(bot).set(berlin(11, 0))
    resumed = await run(fake, "resume", payloads.option("channel", str(schedule.channel_id)))
    assert resumed["content"].startswith("Resumed"), resumed["content"]
    await until(lambda: len(bot_messages(fake, "papers")) == 1)
    await ticks_after(bot, berlin(11, 0))
    (post,) = bot_messages(fake, "papers")
    assert post["content"] == f"<@&{role.id}>"
    assert post["mention_roles"] == [str(role.id)]
    assert post.get("thread") and post["thread"]["name"] == post["embeds"][0]["title"][:100]
    creates = fake.requests_for("POST", "/channels/{channel_id}/messages")
    allowed = creates[-1].json["allowed_mentions"]
    assert allowed["parse"] == [] and allowed["roles"] == [role.id]  # that role only


async def test_deleted_channel_pauses_and_post_now_and_off(
    fake_discord: FakeDiscord, bot: PaperBot
) -> None:
    fake = fake_discord
    await set_daily(fake, "papers")
    posted = await run(fake, "post-now", payloads.option("channel", "#papers"))
    assert posted["content"].startswith("Posted “"), posted["content"]
    assert "still goes out as scheduled" in posted["content"]
    assert len(bot_messages(fake, "papers")) == 1
    preview = await run(fake, "preview", payloads.option("channel", "papers"))
    assert preview["flags"] & payloads.MessageFlag.EPHEMERAL
    assert preview["embeds"][0]["author"]["name"].startswith("Preview · next post in #papers")
    assert preview["embeds"][0]["title"] != bot_messages(fake, "papers")[0]["embeds"][0]["title"]

    papers_id = fake.world.channel("papers").id
    await fake.delete_channel("papers", notify=False)  # the bot missed the event
    clock(bot).set(berlin(9, 0))
    await ticks_after(bot, berlin(9, 0))
    schedule = await bot.store.schedules.get(papers_id)
    assert schedule is not None and schedule.paused_reason == "the channel was deleted"

    pending = await fake.send_autocomplete(
        "daily", [payloads.subcommand("off", [payloads.focused("channel", "")])], channel="general"
    )
    choices = (await pending.wait_callback()).json["data"]["choices"]
    assert [c["value"] for c in choices] == [str(papers_id)]
    off = await run(fake, "off", payloads.option("channel", str(papers_id)))
    assert off["content"].startswith("Turned off the daily post")
    assert await bot.store.schedules.get(papers_id) is None
    again = await run(fake, "off", payloads.option("channel", f"<#{papers_id}>"))
    assert again["flags"] & payloads.MessageFlag.EPHEMERAL
    assert again["content"] == (
        "That channel has no daily post. See `/daily status`, or set one with `/daily set`."
    )
    clock(bot).set(berlin(9, 0) + timedelta(days=1))
    await ticks_after(bot, berlin(9, 0) + timedelta(days=1))
    assert len(bot_messages(fake, "papers")) == 1


async def test_daily_off_waiting_behind_another_writer_is_acknowledged_in_time(
    fake_discord: FakeDiscord, bot: PaperBot, store: Store
) -> None:
    """Another process (`python -m bot load`) holds SQLite's write lock for 4 s: /daily off
    is acknowledged privately within Discord's 3 s, then confirmed once its write went
    through."""
    fake = fake_discord
    await set_daily(fake, "papers")
    papers_id = fake.world.channel("papers").id
    loop = asyncio.get_running_loop()
    async with another_writer(store.db.path, 4.0):
        pending = await fake.send_slash_command(
            "daily",
            [payloads.subcommand("off", [payloads.option("channel", str(papers_id))])],
            channel="general",
        )
        started = loop.time()
        callback = await pending.wait_callback(timeout=6.0)
        took = loop.time() - started
    assert took < 3.0 and callback.status < 300, (took, callback.status)
    assert callback.json["type"] == 5 and callback.json["data"]["flags"] & 64
    followup = await pending.wait_followup(timeout=6.0)
    assert followup.json["content"].startswith("Turned off the daily post")
    assert await store.schedules.get(papers_id) is None


async def test_server_errors_are_retried_the_same_day_and_refusals_pause(
    fake_discord: FakeDiscord, bot: PaperBot
) -> None:
    fake = fake_discord
    for name in ("papers", "general"):
        await set_daily(fake, name)
    papers, general = fake.world.channel("papers"), fake.world.channel("general")
    # #papers: Discord answers 503 (discord.py does not retry it itself)
    fake.fail_next("POST", f"/channels/{papers.id}/messages", status=503)
    # #general: the bot lost Send Messages but was not told (its cache says it may post)
    fake.world.deny_bot(general, Perm.SEND_MESSAGES)
    clock(bot).set(berlin(9, 0))
    await ticks_after(bot, berlin(9, 0))
    assert bot_messages(fake, "papers") == []
    run_row = await bot.store.schedules.get_run(papers.id, "2024-05-01")
    assert (
        run_row is not None and run_row.state == "sending" and run_row.error == "Discord error 503"
    )
    paused = await bot.store.schedules.get(general.id)
    assert paused is not None and paused.paused_reason == "Discord refused access (code 50013)"
    status = await run(fake, "status")
    assert "Retrying: Discord error 503 (next try <t:" in status["content"]
    assert "Paused: Discord refused access (code 50013)" in status["content"]

    # later that morning the retry goes out, once; #general stays paused and silent
    clock(bot).set(run_row.next_attempt)
    await until(lambda: len(bot_messages(fake, "papers")) == 1)
    clock(bot).set(berlin(12, 0))
    await ticks_after(bot, berlin(12, 0))
    assert len(bot_messages(fake, "papers")) == 1
    assert bot_messages(fake, "general") == []
    # it looked for a post of the failed attempt before sending again (a 503 may hide one)
    looks = fake.requests_for("GET", f"/channels/{papers.id}/messages")
    assert len(looks) == 1


async def test_watchdog_restarts_a_dead_scheduler_with_backoff(
    fake_discord: FakeDiscord,
    bot: PaperBot,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    daily = cog(bot)
    runner, stepped = daily.runner, clock(bot)
    task = daily.scheduler.task
    assert task is not None and not task.done()
    # The scheduler loop itself dies three times in a row (a bug outside its per-tick guard).
    crashes = 3
    real_wait = runner._wait
    waits: list[float] = []

    async def broken_wait(seconds: float) -> None:
        nonlocal crashes
        if crashes:
            crashes -= 1
            raise RuntimeError("scheduler bug")
        await real_wait(seconds)

    async def recorded_sleep(seconds: float) -> None:
        waits.append(seconds)
        await asyncio.sleep(0)

    monkeypatch.setattr(runner, "_wait", broken_wait)
    monkeypatch.setattr(stepped, "sleep", recorded_sleep)
    runner.wake()
    before = runner.ticks
    await until(lambda: crashes == 0 and runner.ticks > before + 3)
    # Restarted each time, after 1, 2, 4 s (the supervisor's clock), by the same task.
    assert waits[:3] == [1.0, 2.0, 4.0], waits
    assert "the daily scheduler stopped unexpectedly (3 in a row); restarting in 4 s" in caplog.text
    assert daily.scheduler.task is task and not task.done()


async def test_topic_limits_the_pick_to_matching_papers(
    fake_discord: FakeDiscord, bot: PaperBot, store: Store
) -> None:
    fake = fake_discord
    data = await set_daily(fake, "papers", payloads.option("topic", "video"))
    assert "topic “video”" in data["content"]
    ranked = await store.papers.top_by_source_rank(100)
    word = re.compile(r"\bvideo\b", re.IGNORECASE)
    expected = next(p for p in ranked if word.search(f"{p.title} {p.abstract}"))
    assert expected.source_rank != 1  # the topic changes the pick
    clock(bot).set(berlin(9, 0))
    await until(lambda: len(bot_messages(fake, "papers")) == 1)
    (post,) = bot_messages(fake, "papers")
    assert post["embeds"][0]["title"] == expected.title
    assert post["embeds"][0]["author"]["name"] == "📈 Trending today · video"

    nothing = await set_daily(fake, "general", payloads.option("topic", "zymurgy"))
    assert "No paper matches that topic yet" in nothing["content"]


async def test_channel_autocomplete_lists_nothing_to_members_without_manage_server(
    fake_discord: FakeDiscord, bot: PaperBot
) -> None:
    fake = fake_discord
    await set_daily(fake, "papers")

    async def choices(sub: str, user: str) -> list[dict[str, Any]]:
        pending = await fake.send_autocomplete(
            "daily", [payloads.subcommand(sub, [payloads.focused("channel", "")])], user=user
        )
        return (await pending.wait_callback()).json["data"]["choices"]  # type: ignore[no-any-return]

    papers_id = str(fake.world.channel("papers").id)
    # carol has Manage Server through the Moderator role: she sees the schedule.
    assert [c["value"] for c in await choices("off", "carol")] == [papers_id]
    # bob has no Manage Server: Discord hides /daily from him, but a crafted (or stale)
    # autocomplete request must not list the server's schedules either.
    for sub in ("off", "preview", "post-now", "resume"):
        assert await choices(sub, "bob") == [], sub


async def test_a_manager_cannot_make_the_bot_post_or_ping_where_they_could_not(
    fake_discord: FakeDiscord, bot: PaperBot
) -> None:
    # carol has Manage Server (Moderator role); the bot can post and ping in #papers.
    fake = fake_discord
    when = [payloads.option("time", "09:00"), payloads.option("timezone", "Europe/Berlin")]
    bot_role = fake.world.role("PaperBot")
    bot_role.permissions |= int(Perm.MENTION_EVERYONE)
    quiet = fake.world.add_role("Everyone-ish", mentionable=False)
    await fake.dispatch(
        "GUILD_ROLE_CREATE",
        {"guild_id": str(fake.world.guild.id), "role": payloads.role(quiet)},
        guild_id=fake.world.guild.id,
    )
    await fake.dispatch(
        "GUILD_ROLE_UPDATE",
        {"guild_id": str(fake.world.guild.id), "role": payloads.role(bot_role)},
        guild_id=fake.world.guild.id,
    )
    await asyncio.sleep(0.05)

    # She may send in #papers but not mention everyone: no ping of a role nobody may ping.
    ping = await run(
        fake,
        "set",
        channel_opt(fake, "papers"),
        *when,
        payloads.option("role", str(quiet.id), OptionType.ROLE),
        user="carol",
    )
    assert (
        "You can't mention" in ping["content"] and "so I won't ping it for you" in ping["content"]
    )
    assert await bot.store.schedules.for_guild(fake.world.guild.id) == []
    # The owner may: the schedule exists, pinging that role.
    owner = await run(
        fake,
        "set",
        channel_opt(fake, "papers"),
        *when,
        payloads.option("role", str(quiet.id), OptionType.ROLE),
    )
    assert owner["content"].startswith("✅"), owner["content"]

    # Take Send Messages from carol in #papers: she can't set, post now or resume there.
    papers = fake.world.channel("papers")
    fake.world.deny(papers, "carol", Perm.SEND_MESSAGES)
    await fake.notify_channel_update(papers)
    await asyncio.sleep(0.05)
    expected = f"You can't send messages in <#{papers.id}>, so I won't post there for you."
    assert (await run(fake, "set", channel_opt(fake, "papers"), *when, user="carol"))[
        "content"
    ] == expected
    now = await run(fake, "post-now", payloads.option("channel", "papers"), user="carol")
    assert now["content"] == expected
    resumed = await run(fake, "resume", payloads.option("channel", "papers"), user="carol")
    assert resumed["content"] == expected
    assert bot_messages(fake, "papers") == []
    assert fake.requests_for("POST", f"/channels/{papers.id}/messages") == []
    schedule = await bot.store.schedules.get(papers.id)
    assert schedule is not None and schedule.role_id == quiet.id  # the owner's, unchanged

    # Hide #papers from her altogether: the refusal says she can't see it.
    fake.world.deny(papers, "carol", Perm.VIEW_CHANNEL)
    await fake.notify_channel_update(papers)
    await asyncio.sleep(0.05)
    hidden = await run(fake, "set", channel_opt(fake, "papers"), *when, user="carol")
    assert hidden["content"] == f"You can't see <#{papers.id}>, so I won't post there for you."
    # The owner (all permissions whatever the overwrites) still can post now.
    posted = await run(fake, "post-now", payloads.option("channel", "papers"))
    assert posted["content"].startswith("Posted “"), posted["content"]


# -- weekly digests (issue 11, item 6) ---------------------------------------------------------


async def test_a_weekly_post_goes_out_once_across_a_restart_between_send_and_record(
    fake_discord: FakeDiscord,
    store: Store,
    connect_client: Connect,
    monkeypatch: pytest.MonkeyPatch,
    start_bot: StartBot,
) -> None:
    fake = fake_discord
    first = await start_bot(
        store, Settings(refresh_enabled=False), clock=SteppedClock(berlin(7, 0))
    )
    data = await run(
        fake,
        "set",
        channel_opt(fake, "papers"),
        payloads.option("time", "09:00"),
        payloads.option("timezone", "Europe/Berlin"),
        payloads.option("cadence", "weekly"),
        payloads.option("weekday", "wednesday"),  # 1 May 2024 is a Wednesday
    )
    assert data["content"].startswith("✅ Weekly top papers in <#"), data["content"]
    assert "on Wednesdays at 09:00 Europe/Berlin" in data["content"]
    assert "Next post: Wed 1 May 09:00 CEST" in data["content"]

    # The process dies after Discord took the message, before the run is recorded as sent.
    recording = asyncio.Event()

    async def dies_before_recording(*args: Any, **kwargs: Any) -> None:
        recording.set()
        await asyncio.Event().wait()

    monkeypatch.setattr(store.schedules, "mark_sent", dies_before_recording)
    mark = fake.mark()
    clock(first).set(berlin(9, 0))
    await asyncio.wait_for(recording.wait(), timeout=10)
    await first.close()
    monkeypatch.undo()
    (post,) = bot_messages(fake, "papers")
    (create,) = [
        r
        for r in fake.requests[mark:]
        if r.method == "POST" and r.route == "POST /channels/{channel_id}/messages"
    ]
    assert create.json["allowed_mentions"] == {"parse": []}
    assert create.json["enforce_nonce"] is True
    run_row = await store.schedules.get_run(fake.world.channel("papers").id, "2024-W18")
    assert run_row is not None and run_row.state == "sending" and run_row.verify

    (embed,) = post["embeds"]
    assert embed["title"] == "🗓️ This week's top papers"
    top = await store.papers.top_by_source_rank(5)
    numbers = re.findall(r"^\*\*(\d+)\.\*\* (.+)$", embed["description"], re.MULTILINE)
    assert [n for n, _ in numbers] == ["1", "2", "3", "4", "5"]
    assert [t for _, t in numbers] == [cards.escape(p.title) for p in top]  # best first
    assert len(embed["description"]) + len(embed["title"]) <= 6000

    # A new process, half an hour later: it looks in the channel, finds the list, records it.
    # (Past Discord's nonce dedupe window, so only that look prevents a second post.)
    fake._nonces.clear()
    mark = fake.mark()
    second = await start_bot(
        store, Settings(refresh_enabled=False), clock=SteppedClock(berlin(9, 30))
    )
    run_row = None

    async def recorded() -> bool:
        nonlocal run_row
        run_row = await store.schedules.get_run(fake.world.channel("papers").id, "2024-W18")
        return run_row is not None and run_row.state == "sent"

    for _ in range(500):
        if await recorded():
            break
        await asyncio.sleep(0.01)
    assert run_row is not None and run_row.state == "sent"
    assert run_row.message_id == int(post["id"])
    await ticks_after(second, berlin(9, 30))
    assert len(bot_messages(fake, "papers")) == 1  # not posted again
    assert any(
        r.method == "GET" and r.route and "messages" in r.route for r in fake.requests[mark:]
    )

    # The next Wednesday: the next five, none repeated.
    clock(second).set(berlin(9, 0, day=8))
    await until(lambda: len(bot_messages(fake, "papers")) == 2)
    await ticks_after(second, berlin(9, 0, day=8))
    again = bot_messages(fake, "papers")[1]["embeds"][0]["description"]
    assert not any(cards.escape(p.title) in again for p in top)
    assert len(bot_messages(fake, "papers")) == 2

    status = await run(fake, "status")
    assert "weekly top papers, Wednesdays 09:00 Europe/Berlin" in status["content"]
    assert "Last: posted 5 papers, first “" in status["content"]


async def test_weekly_options_are_checked(fake_discord: FakeDiscord, bot: PaperBot) -> None:
    fake = fake_discord
    data = await set_daily(fake, "papers", payloads.option("weekday", "friday"))
    assert data["content"] == (
        "A weekday is for weekly posts: add `cadence: weekly`, or leave out `weekday`."
    )
    data = await set_daily(fake, "papers", payloads.option("cadence", "weekly"))
    assert "on Mondays at 09:00 Europe/Berlin" in data["content"]  # the default day
    preview = await run(fake, "preview", payloads.option("channel", "#papers"))
    assert preview["content"].startswith("These are the papers <#")
    assert preview["embeds"][0]["description"].count("\n**") == 4  # five papers


async def test_post_now_of_a_paper_with_a_very_long_title_is_confirmed(
    open_store: OpenStore, start_bot: StartBot, fake_discord: FakeDiscord, tmp_path: Path
) -> None:
    """A paper with a 2,100-character title (a scraped record with its abstract glued on) is
    posted, and the admin's confirmation still goes out: not "Something went wrong", which
    invites a second post."""
    record = {
        "id": "2405.00001",
        "title": "Zyxwords " + "very long glued title words " * 75,
        "abstract": "An abstract.",
        "authors": ["A. Author"],
        "published": "2024-05-01",
        "source_rank": 1,
        "upvotes": 500,
    }
    path = tmp_path / "long.jsonl"
    path.write_text(json.dumps(record) + "\n")
    store = await open_store(path, name="long.db")
    await start_bot(store, Settings(refresh_enabled=False), clock=SteppedClock(berlin(7, 0)))
    fake = fake_discord
    assert (await set_daily(fake, "papers"))["content"].startswith("✅")
    posted = await run(fake, "post-now", payloads.option("channel", "#papers"))
    assert posted["content"].startswith("Posted “Zyxwords very long glued"), posted["content"]
    assert len(posted["content"]) <= 2000
    bot_id = str(fake.world.bot.id)
    assert len([m for m in fake.messages("papers") if m["author"]["id"] == bot_id]) == 1


# -- the server changes under a schedule -------------------------------------------------------


async def test_a_deleted_ping_role_is_not_mentioned_and_status_says_so(
    fake_discord: FakeDiscord, bot: PaperBot
) -> None:
    """The role a daily post pings is deleted: the post goes out without a dangling
    "@deleted-role" mention, and /daily status tells the admin to choose another role."""
    fake = fake_discord
    role = fake.world.add_role("Readers", mentionable=True)
    await fake.dispatch(
        "GUILD_ROLE_CREATE",
        {"guild_id": str(fake.world.guild.id), "role": payloads.role(role)},
        guild_id=fake.world.guild.id,
    )
    await asyncio.sleep(0.05)
    data = await set_daily(fake, "papers", payloads.option("role", str(role.id), OptionType.ROLE))
    assert data["content"].startswith("✅"), data["content"]
    await fake.delete_role(role)
    await asyncio.sleep(0.05)
    status = await run(fake, "status")
    assert f"<@&{role.id}>" not in status["content"]
    assert "the role to ping was deleted" in status["content"]

    clock(bot).set(berlin(9, 0))
    await until(lambda: len(bot_messages(fake, "papers")) == 1)
    await ticks_after(bot, berlin(9, 0))
    (post,) = bot_messages(fake, "papers")
    assert f"<@&{role.id}>" not in (post["content"] or "")
    assert post["embeds"], post
    status = await run(fake, "status")
    assert "Last: posted “" in status["content"]
    assert "no ping: the role to ping was deleted" in status["content"]


async def test_a_server_that_removes_the_bot_has_its_posts_paused_and_feed_withdrawn(
    fake_discord: FakeDiscord, bot: PaperBot, store: Store
) -> None:
    """Kicked from a server (GUILD_DELETE without ``unavailable``): its daily posts pause at
    once saying why, and their public feeds go offline (nobody there can turn them off any
    more); at post time nothing is asked of Discord for those channels."""
    fake = fake_discord
    await set_daily(fake, "papers", payloads.option("public_feed", True))
    papers = fake.world.channel("papers")
    token = await store.feeds.token_for(papers.id)
    assert token is not None and await store.feeds.schedule(token) is not None

    await fake.remove_bot(fake.world.guild)
    await until(lambda: bot.get_guild(fake.world.guild.id) is None)
    await asyncio.sleep(0.05)
    schedule = await store.schedules.get(papers.id)
    assert schedule is not None
    assert schedule.paused_reason == "PaperBot was removed from the server"
    assert await store.feeds.schedule(token) is None

    mark = fake.mark()
    clock(bot).set(berlin(9, 0))
    await ticks_after(bot, berlin(9, 0))
    assert [r for r in fake.requests[mark:] if str(papers.id) in r.path] == []
    assert bot_messages(fake, "papers") == []


async def test_a_daily_post_waits_out_a_server_outage_across_a_restart(
    fake_discord: FakeDiscord,
    store: Store,
    connect_client: Connect,
    start_bot: StartBot,
) -> None:
    """A server only unavailable (an outage, GUILD_DELETE ``unavailable: true``) keeps its
    schedule; a bot restarted during the outage retries, saying the server is unavailable,
    and posts once when the server is back."""
    fake = fake_discord
    guild = fake.world.guild
    first = await start_bot(
        store, Settings(refresh_enabled=False), clock=SteppedClock(berlin(7, 0))
    )
    await set_daily(fake, "papers")
    papers = fake.world.channel("papers")
    await fake.guild_outage(guild)
    await asyncio.sleep(0.05)
    schedule = await store.schedules.get(papers.id)
    assert schedule is not None and schedule.paused_reason is None
    await first.close()

    second = await start_bot(
        store, Settings(refresh_enabled=False), clock=SteppedClock(berlin(9, 0))
    )
    assert second.get_guild(guild.id) is not None and second.get_guild(guild.id).unavailable  # type: ignore[union-attr]
    await ticks_after(second, berlin(9, 0))
    run_row = await store.schedules.get_run(papers.id, "2024-05-01")
    assert run_row is not None and run_row.state == "sending", run_row
    assert run_row.error == "the server is unavailable (a Discord outage)", run_row.error
    assert bot_messages(fake, "papers") == []

    await fake.end_outage(guild)
    await until(lambda: not second.get_guild(guild.id).unavailable)  # type: ignore[union-attr]
    clock(second).set(run_row.next_attempt)
    await until(lambda: len(bot_messages(fake, "papers")) == 1)
    await ticks_after(second, run_row.next_attempt)
    assert len(bot_messages(fake, "papers")) == 1
    schedule = await store.schedules.get(papers.id)
    assert schedule is not None and schedule.paused_reason is None
    assert schedule.last_status is not None and schedule.last_status.startswith("posted “")
