"""Search on real sample data: the fixtures loaded through the real loader into a SQLite file.

The store is built once per module (a read-only copy is enough for every test here); each
test opens its own connection to it.
"""

from __future__ import annotations

import asyncio
import random
import re
import shutil
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import bot.search.engine as engine_module
import bot.search.lexical as lexical_module
import bot.search.vocab as vocab_module
import bot.store.database as database_module
from bot.models import Paper, fold
from bot.search import SearchEngine, SearchResult, trim_label
from bot.search import query as q
from bot.search.engine import SearchTooSlow
from bot.search.vocab import Vocabulary
from bot.store import Store
from bot.store.loader import load_file
from tests.helpers_store import snapshot_record, write_jsonl

FIXTURES = Path(__file__).parent / "fixtures"
FILES = [
    FIXTURES / "arxiv-metadata-oai-snapshot.200.jsonl",
    FIXTURES / "trending-may-28.txt",
    FIXTURES / "daily_papers.sample.json",
    *sorted((FIXTURES / "arxiv-api").glob("*.xml")),
]


async def _build(path: Path) -> None:
    store = await Store.open(path)
    try:
        for file in FILES:
            await load_file(store, file)
    finally:
        await store.close()


@pytest.fixture(scope="module")
def sample_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("search") / "papers.db"
    asyncio.run(_build(path))
    return path


@pytest.fixture
async def engine(sample_db: Path, tmp_path: Path) -> AsyncIterator[SearchEngine]:
    path = tmp_path / "papers.db"
    shutil.copy(sample_db, path)
    store = await Store.open(path)
    try:
        yield SearchEngine(store.db)
    finally:
        await store.close()


def _words(text: str) -> set[str]:
    return q.word_set(text)


# -- relevance ----------------------------------------------------------------------------------


async def test_title_hits_rank_above_abstract_only_hits(engine: SearchEngine) -> None:
    result = await engine.search("testing", limit=100)
    in_title = ["testing" in _words(h.paper.title) for h in result.hits]
    assert any(in_title) and not all(in_title)  # the data has both kinds
    first_abstract_only = in_title.index(False)
    assert all(in_title[:first_abstract_only])
    assert not any(in_title[first_abstract_only:])
    scores = [h.score for h in result.hits]
    assert scores == sorted(scores, reverse=True)


