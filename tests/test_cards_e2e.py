"""Readable cards end to end (issue 11, item 4): LaTeX in real arXiv titles and abstracts
reaches members as Unicode on cards, list lines, select labels and autocomplete, through the
real bot and the fake Discord; the store keeps the original text."""

from __future__ import annotations

from typing import Any

import pytest

from bot.app import PaperBot
from bot.store import Store
from tests.fakediscord import FakeDiscord, payloads
from tests.fakediscord.payloads import OptionType
from tests.stores import OpenStore, StartBot

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
