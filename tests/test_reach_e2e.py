"""PaperBot installed to a member's own account (issue 11, "Reach"), end to end.

The real bot runs against the fake Discord, whose world has, besides the bot's server "Paper
Club": "Other Club" (the bot user is not there, nor the app), "Bare Club" (the app is
installed to the server but its bot user is not a member), a DM and a group DM between
users, and dave, who installed PaperBot to his account. The fake builds each interaction
as Discord does (``context``, ``authorizing_integration_owners``, ``app_permissions``, no
guild in the bot's cache) and refuses to run a command where Discord would not offer it.
"""

from __future__ import annotations

import re

import pytest

from bot.app import PaperBot
from bot.reach import VOTES_ELSEWHERE
from bot.store import Store
from tests.fakediscord import CommandUnavailable, FakeDiscord, payloads
from tests.reach_support import EPHEMERAL, Places, add_places, answer, message_of, quiet
from tests.stores import OpenStore, StartBot

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(60)]

EVERYWHERE = ("search", "paper", "cite", "trending", "random", "about", "saved")
SERVER_ONLY = ("daily", "alerts")
PAPER = "0704.0001"  # in arxiv-metadata-oai-snapshot.200.jsonl


@pytest.fixture
async def store(open_store: OpenStore) -> Store:
    return await open_store("trending-may-28.txt", "arxiv-metadata-oai-snapshot.200.jsonl")


@pytest.fixture
async def places(fake_discord: FakeDiscord) -> Places:
    return add_places(fake_discord)


@pytest.fixture
async def bot(store: Store, places: Places, start_bot: StartBot) -> PaperBot:
    return await start_bot(store)


async def test_sync_declares_installs_and_contexts(
    bot: PaperBot, fake_discord: FakeDiscord
) -> None:
    put = fake_discord.requests_for("PUT", re.compile(r"/applications/\d+/commands"))[-1]
    commands = {c["name"]: c for c in put.json}
    assert set(EVERYWHERE + SERVER_ONLY) <= set(commands)
    for name in EVERYWHERE:
        assert commands[name]["integration_types"] == [0, 1], name
        assert commands[name]["contexts"] == [0, 1, 2], name
    for name in SERVER_ONLY:
        assert commands[name]["integration_types"] == [0], name
        assert commands[name]["contexts"] == [0], name
    # The message action ("Find papers"): a message command, offered everywhere too.
    menu = next(c for c in put.json if c.get("type") == 3)
    assert menu["name"] == "Find papers" and "description" not in menu
    assert (menu["integration_types"], menu["contexts"]) == ([0, 1], [0, 1, 2])
    # Nothing is left to Discord's default (the app's install settings, every context).
    for cmd in put.json:
        assert cmd["integration_types"] and cmd["contexts"], cmd["name"]


async def test_reading_commands_in_a_server_without_the_bot_answer_privately(
    bot: PaperBot, fake_discord: FakeDiscord, places: Places, store: Store
) -> None:
    assert bot.get_guild(places.other.id) is None
    run = fake_discord.send_slash_command

    pending = await run(
        "search", [payloads.option("query", "diffusion")], channel="lounge", user="dave"
    )
    payload = pending.payload
    assert payload["context"] == 0 and payload["guild_id"] == str(places.other.id)
    assert payload["authorizing_integration_owners"] == {"1": str(places.dave.id)}
    assert int(payload["app_permissions"]) & (1 << 14)  # EMBED_LINKS, for the cards
    body, private = await answer(pending)
    assert private and body["embeds"][0]["author"]["name"].startswith("Result 1 of ")

    # Asked for, the answer is public there too.
    asked = await run(
        "search",
        [payloads.option("query", "diffusion"), payloads.option("private", False)],
        channel="lounge",
        user="dave",
    )
    body, private = await answer(asked)
    assert not private and body["embeds"]

    for name, options in (
        ("paper", [payloads.option("paper", PAPER)]),
        ("trending", []),
        ("random", []),
        ("about", []),
        ("saved", [payloads.subcommand("list")]),
    ):
        pending = await run(name, options, channel="lounge", user="dave")
        body, private = await answer(pending)
        assert private, name
        assert body["embeds"], name
    trending = await run("trending", channel="lounge", user="dave")
    body, _ = await answer(trending)
    assert "vote" not in body["embeds"][0]["footer"]["text"]  # votes don't count there

    # 👍 there counts for nobody's server: refused, nothing stored; ⭐ works anywhere.
    card = await run("paper", [payloads.option("paper", PAPER)], channel="lounge", user="dave")
    await answer(card)
    message = message_of(card)
    vote = await fake_discord.click_button(message, f"pb:vote:{PAPER}", user="dave")
    data = quiet(await vote.wait_callback())
    assert data["flags"] & EPHEMERAL and data["content"] == VOTES_ELSEWHERE
    assert await store.db.fetchval("SELECT count(*) FROM votes") == 0
    save = await fake_discord.click_button(message, f"pb:save:{PAPER}", user="dave")
    assert "Saved" in quiet(await save.wait_callback())["content"]
    assert await store.social.saved_ids(places.dave.id) == [PAPER]


