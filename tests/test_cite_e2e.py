"""Cite and export end to end (issue 11, item 3): the 📑 Cite button on a card, /cite, and
/saved export, through the real bot and the fake Discord; every answer is parsed back with an
independent reader (bibtexparser, rispy, csv)."""

from __future__ import annotations

import csv
import io
import re
from typing import Any

import bibtexparser
import pytest
import rispy

from bot.app import PaperBot
from bot.store import Store
from tests.fakediscord import FakeDiscord
from tests.fakediscord.payloads import OptionType
from tests.stores import OpenStore, StartBot

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(60)]

CHANNEL_MESSAGE, DEFERRED = 4, 5
EPHEMERAL, SUPPRESS_EMBEDS = 64, 4
BIBTEX_BLOCK = re.compile(r"```bibtex\n(.*?)```", re.DOTALL)


@pytest.fixture
async def store(open_store: OpenStore) -> Store:
    return await open_store("daily_papers.sample.json", "arxiv-metadata-oai-snapshot.200.jsonl")


@pytest.fixture
async def bot(store: Store, start_bot: StartBot) -> PaperBot:
    return await start_bot(store)


def option(name: str, value: Any, otype: int = OptionType.STRING) -> dict[str, Any]:
    return {"name": name, "type": otype, "value": value}


def subcommand(name: str, *options: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "type": OptionType.SUB_COMMAND, "options": list(options)}


def one_entry(content: str) -> bibtexparser.model.Entry:
    (block,) = BIBTEX_BLOCK.findall(content)
    library = bibtexparser.parse_string(block)
    assert not library.failed_blocks
    (entry,) = library.entries
    return entry


async def test_the_cite_button_answers_privately_with_bibtex_and_apa(
    bot: PaperBot, fake_discord: FakeDiscord
) -> None:
    pending = await fake_discord.send_slash_command("paper", [option("paper", "0704.0001")])
    card = (await pending.wait_callback()).json["data"]
    row = card["components"][0]["components"]
    assert len(row) == 5  # vote, save, related, cite, PDF: one full row
    assert [c.get("custom_id") for c in row[:4]] == [
        "pb:vote:0704.0001",
        "pb:save:0704.0001",
        "pb:rel:0704.0001",
        "pb:cite:0704.0001",
    ]
    cite_button = row[3]
    assert cite_button["label"] == "Cite" and cite_button["emoji"]["name"] == "📑"

    click = await fake_discord.click_button(pending.original_message, "pb:cite:0704.0001")
    reply = (await click.wait_callback()).json
    assert reply["type"] == CHANNEL_MESSAGE
    data = reply["data"]
    assert data["flags"] & EPHEMERAL and data["flags"] & SUPPRESS_EMBEDS
    assert data["allowed_mentions"] == {"parse": []}
    content = data["content"]
    assert len(content) <= 2000
    entry = one_entry(content)
    assert entry.entry_type == "article" and entry.key == "balazs2007calculation"
    assert entry["author"].split(" and ")[0] == "C. Bal{\\'a}zs"
    assert (entry["doi"], entry["eprint"], entry["primaryClass"]) == (
        "10.1103/PhysRevD.76.013009",
        "0704.0001",
        "hep-ph",
    )
    apa = content.split("**APA**\n", 1)[1]
    assert apa.startswith("Balázs, C., Berger, E. L., Nadolsky, P. M., & Yuan, C.-P. (2007).")
    assert apa.endswith("https://doi.org/10.1103/PhysRevD.76.013009")


async def test_cite_command_in_one_style_and_a_latex_title(
    bot: PaperBot, fake_discord: FakeDiscord
) -> None:
    pending = await fake_discord.send_slash_command(
        "cite", [option("paper", "0704.0073"), option("style", "apa")]
    )
    data = (await pending.wait_callback()).json["data"]
    assert data["flags"] & EPHEMERAL
    assert "```" not in data["content"]
    assert data["content"].endswith(
        "Fujino, O. (2007). A transcendental approach to Kollár's injectivity theorem. arXiv. "
        "https://doi.org/10.48550/arXiv.0704.0073"
    )

    pending = await fake_discord.send_slash_command(
        "cite", [option("paper", "0704.0013"), option("style", "bibtex")]
    )
    data = (await pending.wait_callback()).json["data"]
    entry = one_entry(data["content"])
    assert entry["title"].startswith("$p$-adic Limit")  # BibTeX keeps arXiv's LaTeX
    assert "**APA**" not in data["content"]

    # Free text: found by search, answered privately.
    pending = await fake_discord.send_slash_command(
        "cite", [option("paper", "sparsity certifying")]
    )
    answer = await pending.wait_answer()
    assert answer.body["flags"] & EPHEMERAL
    assert one_entry(answer.body["content"]).key == "streinu2007sparsity"


async def export(fake: FakeDiscord, fmt: str) -> tuple[str, bytes, dict[str, Any]]:
    pending = await fake.send_slash_command("saved", [subcommand("export", option("format", fmt))])
    assert (await pending.wait_callback()).json["data"]["flags"] & EPHEMERAL
    followup = await pending.wait_followup()
    assert followup.status == 200
    (upload,) = followup.files
    assert upload.filename is not None
    return upload.filename, upload.data, followup.json


async def test_saved_export_files_parse_back(
    bot: PaperBot, store: Store, fake_discord: FakeDiscord
) -> None:
    empty = await fake_discord.send_slash_command("saved", [subcommand("export")])
    await empty.wait_callback()
    assert "reading list is empty" in (await empty.wait_followup()).json["content"]

    alice = fake_discord.world.user("alice").id
    saved = ["0704.0001", "0704.0012", "2603.21489", "0704.0073"]
    for paper_id in saved:
        assert await store.social.toggle_save(alice, paper_id)

    order = await store.social.saved_ids(alice)  # most recent first
    assert sorted(order) == sorted(saved)

    name, data, body = await export(fake_discord, "bibtex")
    assert name == "paperbot-reading-list.bib"
    assert body["content"] == "📚 Your reading list: 4 paper(s) as BibTeX."
    assert body["allowed_mentions"] == {"parse": []}
    library = bibtexparser.parse_string(data.decode("utf-8"))
    assert not library.failed_blocks
    assert [e["eprint"] for e in library.entries] == order
    by_id = {e["eprint"]: e for e in library.entries}
    assert "\\Gamma_0(N)" in by_id["0704.0012"]["abstract"]  # the original LaTeX
    assert by_id["2603.21489"].entry_type == "misc" and by_id["0704.0001"]["journal"]

    name, data, _ = await export(fake_discord, "ris")
    assert name.endswith(".ris")
    records = rispy.loads(data.decode("utf-8"))
    kinds = {r["accession_number"]: r["type_of_reference"] for r in records}
    assert kinds == {
        "arXiv:0704.0001": "JOUR",
        "arXiv:0704.0012": "UNPB",
        "arXiv:2603.21489": "UNPB",
        "arXiv:0704.0073": "UNPB",
    }
    assert records[order.index("0704.0001")]["authors"][0] == "Balázs, C."

    name, data, _ = await export(fake_discord, "csv")
    assert name.endswith(".csv")
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
    assert [r["id"] for r in rows] == order
    kollar = rows[order.index("0704.0073")]
    assert kollar["title"] == "A transcendental approach to Kollár's injectivity theorem"
