"""The search side of PaperBot end to end: the real bot (discord.py) against the fake Discord.

The bot logs in, syncs its commands (the payload is validated as Discord would), and answers
INTERACTION_CREATE events for every command, a button, a select and autocomplete; the tests
assert the exact callback payloads discord.py put on the wire.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from bot.app import PaperBot
from bot.config import Settings
from bot.store import Store
from tests.fakediscord import FakeDiscord, payloads
from tests.fakediscord.payloads import OptionType
from tests.stores import OpenStore, StartBot, another_writer

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(60)]

FIXTURES = Path(__file__).parent / "fixtures"
Connect = Callable[..., Awaitable[Any]]
NAME = re.compile(r"^[-_\w]{1,32}$")
CHANNEL_MESSAGE, DEFERRED, UPDATE_MESSAGE, AUTOCOMPLETE_RESULT = 4, 5, 7, 8
EPHEMERAL = 64


@pytest.fixture
async def store(open_store: OpenStore) -> Store:
    return await open_store(
        "trending-may-28.txt",
        "daily_papers.sample.json",
        "arxiv-metadata-oai-snapshot.200.jsonl",
    )


def make_settings(tmp_path: Path) -> Settings:
    return Settings(database=tmp_path / "bot.db", data_dir=FIXTURES, refresh_enabled=False)


@pytest.fixture
async def bot(store: Store, start_bot: StartBot) -> PaperBot:
    return await start_bot(store)


def option(name: str, value: Any, otype: int = OptionType.STRING) -> dict[str, Any]:
    return {"name": name, "type": otype, "value": value}


def check_command(cmd: dict[str, Any]) -> None:
    assert NAME.match(cmd["name"]) and cmd["name"] == cmd["name"].lower(), cmd["name"]
    assert 1 <= len(cmd.get("description", "x")) <= 100
    for opt in cmd.get("options", []):
        assert 1 <= opt["type"] <= 11
        assert NAME.match(opt["name"]) and opt["name"] == opt["name"].lower()
        assert 1 <= len(opt["description"]) <= 100
        if opt["type"] in (1, 2):
            check_command(opt)
        for choice in opt.get("choices", []):
            assert 1 <= len(choice["name"]) <= 100


async def test_login_syncs_valid_commands_once(
    store: Store,
    tmp_path: Path,
    fake_discord: FakeDiscord,
    connect_client: Connect,
    start_bot: StartBot,
) -> None:
    first = await start_bot(store, make_settings(tmp_path))
    puts = fake_discord.requests_for("PUT", re.compile(r"/applications/\d+/commands"))
    assert len(puts) == 1
    commands = puts[0].json
    names = {c["name"] for c in commands}
    assert {"search", "paper", "trending", "random", "about", "saved"} <= names
    for cmd in commands:
        if cmd.get("type", 1) == 1:
            check_command(cmd)
        else:  # a context menu: a display name, no description or options
            assert 1 <= len(cmd["name"]) <= 32 and not cmd.get("description"), cmd
    search = next(c for c in commands if c["name"] == "search")
    assert [o["name"] for o in search["options"]] == ["query", "sort", "private"]
    assert {c["value"] for c in search["options"][1]["choices"]} == {
        "relevance",
        "newest",
        "trending",
    }
    assert next(o for o in next(c for c in commands if c["name"] == "paper")["options"])[
        "autocomplete"
    ]
    await first.close()

    # A restart with the same command tree does not sync again (the hash is in the database).
    await start_bot(store, make_settings(tmp_path))
    assert len(fake_discord.requests_for("PUT", re.compile(r"/applications/\d+/commands"))) == 1


async def test_search_pages_with_buttons_and_select(
    bot: PaperBot, fake_discord: FakeDiscord
) -> None:
    pending = await fake_discord.send_slash_command("search", [option("query", "diffusion")])
    answer = await pending.wait_answer()
    assert not answer.deferred  # a quick search answers at once, in one request
    body = answer.body
    assert body["allowed_mentions"] == {"parse": []}
    embed = body["embeds"][0]
    assert "diffusion" in (embed["title"] + embed["description"]).lower()
    assert embed["author"]["name"].startswith("Result 1 of ")
    rows = body["components"]
    ids = [c.get("custom_id") for row in rows for c in row["components"]]
    assert ids[:3] == ["pb:search:prev", "pb:search:pos", "pb:search:next"]
    assert "pb:search:jump" in ids
    assert any(i and i.startswith("pb:vote:") for i in ids)
    prev = rows[0]["components"][0]
    assert prev["disabled"] is True
    message = answer.message
    assert message["id"]

    # ▶ shows result 2, in place.
    click = await fake_discord.click_button(message, "pb:search:next")
    reply = await click.wait_callback()
    assert reply.json["type"] == UPDATE_MESSAGE
    assert reply.json["data"]["embeds"][0]["author"]["name"].startswith("Result 2 of ")
    second_title = reply.json["data"]["embeds"][0]["title"]
    assert second_title != embed["title"]

    # The select jumps to result 4.
    jump = await fake_discord.choose_select(message, "pb:search:jump", ["3"])
    reply = await jump.wait_callback()
    assert reply.json["type"] == UPDATE_MESSAGE
    assert reply.json["data"]["embeds"][0]["author"]["name"].startswith("Result 4 of ")

    # Someone else cannot page: a short private hint, the message is untouched.
    other = await fake_discord.click_button(message, "pb:search:next", user="bob")
    reply = await other.wait_callback()
    assert reply.json["type"] == CHANNEL_MESSAGE
    assert reply.json["data"]["flags"] & EPHEMERAL
    assert "Only the person who searched" in reply.json["data"]["content"]


async def test_search_without_results_and_with_typos(
    bot: PaperBot, fake_discord: FakeDiscord
) -> None:
    pending = await fake_discord.send_slash_command("search", [option("query", "zzqqxx vvwwyy")])
    body = (await pending.wait_answer()).body
    assert body["embeds"][0]["title"] == "No results"

    pending = await fake_discord.send_slash_command(
        "search", [option("query", "difusion modles"), option("private", True, OptionType.BOOLEAN)]
    )
    body = (await pending.wait_answer()).body
    assert body["flags"] & EPHEMERAL
    assert "showing results for" in body["embeds"][0]["author"]["name"]


async def test_hostile_query_is_answered_not_crashed(
    bot: PaperBot, fake_discord: FakeDiscord
) -> None:
    for query in ['"unbalanced', "NEAR(a b", "title:* -x", "@everyone AND OR", "🧪" * 50]:
        pending = await fake_discord.send_slash_command("search", [option("query", query)])
        body = (await pending.wait_answer()).body
        assert body["allowed_mentions"] == {"parse": []}
        assert body["embeds"], query


async def test_paper_autocomplete_and_card(bot: PaperBot, fake_discord: FakeDiscord) -> None:
    pending = await fake_discord.send_autocomplete("paper", [payloads.focused("paper", "")])
    reply = await pending.wait_callback()
    assert reply.json["type"] == AUTOCOMPLETE_RESULT
    choices = reply.json["data"]["choices"]
    assert 1 <= len(choices) <= 25
    assert choices[0]["name"].startswith("ROICtrl")  # empty input: trending first
    assert all(len(c["name"]) <= 100 and len(c["value"]) <= 100 for c in choices)

    pending = await fake_discord.send_autocomplete("paper", [payloads.focused("paper", "ROICt")])
    choices = (await pending.wait_callback()).json["data"]["choices"]
    assert choices and choices[0]["name"].startswith("ROICtrl")
    paper_id = choices[0]["value"]

    pending = await fake_discord.send_slash_command("paper", [option("paper", paper_id)])
    reply = (await pending.wait_callback()).json
    assert reply["type"] == CHANNEL_MESSAGE
    data = reply["data"]
    assert data["allowed_mentions"] == {"parse": []}
    assert data["embeds"][0]["title"].startswith("ROICtrl")
    ids = [c.get("custom_id") for row in data["components"] for c in row["components"]]
    assert (
        f"pb:vote:{paper_id}" in ids
        and f"pb:save:{paper_id}" in ids
        and f"pb:rel:{paper_id}" in ids
    )


async def test_vote_save_and_related_buttons(
    bot: PaperBot, store: Store, fake_discord: FakeDiscord
) -> None:
    pending = await fake_discord.send_slash_command("paper", [option("paper", "0704.0001")])
    await pending.wait_callback()
    message = pending.original_message
    assert message is not None

    vote = await fake_discord.click_button(message, "pb:vote:0704.0001")
    data = (await vote.wait_callback()).json["data"]
    assert data["flags"] & EPHEMERAL and "Vote counted" in data["content"]
    assert await store.social.vote_count(int(payloads_guild(fake_discord)), "0704.0001") == 1
    again = await fake_discord.click_button(message, "pb:vote:0704.0001")
    assert "taken back" in (await again.wait_callback()).json["data"]["content"]

    save = await fake_discord.click_button(message, "pb:save:0704.0001")
    assert "Saved" in (await save.wait_callback()).json["data"]["content"]
    listing = await fake_discord.send_slash_command(
        "saved", [{"name": "list", "type": OptionType.SUB_COMMAND, "options": []}]
    )
    data = (await listing.wait_callback()).json["data"]
    assert data["flags"] & EPHEMERAL
    assert "Calculation of prompt diphoton production" in data["embeds"][0]["description"]

    related = await fake_discord.click_button(message, "pb:rel:0704.0001")
    assert (await related.wait_callback()).json["type"] == DEFERRED
    body = (await related.wait_followup()).json
    assert body["embeds"][0]["title"].startswith("Related to:")
    assert "0704.0001)" not in body["embeds"][0]["description"]


def payloads_guild(fake: FakeDiscord) -> int:
    return int(fake.interaction_context().guild_id or 0)


async def test_trending_random_and_about(bot: PaperBot, fake_discord: FakeDiscord) -> None:
    pending = await fake_discord.send_slash_command(
        "trending", [option("count", 3, OptionType.INTEGER)]
    )
    answer = await pending.wait_answer()
    assert not answer.deferred  # the trending pool is warm: one request
    description = answer.body["embeds"][0]["description"]
    assert description.count("**") == 6 and "ROICtrl" in description.split("\n")[0]

    pending = await fake_discord.send_slash_command("random")
    data = (await pending.wait_callback()).json["data"]
    assert data["embeds"][0]["title"]

    pending = await fake_discord.send_slash_command("about")
    callback = (await pending.wait_callback()).json
    assert callback["type"] == DEFERRED and callback["data"]["flags"] & EPHEMERAL
    description = (await pending.wait_followup()).json["embeds"][0]["description"]
    assert "**269** papers in the store" in description
    assert "arxiv-snapshot: 200 · hf-daily: 5 · hf-page: 64" in description


async def test_rate_limited_and_failing_discord_are_retried(
    bot: PaperBot, fake_discord: FakeDiscord
) -> None:
    fake_discord.rate_limit_next("POST", "/interactions/{id}/{token}/callback", retry_after=0.2)
    pending = await fake_discord.send_slash_command("random")
    callbacks = await fake_discord.wait_for_requests(
        "POST", re.compile(r"/interactions/\d+/[^/]+/callback"), count=2, timeout=5
    )
    assert callbacks[0].status == 429 and callbacks[1].status in (200, 204)
    assert (await pending.wait_callback()).json["type"] == CHANNEL_MESSAGE

    fake_discord.fail_next("POST", "/interactions/{id}/{token}/callback", status=500)
    pending = await fake_discord.send_slash_command("search", [option("query", "diffusion")])
    answers = await fake_discord.wait_for_requests(
        "POST", re.compile(rf"/interactions/{pending.id}/[^/]+/callback"), count=2, timeout=10
    )
    assert answers[0].status == 500 and answers[-1].status == 200
    assert answers[-1].json["data"]["embeds"][0]["author"]["name"].startswith("Result 1 of ")


async def test_expired_results_view_disables_paging(
    bot: PaperBot, fake_discord: FakeDiscord, monkeypatch: pytest.MonkeyPatch
) -> None:
    import bot.cogs.search as search_cog

    monkeypatch.setattr(search_cog, "VIEW_TIMEOUT", 0.3)
    pending = await fake_discord.send_slash_command("search", [option("query", "diffusion")])
    answer = await pending.wait_answer()
    # An immediate answer is edited as the interaction's original message.
    edit = await fake_discord.wait_for_request(
        "PATCH", re.compile(rf"/webhooks/\d+/{pending.token}/messages/@original"), timeout=5
    )
    components = {
        c["custom_id"]: c
        for row in edit.json["components"]
        for c in row["components"]
        if "custom_id" in c
    }
    assert components["pb:search:prev"]["disabled"] and components["pb:search:next"]["disabled"]
    assert components["pb:search:jump"]["disabled"]
    # The card's own buttons keep working after the paging expired.
    vote_id = next(k for k in components if k.startswith("pb:vote:"))
    assert not components[vote_id].get("disabled", False)
    vote = await fake_discord.click_button(answer.message, vote_id)
    assert "Vote counted" in (await vote.wait_callback()).json["data"]["content"]


async def test_dropped_gateway_is_resumed(bot: PaperBot, fake_discord: FakeDiscord) -> None:
    await fake_discord.drop_gateway()
    await fake_discord.wait_for_gateway_connections(2, timeout=10)
    await asyncio.sleep(0.2)
    pending = await fake_discord.send_slash_command("random")
    assert (await pending.wait_callback(timeout=10)).json["type"] == CHANNEL_MESSAGE
    assert fake_discord.gateway.identify_count == 1 and fake_discord.gateway.resume_count >= 1


async def test_slow_search_says_thinking_first_then_follows_up(
    bot: PaperBot, fake_discord: FakeDiscord, monkeypatch: pytest.MonkeyPatch
) -> None:
    import bot.interactions as answering

    monkeypatch.setattr(answering, "ANSWER_WITHIN", 0.2)
    real_search = bot.search.search

    async def slow_search(*args: Any, **kwargs: Any) -> Any:
        await asyncio.sleep(0.6)  # a search slower than the answer window
        return await real_search(*args, **kwargs)

    monkeypatch.setattr(bot.search, "search", slow_search)
    pending = await fake_discord.send_slash_command("search", [option("query", "diffusion")])
    answer = await pending.wait_answer()
    assert answer.deferred
    callback = await pending.wait_callback()
    followup = await pending.wait_followup()
    assert callback.json["type"] == DEFERRED
    assert followup.time - callback.time >= 0.3  # acknowledged while the search still ran
    assert answer.body["embeds"][0]["author"]["name"].startswith("Result 1 of ")
    # The results page from the follow-up, as from an immediate answer.
    click = await fake_discord.click_button(answer.message, "pb:search:next")
    reply = await click.wait_callback()
    assert reply.json["data"]["embeds"][0]["author"]["name"].startswith("Result 2 of ")


async def test_a_search_whose_acknowledgement_fails_is_abandoned(
    bot: PaperBot, fake_discord: FakeDiscord, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Too late to acknowledge (Discord: 404 Unknown interaction): the search is cancelled
    # rather than left running for an answer no one can receive.
    import bot.interactions as answering

    monkeypatch.setattr(answering, "ANSWER_WITHIN", 0.0)
    outcome: list[str] = []
    real_search = bot.search.search

    async def slow_search(*args: Any, **kwargs: Any) -> Any:
        try:
            await asyncio.sleep(2)
            return await real_search(*args, **kwargs)
        except asyncio.CancelledError:
            outcome.append("cancelled")
            raise

    monkeypatch.setattr(bot.search, "search", slow_search)
    fake_discord.fail_next(
        "POST",
        "/interactions/{id}/{token}/callback",
        status=404,
        code=10062,
        message="Unknown interaction",
    )
    pending = await fake_discord.send_slash_command("search", [option("query", "diffusion")])
    assert (await pending.wait_callback()).status == 404
    for _ in range(40):
        if outcome:
            break
        await asyncio.sleep(0.05)
    assert outcome == ["cancelled"]
    assert not fake_discord.requests_for("POST", re.compile(rf"/webhooks/\d+/{pending.token}$"))


async def test_cooldown_answers_privately(
    store: Store,
    tmp_path: Path,
    fake_discord: FakeDiscord,
    connect_client: Connect,
    start_bot: StartBot,
) -> None:
    settings = replace(make_settings(tmp_path), search_cooldown_uses=1, search_cooldown_seconds=60)
    await start_bot(store, settings)
    first = await fake_discord.send_slash_command("search", [option("query", "graph")])
    await first.wait_answer()
    second = await fake_discord.send_slash_command("search", [option("query", "graph")])
    data = (await second.wait_callback()).json
    assert data["type"] == CHANNEL_MESSAGE and data["data"]["flags"] & EPHEMERAL
    assert "Slow down" in data["data"]["content"]


async def test_paper_by_free_text_is_searched(
    bot: PaperBot, fake_discord: FakeDiscord, monkeypatch: pytest.MonkeyPatch
) -> None:
    pending = await fake_discord.send_slash_command(
        "paper", [option("paper", "prompt diphoton Tevatron")]
    )
    answer = await pending.wait_answer()
    assert not answer.deferred  # a quick search: answered at once
    assert answer.body["embeds"][0]["title"].startswith("Calculation of prompt diphoton production")

    pending = await fake_discord.send_slash_command("paper", [option("paper", "qqzzxx")])
    answer = await pending.wait_answer()
    assert "No paper matches" in answer.body["content"] and answer.body["flags"] & EPHEMERAL

    # A slow search (a large store, a busy moment) is acknowledged first, then answered.
    import bot.interactions as answering

    monkeypatch.setattr(answering, "ANSWER_WITHIN", 0.0)
    pending = await fake_discord.send_slash_command(
        "paper", [option("paper", "prompt diphoton Tevatron")]
    )
    answer = await pending.wait_answer()
    assert answer.deferred
    assert answer.body["embeds"][0]["title"].startswith("Calculation of prompt diphoton production")


async def test_a_private_line_after_a_public_thinking_stays_private(
    bot: PaperBot, fake_discord: FakeDiscord, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Discord's first follow-up after a deferral edits the "thinking…" message, which keeps
    the deferral's visibility whatever the follow-up's ephemeral flag says (the fake does
    the same). A private line after a public "thinking…" (no paper matches, a search too
    slow, an unexpected failure) removes the public message and comes as a new, private
    one: nothing of it is left in the channel."""
    import bot.interactions as answering
    from bot.search.engine import SearchTooSlow

    monkeypatch.setattr(answering, "ANSWER_WITHIN", 0.0)  # every search says "thinking…"
    bot_id = str(fake_discord.world.bot.id)

    async def private_line(pending: Any) -> dict[str, Any]:
        callback = await pending.wait_callback()
        assert callback.json == {"type": DEFERRED}  # "thinking…" in the channel
        followup = await pending.wait_followup()
        made: dict[str, Any] = followup.response  # the message Discord made of it
        assert followup.status == 200 and made["flags"] & EPHEMERAL, made
        ours = [m for m in fake_discord.messages("general") if m["author"]["id"] == bot_id]
        assert ours == []
        return made

    pending = await fake_discord.send_slash_command("paper", [option("paper", "qqzzxx")])
    assert "No paper matches" in (await private_line(pending))["content"]

    async def too_slow(*args: Any, **kwargs: Any) -> Any:
        await asyncio.sleep(0.1)
        raise SearchTooSlow("That search took too long. Try fewer words.")

    monkeypatch.setattr(bot.search, "search", too_slow)
    pending = await fake_discord.send_slash_command("search", [option("query", "diffusion")])
    made = await private_line(pending)
    assert made["embeds"][0]["title"] == "Search took too long"

    async def broken(*args: Any, **kwargs: Any) -> Any:
        await asyncio.sleep(0.1)
        raise RuntimeError("index on fire")

    monkeypatch.setattr(bot.search, "search", broken)
    pending = await fake_discord.send_slash_command("search", [option("query", "diffusion")])
    made = await private_line(pending)
    assert made["content"].startswith("Something went wrong on our side")