async def test_common_word_path_keeps_title_hits_first(
    engine: SearchEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Force the bounded path on the small sample: count 40 matches, rank the newest 10 plus
    # the newest 10 with the word in the title, the rest follow newest first.
    monkeypatch.setattr(lexical_module, "MAX_CANDIDATES", 40)
    monkeypatch.setattr(lexical_module, "RANK_POOL", 10)
    result = await engine.search("diffusion", limit=40)
    assert result.capped and result.total >= 40
    ranked = [h for h in result.hits if h.score > 0]
    assert 10 < len(ranked) <= 20
    in_title = ["diffusion" in _words(h.paper.title) for h in ranked]
    assert in_title[0] and False in in_title
    assert not any(in_title[in_title.index(False) :])
    newest_first = [h for h in result.hits if h.score == 0]
    assert newest_first and all(h.score == 0 for h in result.hits[len(ranked) :])
    full = await _all_pages(engine, "diffusion", 7)
    assert len(full) == len(set(full)) == result.total


async def test_plural_and_singular_match_each_other(engine: SearchEngine) -> None:
    singular = {h.paper.id for h in (await engine.search("interpolant", limit=50)).hits}
    plural = {h.paper.id for h in (await engine.search("interpolants", limit=50)).hits}
    assert singular == plural and singular


async def test_stop_words_are_dropped_when_other_words_exist(engine: SearchEngine) -> None:
    plain = await engine.search("stochastic interpolants", limit=50)
    wordy = await engine.search("the stochastic interpolants of a", limit=50)
    assert [h.paper.id for h in plain.hits] == [h.paper.id for h in wordy.hits]
    only_stop = await engine.search("the")
    assert only_stop.total > 100  # a query of stop-words only still searches


# -- normalisation, ids, authors ---------------------------------------------------------------------


async def test_diacritics_fold_both_ways(engine: SearchEngine) -> None:
    title = "The Superposition of Diffusion Models Using the Itô Density Estimator"
    for text in ("Ito density", "Itô density", "ITO DENSITY", "Ito\u0302 density"):
        result = await engine.search(text)
        assert [h.paper.title for h in result.hits][:1] == [title], text
        assert result.corrected is None


async def test_author_search_with_and_without_accents(engine: SearchEngine) -> None:
    for text in ("Balazs", "Balázs", "balazs nadolsky"):
        result = await engine.search(text)
        assert result.hits and result.hits[0].paper.id == "0704.0001", text
    neubig = await engine.search("Graham Neubig")
    assert neubig.hits[0].paper.id == "2603.21489"


@pytest.mark.parametrize(
    ("text", "paper_id"),
    [
        ("2202.12139", "2202.12139"),
        ("arXiv:2202.12139v1", "2202.12139"),
        ("https://arxiv.org/abs/2202.12139v1", "2202.12139"),
        (" https://huggingface.co/papers/2603.21489 ", "2603.21489"),
        ("https://arxiv.org/pdf/1605.08386v2", "1605.08386"),
        ("0704.0001", "0704.0001"),
    ],
)
async def test_id_and_url_find_the_paper(engine: SearchEngine, text: str, paper_id: str) -> None:
    result = await engine.search(text)
    assert result.exact_id and result.total == 1
    assert [h.paper.id for h in result.hits] == [paper_id]


async def test_title_id_and_unknown_id(engine: SearchEngine) -> None:
    roi = (await engine.search("ROICtrl")).hits[0].paper
    assert roi.id.startswith("t-")
    assert (await engine.search(roi.id)).hits[0].paper.id == roi.id
    missing = await engine.search("2999.99999")
    assert missing.total == 0 and not missing.exact_id and not missing.hits


# -- partial matches (fewer than every word) --------------------------------------------------------

ANYDRESSING = "AnyDressing: Customizable Multi-Garment Virtual Dressing"
DIFFUSIONDRIVE = "DiffusionDrive: Truncated Diffusion Model"


async def test_one_missing_word_still_finds_the_paper(engine: SearchEngine) -> None:
    # Before: every word was required, and "multiple" is not in the paper: "No papers match".
    result = await engine.search("virtual try-on multiple garments")
    assert result.hits, "no answer although three of the four words match"
    top = result.hits[0]
    assert top.paper.title.startswith(ANYDRESSING)
    assert top.why is not None and re.fullmatch(r"matches \d of 4 words", top.why)
    assert result.corrected is None  # "garments" is the plural of a title word, not a typo


async def test_every_word_matches_come_before_partial_ones(engine: SearchEngine) -> None:
    result = await engine.search("diffusion transformer experts", limit=50)
    whys = [h.why for h in result.hits]
    full = [i for i, why in enumerate(whys) if why is None]
    partial = [i for i, why in enumerate(whys) if why is not None and why.startswith("matches")]
    assert full and partial
    assert max(full) < min(partial)
    for hit in result.hits[: len(full)]:
        words = _words(hit.paper.title + " " + hit.paper.abstract)
        assert {"diffusion", "experts"} <= words | {"expert"} | words


async def test_rarer_words_outweigh_common_ones(engine: SearchEngine) -> None:
    # "rgba" is in one title; "layers" in many papers: the RGBA paper leads.
    result = await engine.search("RGBA transparent layers")
    assert "RGBA" in result.hits[0].paper.title
    counts = [int(h.why.split()[1]) for h in result.hits if h.why and h.why.startswith("matches")]
    assert counts and counts[0] == max(counts)


async def test_questions_lose_their_filler_words(engine: SearchEngine) -> None:
    assert q.parse("papers about making diffusion models faster").terms == [
        "making",
        "diffusion",
        "models",
        "faster",
    ]
    assert q.parse("how do I fine-tune a language model cheaply").terms == [
        "fine",
        "tune",
        "language",
        "model",
        "cheaply",
    ]
    assert q.parse("papers").terms == ["papers"]  # nothing else: kept
    result = await engine.search("papers about making diffusion models faster")
    assert result.total > 0
    assert {"diffusion", "fast"} <= _words(result.hits[0].paper.title)
    question = await engine.search("how do I fine-tune a language model cheaply")
    assert "Fine-tuning Large Language Models" in question.hits[0].paper.title


async def test_several_typos_are_corrected_together(engine: SearchEngine) -> None:
    result = await engine.search("difusion drive autonomus")
    assert result.corrected == "diffusion drive autonomous"
    assert result.hits[0].paper.title.startswith(DIFFUSIONDRIVE)
    assert result.hits[0].why == "matches other forms of the words"  # drive -> driving


async def test_an_exact_title_comes_first(engine: SearchEngine) -> None:
    title = "Stochastic Interpolants: A Unifying Framework for Flows and Diffusions"
    result = await engine.search(title.lower())
    assert result.hits[0].paper.title == title
    assert result.hits[0].why == "exact title"


async def test_an_author_name_comes_first(engine: SearchEngine) -> None:
    # "Bose" is an author of one paper and a word in the titles of three (Bose-Einstein):
    # title words weigh more than author names, but a name is asked for exactly.
    result = await engine.search("Bose")
    first = result.hits[0]
    assert first.paper.id == "1808.05353"
    assert any("Bose" in name for name in first.paper.authors)
    assert any("Bose" in h.paper.title for h in result.hits[1:])


async def test_spelling_runs_off_the_event_loop(
    engine: SearchEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    loop_thread = threading.get_ident()
    threads: list[int] = []
    original = Vocabulary.correct

    def watched(self: Vocabulary, term: str) -> str | None:
        threads.append(threading.get_ident())
        return original(self, term)

    monkeypatch.setattr(Vocabulary, "correct", watched)
    await engine.search("difusion autonomus")
    assert threads and loop_thread not in threads


def test_a_correction_compares_a_bounded_number_of_words(monkeypatch: pytest.MonkeyPatch) -> None:
    # 300,000 distinct words, all of length 8 and most starting with "s": before, one
    # unknown word was compared with every one of them (54 ms at a million papers).
    rng = random.Random(7)
    letters = "abcdefghijklmnopqrstuvwxyz"
    words = {
        rng.choice("sssssssssc") + "".join(rng.choice(letters) for _ in range(7)): 2
        for _ in range(300_000)
    }
    vocab = Vocabulary(words.items(), 1_000_000)
    compared: list[int] = []
    original = vocab_module.process.extract

    def counting(query: str, choices: list[str], **kwargs: object) -> object:
        compared.append(len(choices))
        return original(query, choices, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr(vocab_module.process, "extract", counting)
    vocab.correct("sqzzzzzz")
    vocab.correct("xqzzzzzz")
    assert compared and max(compared) <= vocab_module.SAME_INITIAL_LIMIT * 5


async def test_a_search_past_its_budget_says_so(
    engine: SearchEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engine_module, "SEARCH_BUDGET", 0.0)
    monkeypatch.setattr(database_module, "_PROGRESS_STEPS", 1)
    with pytest.raises(SearchTooSlow, match="took too long"):
        await engine.search("diffusion models for video")


# -- spelling --------------------------------------------------------------------------------------


async def test_typos_are_corrected(engine: SearchEngine) -> None:
    result = await engine.search("stochastik interpolents")
    assert result.corrected == "stochastic interpolants"
    assert result.hits[0].paper.title.startswith("Stochastic Interpolants")
    difusion = await engine.search("the difusion modle")
    assert difusion.corrected == "the diffusion model"
    assert difusion.total > 20


async def test_partial_words_are_completed(engine: SearchEngine) -> None:
    result = await engine.search("interpola")
    assert result.corrected is not None and result.corrected.startswith("interpola")
    assert result.total > 0
    assert all("interpola" in h.paper.title.lower() + h.paper.abstract.lower() for h in result.hits)


async def test_known_words_are_not_corrected(engine: SearchEngine) -> None:
    # "Ito" has a single hit; it must not become the stop-word "to"
    result = await engine.search("Ito")
    assert result.corrected is None and result.total == 1
    exact = await engine.search("stochastic interpolants")
    assert exact.corrected is None


# -- sorting and paging ----------------------------------------------------------------------------


async def test_sort_newest(engine: SearchEngine) -> None:
    result = await engine.search("testing", sort="newest", limit=100)
    dates = [h.paper.published for h in result.hits]
    known = [d for d in dates if d is not None]
    assert known == sorted(known, reverse=True)
    assert dates[: len(known)] == known  # undated papers last
    assert {h.paper.id for h in result.hits} == {
        h.paper.id for h in (await engine.search("testing", limit=100)).hits
    }


async def test_sort_trending(engine: SearchEngine) -> None:
    result = await engine.search("diffusion", sort="trending", limit=100)
    ranks = [h.paper.source_rank for h in result.hits]
    ranked = [r for r in ranks if r is not None]
    assert ranked and ranked == sorted(ranked)
    assert ranks[: len(ranked)] == ranked  # papers on a trending list come first


async def test_trending_then_upvotes_then_newest(engine: SearchEngine) -> None:
    papers = [
        Paper.create(title="Zebrafish regeneration atlas", arxiv_id="2601.00001", source_rank=2),
        Paper.create(title="Zebrafish fins", arxiv_id="2601.00002", upvotes=50),
        Paper.create(title="Zebrafish hearts", arxiv_id="2601.00003", upvotes=5),
        Paper.create(title="Zebrafish eyes", arxiv_id="2601.00004"),
        Paper.create(title="Zebrafish brains", arxiv_id="2601.00005"),
    ]
    await engine.papers.upsert_many(papers, "jsonl")
    result = await engine.search("zebrafish", sort="trending")
    assert [h.paper.id for h in result.hits] == [
        "2601.00001",
        "2601.00002",
        "2601.00003",
        "2601.00005",
        "2601.00004",
    ]
    # new words reach autocomplete and spelling once the vocabulary is re-read
    engine.invalidate()
    assert (await engine.autocomplete("zebraf"))[0].label.startswith("Zebrafish")
    assert (await engine.search("zebrafisch")).corrected == "zebrafish"


async def _all_pages(
    engine: SearchEngine, text: str, size: int, sort: str = "relevance"
) -> list[str]:
    ids: list[str] = []
    offset = 0
    while True:
        page = await engine.search(text, sort=sort, limit=size, offset=offset)  # type: ignore[arg-type]
        if not page.hits:
            return ids
        ids.extend(h.paper.id for h in page.hits)
        offset += size


@pytest.mark.parametrize("sort", ["relevance", "newest", "trending"])
async def test_pages_do_not_overlap_and_add_up(engine: SearchEngine, sort: str) -> None:
    whole = await engine.search("the", sort=sort, limit=100)  # type: ignore[arg-type]
    paged = await _all_pages(engine, "the", 9, sort)
    assert len(paged) == len(set(paged)) == whole.total
    assert paged[:100] == [h.paper.id for h in whole.hits]
    past_end = await engine.search("the", limit=10, offset=whole.total)
    assert past_end.hits == [] and past_end.total == whole.total


# -- autocomplete --------------------------------------------------------------------------------


async def test_autocomplete_answers_nothing_rather_than_late(
    engine: SearchEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Discord drops an autocomplete not answered within 3 s. With every reader thread busy
    # (here: blocked on purpose), autocomplete gives up at its deadline with no suggestions.
    monkeypatch.setattr(engine_module, "AUTOCOMPLETE_DEADLINE", 0.3)
    await engine.autocomplete("dif")  # the vocabulary is read before the readers are taken
    release = threading.Event()
    blockers = [
        asyncio.ensure_future(engine.db.read(lambda conn: release.wait(10))) for _ in range(8)
    ]
    await asyncio.sleep(0.1)  # the blockers take their threads
    try:
        began = time.monotonic()
        assert await engine.autocomplete("dif") == []
        assert time.monotonic() - began < 2.0
    finally:
        release.set()
        await asyncio.gather(*blockers)
    assert await engine.autocomplete("dif"), "with a reader free it suggests again"


async def test_autocomplete_does_not_wait_for_the_word_list(
    engine: SearchEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Just after start the title word list may still be loading (seconds at a million
    # papers, beside the meaning index): suggestions come from the index's own prefix match
    # meanwhile, and they are the ones the word list gives.
    slow = threading.Event()
    real_build = engine_module._build_vocabulary

    def slow_build(conn: Any) -> Any:
        slow.wait(10)
        return real_build(conn)

    monkeypatch.setattr(engine_module, "_build_vocabulary", slow_build)
    began = time.monotonic()
    early = {
        text: [s.id for s in await engine.autocomplete(text)]
        for text in ("diffusion mo", "dif", "The Spitzer c2", "qqzz")
    }
    assert time.monotonic() - began < 2.0 and engine._vocab is None
    slow.set()
    for _ in range(100):  # the loading started by the first request finishes
        if engine._vocab is not None:
            break
        await asyncio.sleep(0.05)
    assert engine._vocab is not None
    assert early["diffusion mo"] and early["dif"] and early["The Spitzer c2"]
    assert early["qqzz"] == []
    for text, ids in early.items():
        assert {s.id for s in await engine.autocomplete(text)} == set(ids), text


async def test_autocomplete_prefixes(engine: SearchEngine) -> None:
    suggestions = await engine.autocomplete("dif")
    assert 0 < len(suggestions) <= 25
    labels = [s.label for s in suggestions]
    assert all(len(label) <= 100 for label in labels)
    titles = [await _title(engine, s.id) for s in suggestions]
    assert all(any(w.startswith("dif") for w in _words(t)) for t in titles)
    starts = [fold(label).startswith("dif") for label in labels]
    assert starts[0] and not any(starts[starts.index(False) :])  # whole-title prefixes first
    deeper = await engine.autocomplete("diffusion mo")
    for s in deeper:
        words = _words(await _title(engine, s.id))
        assert "diffusion" in words and any(w.startswith("mo") for w in words)
    ids = {s.id for s in suggestions}
    assert len(ids) == len(suggestions)


async def test_autocomplete_limits_and_labels(engine: SearchEngine) -> None:
    assert len(await engine.autocomplete("a", limit=500)) == 25
    assert len(await engine.autocomplete("a", limit=3)) == 3
    long = await engine.autocomplete("The Spitzer c2d Survey")
    assert long[0].id == "0704.0009"
    assert long[0].label.endswith("…") and len(long[0].label) <= 100
    assert await engine.autocomplete("zzqx") == []
    assert await engine.autocomplete('"*:(') == (await engine.autocomplete(""))


async def test_autocomplete_empty_is_trending(engine: SearchEngine) -> None:
    suggestions = await engine.autocomplete("   ")
    assert len(suggestions) == 25
    papers = [await engine.papers.get(s.id) for s in suggestions]
    ranks = [p.source_rank for p in papers if p is not None]
    assert ranks == sorted(r for r in ranks if r is not None) and ranks[0] == 1


async def _title(engine: SearchEngine, paper_id: str) -> str:
    paper = await engine.papers.get(paper_id)
    assert paper is not None
    return paper.title


def test_trim_label() -> None:
    title = "A " + "very " * 30 + "long title"
    label = trim_label(title)
    assert len(label) <= 100 and label.endswith("…") and not label[:-1].endswith(" ")
    assert label[:-1] == title[: len(label) - 1]  # cut on a word boundary
    assert trim_label("Short  title\n") == "Short title"


# -- related, topic filters ---------------------------------------------------------------------


async def test_related_excludes_itself_and_shares_terms(engine: SearchEngine) -> None:
    source = await engine.papers.get("2202.12139")
    assert source is not None
    related = await engine.related("2202.12139", limit=5)
    assert 0 < len(related) <= 5
    assert "2202.12139" not in {p.id for p in related}
    source_words = _words(source.title + " " + source.abstract) - q.BORING_WORDS
    for paper in related:
        assert source_words & _words(paper.title + " " + paper.abstract)
    # the closest neighbours are other papers about testing deep learning
    assert "testing" in _words(related[0].title)
    assert await engine.related("9999.99999") == []


async def test_matches_and_candidates(engine: SearchEngine) -> None:
    ids = await engine.candidates("diffusion models", 10)
    assert len(ids) == 10
    for paper_id in ids:
        assert await engine.matches(paper_id, "diffusion models")
    assert not await engine.matches(ids[0], "quantum chromodynamics")
    assert await engine.matches(ids[0], "")
    assert not await engine.matches("9999.99999", "diffusion")
    assert await engine.matches("2202.12139", "https://arxiv.org/abs/2202.12139")
    trending = await engine.candidates(None, 3)
    first = await engine.papers.get(trending[0])
    assert first is not None and first.source_rank == 1
    assert await engine.candidates("zzqx qqzz", 5) == []


# -- any input is safe ------------------------------------------------------------------------------

HOSTILE = [
    "",
    " ",
    '"',
    '""',
    "*",
    "-",
    ":",
    "NEAR(",
    'NEAR("a" "b", 3)',
    "AND",
    "OR NOT",
    "title:diffusion",
    "{title}: x",
    "a OR b AND NOT c",
    "^start",
    "foo*",
    "(unbalanced",
    "🦀🦀 emoji 🧪",
    "\x00\x00nul",
    "a\x00b",
    "ᦰᦱ ᳲ",  # letters for Python, separators for SQLite's tables
    "ﬁnance ²",
    "x" * 10_000,
    ("deep learning " * 800)[:10_000],
    '" OR "" AND * NEAR(' * 500,
]


class _Runner:
    """One event loop and one open store for the whole hypothesis run."""

    def __init__(self, path: Path) -> None:
        self.loop = asyncio.new_event_loop()
        self.store = self.loop.run_until_complete(Store.open(path))
        self.engine = SearchEngine(self.store.db)

    def close(self) -> None:
        self.loop.run_until_complete(self.store.close())
        self.loop.close()


@pytest.fixture(scope="module")
def runner(sample_db: Path) -> Iterator[_Runner]:
    r = _Runner(sample_db)
    try:
        yield r
    finally:
        r.close()


_fts_text = st.text(
    alphabet=st.one_of(
        st.characters(),
        st.sampled_from(list('"*-:^(){}+,.\x00 ')),
    ),
    max_size=80,
) | st.lists(
    st.sampled_from(["NEAR(", "AND", "OR", "NOT", '"', "*", "title:", "diffusion", "ᦰ", "🦀"]),
    max_size=12,
).map(" ".join)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=_fts_text | st.sampled_from(HOSTILE))
def test_any_text_is_safe(runner: _Runner, text: str) -> None:
    run = runner.loop.run_until_complete
    for sort in ("relevance", "newest", "trending"):
        result = run(runner.engine.search(text, sort=sort, limit=5))  # type: ignore[arg-type]
        assert isinstance(result, SearchResult)
        assert len(result.hits) <= 5 and result.total >= len(result.hits)
    suggestions = run(runner.engine.autocomplete(text))
    assert len(suggestions) <= 25 and all(len(s.label) <= 100 for s in suggestions)
    assert isinstance(run(runner.engine.matches("2202.12139", text)), bool)
    assert isinstance(run(runner.engine.candidates(text, 3)), list)


def test_every_token_is_one_fts_token(runner: _Runner) -> None:
    # the tokens we quote must never be split further by unicode61 (a phrase is an error
    # with detail=column): check the corner cases directly against FTS5
    run = runner.loop.run_until_complete
    for text in [*HOSTILE, "Itô", "Straße", "naïve café", "ǅemal", "İstanbul", "x²", "٣٤"]:
        for token in q.tokens(text):
            run(
                runner.store.db.fetchall(
                    "SELECT rowid FROM papers_fts WHERE papers_fts MATCH ?", (q.quote(token),)
                )
            )


def test_query_normalisation() -> None:
    assert q.clean("  Itô\x00 \u200b calc\tulus ") == "Itô calc ulus"
    assert len(q.clean("x" * 10_000)) == q.MAX_QUERY_CHARS
    assert q.tokens("Itô-calculus, ITO!") == ["ito", "calculus"]
    assert q.content_terms(["the", "model", "of"]) == ["model"]
    assert q.content_terms(["the", "of"]) == ["the", "of"]
    assert q.variants("networks") == ["networks", "network"]
    assert q.variants("study") == ["study", "studies"]
    assert q.all_of(["graph", "x2"]) == '("graph" OR "graphs") AND "x2"'
    assert q.parse("https://arxiv.org/abs/2202.12139v3").arxiv_id == "2202.12139"


async def test_a_repeated_search_is_answered_from_the_cache_until_the_store_changes(
    engine: SearchEngine,
) -> None:
    first = await engine.search("diffusion transformer", limit=5)
    hits = engine._cache.hits
    again = await engine.search("diffusion transformer", limit=5)
    assert engine._cache.hits == hits + 1
    assert [h.paper.id for h in again.hits] == [h.paper.id for h in first.hits]
    # A new paper: the next search sees it at once (the cache key holds the newest pid).
    await engine.papers.upsert_many(
        [Paper.create(title="Diffusion transformer for zebrafish", arxiv_id="2611.00001")],
        "jsonl",
    )
    fresh = await engine.search("diffusion transformer", limit=5)
    assert fresh.hits[0].paper.id == "2611.00001"
    assert fresh.total == first.total + 1


def count_computed(engine: SearchEngine) -> list[str]:
    """The queries *engine* computes from now on (each search it did not reuse), in order."""
    computed: list[str] = []
    real_find = engine._find

    def counting_find(conn: Any, parsed: Any, *args: Any) -> Any:
        computed.append(parsed.text)
        return real_find(conn, parsed, *args)

    engine._find = counting_find  # type: ignore[method-assign]
    return computed


async def test_identical_searches_at_once_are_computed_once(engine: SearchEngine) -> None:
    computed = count_computed(engine)
    results = await asyncio.gather(
        *(engine.search("graph neural networks", limit=5) for _ in range(20)),
        engine.search("diffusion", limit=5),
    )
    assert computed.count("graph neural networks") == 1 and computed.count("diffusion") == 1
    assert engine.joined == 19
    first = [h.paper.id for h in results[0].hits]
    assert first and all([h.paper.id for h in r.hits] == first for r in results[:20])
    # A member who gives up does not cancel the answer the others wait for.
    waiting = [asyncio.ensure_future(engine.search("attention", limit=5)) for _ in range(3)]
    await asyncio.sleep(0)
    waiting[0].cancel()
    done = await asyncio.gather(*waiting[1:])
    assert done[0].hits and computed.count("attention") == 1
    # Done searches are not held: the same words later are computed again (cache aside).
    engine._cache.clear()
    await engine.search("graph neural networks", limit=5)
    assert computed.count("graph neural networks") == 2


async def test_without_result_reuse_every_search_is_computed(engine: SearchEngine) -> None:
    engine._cache.size = 0  # as the benchmarks run it
    computed = count_computed(engine)
    await asyncio.gather(*(engine.search("graph neural networks", limit=5) for _ in range(4)))
    assert len(computed) == 4 and engine.joined == 0


def _two_word_store(path: Path, common: str) -> Path:
    """40 papers: 38 with *common* in their titles, then X ("Quokka notes", graph in its
    abstract) and Y ("Graph notes", quokka in its abstract). The same size either way."""

    records = [
        snapshot_record(n, f"{common} study {n:02d}", "Plain words here.") for n in range(1, 39)
    ]
    records.append(snapshot_record(39, "Quokka notes", "On the graph of it."))
    records.append(snapshot_record(40, "Graph notes", "On the quokka of it."))
    return write_jsonl(path, records)


async def test_each_engine_ranks_by_its_own_stores_word_counts(tmp_path: Path) -> None:
    """Two stores of the same size: in one "quokka" is the rare word, in the other "graph" is.
    The title holding the rare word ranks first; a word's rarity learnt from one store (kept
    for later searches) must not rank the other's papers."""
    stores = {}
    for name, common in (("quokka-rare", "Graph"), ("graph-rare", "Quokka")):
        stores[name] = await Store.open(tmp_path / f"{name}.db")
        await load_file(stores[name], _two_word_store(tmp_path / f"{name}.jsonl", common))
    try:
        for order in (["quokka-rare", "graph-rare"], ["graph-rare", "quokka-rare"]):
            engines = {name: SearchEngine(stores[name].db) for name in stores}
            firsts = {}
            for name in order:
                result = await engines[name].search("quokka graph", limit=2)
                firsts[name] = result.hits[0].paper.title
            assert firsts == {"quokka-rare": "Quokka notes", "graph-rare": "Graph notes"}, order
    finally:
        for store in stores.values():
            await store.close()


# -- results follow changes to the store -------------------------------------------------------


async def test_a_deleted_paper_is_not_counted_by_the_next_search(
    engine: SearchEngine,
) -> None:
    first = await engine.search("diffusion", limit=100)
    assert first.total > 3
    # A withdrawn paper is deleted by the refresh (bot/fetch/refresh.py); not the newest one.
    gone = first.hits[1].paper.id
    assert await engine.papers.delete(gone)
    again = await engine.search("diffusion", limit=100)
    assert gone not in {h.paper.id for h in again.hits}
    # The count a member sees and the pages must agree with the store.
    assert again.total == first.total - 1
    assert len(again.hits) == min(100, again.total)


async def test_a_paper_whose_title_changed_is_found_by_its_new_title(
    engine: SearchEngine,
) -> None:
    before = await engine.search("zebrafish", limit=10)
    assert before.total == 0
    old = (await engine.search("diffusion", limit=10)).hits[3].paper
    changed = Paper(
        id=old.id,
        title="Zebrafish fin regeneration",
        abstract="Zebrafish regrow their fins.",
        source="arxiv-snapshot",
    )
    counts = await engine.papers.upsert_many([changed], "arxiv-snapshot")
    assert counts.updated == 1
    after = await engine.search("zebrafish", limit=10)
    assert [h.paper.id for h in after.hits] == [old.id]


async def test_trending_sort_follows_new_upvotes(engine: SearchEngine) -> None:
    papers = [
        Paper.create(title="Zebrafish fins", arxiv_id="2601.00002", upvotes=50),
        Paper.create(title="Zebrafish hearts", arxiv_id="2601.00003", upvotes=5),
    ]
    await engine.papers.upsert_many(papers, "jsonl")
    first = await engine.search("zebrafish", sort="trending")
    assert [h.paper.id for h in first.hits] == ["2601.00002", "2601.00003"]
    # The hearts paper gets 500 upvotes (a Hugging Face daily refresh).
    await engine.papers.upsert_many(
        [Paper(id="2601.00003", title="Zebrafish hearts", upvotes=500, source="hf-daily")],
        "hf-daily",
    )
    again = await engine.search("zebrafish", sort="trending")
    assert [h.paper.upvotes for h in again.hits] == [500, 50]


async def test_autocomplete_finds_a_changed_title_by_its_new_words(
    engine: SearchEngine,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Check for a stale vocabulary at every search, and reload whenever it is stale.
    monkeypatch.setattr(engine_module, "VOCAB_CHECK_SECONDS", 0.0)
    monkeypatch.setattr(engine_module, "VOCAB_RELOAD_FACTOR", 0.0)
    await engine.warm()
    old = (await engine.search("diffusion", limit=10)).hits[3].paper
    changed = Paper(
        id=old.id,
        title="Quokkanomics of marsupial markets",
        abstract="Quokkas trade.",
        source="arxiv-snapshot",
    )
    assert (await engine.papers.upsert_many([changed], "arxiv-snapshot")).updated == 1
    # Members search meanwhile (each search looks whether the word list is stale)...
    for _ in range(3):
        await engine.search("marsupial")
        await asyncio.sleep(0.05)
        if engine._vocab_task is not None:
            await engine._vocab_task
    # ...and then type the new title.
    suggestions = await engine.autocomplete("quokkanom")
    assert [s.id for s in suggestions] == [old.id]


async def test_autocomplete_alone_follows_new_papers(
    engine: SearchEngine,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A bot whose members only pick papers by name (autocomplete, never a search) must still
    # learn the words of papers added after its word list was read.
    monkeypatch.setattr(engine_module, "VOCAB_CHECK_SECONDS", 0.0)
    monkeypatch.setattr(engine_module, "VOCAB_RELOAD_FACTOR", 0.0)
    await engine.warm()
    assert await engine.autocomplete("quokkanom") == []
    new = Paper.create(title="Quokkanomics of marsupial markets", arxiv_id="2601.00009")
    assert (await engine.papers.upsert_many([new], "jsonl")).new == 1
    # At once: the word list is stale, so a word it lacks is completed by the index itself...
    assert [s.id for s in await engine.autocomplete("quokkanom")] == ["2601.00009"]
    # ...and the word list is read again in the background.
    for _ in range(3):
        if engine._vocab_task is not None:
            await engine._vocab_task
        await engine.autocomplete("marsup")
    assert engine._vocab is not None and "quokkanomics" in engine._vocab.df
    assert [s.id for s in await engine.autocomplete("quokkanom")] == ["2601.00009"]


@pytest.mark.parametrize(
    ("title", "query"),
    [
        ("Нейронные сети для распознавания речи", "нейронные сети"),  # й
        ("Ёмкость каналов связи", "ёмкость"),  # ё
        ("Μηχανική μάθηση για φυσική", "μάθηση"),  # Greek accents
        ("한국어 음성 인식", "음성 인식"),  # Hangul syllables
        ("データ拡張による画像認識", "データ拡張による画像認識"),  # kana with dakuten
    ],
)
async def test_words_of_non_latin_titles_are_found(
    engine: SearchEngine,
    title: str,
    query: str,
) -> None:
    await engine.papers.upsert_many([Paper.create(title=title, arxiv_id="2612.00001")], "jsonl")
    result = await engine.search(query, limit=5)
    assert [h.paper.id for h in result.hits] == ["2612.00001"]
    engine.invalidate()
    assert [s.id for s in await engine.autocomplete(query[:-1])] == ["2612.00001"]


async def test_writes_that_leave_papers_alone_keep_repeated_searches_reused(
    engine: SearchEngine,
) -> None:
    """A save or a vote changes no paper: the same search is still answered from the cache
    (a busy server votes all the time); a paper's change is not."""
    computed = count_computed(engine)
    await engine.search("diffusion", limit=5)
    saver = (await engine.search("diffusion", limit=5)).hits[0].paper
    await engine.papers.db.execute(  # a member saves a paper: a write, not to papers
        "INSERT INTO saves(user_id, pid, created_at) SELECT 7, pid, '2024-01-01T00:00:00Z' "
        "FROM papers WHERE id = ?",
        (saver.id,),
    )
    await engine.search("diffusion", limit=5)
    assert computed == ["diffusion"]
    top = (await engine.search("diffusion", limit=5)).hits[0].paper
    await engine.papers.upsert_many(
        [Paper(id=top.id, title=top.title, abstract="A new abstract.", source="arxiv-snapshot")],
        "arxiv-snapshot",
    )
    await engine.search("diffusion", limit=5)
    assert computed == ["diffusion", "diffusion"]
