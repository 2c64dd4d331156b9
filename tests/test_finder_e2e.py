"""The "Find papers" message action end to end (issue 11, item 2).

The real bot against the fake Discord, which sends the target message whole in the
interaction (content included, though the bot has no message-content intent), and against
the local arXiv stand-in (tests/fakesources.py) for papers not in the store. Every answer is
checked to have been accepted by the fake (Discord's limits) and to mention nobody.
"""

from __future__ import annotations

import re
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from bot.app import PaperBot
from bot.config import Settings
from bot.fetch.http import Pacer, RetryPolicy
from bot.store import Store
from bot.store.loader import load_file
from tests.fakediscord import FakeDiscord
from tests.fakesources import FakeSources, FakeTime
from tests.reach_support import (
    CHANNEL_MESSAGE,
    DEFERRED,
    EPHEMERAL,
    Places,
    add_places,
    answer,
    message_of,
    quiet,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(60)]

FIXTURES = Path(__file__).parent / "fixtures"
Connect = Callable[..., Awaitable[Any]]
ACTION = "Find papers"
IN_STORE = ("0704.0001", "0704.0002", "2603.21489")  # the snapshot sample, the daily sample
ON_ARXIV = ("1605.08386", "1707.08567", "hep-ph/0301050")  # recorded arXiv answers only
TITLE = "ROICtrl: Boosting Instance Control for Visual Generation"  # the trending page
# (Not imported from bot.cogs.finder: importing a cog module here would bind the package
# attribute bot.cogs.search to a copy other tests' monkeypatching would then miss.)
NOTHING = (
    "I found no paper in that message: no arXiv id or link, Hugging Face paper link, DOI "
    "or title of a paper PaperBot knows."
)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    opened = await Store.open(tmp_path / "bot.db")
    for name in (
        "trending-may-28.txt",
        "daily_papers.sample.json",
        "arxiv-metadata-oai-snapshot.200.jsonl",
    ):
        await load_file(opened, FIXTURES / name)
    yield opened
    await opened.close()


@pytest.fixture
async def arxiv() -> AsyncIterator[FakeSources]:
    fake = await FakeSources().start()
    yield fake
    await fake.stop()


@pytest.fixture
async def places(fake_discord: FakeDiscord) -> Places:
    return add_places(fake_discord)


def settings_for(tmp_path: Path, arxiv: FakeSources, **changes: Any) -> Settings:
    # Live refresh on (lookups allowed), but no source refreshed in the background.
    base = Settings(
        database=tmp_path / "bot.db",
        data_dir=FIXTURES,
        refresh_enabled=True,
        refresh_hf=False,
        refresh_arxiv=False,
        hf_api_base=arxiv.base,
        arxiv_api_base=arxiv.base,
    )
    return replace(base, **changes)


@pytest.fixture
async def bot(
    store: Store, tmp_path: Path, arxiv: FakeSources, places: Places, connect_client: Connect
) -> PaperBot:
    client = PaperBot(settings_for(tmp_path, arxiv), store)
    await connect_client(client)
    return client


async def find(
    fake: FakeDiscord, content: str, *, channel: Any = "general", user: str = "alice"
) -> Any:
    """Bob writes *content* in *channel*; *user* runs the action on it."""
    message = await fake.post_user_message(channel, content, user="bob")
    return await fake.send_message_command(ACTION, message, user=user)


async def test_a_message_without_papers_gets_a_private_line(
    bot: PaperBot, fake_discord: FakeDiscord, arxiv: FakeSources
) -> None:
    pending = await find(fake_discord, "lunch at noon? 🍜 @everyone bring 1234.5678 forks")
    data = quiet(await pending.wait_callback())
    assert pending.response_type == CHANNEL_MESSAGE
    assert data["flags"] & EPHEMERAL and data["content"] == NOTHING
    assert arxiv.requests("arxiv") == []


