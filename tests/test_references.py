"""The core of "Find papers": references in free text, titles in the store, arXiv lookups.

No Discord here: bot.references on literal messages, PaperRepo.find_by_titles on a real
store loaded from the sample files, bot.fetch.lookup against the local arXiv stand-in
(tests/fakesources.py) with an injected clock, so pacing is checked without waiting.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from bot.config import Settings
from bot.fetch.http import Pacer, RetryPolicy
from bot.fetch.lookup import lookup_arxiv
from bot.references import find_references, plausible_bare_id, title_candidates
from bot.store import Store
from bot.store.loader import load_file
from tests.fakesources import FakeSources, FakeTime
from tests.helpers_store import DAILY, TRENDING

NEW = "2401.12345"
POLICY = RetryPolicy(timeout=2.0, attempts=2, backoff=1.0)


@pytest.mark.parametrize(
    ("text", "ids"),
    [
        ("https://arxiv.org/abs/2401.12345", [NEW]),
        ("arxiv.org/abs/2401.12345v3", [NEW]),
        ("https://arxiv.org/pdf/2401.12345", [NEW]),
        ("https://arxiv.org/pdf/2401.12345v2.pdf", [NEW]),
        ("https://arxiv.org/pdf/2401.12345.pdf", [NEW]),
        ("https://arxiv.org/html/2401.12345v1", [NEW]),
        ("https://export.arxiv.org/abs/0704.0001", ["0704.0001"]),
        ("https://www.arxiv.org/abs/0704.0001", ["0704.0001"]),
        ("https://huggingface.co/papers/2401.12345", [NEW]),
        ("https://hf.co/papers/2401.12345#community", [NEW]),
        ("arXiv:2401.12345", [NEW]),
        ("ArXiv 2401.12345v2", [NEW]),
        ("see 2401.12345.", [NEW]),
        ("https://arxiv.org/abs/hep-th/9901001v2", ["hep-th/9901001"]),
        ("https://arxiv.org/pdf/cond-mat/0501001.pdf", ["cond-mat/0501001"]),
        ("arXiv: hep-th/9901001", ["hep-th/9901001"]),
        ("arXiv:math.co/0601001", ["math.CO/0601001"]),
        ("hep-th/9901001", ["hep-th/9901001"]),
        ("https://doi.org/10.48550/arXiv.2401.12345", [NEW]),
        ("doi:10.48550/ARXIV.2401.12345v2", [NEW]),
        # Discord's Markdown around a link or an id
        ("<https://arxiv.org/abs/2401.12345>", [NEW]),
        ("[paper](https://arxiv.org/abs/2401.12345)", [NEW]),
        ("`2401.12345`", [NEW]),
        ("||2401.12345||", [NEW]),
        ("**arXiv:2401.12345**", [NEW]),
        # Numbers that only look like ids
        ("version 2024.12345", []),
        ("call 1234.5678", []),
        ("2401.1234 (four digits after 2014)", []),
        ("0704.12345 (five digits before 2015)", []),
        ("pi is 3.14159", []),
        ("192.168.1.1", []),
        ("v1.2401.12345", []),
        ("https://example.com/2401.12345", []),
        ("and/1234567", []),
        ("cs/0801001 (old style ended in March 2007)", []),
        ("10.1145/2401.12345", []),
    ],
)
def test_arxiv_ids_in_every_spelling(text: str, ids: list[str]) -> None:
    assert find_references(text).arxiv_ids == ids


def test_order_repeats_dois_and_limit() -> None:
    text = (
        "Two takes: https://arxiv.org/abs/2401.12345v2 and arXiv:2401.12345 (same paper),\n"
        "then hf.co/papers/2312.00001, doi 10.1145/3292500.3330701. and DOI:10.1145/3292500.3330701,\n"
        "[Lancet](https://doi.org/10.1016/S0140-6736(20)30183-5) and 0704.0001."
    )
    refs = find_references(text)
    assert refs.arxiv_ids == [NEW, "2312.00001", "0704.0001"]
    assert refs.dois == ["10.1145/3292500.3330701", "10.1016/S0140-6736(20)30183-5"]
    many = " ".join(f"2401.{n:05d}" for n in range(1, 31))
    assert find_references(many).arxiv_ids == [f"2401.{n:05d}" for n in range(1, 26)]


def test_plausible_bare_ids() -> None:
    assert plausible_bare_id("0704.0001") and plausible_bare_id("1412.9999")
    assert plausible_bare_id("1501.00001") and not plausible_bare_id("1501.0001")
    assert not plausible_bare_id("0703.0001") and not plausible_bare_id("2413.00001")
    assert plausible_bare_id("hep-th/9108001") and plausible_bare_id("math/0703999")
    assert not plausible_bare_id("math/0704001") and not plausible_bare_id("hep-th/9113001")
    assert not plausible_bare_id("foo/9901001")


def test_title_candidates() -> None:
    assert find_references("lunch at noon? 🍜").arxiv_ids == []
    assert "Attention Is All You Need" in title_candidates(
        "- Attention Is All You Need (Vaswani et al., 2017)"
    )
    cited = title_candidates('Vaswani et al. "Attention Is All You Need". NeurIPS 2017.')
    assert "Attention Is All You Need" in cited
    assert title_candidates("**Title:** _ROICtrl: Boosting Instance Control_") == [
        "ROICtrl: Boosting Instance Control"
    ]
    # Links and ids are not part of a title; short bits are not titles at all.
    refs = find_references("Scaling Laws for Neural Language Models https://x.org/a ok\nhi there")
    assert refs.titles == ["Scaling Laws for Neural Language Models ok"]
    assert find_references("thanks!").empty


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    opened = await Store.open(tmp_path / "paperbot.db")
    await load_file(opened, TRENDING)
    await load_file(opened, DAILY)
    yield opened
    await opened.close()


async def test_find_by_titles_is_exact_after_normalising(store: Store) -> None:
    title = "ROICtrl: Boosting Instance Control for Visual Generation"
    found = await store.papers.find_by_titles(
        ["nothing like it at all", "roictrl — boosting INSTANCE control, for visual generation!"]
    )
    assert [p.title for p in found] == [title]
    assert await store.papers.find_by_titles(["ROICtrl: Boosting Instance Control"]) == []
    # In the order asked, whatever the order they were stored in.
    first, second = await store.papers.get_by_pids([1, 2])
    found = await store.papers.find_by_titles([first.title, "no such paper here", second.title])
    assert [p.id for p in found] == [first.id, second.id]
    found = await store.papers.find_by_titles([second.title, first.title])
    assert [p.id for p in found] == [second.id, first.id]
    assert await store.papers.find_by_titles(["", "   "]) == []


@pytest.fixture
async def arxiv() -> AsyncIterator[FakeSources]:
    fake = await FakeSources().start()
    yield fake
    await fake.stop()


async def test_lookup_asks_once_paced_politely_and_stores(store: Store, arxiv: FakeSources) -> None:
    clock = FakeTime()
    arxiv.clock = clock.clock
    pacer = Pacer(3.0, clock=clock.clock, sleep=clock.sleep)
    settings = Settings(arxiv_api_base=arxiv.base, contact="ops@example.org")
    ids = ["1707.08567", "0808.05394", "hep-ph/0301050"]
    async with aiohttp.ClientSession() as session:
        found = await lookup_arxiv(
            store, settings, ids, session=session, pacer=pacer, policy=POLICY, sleep=clock.sleep
        )
        assert [p.id for p in found.papers] == ["1707.08567", "hep-ph/0301050"]
        assert found.missing == ["0808.05394"] and not found.unanswered and found.error is None
        [request] = arxiv.requests("arxiv")
        assert request.query["id_list"] == "1707.08567,0808.05394,hep-ph/0301050"
        assert request.headers["User-Agent"].startswith("PaperBot/")
        assert "mailto:ops@example.org" in request.headers["User-Agent"]
        stored = await store.papers.get("1707.08567")
        assert stored is not None and stored.title.startswith("Proceedings of Workshop AEW10")

        # Two members at once: one request at a time, 3 s apart.
        both = await asyncio.gather(
            lookup_arxiv(store, settings, ["1605.08386"], session=session, pacer=pacer),
            lookup_arxiv(store, settings, ["2202.12139"], session=session, pacer=pacer),
        )
    assert [p.id for result in both for p in result.papers] == ["1605.08386", "2202.12139"]
    times = [r.at for r in arxiv.requests("arxiv")]
    assert arxiv.max_in_flight["arxiv"] == 1
    assert times[2] - times[1] >= 3.0 and times[1] - times[0] >= 3.0


async def test_lookup_says_when_arxiv_is_down(store: Store, arxiv: FakeSources) -> None:
    clock = FakeTime()
    arxiv.fail("status", status=503, times=2)
    settings = Settings(arxiv_api_base=arxiv.base)
    before = await store.papers.count()
    async with aiohttp.ClientSession() as session:
        result = await lookup_arxiv(
            store,
            settings,
            ["1707.08567"],
            session=session,
            pacer=Pacer(3.0, clock=clock.clock, sleep=clock.sleep),
            policy=POLICY,
            sleep=clock.sleep,
        )
    assert result.papers == [] and result.missing == []
    assert result.unanswered == ["1707.08567"]
    assert result.error == "arXiv could not be reached; try again later"
    assert len(arxiv.requests("arxiv")) == 2  # one retry, then the member is told
    assert await store.papers.count() == before
