"""End-to-end tests: a real discord.py client against the local fake Discord."""

# The wait helpers deliberately take `timeout=` (their documented API).
# ruff: noqa: ASYNC109

from __future__ import annotations

import asyncio
import gc
import io
import json
import logging
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import aiohttp
import discord
import pytest
from discord import app_commands

from tests.fakediscord import CommandUnavailable, FakeDiscord, World, payloads
from tests.fakediscord.client import start_client, stop_client
from tests.fakediscord.gateway import Op
from tests.fakediscord.ratelimit import BucketSpec, RateLimitConfig, cloudflare_ban, server_error
from tests.fakediscord.world import RESPONSE_PERMISSIONS, Perm

if TYPE_CHECKING:
    from tests.fakediscord.fixtures import ConnectClient

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(20)]


class PaperBot(discord.Client):
    """A small client exercising what PaperBot will do: slash commands, views, autocomplete."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(
            intents=discord.Intents.default(),
            allowed_mentions=discord.AllowedMentions.none(),
            **kwargs,
        )
        self.tree = app_commands.CommandTree(self)
        self.events: list[tuple[str, Any]] = []
        self.clicks: list[str] = []
        self._add_commands()

    def _add_commands(self) -> None:
        tree = self.tree

        @tree.command(name="paper", description="Show a paper")
        @app_commands.describe(query="Title or arXiv id")
        async def paper(interaction: discord.Interaction, query: str, limit: int = 3) -> None:
            embed = discord.Embed(title=f"Results for {query}", description=f"top {limit}")
            embed.add_field(name="arXiv", value="1706.03762")
            await interaction.response.send_message(embed=embed, ephemeral=True)

        @paper.autocomplete("query")
        async def paper_complete(
            interaction: discord.Interaction, current: str
        ) -> list[app_commands.Choice[str]]:
            titles = ["Attention Is All You Need", "Attention Free Transformer", "BERT"]
            return [
                app_commands.Choice(name=t, value=t[:20])
                for t in titles
                if t.lower().startswith(current.lower())
            ]

        feed = app_commands.Group(name="feed", description="Manage feeds")
        sub = app_commands.Group(name="arxiv", description="arXiv feeds", parent=feed)

        @sub.command(name="add", description="Follow a category")
        async def feed_add(interaction: discord.Interaction, category: str) -> None:
            await interaction.response.send_message(f"following {category}")

        tree.add_command(feed)

        bot = self

        class Vote(discord.ui.View):
            @discord.ui.button(label="Upvote", custom_id="vote:up", style=discord.ButtonStyle.green)
            async def up(self, interaction: discord.Interaction, _: discord.ui.Button[Any]) -> None:
                bot.clicks.append("up")
                await interaction.response.edit_message(content="1 vote", view=self)

            @discord.ui.select(
                custom_id="vote:tag",
                options=[discord.SelectOption(label="ml"), discord.SelectOption(label="nlp")],
            )
            async def tag(
                self, interaction: discord.Interaction, select: discord.ui.Select[Any]
            ) -> None:
                bot.clicks.append("tag:" + ",".join(select.values))
                await interaction.response.send_message(f"tagged {select.values[0]}")

        @tree.command(name="vote", description="Vote on the paper of the day")
        async def vote(interaction: discord.Interaction) -> None:
            await interaction.response.send_message("0 votes", view=Vote(timeout=30))

        @tree.command(name="pdf", description="Upload a PDF")
        async def pdf(interaction: discord.Interaction) -> None:
            await interaction.response.send_message(
                "here", file=discord.File(io.BytesIO(b"%PDF"), "a.pdf")
            )

        @tree.command(name="edit", description="Edit responses and follow-ups")
        async def edit(interaction: discord.Interaction) -> None:
            await interaction.response.send_message("v1")
            await interaction.edit_original_response(content="v2")
            followup = await interaction.followup.send("f1", wait=True)
            await followup.edit(content="f2")
            original = await interaction.original_response()
            bot.events.append(("original", original.content))
            await followup.delete()

        class Note(discord.ui.Modal, title="Add a note"):
            text: discord.ui.TextInput[Any] = discord.ui.TextInput(
                label="Note", custom_id="note:text"
            )

            async def on_submit(self, interaction: discord.Interaction) -> None:
                await interaction.response.send_message(f"noted: {self.text.value}")

        @tree.command(name="note", description="Open a modal")
        async def note(interaction: discord.Interaction) -> None:
            await interaction.response.send_modal(Note(custom_id="note"))

        @tree.command(name="slow", description="Deferred answer")
        async def slow(interaction: discord.Interaction) -> None:
            await interaction.response.defer(thinking=True)
            await interaction.followup.send("done thinking")
            await interaction.followup.send("and one more")

    async def on_message(self, message: discord.Message) -> None:
        self.events.append(("message", message))

    async def on_resumed(self) -> None:
        self.events.append(("resumed", None))


@pytest.fixture
async def bot(fake_discord: FakeDiscord, connect_client: ConnectClient) -> PaperBot:
    return await connect_client(PaperBot())


async def until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise TimeoutError("condition not met")
        await asyncio.sleep(0.005)


# ----------------------------------------------------------------- login
async def test_login_ready_and_guild_cache(fake_discord: FakeDiscord, bot: PaperBot) -> None:
    world = fake_discord.world
    assert bot.user is not None and bot.user.id == world.bot.id
    assert bot.application_id == world.application.id
    guild = bot.get_guild(world.guild.id)
    assert guild is not None and guild.name == "Paper Club"
    names = {c.name for c in guild.channels}
    assert {"general", "papers", "announcements", "mod-only"} <= names
    assert "old-papers" not in names  # deleted channels are not in GUILD_CREATE
    assert guild.me is not None
    general = guild.get_channel(world.channel("general").id)
    announcements = guild.get_channel(world.channel("announcements").id)
    mod_only = guild.get_channel(world.channel("mod-only").id)
    assert isinstance(general, discord.TextChannel)
    assert isinstance(announcements, discord.TextChannel)
    assert isinstance(mod_only, discord.TextChannel)
    assert general.permissions_for(guild.me).send_messages
    assert not announcements.permissions_for(guild.me).send_messages
    assert not mod_only.permissions_for(guild.me).read_messages

    me = await fake_discord.wait_for_request("GET", "/users/@me")
    assert me.headers["Authorization"] == f"Bot {fake_discord.token}"
    assert me.response_headers["Content-Type"] == "application/json"
    assert [r.path for r in fake_discord.requests[:2]] == ["/users/@me", "/oauth2/applications/@me"]
    # discord.py 2.7 connects straight to DEFAULT_GATEWAY with transport compression.
    conn = fake_discord.gateway.connections[0]
    assert conn.path == "/gateway"
    assert conn.query == {"v": "10", "encoding": "json", "compress": "zlib-stream"}
    assert fake_discord.gateway.identify_count == 1
    identify = fake_discord.gateway.frames_in(Op.IDENTIFY)[0].d
    assert identify["token"] == fake_discord.token
    assert identify["intents"] == discord.Intents.default().value
    assert fake_discord.gateway.heartbeat_count >= 1
    fake_discord.assert_no_unhandled_requests()


async def test_bad_token_is_login_failure(fake_discord: FakeDiscord) -> None:
    client = discord.Client(intents=discord.Intents.none())
    with pytest.raises(discord.LoginFailure):
        await client.login("wrong-token")
    await client.close()
    assert fake_discord.requests[0].status == 401


# ---------------------------------------------------------- app commands
async def test_sync_records_exact_command_payload(fake_discord: FakeDiscord, bot: PaperBot) -> None:
    synced = await bot.tree.sync()
    req = await fake_discord.wait_for_request(
        "PUT", f"/applications/{fake_discord.world.application.id}/commands"
    )
    by_name = {c["name"]: c for c in req.json}
    assert set(by_name) == {"paper", "feed", "vote", "slow", "pdf", "edit", "note"}
    assert by_name["paper"]["options"] == [
        {
            "type": 3,
            "name": "query",
            "description": "Title or arXiv id",
            "required": True,
            "autocomplete": True,
        },
        {"type": 4, "name": "limit", "description": "…", "required": False},
    ]
    group = by_name["feed"]["options"][0]
    assert (group["type"], group["name"]) == (2, "arxiv")
    assert group["options"][0]["name"] == "add"
    assert {c.name for c in synced} == set(by_name)
    assert all(c.id for c in synced)  # ids echoed back by the fake
    stored = await bot.tree.fetch_commands()
    assert {c.id for c in stored} == {c.id for c in synced}


async def test_invalid_command_rejected_like_discord(
    fake_discord: FakeDiscord, bot: PaperBot
) -> None:
    bad = {"name": "Bad Name", "description": "x", "type": 1}
    route = discord.http.Route(
        "PUT", "/applications/{application_id}/commands", application_id=bot.application_id
    )
    with pytest.raises(discord.HTTPException) as info:
        await bot.http.request(route, json=[bad])
    assert info.value.status == 400 and info.value.code == 50035
    assert "In 0.name: Command name is invalid" in str(info.value)


async def test_slash_command_replies_with_embed(fake_discord: FakeDiscord, bot: PaperBot) -> None:
    await bot.tree.sync()
    pending = await fake_discord.send_slash_command(
        "paper", [payloads.option("query", "attention"), payloads.option("limit", 5)], user="bob"
    )
    req = await pending.wait_callback()
    assert req.status == 200  # with_response=1 → callback response JSON
    assert req.query == {"with_response": "1"}
    assert "Authorization" not in req.headers
    assert req.json == {
        "type": 4,
        "data": {
            "tts": False,
            "content": None,
            "embeds": [
                {
                    "flags": 0,
                    "type": "rich",
                    "title": "Results for attention",
                    "description": "top 5",
                    "fields": [{"name": "arXiv", "value": "1706.03762", "inline": True}],
                }
            ],
            "flags": 64,
            "allowed_mentions": {"parse": []},
        },
    }
    assert req.response["interaction"]["response_message_ephemeral"] is True
    original = pending.original_message
    assert original is not None and original["flags"] & payloads.MessageFlag.EPHEMERAL
    assert fake_discord.messages("general") == []  # ephemeral: not in channel history


async def test_guild_command_and_nested_subcommand(
    fake_discord: FakeDiscord, bot: PaperBot
) -> None:
    guild = discord.Object(fake_discord.world.guild.id)
    bot.tree.copy_global_to(guild=guild)
    await bot.tree.sync(guild=guild)
    assert fake_discord.requests_for("PUT", "/applications/{app}/guilds/{guild}/commands")
    pending = await fake_discord.send_slash_command(
        "feed",
        [
            payloads.subcommand_group(
                "arxiv", [payloads.subcommand("add", [payloads.option("category", "cs.CL")])]
            )
        ],
        channel="papers",
    )
    assert pending.payload["data"]["guild_id"] == str(fake_discord.world.guild.id)
    req = await pending.wait_callback()
    assert req.json["data"]["content"] == "following cs.CL"
    msgs = fake_discord.messages("papers")
    assert [m["content"] for m in msgs] == ["following cs.CL"]
    assert msgs[0]["type"] == 20 and msgs[0]["interaction_metadata"]["name"] == "feed"


async def test_button_click_and_select(fake_discord: FakeDiscord, bot: PaperBot) -> None:
    pending = await fake_discord.send_slash_command("vote")
    req = await pending.wait_callback()
    components = req.json["data"]["components"]
    assert components[0]["components"][0]["custom_id"] == "vote:up"
    message = pending.original_message
    assert message is not None and message["content"] == "0 votes"

    click = await fake_discord.click_button(int(message["id"]), "vote:up", user="bob")
    cb = await click.wait_callback()
    assert cb.status == 200 and cb.json["type"] == 7
    assert bot.clicks == ["up"]
    stored = fake_discord.world.find_message(int(message["id"]))
    assert stored is not None and stored["content"] == "1 vote"

    select = await fake_discord.choose_select(int(message["id"]), "vote:tag", ["nlp"])
    cb = await select.wait_callback()
    assert cb.json["type"] == 4 and cb.json["data"]["content"] == "tagged nlp"
    assert bot.clicks == ["up", "tag:nlp"]


async def test_autocomplete(fake_discord: FakeDiscord, bot: PaperBot) -> None:
    pending = await fake_discord.send_autocomplete(
        "paper", [payloads.focused("query", "atte"), payloads.option("limit", 2)]
    )
    req = await pending.wait_callback()
    assert req.json == {
        "type": 8,
        "data": {
            "choices": [
                {"name": "Attention Is All You Need", "value": "Attention Is All You"},
                {"name": "Attention Free Transformer", "value": "Attention Free Trans"},
            ]
        },
    }
    assert req.status == 200


async def test_modal_round_trip(fake_discord: FakeDiscord, bot: PaperBot) -> None:
    pending = await fake_discord.send_slash_command("note")
    modal = await pending.wait_callback()
    assert modal.json["type"] == 9 and modal.json["data"]["custom_id"] == "note"
    submit = await fake_discord.submit_modal("note", {"note:text": "read this"})
    cb = await submit.wait_callback()
    assert cb.json["data"]["content"] == "noted: read this"
    # answering the same interaction twice is rejected like Discord does
    route = discord.http.Route(
        "POST",
        "/interactions/{interaction_id}/{token}/callback",
        interaction_id=submit.id,
        token=submit.token,
    )
    with pytest.raises(discord.HTTPException) as info:
        await bot.http.request(route, json={"type": 6})
    assert info.value.code == 40060


async def test_defer_then_followups(fake_discord: FakeDiscord, bot: PaperBot) -> None:
    pending = await fake_discord.send_slash_command("slow")
    cb = await pending.wait_callback()
    assert cb.json == {"type": 5}
    first = await pending.wait_followup()
    second = await pending.wait_followup(since=first.index + 1)
    assert first.query["wait"] == "1"
    assert first.json["content"] == "done thinking"
    msgs = fake_discord.messages("general")
    # the first follow-up replaced the "thinking..." message, the second is new
    assert [m["content"] for m in msgs] == ["done thinking", "and one more"]
    assert not msgs[0]["flags"] & payloads.MessageFlag.LOADING
    assert second.response["id"] == msgs[1]["id"]


async def test_multipart_callback_and_webhook_message_routes(
    fake_discord: FakeDiscord, bot: PaperBot
) -> None:
    pending = await fake_discord.send_slash_command("pdf")
    req = await pending.wait_callback()
    assert req.is_multipart
    assert req.json["type"] == 4 and req.json["data"]["attachments"] == [
        {"id": 0, "filename": "a.pdf"}
    ]
    assert [(f.field_name, f.filename, f.data) for f in req.files] == [
        ("files[0]", "a.pdf", b"%PDF")
    ]
    assert pending.original_message is not None
    assert pending.original_message["attachments"][0]["filename"] == "a.pdf"

    pending = await fake_discord.send_slash_command("edit")
    await until(lambda: ("original", "v2") in bot.events)
    base = pending.webhook_path
    delete = await fake_discord.wait_for_request("DELETE", base + "/messages/{id}")
    assert delete.status == 204
    calls = [
        (r.method, r.path.removeprefix(base), r.status)
        for r in fake_discord.requests
        if r.path.startswith(base)
    ]
    followup_id = delete.path.rsplit("/", 1)[1]
    assert calls == [
        ("PATCH", "/messages/@original", 200),
        ("POST", "", 200),
        ("PATCH", f"/messages/{followup_id}", 200),
        ("GET", "/messages/@original", 200),
        ("DELETE", f"/messages/{followup_id}", 204),
    ]
    assert [m["content"] for m in fake_discord.messages("general")] == ["here", "v2"]
    assert fake_discord.messages("general")[1]["edited_timestamp"] is not None


async def test_late_callback_is_unknown_interaction(
    fake_discord: FakeDiscord, bot: PaperBot
) -> None:
    fake_discord.interaction_ack_deadline = 0.0
    errors: list[BaseException] = []

    @bot.tree.error
    async def on_error(interaction: discord.Interaction, error: Exception) -> None:
        errors.append(error)

    pending = await fake_discord.send_slash_command("paper", [payloads.option("query", "x")])
    req = await pending.wait_callback()
    assert req.status == 404 and req.response["code"] == 10062
    await until(lambda: bool(errors))
    original = getattr(errors[0], "original", None)
    assert isinstance(original, discord.NotFound) and original.code == 10062


# ------------------------------------------------------ REST + failures
async def test_channel_send_survives_queued_429(fake_discord: FakeDiscord, bot: PaperBot) -> None:
    ch_id = fake_discord.world.channel("papers").id
    injection = fake_discord.rate_limit_next(
        "POST", "/channels/{channel_id}/messages", retry_after=0.05
    )
    channel = bot.get_channel(ch_id)
    assert isinstance(channel, discord.TextChannel)
    sent = await channel.send("new paper: attention")
    posts = fake_discord.requests_for("POST", f"/channels/{ch_id}/messages")
    assert [r.status for r in posts] == [429, 200]
    assert posts[0].json == posts[1].json  # the retry re-sends the identical body (same nonce)
    assert posts[1].json["content"] == "new paper: attention"
    assert posts[1].json["allowed_mentions"] == {"parse": []}
    assert injection.exhausted and injection.hits == [posts[0]]
    assert posts[1].time - posts[0].time >= 0.05
    assert [m["content"] for m in fake_discord.messages("papers")] == ["new paper: attention"]
    assert sent.id == int(fake_discord.messages("papers")[0]["id"])
    assert fake_discord.limiter.stats.rate_limited_responses == 1
    headers = posts[1].response_headers
    assert {
        "X-RateLimit-Limit",
        "X-RateLimit-Remaining",
        "X-RateLimit-Reset-After",
        "X-RateLimit-Bucket",
    } <= set(headers)


async def test_global_429_and_cloudflare(fake_discord: FakeDiscord, bot: PaperBot) -> None:
    channel = bot.get_channel(fake_discord.world.channel("general").id)
    assert isinstance(channel, discord.TextChannel)
    fake_discord.rate_limit_next(
        "POST", "/channels/{id}/messages", retry_after=0.02, is_global=True
    )
    await channel.send("after global")
    posts = fake_discord.requests_for("POST", "/channels/{id}/messages")
    assert [r.status for r in posts] == [429, 200]
    assert posts[0].response_headers["X-RateLimit-Global"] == "true"

    fake_discord.inject("POST", "/channels/{id}/messages", cloudflare_ban())
    with pytest.raises(discord.HTTPException) as info:
        await channel.send("banned")
    assert info.value.status == 429  # no Via header: discord.py does not retry
    assert len(fake_discord.messages("general")) == 1


async def test_channel_send_survives_500(fake_discord: FakeDiscord, bot: PaperBot) -> None:
    channel = bot.get_channel(fake_discord.world.channel("general").id)
    assert isinstance(channel, discord.TextChannel)
    fake_discord.fail_next("POST", "/channels/{channel_id}/messages", status=500)
    await channel.send("hello")  # discord.py sleeps 1s before the retry
    posts = fake_discord.requests_for("POST", "/channels/{channel_id}/messages")
    assert [r.status for r in posts] == [500, 200]
    assert [m["content"] for m in fake_discord.messages("general")] == ["hello"]


async def test_502_after_processing_is_deduplicated_by_nonce(
    fake_discord: FakeDiscord, bot: PaperBot
) -> None:
    channel = bot.get_channel(fake_discord.world.channel("general").id)
    assert isinstance(channel, discord.TextChannel)
    bad_gateway = server_error(502)
    bad_gateway.passthrough = True  # Discord created the message, then the edge failed
    fake_discord.inject("POST", "/channels/{id}/messages", bad_gateway)
    await channel.send("once")  # discord.py sends nonce + enforce_nonce: retry is deduplicated
    assert [m["content"] for m in fake_discord.messages("general")] == ["once"]
    # without a nonce the same failure duplicates the message
    fake_discord.inject("POST", "/channels/{id}/messages", bad_gateway)
    route = discord.http.Route("POST", "/channels/{channel_id}/messages", channel_id=channel.id)
    await bot.http.request(route, json={"content": "twice"})
    assert [m["content"] for m in fake_discord.messages("general")] == ["once", "twice", "twice"]


async def test_permission_and_missing_channel_errors(
    fake_discord: FakeDiscord, bot: PaperBot
) -> None:
    world = fake_discord.world
    announcements = bot.get_channel(world.channel("announcements").id)
    mod_only = bot.get_channel(world.channel("mod-only").id)
    assert isinstance(announcements, discord.TextChannel)
    assert isinstance(mod_only, discord.TextChannel)
    with pytest.raises(discord.Forbidden) as info:
        await announcements.send("hi")
    assert info.value.code == 50013
    with pytest.raises(discord.Forbidden) as info:
        await mod_only.send("hi")
    assert info.value.code == 50001
    gone = bot.get_partial_messageable(world.channel("old-papers").id)
    with pytest.raises(discord.NotFound) as nf:
        await gone.send("hi")
    assert nf.value.code == 10003

    # deny EMBED_LINKS at runtime: Discord silently drops the embed
    world.deny_bot("papers", Perm.EMBED_LINKS)
    papers = bot.get_channel(world.channel("papers").id)
    assert isinstance(papers, discord.TextChannel)
    msg = await papers.send("text", embed=discord.Embed(title="x"))
    assert msg.embeds == []

    with pytest.raises(discord.HTTPException) as empty:
        await papers.send("")
    assert empty.value.code == 50006
    with pytest.raises(discord.HTTPException) as long:
        await papers.send("x" * 2001)
    assert long.value.code == 50035


async def test_unknown_route_is_recorded(fake_discord: FakeDiscord, bot: PaperBot) -> None:
    route = discord.http.Route("GET", "/channels/{channel_id}/pins", channel_id=1)
    with pytest.raises(discord.NotFound) as info:
        await bot.http.request(route)
    assert info.value.code == 0
    assert [r.path for r in fake_discord.unhandled_requests] == ["/channels/1/pins"]


async def test_files_threads_history_dm(fake_discord: FakeDiscord, bot: PaperBot) -> None:
    world = fake_discord.world
    papers = bot.get_channel(world.channel("papers").id)
    assert isinstance(papers, discord.TextChannel)
    msg = await papers.send("pdf", file=discord.File(io.BytesIO(b"%PDF-1.7"), "paper.pdf"))
    req = fake_discord.requests_for("POST", f"/channels/{papers.id}/messages")[-1]
    assert req.is_multipart and req.json["attachments"] == [{"id": 0, "filename": "paper.pdf"}]
    assert req.files[0].filename == "paper.pdf" and req.files[0].data == b"%PDF-1.7"
    assert await msg.attachments[0].read() == b"%PDF-1.7"

    thread = await msg.create_thread(name="Discussion")
    assert thread.id == msg.id and thread.parent_id == papers.id
    await until(lambda: papers.guild.get_thread(thread.id) is not None)  # THREAD_CREATE
    await thread.send("in thread")

    for i in range(5):
        await papers.send(f"m{i}")
    newest = [m.content async for m in papers.history(limit=3)]
    assert newest == ["m4", "m3", "m2"]
    oldest = [m.content async for m in papers.history(limit=2, oldest_first=True)]
    assert oldest == ["pdf", "m0"]

    fetched = await bot.fetch_channel(papers.id)
    assert isinstance(fetched, discord.TextChannel) and fetched.name == "papers"
    with pytest.raises(discord.Forbidden):
        await bot.fetch_channel(world.channel("mod-only").id)

    bob = await bot.fetch_user(world.user("bob").id)
    dm = await bob.send("hi bob")
    assert isinstance(dm.channel, discord.DMChannel)
    carol = await bot.fetch_user(world.user("carol").id)
    with pytest.raises(discord.Forbidden) as info:
        await carol.send("hi carol")
    assert info.value.code == 50007


async def test_echoed_events_and_message_content_intent(
    fake_discord: FakeDiscord, bot: PaperBot
) -> None:
    await fake_discord.post_user_message("general", "secret text", user="bob")
    await until(lambda: len(bot.events) >= 1)
    kind, message = bot.events[0]
    assert kind == "message" and message.author.name == "bob"
    assert message.content == ""  # no MESSAGE_CONTENT intent → blanked like Discord


# ------------------------------------------------- installs and contexts
async def test_install_types_and_contexts_validated_like_discord(
    fake_discord: FakeDiscord, bot: PaperBot
) -> None:
    route = discord.http.Route(
        "PUT", "/applications/{application_id}/commands", application_id=bot.application_id
    )
    bad = [
        {"name": "a", "description": "x", "type": 1, "integration_types": [0, 5]},
        {"name": "b", "description": "x", "type": 1, "contexts": ["dm"]},
        {"name": "c", "description": "x", "type": 1, "contexts": 2},
    ]
    with pytest.raises(discord.HTTPException) as info:
        await bot.http.request(route, json=bad)
    assert info.value.code == 50035
    text = str(info.value)
    assert 'In 0.integration_types.1: Value "5" is not a valid enum value.' in text
    assert "In 1.contexts.0" in text and "In 2.contexts: Must be an array." in text

    good = {"name": "d", "description": "x", "type": 1}
    stored = await bot.http.request(
        route, json=[good | {"integration_types": [0, 1], "contexts": [0, 1, 2]}]
    )
    assert (stored[0]["integration_types"], stored[0]["contexts"]) == ([0, 1], [0, 1, 2])


def _everywhere_commands(bot: PaperBot) -> None:
    """/where (offered from both installs everywhere) and the message command "Quote"."""

    @bot.tree.command(name="where", description="Where am I?")
    @app_commands.allowed_installs(guilds=True, users=True)
    @app_commands.allowed_contexts(guilds=True, dms=True, private_channels=True)
    async def where(interaction: discord.Interaction) -> None:
        guild = bot.get_guild(interaction.guild_id or 0)
        await interaction.response.send_message(
            f"guild={interaction.guild_id} cached={guild is not None}"
        )

    @bot.tree.context_menu(name="Quote")
    @app_commands.allowed_installs(guilds=True, users=True)
    @app_commands.allowed_contexts(guilds=True, dms=True, private_channels=True)
    async def quote(interaction: discord.Interaction, message: discord.Message) -> None:
        await interaction.response.send_message(f"> {message.content}", ephemeral=True)


async def test_user_install_reaches_servers_without_the_bot(
    fake_discord: FakeDiscord, connect_client: ConnectClient
) -> None:
    world = fake_discord.world
    dave = world.add_user("dave", global_name="Dave", app_installed=True)
    bob = world.user("bob")
    other = world.add_guild("Other Club", owner=dave, members=[bob], channel="lounge")
    direct = world.add_private_channel(dave, bob)
    group = world.add_private_channel(dave, bob, world.user("alice"), name="reading group")
    bot = await connect_client(PaperBot())
    _everywhere_commands(bot)
    await bot.tree.sync()

    # The bot user is not in "Other Club": no GUILD_CREATE, nothing in its cache.
    assert bot.get_guild(other.id) is None and bot.get_guild(world.guild.id) is not None
    await fake_discord.post_user_message("lounge", "not for the bot", user="bob")

    pending = await fake_discord.send_slash_command("where", channel="lounge", user="dave")
    payload = pending.payload
    assert payload["guild_id"] == str(other.id) and payload["context"] == 0
    assert payload["authorizing_integration_owners"] == {"1": str(dave.id)}
    assert payload["member"]["user"]["id"] == str(dave.id)
    app_perms = int(payload["app_permissions"])
    assert app_perms & Perm.EMBED_LINKS and app_perms & Perm.SEND_MESSAGES
    assert not app_perms & Perm.MANAGE_GUILD  # @everyone's, not an admin's
    req = await pending.wait_callback()
    assert req.json["data"]["content"] == f"guild={other.id} cached=False"
    assert [m["content"] for m in fake_discord.messages("lounge")][-1].startswith("guild=")
    assert not [e for e in bot.events if e[0] == "message"]  # the bot hears nothing there

    # Commands without a user install are not offered there, nor to a member without one.
    with pytest.raises(CommandUnavailable):
        await fake_discord.send_slash_command("vote", channel="lounge", user="dave")
    with pytest.raises(CommandUnavailable):
        await fake_discord.send_slash_command("where", channel="lounge", user="bob")

    # A DM between two users and a group DM: context 2, only the user's install.
    for channel in (direct, group):
        pending = await fake_discord.send_slash_command("where", channel=channel, user="dave")
        payload = pending.payload
        assert payload["context"] == 2 and "guild_id" not in payload
        assert payload["authorizing_integration_owners"] == {"1": str(dave.id)}
        assert int(payload["app_permissions"]) == RESPONSE_PERMISSIONS
        assert payload["user"]["id"] == str(dave.id)
        req = await pending.wait_callback()
        assert req.json["data"]["content"] == "guild=None cached=False"
    with pytest.raises(CommandUnavailable):
        await fake_discord.send_slash_command("vote", channel=group, user="dave")

    # In the bot's own server both installs reach a command that takes both.
    pending = await fake_discord.send_slash_command("where", user="alice")
    assert pending.payload["authorizing_integration_owners"] == {"0": str(world.guild.id)}
    world.user("alice").app_installed = True
    pending = await fake_discord.send_slash_command("where", user="alice")
    assert pending.payload["authorizing_integration_owners"] == {
        "0": str(world.guild.id),
        "1": str(world.user("alice").id),
    }
    await pending.wait_callback()


async def test_message_command_target_carries_its_content(
    fake_discord: FakeDiscord, bot: PaperBot
) -> None:
    _everywhere_commands(bot)
    await bot.tree.sync()
    message = await fake_discord.post_user_message("general", "see arXiv:1706.03762", user="bob")
    await until(lambda: any(e[0] == "message" for e in bot.events))
    assert bot.events[-1][1].content == ""  # MESSAGE_CREATE: blanked without the intent

    pending = await fake_discord.send_message_command("Quote", message, user="alice")
    data = pending.payload["data"]
    assert (data["type"], data["target_id"]) == (3, message["id"])
    assert data["resolved"]["messages"][message["id"]]["content"] == "see arXiv:1706.03762"
    req = await pending.wait_callback()
    assert req.json["data"]["content"] == "> see arXiv:1706.03762"


# ---------------------------------------------------------------- gateway
@pytest.mark.parametrize("mode", ["close", "abort", "reconnect"])
async def test_dropped_gateway_resumes(fake_discord: FakeDiscord, bot: PaperBot, mode: str) -> None:
    gw = fake_discord.gateway
    since = len(gw.frames)
    assert await fake_discord.drop_gateway(mode) == 1  # type: ignore[arg-type]
    resume = await gw.wait_for(op=Op.RESUME, direction="in", since=since)
    await gw.wait_for(event="RESUMED", since=since)
    assert gw.identify_count == 1 and gw.resume_count == 1
    session = next(iter(gw.sessions.values()))
    assert resume.d["session_id"] == session.id and resume.d["token"] == fake_discord.token
    assert resume.d["seq"] >= 2  # READY + GUILD_CREATE at least
    assert gw.connections[-1].path == "/gateway-resume"
    await until(lambda: ("resumed", None) in bot.events)
    # events still arrive after the resume
    pending = await fake_discord.send_slash_command("paper", [payloads.option("query", "x")])
    assert (await pending.wait_callback()).status == 200


async def test_missed_events_replayed_on_resume(fake_discord: FakeDiscord, bot: PaperBot) -> None:
    gw = fake_discord.gateway
    since = len(gw.frames)
    await fake_discord.drop_gateway("abort")
    # dispatched while the client is away → queued in the session backlog
    await fake_discord.post_user_message("general", "while away", user="bob")
    await gw.wait_for(event="RESUMED", since=since)
    await until(lambda: any(kind == "message" for kind, _ in bot.events))
    assert gw.identify_count == 1
    resumed_conn = gw.connections[-1].id
    assert any(f.t == "MESSAGE_CREATE" and f.connection_id == resumed_conn for f in gw.frames)


async def test_invalid_session_forces_identify(fake_discord: FakeDiscord, bot: PaperBot) -> None:
    async def no_wait(shard_id: int | None, *, initial: bool = False) -> None:
        return None

    bot.before_identify_hook = no_wait  # type: ignore[method-assign]  # default sleeps 5s
    gw = fake_discord.gateway
    since = len(gw.frames)
    await fake_discord.drop_gateway("invalid_session", resumable=False)
    await gw.wait_for(op=Op.IDENTIFY, direction="in", since=since)
    await gw.wait_for(event="READY", since=since + 1)
    assert gw.identify_count == 2 and gw.resume_count == 0


@pytest.mark.parametrize("fake_discord_options", [{"heartbeat_interval_ms": 50}])
async def test_short_heartbeat_interval(fake_discord: FakeDiscord, bot: PaperBot) -> None:
    await until(lambda: fake_discord.gateway.heartbeat_count >= 3, timeout=2)
    acks = [f for f in fake_discord.gateway.frames if f.op == Op.HEARTBEAT_ACK]
    assert len(acks) >= 3
    assert bot.latency < 1


async def test_auto_sharded_client_uses_gateway_bot(
    fake_discord: FakeDiscord, connect_client: ConnectClient
) -> None:
    client = await connect_client(discord.AutoShardedClient(intents=discord.Intents.default()))
    assert fake_discord.requests_for("GET", "/gateway/bot")[0].status == 200
    identify = fake_discord.gateway.frames_in(Op.IDENTIFY)[0].d
    assert identify["shard"] == [0, 1]
    assert client.get_guild(fake_discord.world.guild.id) is not None


def _many_servers(count: int) -> World:
    world = World.default()
    world.add_guilds(count)
    return world


async def _identify(server: FakeDiscord, shard: list[int]) -> tuple[int | None, Any]:
    """Open a raw gateway connection and IDENTIFY as *shard*: (close code, first reply)."""
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(server.gateway_url + "?v=10&encoding=json") as ws,
    ):
        hello = await ws.receive_json(timeout=5)
        assert hello["op"] == Op.HELLO
        await ws.send_json(
            {"op": Op.IDENTIFY, "d": {"token": server.token, "intents": 1, "shard": shard}}
        )
        reply = await ws.receive(timeout=5)
        if reply.type == aiohttp.WSMsgType.TEXT:
            return None, json.loads(reply.data)
        return ws.close_code, None


@pytest.mark.parametrize(
    "fake_discord_options", [{"world": _many_servers(2_500), "max_concurrency": 16}]
)
async def test_gateway_bot_recommends_one_shard_per_thousand_servers(
    fake_discord: FakeDiscord, connect_client: ConnectClient
) -> None:
    client = discord.AutoShardedClient(intents=discord.Intents.none())
    client.before_identify_hook = _no_wait  # type: ignore[method-assign]
    await connect_client(client, timeout=20)
    body = fake_discord.requests_for("GET", "/gateway/bot")[0].response
    assert body["shards"] == 3 and body["session_start_limit"]["max_concurrency"] == 16
    assert client.shard_count == 3 and len(client.guilds) == 2_501
    sessions = [s.shard for s in fake_discord.gateway.sessions.values()]
    assert sorted(sessions) == [(0, 3), (1, 3), (2, 3)]  # type: ignore[type-var]


async def _no_wait(shard_id: int | None, *, initial: bool = False) -> None:
    return None


@pytest.mark.parametrize(
    "fake_discord_options", [{"world": _many_servers(30), "max_guilds_per_shard": 20}]
)
async def test_too_many_servers_on_one_shard_is_refused_4011(fake_discord: FakeDiscord) -> None:
    code, _ = await _identify(fake_discord, [0, 1])
    assert code == 4011
    code, ready = await _identify(fake_discord, [0, 2])  # about 15 each: fine
    assert code is None and ready["t"] == "READY" and ready["d"]["shard"] == [0, 2]


@pytest.mark.parametrize(
    "fake_discord_options", [{"max_concurrency": 2, "identify_interval": 30.0}]
)
async def test_identify_too_soon_in_its_bucket_gets_invalid_session(
    fake_discord: FakeDiscord,
) -> None:
    # Buckets are shard % max_concurrency: shards 0 and 1 may start together, shard 2 shares
    # shard 0's bucket and must wait the interval.
    for shard in (0, 1):
        code, ready = await _identify(fake_discord, [shard, 4])
        assert code is None and ready["t"] == "READY"
    code, refused = await _identify(fake_discord, [2, 4])
    assert code is None
    assert refused == {"op": Op.INVALID_SESSION, "d": False}
    assert fake_discord.gateway.identify_rejections == 1


# ---------------------------------------------------------- rate limits
@pytest.mark.parametrize(
    "fake_discord_options", [{"rate_limits": RateLimitConfig(global_limit=5, enforce_global=False)}]
)
async def test_global_limit_is_counted(fake_discord: FakeDiscord, bot: PaperBot) -> None:
    channel = bot.get_channel(fake_discord.world.channel("general").id)
    assert isinstance(channel, discord.TextChannel)
    start = fake_discord.limiter.stats.requests
    await asyncio.gather(*(channel.send(f"n{i}") for i in range(10)))
    stats = fake_discord.limiter.stats
    assert stats.requests - start == 10
    assert stats.global_violations >= 5
    assert len(fake_discord.messages("general")) == 10


@pytest.mark.parametrize(
    "fake_discord_options",
    [
        {
            "rate_limits": RateLimitConfig(
                buckets={"POST /channels/{channel_id}/messages": BucketSpec(limit=2, per=0.2)}
            )
        }
    ],
)
async def test_bucket_headers_make_client_wait(fake_discord: FakeDiscord, bot: PaperBot) -> None:
    channel = bot.get_channel(fake_discord.world.channel("general").id)
    assert isinstance(channel, discord.TextChannel)
    for i in range(5):
        await channel.send(f"b{i}")
    posts = fake_discord.requests_for("POST", "/channels/{id}/messages")
    assert [r.status for r in posts] == [200] * 5  # discord.py waited pre-emptively
    assert posts[0].response_headers["X-RateLimit-Limit"] == "2"
    assert posts[1].response_headers["X-RateLimit-Remaining"] == "0"
    assert fake_discord.limiter.stats.bucket_violations == 0


# -------------------------------------------------------------- shutdown
async def test_clean_shutdown(fake_discord: FakeDiscord, caplog: pytest.LogCaptureFixture) -> None:
    before = asyncio.all_tasks()
    with warnings.catch_warnings(record=True) as caught, caplog.at_level(logging.WARNING):
        warnings.simplefilter("always")
        client = PaperBot()
        task = await start_client(client, fake_discord)
        # exercise the interaction path (CommandTree task, webhook session) before closing
        pending = await fake_discord.send_slash_command("paper", [payloads.option("query", "x")])
        await pending.wait_callback()
        await stop_client(client, task)
        await asyncio.sleep(0.05)
        gc.collect()  # surface "Unclosed client session" / ResourceWarnings now
    leftover = [
        t for t in asyncio.all_tasks() - before if not t.done() and t is not asyncio.current_task()
    ]
    assert leftover == []
    assert client.is_closed() and client.http._HTTPClient__session.closed  # type: ignore[attr-defined]
    assert [str(w.message) for w in caught] == []
    assert [
        r.getMessage()
        for r in caplog.records
        if r.name.startswith("discord")
        and r.levelno >= logging.WARNING
        and "voice" not in r.getMessage()
    ] == []
    # the websocket is gone on the server side too (discord.py's close() races its own
    # reader and actually sends close code 4000, so the session stays resumable)
    assert not fake_discord.gateway.open_connections
    assert all(s.connection is None for s in fake_discord.gateway.sessions.values())


def test_link_buttons_are_held_to_discords_512_characters() -> None:
    """The fake refuses what Discord refuses: a link button's URL over 512 characters."""
    from tests.fakediscord.validation import component_errors

    def row(url: str) -> list[dict[str, object]]:
        return [{"type": 1, "components": [{"type": 2, "style": 5, "label": "PDF", "url": url}]}]

    assert component_errors(row("https://x.org/" + "a" * 498), 0) == []  # 512 characters
    [error] = component_errors(row("https://x.org/" + "a" * 499), 0)
    assert error.path == ("components", 0, "components", 0, "url")