async def test_one_link_answers_with_the_card(
    bot: PaperBot, fake_discord: FakeDiscord, arxiv: FakeSources
) -> None:
    pending = await find(fake_discord, "Have you seen <https://huggingface.co/papers/2603.21489>?")
    body, private = await answer(pending)
    assert not private and pending.response_type == CHANNEL_MESSAGE  # from the store: at once
    [embed] = body["embeds"]
    assert embed["footer"]["text"] == "arXiv 2603.21489"
    assert embed["author"]["name"] == "Found in the message"
    ids = [c.get("custom_id") for row in body["components"] for c in row["components"]]
    assert "pb:vote:2603.21489" in ids and "pb:save:2603.21489" in ids
    assert arxiv.requests("arxiv") == []


async def test_six_links_are_paged_and_the_missing_ones_fetched_once(
    bot: PaperBot, fake_discord: FakeDiscord, arxiv: FakeSources, store: Store
) -> None:
    content = (
        "@everyone reading list:\n"
        "1. https://arxiv.org/abs/0704.0001v2\n"
        "2. https://hf.co/papers/1605.08386\n"
        "3. https://arxiv.org/pdf/0704.0002.pdf\n"
        "4. https://arxiv.org/html/1707.08567v1\n"
        "5. https://huggingface.co/papers/2603.21489\n"
        "6. https://arxiv.org/pdf/hep-ph/0301050v1\n"
    )
    assert all([await store.papers.get(i) is None for i in ON_ARXIV])
    pending = await find(fake_discord, content)
    body, private = await answer(pending)
    # arXiv answered within a second: the result is the response itself, in one request.
    assert pending.response_type == CHANNEL_MESSAGE and not private

    [request] = arxiv.requests("arxiv")  # one request for the three missing ones
    assert request.query["id_list"] == "1605.08386,1707.08567,hep-ph/0301050"
    assert request.headers["User-Agent"].startswith("PaperBot/")
    for paper_id in ON_ARXIV:
        assert await store.papers.get(paper_id) is not None, f"{paper_id} was not stored"

    embed = body["embeds"][0]
    assert embed["author"]["name"] == "Paper 1 of 6 in the message"
    assert embed["footer"]["text"] == "arXiv 0704.0001"
    components = [c for row in body["components"] for c in row["components"]]
    [select] = [c for c in components if c.get("custom_id") == "pb:search:jump"]
    order = [
        (await store.papers.get(i)).title  # type: ignore[union-attr]
        for i in ("0704.0001", "1605.08386", "0704.0002", "1707.08567", "2603.21489")
    ]
    labels = [o["label"] for o in select["options"]]
    assert len(labels) == 6
    for n, (label, title) in enumerate(zip(labels, order, strict=False), start=1):
        assert label.startswith(f"{n}. {title[:40]}"), (label, title)

    # ▶ shows the second paper in place; the select jumps to the sixth.
    message = message_of(pending)
    step = await fake_discord.click_button(message, "pb:search:next")
    data = quiet(await step.wait_callback())
    assert data["embeds"][0]["author"]["name"] == "Paper 2 of 6 in the message"
    assert data["embeds"][0]["footer"]["text"] == "arXiv 1605.08386"
    jump = await fake_discord.choose_select(message, "pb:search:jump", ["5"])
    data = quiet(await jump.wait_callback())
    assert data["embeds"][0]["footer"]["text"] == "arXiv hep-ph/0301050"
    other = await fake_discord.click_button(message, "pb:search:next", user="bob")
    data = quiet(await other.wait_callback())
    assert data["flags"] & EPHEMERAL and "Only the person who asked" in data["content"]


async def test_ids_nobody_knows_get_a_private_line(
    bot: PaperBot, fake_discord: FakeDiscord, arxiv: FakeSources
) -> None:
    pending = await find(fake_discord, "new preprint: arxiv.org/abs/0808.05394 !")
    data = quiet(await pending.wait_callback())  # arXiv answered at once: one private line
    assert data["flags"] & EPHEMERAL and data["content"] == "arXiv has no paper `0808.05394`."
    assert len(arxiv.requests("arxiv")) == 1


