"""Readable cards end to end (issue 11, item 4): LaTeX in real arXiv titles and abstracts
reaches members as Unicode on cards, list lines, select labels and autocomplete, through the
real bot and the fake Discord; the store keeps the original text."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from bot.app import PaperBot
from bot.store import Store
from tests.fakediscord import FakeDiscord, payloads
from tests.fakediscord.payloads import OptionType
from tests.stores import OpenStore, StartBot, another_writer

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(60)]

AUTOCOMPLETE_RESULT = 8
EPHEMERAL = 64


@pytest.fixture
async def store(open_store: OpenStore) -> Store:
    return await open_store("daily_papers.sample.json", "arxiv-metadata-oai-snapshot.200.jsonl")


@pytest.fixture
async def bot(store: Store, start_bot: StartBot) -> PaperBot:
    return await start_bot(store)


def option(name: str, value: Any, otype: int = OptionType.STRING) -> dict[str, Any]:
    return {"name": name, "type": otype, "value": value}


def no_latex(text: str) -> bool:
    return "$" not in text and "\\Gamma" not in text and "\\mathbb" not in text


async def test_latex_heavy_card_autocomplete_and_lists_read_as_unicode(
    bot: PaperBot, store: Store, fake_discord: FakeDiscord
) -> None:
    # The card of 0704.0012, whose abstract is dense LaTeX.
    pending = await fake_discord.send_slash_command("paper", [option("paper", "0704.0012")])
    data = (await pending.wait_callback()).json["data"]
    assert data["allowed_mentions"] == {"parse": []}
    (embed,) = data["embeds"]
    assert "Γ₀(N)" in embed["description"] and "ℤ" in embed["description"]
    assert no_latex(embed["description"])
    stored = await store.papers.get("0704.0012")
    assert stored is not None and "$f(z) := \\sum_{n=0}^{\\infty}" in stored.abstract

    # Autocomplete labels: "$p$-adic Limit ..." reads "p-adic Limit ...".
    pending = await fake_discord.send_autocomplete(
        "paper", [payloads.focused("paper", "adic limit weakly")]
    )
    reply = (await pending.wait_callback()).json
    assert reply["type"] == AUTOCOMPLETE_RESULT
    names = {c["value"]: c["name"] for c in reply["data"]["choices"]}
    assert names["0704.0013"] == (
        "p-adic Limit of Weakly Holomorphic Modular Forms of Half Integral Weight"
    )

    # Search: the select's labels and the card.
    pending = await fake_discord.send_slash_command("search", [option("query", "modular forms")])
    body = (await pending.wait_answer()).body
    select = next(
        c
        for row in body["components"]
        for c in row["components"]
        if c.get("custom_id") == "pb:search:jump"
    )
    labels = [o["label"] for o in select["options"]]
    assert any("p-adic Limit of Weakly Holomorphic" in label for label in labels), labels
    assert all("$" not in label for label in labels)

    # A list line (the reading list) of a title with an accent command.
    user = fake_discord.world.user("alice").id
    assert await store.social.toggle_save(user, "0704.0073")
    listing = await fake_discord.send_slash_command(
        "saved", [{"name": "list", "type": OptionType.SUB_COMMAND, "options": []}]
    )
    data = (await listing.wait_callback()).json["data"]
    assert data["flags"] & EPHEMERAL
    assert (
        "A transcendental approach to Kollár's injectivity theorem"
        in (data["embeds"][0]["description"])
    )


async def test_a_hugging_face_card_has_its_tldr_and_tags(
    bot: PaperBot, fake_discord: FakeDiscord
) -> None:
    pending = await fake_discord.send_slash_command("paper", [option("paper", "2603.22117")])
    (embed,) = (await pending.wait_callback()).json["data"]["embeds"]
    assert embed["description"].startswith(
        "**TL;DR:** Direction of RLVR updates is more informative than magnitude"
    )
    tags = next(f["value"] for f in embed["fields"] if f["name"] == "Tags")
    assert tags.startswith("`reinforcement learning with verifiable rewards` · `language models`")


async def test_a_paper_with_a_link_too_long_for_a_button_links_its_abstract(
    open_store: OpenStore, start_bot: StartBot, fake_discord: FakeDiscord, tmp_path: Path
) -> None:
    """Discord refuses a whole message whose link button holds more than 512 characters: a
    long (signed) PDF link gives way to the abstract's link."""
    long_pdf = "https://files.example.org/papers/x.pdf?X-Signature=" + "a1b2c3d4" * 70
    record = {
        "id": "t-long-link-paper",
        "title": "A paper with a long signed PDF link",
        "abstract": "An abstract.",
        "url_abs": "https://example.org/abs/long-link",
        "url_pdf": long_pdf,
    }
    path = tmp_path / "link.jsonl"
    path.write_text(json.dumps(record) + "\n")
    await start_bot(await open_store(path, name="link.db"))
    pending = await fake_discord.send_slash_command(
        "paper", [payloads.option("paper", "t-long-link-paper")]
    )
    body = (await pending.wait_answer()).body
    links = [
        (c["label"], c["url"])
        for row in body["components"]
        for c in row["components"]
        if c.get("url")
    ]
    assert links == [("Abstract", "https://example.org/abs/long-link")]


async def test_a_save_waiting_behind_another_writer_is_acknowledged_in_time(
    bot: PaperBot, store: Store, fake_discord: FakeDiscord
) -> None:
    """Another process (`python -m bot load`) holds SQLite's write lock for 4 s while a member
    presses ⭐: the press is acknowledged within Discord's 3 s, and the save goes through
    once the lock is free."""
    pending = await fake_discord.send_slash_command(
        "paper", [payloads.option("paper", "0704.0001")]
    )
    card = (await pending.wait_answer()).message
    async with another_writer(store.db.path, 4.0):
        click = await fake_discord.click_button(card, "pb:save:0704.0001")
        started = asyncio.get_running_loop().time()
        callback = await click.wait_callback(timeout=6.0)
        took = asyncio.get_running_loop().time() - started
    assert took < 3.0 and callback.json["type"] == 5  # "thinking…", privately
    followup = await click.wait_followup(timeout=6.0)
    assert "Saved" in followup.json["content"]
    alice = fake_discord.world.user("alice").id
    assert await store.social.saved_ids(alice) == ["0704.0001"]
