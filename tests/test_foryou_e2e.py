"""/foryou end to end: the real PaperBot (discord.py) against the local fake Discord, on a real
store of the bundled papers with their vectors.

A new member rates varied trending papers, gets picks that say why, dismisses one with 👎 and
never sees it (nor what they paged past) again; /foryou why explains a pick; /foryou forget
asks, then deletes every row of theirs; the digest DMs the top picks once, even when the bot
dies between Discord taking the DM and recording it; closed DMs pause the digest, said once.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import pytest

from bot.app import PaperBot
from bot.config import Settings
from bot.store import Store
from tests.daily_support import SteppedClock
from tests.fakediscord import FakeDiscord, PendingInteraction, payloads
from tests.reach_support import EPHEMERAL, add_places, answer
from tests.recs_support import real_store, rows_of_user
from tests.stores import another_writer

if TYPE_CHECKING:
    # Not imported for real: the bot loads its cogs as extensions, modules of their own, and a
    # plain import here would bind bot.cogs.search to another copy (tests patch its globals).
    from bot.cogs.foryou import ForYouCog

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(90)]

BERLIN = ZoneInfo("Europe/Berlin")
Connect = Callable[..., Awaitable[Any]]
ID = re.compile(r"^pb:(\w+):(.+)$")


def berlin(h: int, mi: int = 0, day: int = 1) -> datetime:
    return datetime(2026, 4, day, h, mi, tzinfo=BERLIN).astimezone(UTC)


@pytest.fixture
async def store(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Store]:
    opened = await real_store(tmp_path, tmp_path_factory.getbasetemp())
    yield opened
    await opened.close()


async def until(predicate: Callable[[], Awaitable[bool] | bool], within: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + within
    while True:
        value = predicate()
        if not isinstance(value, bool):
            value = await value
        if value:
            return
        if loop.time() > end:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)


async def started(
    store: Store, connect_client: Connect, clock: SteppedClock | None = None
) -> PaperBot:
    # (a restart in these tests need not wait out the 5 s between two IDENTIFYs: the fake
    # does not keep that rate here)
    bot = PaperBot(Settings(refresh_enabled=False), store, clock=clock, identify_interval=0.05)
    await connect_client(bot)
    await until(lambda: bot.vectors.meaning is not None)  # the model, for the words
    return bot


def foryou(bot: PaperBot) -> ForYouCog:
    found = bot.get_cog("ForYouCog")
    assert found is not None and type(found).__name__ == "ForYouCog"
    return found  # type: ignore[return-value]


async def command(
    fake: FakeDiscord, *path: str, options: list[dict[str, Any]] | None = None, **kw: Any
) -> tuple[dict[str, Any], PendingInteraction]:
    """Run /foryou <path...> and return its (private) answer and the interaction."""
    inner: list[dict[str, Any]] = [payloads.subcommand(path[-1], options or [])]
    if len(path) == 2:
        inner = [payloads.subcommand_group(path[0], inner)]
    pending = await fake.send_slash_command("foryou", inner, **kw)
    body, private = await answer(pending)
    assert private, "For you answers privately"
    return body, pending


def buttons(message: dict[str, Any]) -> list[tuple[str, str]]:
    """(action, paper id) of every card button of a message, in order."""
    found = []
    for row in message.get("components") or []:
        for item in row["components"]:
            m = ID.match(item.get("custom_id") or "")
            if m and m.group(1) not in ("search", "forget"):
                found.append((m.group(1), m.group(2)))
    return found


def dms_of(fake: FakeDiscord, user: str) -> list[dict[str, Any]]:
    uid = fake.world.user(user).id
    return [
        m
        for c in fake.world.dm_channels.values()
        if c.recipients == [uid]
        for m in fake.messages(c.id)
    ]


async def last_followup(pending: PendingInteraction) -> dict[str, Any]:
    return (await pending.wait_followup()).response


async def test_from_first_ratings_to_picks_that_say_why(
    fake_discord: FakeDiscord, store: Store, connect_client: Connect
) -> None:
    fake = fake_discord
    bot = await started(store, connect_client)
    alice = fake.world.user("alice").id

    # A new member: five varied trending papers to rate, each with ⭐ and 👎.
    body, pending = await command(fake, "picks")
    (embed,) = body["embeds"]
    assert embed["title"] == "✨ For you: first, rate a few"
    assert "haven't saved or voted for any paper yet" in embed["description"]
    rating = buttons(body)
    assert [a for a, _ in rating] == ["save", "dismiss"] * 5
    first_five = [pid for a, pid in rating if a == "save"]
    message = (await pending.wait_followup()).response
    for paper_id in first_five[:3]:
        click = await fake.click_button(message, f"pb:save:{paper_id}")
        saved = (await click.wait_callback()).json["data"]
        assert saved["flags"] & EPHEMERAL and "Saved to your reading list" in saved["content"]
    nope = await fake.click_button(message, f"pb:dismiss:{first_five[3]}")
    assert "won't be picked for you again" in (await nope.wait_callback()).json["data"]["content"]

    # Picks now: a card that says why, with 👎 instead of 👍, paged like /search.
    body, pending = await command(fake, "picks")
    assert "by a classifier trained on your ⭐ saves" in body["content"]
    assert "3 saves, 0 votes and 1 👎" in body["content"]
    card = body["embeds"][0]
    assert card["author"]["name"].startswith("For you · pick 1 of ")
    why = next(f for f in card["fields"] if f["name"] == "Why it's here")
    assert (
        why["value"].startswith("Because you saved *")
        and "words that weighed most: " in why["value"]
    )
    actions = buttons(body)
    assert [a for a, _ in actions] == ["save", "dismiss", "rel", "cite"]
    top = actions[0][1]
    assert top not in first_five  # never a paper already rated or shown
    message = (await pending.wait_followup()).response

    # 👎 on the card, then ▶: the second pick is shown (and now counts as seen).
    click = await fake.click_button(message, f"pb:dismiss:{top}")
    assert "👎 Noted" in (await click.wait_callback()).json["data"]["content"]
    page = await fake.click_button(message, "pb:search:next")
    second = (await page.wait_callback()).json["data"]
    assert second["embeds"][0]["author"]["name"].startswith("For you · pick 2 of ")
    second_id = buttons(second)[0][1]
    await until(lambda: _shown(store, alice, second_id))

    # Neither comes back: not as the first card, not anywhere in the list.
    body, pending = await command(fake, "picks")
    again = buttons(body)[0][1]
    assert again not in {top, second_id, *first_five}
    titles = [o["label"] for o in body["components"][1]["components"][0]["options"]]
    gone = await store.papers.get_many([top, second_id])
    assert not any(p.title[:60] in label for p in gone for label in titles)

    # /foryou why: the pick's place, the saved papers it is closest to, the words.
    body, _ = await command(fake, "why", options=[payloads.option("paper", again)])
    text = body["embeds"][0]["description"]
    assert "#1 of the" in text and "Closest of the papers you saved or voted for:" in text
    assert "Words of it that weighed most: " in text
    body, _ = await command(fake, "why", options=[payloads.option("paper", top)])
    assert "You marked it Not for me" in body["embeds"][0]["description"]
    # Autocomplete offers the papers shown to the member, latest first.
    auto = await fake.send_autocomplete(
        "foryou", [payloads.subcommand("why", [payloads.focused("paper", "")])]
    )
    choices = (await auto.wait_callback()).json["data"]["choices"]
    assert choices[0]["value"] == again and second_id in {c["value"] for c in choices}
    assert bot.is_ready()


async def _shown(store: Store, user: int, paper_id: str) -> bool:
    return any(pid == paper_id for pid, _ in await store.recs.recent_shown(user, 50))


async def test_forget_asks_then_leaves_no_row(
    fake_discord: FakeDiscord, store: Store, connect_client: Connect
) -> None:
    fake = fake_discord
    await started(store, connect_client)
    alice = fake.world.user("alice").id
    body, pending = await command(fake, "picks")
    message = await last_followup(pending)
    rated = [pid for a, pid in buttons(body) if a == "save"]
    for paper_id in rated[:2]:
        await (await fake.click_button(message, f"pb:save:{paper_id}")).wait_callback()
    vote = await fake.click_button(message, f"pb:dismiss:{rated[2]}")
    await vote.wait_callback()
    await store.social.toggle_vote(fake.world.guild.id, alice, rated[4])
    await command(fake, "digest", "on", options=[payloads.option("timezone", "Europe/Berlin")])
    assert any(rows_of_user(store.db.path, alice).values())

    body, pending = await command(fake, "forget")
    assert "reading list (2 papers" in body["content"] and "Delete it all?" in body["content"]
    asked = pending.original_message
    assert asked is not None
    cancel = await fake.click_button(asked, "pb:forget:no")
    assert (await cancel.wait_callback()).json["data"]["content"] == "Nothing was deleted."
    assert await store.social.saved_count(alice) == 2

    body, pending = await command(fake, "forget")
    yes = await fake.click_button(pending.original_message or {}, "pb:forget:yes")
    done = (await yes.wait_callback()).json["data"]["content"]
    assert done.startswith("🗑️ Deleted: 2 saved papers, 1 👍 vote, 1 👎, 5 papers shown to you")
    assert "your profile and digest settings" in done
    left = rows_of_user(store.db.path, alice)
    assert not any(count for table, count in left.items() if not table.startswith("alerts")), left
    # Someone else cannot answer another member's question.
    bob = fake.world.user("bob").id
    await store.social.toggle_save(bob, rated[0])
    body, pending = await command(fake, "forget", user="bob")
    other = await fake.click_button(pending.original_message or {}, "pb:forget:yes", user="alice")
    refused = (await other.wait_callback()).json["data"]
    assert refused["content"] == "Only the member who asked can answer this."
    assert await store.social.saved_count(bob) == 1  # nothing happened


async def test_for_you_writes_waiting_behind_another_writer_are_acknowledged_in_time(
    fake_discord: FakeDiscord, store: Store, connect_client: Connect
) -> None:
    """Another process (`python -m bot load`) holds SQLite's write lock for 4 s: /foryou
    digest on is acknowledged privately within Discord's 3 s and confirmed once its write
    went through; so is "Delete everything" of /foryou forget, which then edits its
    question in place."""
    fake = fake_discord
    bot = await started(store, connect_client)
    alice = fake.world.user("alice").id
    loop = asyncio.get_running_loop()
    digest_on = [
        payloads.subcommand_group(
            "digest", [payloads.subcommand("on", [payloads.option("timezone", "Europe/Berlin")])]
        )
    ]
    async with another_writer(store.db.path, 4.0):
        pending = await fake.send_slash_command("foryou", digest_on)
        started_at = loop.time()
        callback = await pending.wait_callback(timeout=6.0)
        took = loop.time() - started_at
    assert took < 3.0 and callback.status < 300, (took, callback.status)
    assert callback.json["type"] == 5 and callback.json["data"]["flags"] & EPHEMERAL
    followup = await pending.wait_followup(timeout=6.0)
    assert followup.json["content"].startswith("📬 Your For you digest is on")
    member = await bot.store.recs.member(alice)
    assert member is not None and member.digest and member.tz == "Europe/Berlin"

    _, asked = await command(fake, "forget")
    question = asked.original_message
    assert question is not None
    async with another_writer(store.db.path, 4.0):
        yes = await fake.click_button(question, "pb:forget:yes")
        started_at = loop.time()
        callback = await yes.wait_callback(timeout=6.0)
        took = loop.time() - started_at
    assert took < 3.0 and callback.status < 300, (took, callback.status)
    assert callback.json == {"type": 6}  # acknowledged, nothing shown yet
    edit = await yes.wait_edit(timeout=6.0)
    assert edit.status == 200 and edit.json["content"].startswith("🗑️ Deleted:")
    assert edit.json["components"] == []
    assert question["content"].startswith("🗑️ Deleted:")  # the question itself, in place
    assert await bot.store.recs.member(alice) is None


async def test_the_digest_goes_out_once_across_a_restart(
    fake_discord: FakeDiscord,
    store: Store,
    connect_client: Connect,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake = fake_discord
    alice = fake.world.user("alice").id
    for paper_id in ("0704.0001", "0704.0005", "0704.0010"):
        await store.social.toggle_save(alice, paper_id)
    clock = SteppedClock(berlin(7, 0))
    first = await started(store, connect_client, clock)
    body, _ = await command(
        fake,
        "digest",
        "on",
        options=[payloads.option("time", "08:00"), payloads.option("timezone", "Europe/Berlin")],
    )
    assert body["content"].startswith("📬 Your For you digest is on: your top 5 new picks by DM")
    assert "every day at 08:00 (Europe/Berlin)" in body["content"]

    # The process dies after Discord took the DM, before it is recorded as sent.
    recording = asyncio.Event()

    async def dies_before_recording(*args: Any, **kwargs: Any) -> None:
        recording.set()
        await asyncio.Event().wait()

    monkeypatch.setattr(store.recs, "mark_sent", dies_before_recording)
    clock.set(berlin(8, 0))
    foryou(first).runner.wake()
    await asyncio.wait_for(recording.wait(), timeout=10)
    await first.close()
    monkeypatch.undo()
    (dm,) = dms_of(fake, "alice")
    (create,) = [r for r in fake.requests if r.route == "POST /channels/{channel_id}/messages"]
    assert create.json["enforce_nonce"] is True and create.json["allowed_mentions"] == {"parse": []}
    run = await store.recs.get_run(alice, "2026-04-01")
    assert run is not None and run.state == "sending" and run.verify
    assert create.json["nonce"] == run.nonce  # the run's own: a resend is the same message
    (embed,) = dm["embeds"]
    assert embed["title"] == "📬 Your new papers for today"
    numbers = re.findall(r"^\*\*(\d)\.\*\* ", embed["description"], re.MULTILINE)
    assert numbers == ["1", "2", "3", "4", "5"]
    assert embed["description"].count("\n↳ Because you saved *") == 5
    assert [a for a, _ in buttons(dm)] == ["save", "dismiss"] * 5

    # A new process half an hour later (past Discord's nonce window): it looks in the DMs,
    # finds the digest, records it; nothing is sent again.
    fake._nonces.clear()
    second = await started(store, connect_client, SteppedClock(berlin(8, 30)))
    foryou(second).runner.wake()

    async def sent() -> bool:
        found = await store.recs.get_run(alice, "2026-04-01")
        return found is not None and found.state == "sent"

    await until(sent)
    done = await store.recs.get_run(alice, "2026-04-01")
    assert done is not None and done.message_id == int(dm["id"])
    assert len(dms_of(fake, "alice")) == 1

    # The next day: five more, none of the first five.
    clock2 = foryou(second).clock
    assert isinstance(clock2, SteppedClock)
    clock2.set(berlin(8, 0, day=2))
    foryou(second).runner.wake()
    await until(lambda: len(dms_of(fake, "alice")) == 2)
    ids_first = {pid for _, pid in buttons(dm)}
    ids_next = {pid for _, pid in buttons(dms_of(fake, "alice")[1])}
    assert len(ids_next) == 5 and not ids_first & ids_next
    # 👎 works from the DM too.
    a_paper = sorted(ids_next)[0]
    click = await fake.click_button(dms_of(fake, "alice")[1], f"pb:dismiss:{a_paper}")
    assert "👎 Noted" in (await click.wait_callback()).json["data"]["content"]


async def test_closed_dms_pause_the_digest_and_say_so_once(
    fake_discord: FakeDiscord, store: Store, connect_client: Connect
) -> None:
    fake = fake_discord
    carol = fake.world.user("carol").id  # refuses DMs
    await store.social.toggle_save(carol, "0704.0001")
    clock = SteppedClock(berlin(7, 0))
    bot = await started(store, connect_client, clock)
    await command(
        fake,
        "digest",
        "on",
        options=[payloads.option("timezone", "Europe/Berlin")],
        user="carol",
    )
    runner = foryou(bot).runner
    for day in (1, 2):
        clock.set(berlin(8, 0, day=day))
        ticks = runner.ticks
        runner.wake()
        await until(lambda t=ticks: runner.ticks > t)
    notices = [m for m in fake.messages("general") if "For you digest" in m["content"]]
    assert len(notices) == 1 and f"<@{carol}>" in notices[0]["content"]
    assert "/foryou digest on" in notices[0]["content"]
    assert dms_of(fake, "carol") == []
    member = await store.recs.member(carol)
    assert member is not None and member.paused_reason == "dms-closed"
    blocked = await store.recs.get_run(carol, "2026-04-01")
    assert blocked is not None and await store.recs.run_pids(blocked) == []
    body, _ = await command(fake, "picks", user="carol")
    assert "Your digest is paused: your DMs were closed" in body["content"]


async def test_foryou_is_offered_everywhere(
    fake_discord: FakeDiscord, store: Store, connect_client: Connect
) -> None:
    fake = fake_discord
    places = add_places(fake)
    await started(store, connect_client)
    put = fake.requests_for("PUT", re.compile(r"/applications/\d+/commands"))[-1]
    (command_,) = [c for c in put.json if c["name"] == "foryou"]
    assert command_["integration_types"] == [0, 1] and command_["contexts"] == [0, 1, 2]
    subcommands = {o["name"] for o in command_["options"]}
    assert subcommands == {"picks", "why", "reset", "forget", "digest"}
    # From dave's own install, in a server without the bot: private, and it works.
    body, _ = await command(fake, "picks", channel="lounge", user="dave")
    assert body["embeds"][0]["title"] == "✨ For you: first, rate a few"
    # Not rated, but seen: the next five are others.
    again, _ = await command(fake, "picks", channel="lounge", user="dave")
    first, second = ({pid for _, pid in buttons(b)} for b in (body, again))
    assert len(first) == len(second) == 5 and not first & second
    assert places.other.id != fake.world.guild.id
    body, _ = await command(fake, "reset", channel="lounge", user="dave")
    assert body["content"].startswith("🔄 Your picks start over: 0 saves, 0 votes, 0 👎")