async def test_a_slow_arxiv_is_acknowledged_first(
    bot: PaperBot, fake_discord: FakeDiscord, arxiv: FakeSources, store: Store
) -> None:
    """arXiv taking longer than a second: "thinking…" at once, then the answer; a private
    line replaces the public "thinking…", which is removed."""
    clock = FakeTime()  # the arXiv queue's 3 s between requests, without waiting them
    finder = bot.get_cog("FinderCog")
    finder.pacer = Pacer(3.0, clock=clock.clock, sleep=clock.sleep)  # type: ignore[union-attr]
    arxiv.fail("slow", delay=1.5)
    pending = await find(fake_discord, "new preprint: arxiv.org/abs/0808.05394 !")
    callback = await pending.wait_callback()
    assert callback.json["type"] == DEFERRED  # asked arXiv, publicly "thinking"...
    line = quiet(await pending.wait_followup())
    assert line["flags"] & EPHEMERAL
    assert line["content"] == "arXiv has no paper `0808.05394`."
    # ...and the public "thinking" message is gone: nothing of ours stays in the channel.
    assert fake_discord.requests_for("DELETE", re.compile(r"/webhooks/\d+/.+/messages/@original"))
    bot_id = str(fake_discord.world.bot.id)
    assert [m for m in fake_discord.messages("general") if m["author"]["id"] == bot_id] == []

    # Several papers, one of them from a slow arXiv: the paged view as the follow-up.
    arxiv.fail("slow", delay=1.2)
    pending = await find(fake_discord, "arXiv:0704.0001 and https://arxiv.org/abs/1707.08567")
    body, private = await answer(pending)
    assert pending.response_type == DEFERRED and not private
    assert body["embeds"][0]["author"]["name"] == "Paper 1 of 2 in the message"
    step = await fake_discord.click_button(message_of(pending), "pb:search:next")
    data = quiet(await step.wait_callback())
    assert data["embeds"][0]["footer"]["text"] == "arXiv 1707.08567"
    assert await store.papers.get("1707.08567") is not None
    assert len(arxiv.requests("arxiv")) == 2