async def test_reading_commands_in_dms_and_group_dms(
    bot: PaperBot, fake_discord: FakeDiscord, places: Places, store: Store
) -> None:
    bot_dm = fake_discord.world.bot_dm(places.dave)
    for channel, context in ((places.direct, 2), (places.group, 2), (bot_dm, 1)):
        pending = await fake_discord.send_slash_command(
            "paper", [payloads.option("paper", PAPER)], channel=channel, user="dave"
        )
        assert pending.payload["context"] == context and "guild_id" not in pending.payload
        body, private = await answer(pending)
        assert not private, "a DM is the member's own place: answers are public there"
        assert body["embeds"][0]["footer"]["text"] == f"arXiv {PAPER}"
        vote = await fake_discord.click_button(
            message_of(pending),
            f"pb:vote:{PAPER}",
            user="bob" if channel is not bot_dm else "dave",
        )
        assert quiet(await vote.wait_callback())["content"] == VOTES_ELSEWHERE
    assert await store.db.fetchval("SELECT count(*) FROM votes") == 0

    search = await fake_discord.send_slash_command(
        "search", [payloads.option("query", "diffusion")], channel=places.group, user="dave"
    )
    body, private = await answer(search)
    assert not private and body["embeds"] and body["components"]


async def test_server_features_stay_in_servers_with_the_bot(
    bot: PaperBot, fake_discord: FakeDiscord, places: Places, store: Store
) -> None:
    status = [payloads.subcommand("status")]
    listing = [payloads.subcommand("list")]
    # Not offered at all outside servers that installed PaperBot (integration_types [0],
    # contexts [0]): Discord's client would not show them.
    for channel in ("lounge", places.direct, places.group):
        for name, options in (("daily", status), ("alerts", listing)):
            with pytest.raises(CommandUnavailable):
                await fake_discord.send_slash_command(name, options, channel=channel, user="dave")

    # A server that installed the app without its bot user: offered, and refused clearly.
    for name, options in (("daily", status), ("alerts", listing)):
        pending = await fake_discord.send_slash_command(
            name, options, channel="bare-general", user="alice"
        )
        assert pending.payload["authorizing_integration_owners"] == {"0": str(places.bare.id)}
        data = quiet(await pending.wait_callback())
        assert data["flags"] & EPHEMERAL
        assert data["content"].startswith(f"`/{name}` needs PaperBot in this server"), data

    # Where the bot is, votes still count for the server.
    card = await fake_discord.send_slash_command("paper", [payloads.option("paper", PAPER)])
    _, private = await answer(card)
    assert not private
    vote = await fake_discord.click_button(message_of(card), f"pb:vote:{PAPER}")
    assert "Vote counted" in quiet(await vote.wait_callback())["content"]
    assert await store.social.vote_count(fake_discord.world.guild.id, PAPER) == 1