async def test_saved_remove_waiting_behind_another_writer_is_acknowledged_in_time(
    bot: PaperBot, store: Store, fake_discord: FakeDiscord
) -> None:
    """Another process holds SQLite's write lock for 4 s: /saved remove is acknowledged
    (privately) within Discord's 3 s, and answers once its write went through."""
    alice = fake_discord.world.user("alice").id
    assert await store.social.toggle_save(alice, "0704.0001")
    remove = [payloads.subcommand("remove", [option("paper", "0704.0001")])]
    async with another_writer(store.db.path, 4.0):
        pending = await fake_discord.send_slash_command("saved", remove)
        started = asyncio.get_running_loop().time()
        callback = await pending.wait_callback(timeout=6.0)
        took = asyncio.get_running_loop().time() - started
    assert took < 3.0 and callback.status < 300, (took, callback.status)
    assert callback.json["type"] == DEFERRED and callback.json["data"]["flags"] & EPHEMERAL
    followup = await pending.wait_followup(timeout=6.0)
    assert followup.json["content"] == "Removed from your reading list."
    assert await store.social.saved_ids(alice) == []


async def test_a_failing_button_is_logged_and_answered_privately(
    bot: PaperBot,
    fake_discord: FakeDiscord,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    pending = await fake_discord.send_slash_command("paper", [option("paper", "0704.0001")])
    await pending.wait_callback()

    async def broken(*args: Any) -> tuple[bool, int]:
        raise RuntimeError("database on fire")

    monkeypatch.setattr(bot.store.social, "toggle_vote", broken)
    click = await fake_discord.click_button(pending.original_message, "pb:vote:0704.0001")
    data = (await click.wait_callback()).json["data"]
    assert data["flags"] & EPHEMERAL
    assert data["content"].startswith("Something went wrong on our side")
    assert "database on fire" not in data["content"]
    assert any("pb:vote:0704.0001" in r.getMessage() and r.exc_info for r in caplog.records)

    # A card whose paper was removed since (withdrawn, say) answers that, and logs nothing.
    caplog.clear()
    assert await bot.store.papers.delete("0704.0001")
    gone = await fake_discord.click_button(pending.original_message, "pb:save:0704.0001")
    data = (await gone.wait_callback()).json["data"]
    assert data["flags"] & EPHEMERAL and data["content"] == "That paper is no longer in the store."
    assert not [r for r in caplog.records if r.levelname == "ERROR"]


async def test_card_buttons_work_after_a_restart(
    store: Store,
    tmp_path: Path,
    fake_discord: FakeDiscord,
    connect_client: Connect,
    start_bot: StartBot,
) -> None:
    first = await start_bot(store, make_settings(tmp_path))
    pending = await fake_discord.send_slash_command("paper", [option("paper", "0704.0002")])
    await pending.wait_callback()
    card = pending.original_message
    assert card is not None
    await first.close()

    # A new process (new bot object, same database) answers a click on yesterday's card.
    await start_bot(store, make_settings(tmp_path))
    click = await fake_discord.click_button(card, "pb:save:0704.0002", user="bob")
    data = (await click.wait_callback()).json["data"]
    assert data["flags"] & EPHEMERAL and "Saved to your reading list" in data["content"]
    bob = fake_discord.world.user("bob").id
    assert await store.social.saved_ids(bob) == ["0704.0002"]


async def test_a_refused_command_sync_does_not_stop_the_bot(
    store: Store,
    tmp_path: Path,
    fake_discord: FakeDiscord,
    connect_client: Connect,
    start_bot: StartBot,
) -> None:
    commands_route = re.compile(r"/applications/\d+/commands")
    fake_discord.fail_next("PUT", commands_route, status=403, code=50001, message="Missing Access")
    first = await start_bot(store, make_settings(tmp_path))  # ready despite the refusal
    pending = await fake_discord.send_slash_command("random")
    assert (await pending.wait_callback()).json["type"] == CHANNEL_MESSAGE
    await first.close()

    # Nothing was recorded as synced, so the next start tries again (and succeeds).
    await start_bot(store, make_settings(tmp_path))
    puts = fake_discord.requests_for("PUT", commands_route)
    assert [p.status for p in puts] == [403, 200]


async def test_search_by_meaning_finds_a_paraphrase(
    bot: PaperBot, fake_discord: FakeDiscord
) -> None:
    # The bot made every paper's vector in the background after start-up.
    for _ in range(300):
        if bot.search.meaning is not None and bot.vectors.progress.complete:
            break
        await asyncio.sleep(0.1)
    else:
        pytest.fail(f"vectors not ready: {bot.vectors.status}")
    assert "on, " in bot.vectors.status
    # None of the title's words: "discrete dipole approximation ... light scattering".
    query = "parallel code that computes how huge spheres deflect a beam, compared with Mie theory"
    pending = await fake_discord.send_slash_command("search", [option("query", query)])
    embed = (await pending.wait_answer()).body["embeds"][0]
    assert embed["title"].startswith("The discrete dipole approximation")
    assert embed["author"]["name"].endswith("· similar in meaning")
    assert len(embed["author"]["name"]) <= 256


async def test_results_buttons_answer_after_a_restart(
    store: Store, start_bot: StartBot, fake_discord: FakeDiscord, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A /search answer's ◀ ▶ and select stay enabled on the message when the bot restarts (a
    deploy): pressed then, they get a private line saying what to do, within Discord's 3 s,
    rather than "This interaction failed"."""
    monkeypatch.setattr("bot.app.EXPIRED_GRACE", 0.3)  # a live view's time to answer first
    first = await start_bot(store)
    pending = await fake_discord.send_slash_command(
        "search", [payloads.option("query", "diffusion")]
    )
    answer = await pending.wait_answer()
    ids = [c.get("custom_id") for row in answer.body["components"] for c in row["components"]]
    assert "pb:search:next" in ids
    await first.close()
    await start_bot(store)  # the restarted bot: the same store, the same (fake) Discord
    click = await fake_discord.click_button(answer.message, "pb:search:next")
    reply = await click.wait_callback(timeout=3.0)
    data = reply.json["data"]
    assert reply.status < 300 and data["flags"] & 64  # private
    assert "expired" in data["content"] and "/search" in data["content"]
