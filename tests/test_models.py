from datetime import date

import pytest

from bot.models import (
    SOURCE_ARXIV_SNAPSHOT,
    SOURCE_HF_DAILY,
    SOURCE_HF_PAGE,
    Paper,
    find_arxiv_id,
    merge,
    normalize_arxiv_id,
    title_id,
    title_key,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2202.12139v2", "2202.12139"),
        ("2202.12139", "2202.12139"),
        ("0704.0001v1", "0704.0001"),
        ("arXiv:2401.00001", "2401.00001"),
        ("hep-th/0601001", "hep-th/0601001"),
        ("hep-th/0601001v3", "hep-th/0601001"),
        ("math.co/0601001", "math.CO/0601001"),
        ("not an id", None),
        ("12345", None),
        ("2202.121", None),
    ],
)
def test_normalize_arxiv_id(raw: str, expected: str | None) -> None:
    assert normalize_arxiv_id(raw) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("https://arxiv.org/abs/2202.12139v1", "2202.12139"),
        ("https://arxiv.org/pdf/2202.12139v2.pdf", "2202.12139"),
        ("http://arxiv.org/abs/hep-th/0601001", "hep-th/0601001"),
        ("https://huggingface.co/papers/2603.21489", "2603.21489"),
        ("  2603.21489  ", "2603.21489"),
        ("https://example.com/2603.21489", None),
        ("graph neural networks", None),
    ],
)
def test_find_arxiv_id(text: str, expected: str | None) -> None:
    assert find_arxiv_id(text) == expected


def test_title_key_folds_case_punctuation_and_diacritics() -> None:
    assert title_key("Itô's  Lemma: A Survey!") == "ito s lemma a survey"
    assert title_id("Deep Learning") == title_id("  deep   LEARNING ")
    assert title_id("Deep Learning") != title_id("Shallow Learning")


def test_create_derives_links_from_arxiv_id() -> None:
    p = Paper.create(title="A\n  wrapped   title", arxiv_id="2202.12139v3")
    assert p.id == "2202.12139"
    assert p.title == "A wrapped title"
    assert p.url_abs == "https://arxiv.org/abs/2202.12139"
    assert p.url_pdf == "https://arxiv.org/pdf/2202.12139"
    assert p.url_hf == "https://huggingface.co/papers/2202.12139"
    q = Paper.create(title="No id here")
    assert q.id.startswith("t-") and q.arxiv_id is None and q.url_abs is None


def test_from_dict_round_trip_and_errors() -> None:
    p = Paper.create(
        title="Round trip",
        arxiv_id="2401.00001",
        authors=["Ada Lovelace"],
        published=date(2024, 1, 2),
        categories=["cs.LG"],
        upvotes=3,
    )
    assert Paper.from_dict(p.to_dict()) == p
    with pytest.raises(ValueError, match="missing 'title'"):
        Paper.from_dict({"abstract": "x"})
    with pytest.raises(ValueError, match="unknown field"):
        Paper.from_dict({"title": "x", "colour": "red"})
    with pytest.raises(ValueError, match="published"):
        Paper.from_dict({"title": "x", "published": "yesterday"})
    with pytest.raises(ValueError, match="authors"):
        Paper.from_dict({"title": "x", "authors": "Ada"})
    with pytest.raises(ValueError, match="upvotes"):
        Paper.from_dict({"title": "x", "upvotes": -1})


def test_merge_takes_bibliography_from_arxiv_and_social_fields_from_hugging_face() -> None:
    trending = Paper.create(
        title="Stochastic Interpolants",
        source=SOURCE_HF_PAGE,
        source_rank=4,
        url_code="https://github.com/a/b",
    )
    daily = Paper.create(
        title="Stochastic Interpolants",
        arxiv_id="2303.08797",
        source=SOURCE_HF_DAILY,
        upvotes=42,
        abstract="short HF abstract",
        ai_summary="AI says",
    )
    snapshot = Paper.create(
        title="Stochastic Interpolants: A Unifying Framework",
        arxiv_id="2303.08797v2",
        source=SOURCE_ARXIV_SNAPSHOT,
        abstract="the real abstract",
        categories=["cs.LG", "stat.ML"],
        authors=["Michael S. Albergo"],
        published=date(2023, 3, 15),
    )
    merged = merge(merge(trending, daily), snapshot)
    assert merged.id == "2303.08797"  # the arXiv id replaced the title id
    assert merged.title == "Stochastic Interpolants: A Unifying Framework"
    assert merged.abstract == "the real abstract"
    assert merged.categories == ["cs.LG", "stat.ML"]
    assert merged.upvotes == 42 and merged.ai_summary == "AI says"
    assert merged.source_rank == 4 and merged.url_code == "https://github.com/a/b"
    # A weaker source arriving later does not overwrite the arXiv bibliography.
    again = merge(merged, daily)
    assert again.abstract == "the real abstract" and again.upvotes == 42
    # Merging a record with itself changes nothing.
    assert merge(merged, merged) == merged


def test_record_problem_range_checks_every_number() -> None:
    from bot.models import MAX_COUNT, record_problem

    today = date(2026, 3, 25)
    fine = Paper.create(title="x", upvotes=MAX_COUNT, source_rank=1, published=date(1800, 1, 1))
    assert record_problem(fine, today=today) is None
    ahead = Paper.create(title="x", published=date(2027, 3, 26))  # a year and a day ahead
    assert record_problem(ahead, today=today) is None
    assert record_problem(Paper.create(title="x", published=date(2027, 3, 27)), today=today) == (
        "'published' 2027-03-27 is out of range (1800-01-01 to 2027-03-26)"
    )
    assert record_problem(Paper.create(title="x", published=date(1799, 12, 31)), today=today)
    assert record_problem(Paper.create(title="x", upvotes=MAX_COUNT + 1)) == (
        "'upvotes' 1000000001 is out of range (0 to 1,000,000,000)"
    )
    assert record_problem(Paper.create(title="x", source_rank=-1)) == (
        "'source_rank' must be a non-negative integer"
    )
    huge = record_problem(Paper.create(title="x", upvotes=10**5000))
    assert huge == "'upvotes' a number of over 40 digits is out of range (0 to 1,000,000,000)"
    assert record_problem(Paper.create(title="x", authors=["Ann", "B\ud800b"])) == (
        "'authors' is not valid Unicode (a lone surrogate)"
    )
    assert record_problem(Paper.create(title="Itô calculus", abstract="naïve")) is None


@pytest.mark.parametrize(
    ("raw", "doi"),
    [
        ("doi:10.1145/3366423.3380211", "10.1145/3366423.3380211"),
        ("https://doi.org/10.1145/3366423.3380211", "10.1145/3366423.3380211"),
        ("10.1145/3366423.3380211", "10.1145/3366423.3380211"),
        ("openreview:rJXMpikCZ", None),
        ("my-paper-7", None),
    ],
)
def test_a_record_id_that_is_no_arxiv_id_makes_a_title_only_paper(
    raw: str, doi: str | None
) -> None:
    paper = Paper.from_dict({"id": raw, "title": "Graph Attention Networks"})
    assert paper.id == title_id("Graph Attention Networks")
    assert paper.arxiv_id is None and paper.url_abs is None and paper.url_pdf is None
    assert paper.doi == doi
    # A DOI field of its own wins over the one in the id.
    given = Paper.from_dict({"id": raw, "title": "T", "doi": "10.1000/own"})
    assert given.doi == "10.1000/own"
    # A title id is kept as it is (it may have been derived from an earlier title).
    assert Paper.from_dict({"id": "t-0123456789ab", "title": "T"}).id == "t-0123456789ab"