async def test_arxiv_down(
    bot: PaperBot,
    fake_discord: FakeDiscord,
    arxiv: FakeSources,
    store: Store,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("bot.fetch.lookup.LOOKUP_POLICY", RetryPolicy(timeout=2.0, attempts=1))
    clock = FakeTime()  # the arXiv queue's 3 s between requests, without waiting them
    arxiv.clock = clock.clock
    finder = bot.get_cog("FinderCog")
    finder.pacer = Pacer(3.0, clock=clock.clock, sleep=clock.sleep)  # type: ignore[union-attr]
    arxiv.fail("status", status=503)
    before = await store.papers.count()
    pending = await find(fake_discord, "https://arxiv.org/abs/1707.08567 and 0704.0001")
    body, _ = await answer(pending)  # the one in the store is still shown
    assert body["embeds"][0]["footer"]["text"] == "arXiv 0704.0001"
    assert body["embeds"][0]["author"]["name"] == "Found in the message · not found: 1707.08567"

    arxiv.fail("status", status=503)
    pending = await find(fake_discord, "only https://arxiv.org/abs/1707.08567")
    line, _ = await answer(pending)
    assert line["flags"] & EPHEMERAL
    assert line["content"] == "`1707.08567`: arXiv could not be reached; try again later."
    assert await store.papers.count() == before
    first, second = (r.at for r in arxiv.requests("arxiv"))
    assert second - first >= 3.0


async def test_without_lookups_titles_and_other_dois(
    store: Store,
    tmp_path: Path,
    arxiv: FakeSources,
    places: Places,
    fake_discord: FakeDiscord,
    connect_client: Connect,
) -> None:
    await connect_client(PaperBot(settings_for(tmp_path, arxiv, refresh_enabled=False), store))

    pending = await find(fake_discord, "arXiv:1707.08567 is great")
    data = quiet(await pending.wait_callback())
    assert data["flags"] & EPHEMERAL
    assert data["content"] == (
        "`1707.08567`: not in PaperBot's store (looking papers up on arXiv is switched off here)."
    )
    pending = await find(fake_discord, "Published at https://doi.org/10.1145/3292500.3330701.")
    data = quiet(await pending.wait_callback())
    assert data["flags"] & EPHEMERAL and "DOI `10.1145/3292500.3330701`" in data["content"]
    assert arxiv.requests("arxiv") == []

    # No id at all: a line of the message that is a stored title (case, punctuation aside).
    pending = await find(fake_discord, f"> **{TITLE.lower()}!**\nworth a read (Wang et al.)")
    body, private = await answer(pending)
    assert not private and body["embeds"][0]["title"].startswith("ROICtrl")


async def test_in_a_server_without_the_bot_answers_are_private(
    bot: PaperBot, fake_discord: FakeDiscord, places: Places, arxiv: FakeSources
) -> None:
    pending = await find(
        fake_discord, "https://arxiv.org/abs/0704.0001", channel="lounge", user="dave"
    )
    assert pending.payload["authorizing_integration_owners"] == {"1": str(places.dave.id)}
    body, private = await answer(pending)
    assert private and body["embeds"][0]["footer"]["text"] == "arXiv 0704.0001"

    pending = await find(
        fake_discord, "https://arxiv.org/abs/0704.0001", channel=places.group, user="dave"
    )
    body, private = await answer(pending)
    assert not private and body["embeds"]


async def test_a_long_list_stops_at_one_select_menu(
    bot: PaperBot, fake_discord: FakeDiscord, arxiv: FakeSources
) -> None:
    ids = [f"0704.{n:04d}" for n in range(1, 31)]  # all in the snapshot sample
    pending = await find(fake_discord, "\n".join(f"arXiv:{i}" for i in ids))
    body, _ = await answer(pending)
    assert body["embeds"][0]["author"]["name"] == "Paper 1 of 25 in the message"
    [select] = [
        c
        for row in body["components"]
        for c in row["components"]
        if c.get("custom_id") == "pb:search:jump"
    ]
    assert len(select["options"]) == 25
    assert arxiv.requests("arxiv") == []


async def test_paging_expires_like_search(
    bot: PaperBot, fake_discord: FakeDiscord, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The module the running cog uses (load_extension imports it afresh).
    monkeypatch.setattr(sys.modules["bot.cogs.search"], "VIEW_TIMEOUT", 0.3)
    pending = await find(fake_discord, "arXiv:0704.0001 and arXiv:0704.0002")
    await answer(pending)
    assert pending.response_type == CHANNEL_MESSAGE  # answered at once: its message is
    edit = await fake_discord.wait_for_request(  # the interaction's original response
        "PATCH", re.compile(rf"/webhooks/\d+/{pending.token}/messages/@original"), timeout=5
    )
    disabled = {
        c["custom_id"]: c.get("disabled", False)
        for row in edit.json["components"]
        for c in row["components"]
        if "custom_id" in c
    }
    assert disabled["pb:search:next"] and disabled["pb:search:jump"]
    assert not disabled["pb:vote:0704.0001"]


async def test_a_reading_list_of_30_titles_is_paged_over_the_first_25(
    bot: PaperBot, store: Store, fake_discord: FakeDiscord
) -> None:
    """A pasted reading list naming 30 papers by title, one a line: one select menu holds 25,
    so the answer pages over the first 25 (before, Discord refused the whole answer)."""
    rows = await store.db.fetchall(
        "SELECT title FROM papers WHERE id LIKE '0704.%' ORDER BY length(title) LIMIT 30"
    )
    titles = [" ".join(str(r[0]).split()) for r in rows]
    assert len(titles) == 30
    pending = await find(fake_discord, "\n".join(titles))
    body, _ = await answer(pending)
    assert body["embeds"][0]["author"]["name"] == "Paper 1 of 25 in the message"
    [select] = [
        c
        for row in body["components"]
        for c in row["components"]
        if c.get("custom_id") == "pb:search:jump"
    ]
    assert len(select["options"]) == 25
