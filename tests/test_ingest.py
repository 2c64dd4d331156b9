"""Importers: format detection, read_papers, Hugging Face page / daily, canonical JSON lines.

The arXiv importers (snapshot, Atom) are tested in ``test_ingest_arxiv.py``.
"""

from __future__ import annotations

import gzip
import io
import json
import os
from datetime import date
from pathlib import Path

import pytest

from bot.ingest import (
    FORMAT_SOURCES,
    FORMATS,
    IngestError,
    RecordError,
    UnknownFormatError,
    canonical,
    detect_format,
    hf_daily,
    hf_page,
    read_papers,
)
from bot.models import (
    SOURCE_ARXIV_API,
    SOURCE_ARXIV_SNAPSHOT,
    SOURCE_HF_DAILY,
    SOURCE_HF_PAGE,
    SOURCE_USER,
    Paper,
    title_id,
)

FIXTURES = Path(__file__).parent / "fixtures"
TRENDING = FIXTURES / "trending-may-28.txt"
DAILY = FIXTURES / "daily_papers.sample.json"
DAILY_FULL = FIXTURES / "ingest" / "hf_daily_full.json"
SNAPSHOT = FIXTURES / "arxiv-metadata-oai-snapshot.200.jsonl"
ATOM_DIR = FIXTURES / "arxiv-api"


def papers_of(items: list[Paper | RecordError]) -> list[Paper]:
    assert all(isinstance(i, Paper) for i in items), [i for i in items if not isinstance(i, Paper)]
    return [i for i in items if isinstance(i, Paper)]


def errors_of(items: list[Paper | RecordError]) -> list[RecordError]:
    return [i for i in items if isinstance(i, RecordError)]


@pytest.fixture(scope="module")
def trending() -> list[Paper]:
    return papers_of(list(read_papers(TRENDING)))


# -- detection ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "fmt"),
    [
        (TRENDING, "hf-page"),
        (DAILY, "hf-daily"),
        (DAILY_FULL, "hf-daily"),
        (SNAPSHOT, "arxiv-snapshot"),
        *[(p, "arxiv-atom") for p in sorted(ATOM_DIR.glob("*.xml"))],
        (FIXTURES / "ingest" / "arxiv-api-error.xml", "arxiv-atom"),
    ],
    ids=lambda v: v.name if isinstance(v, Path) else v,
)
def test_detects_every_sample_by_content(path: Path, fmt: str, tmp_path: Path) -> None:
    assert detect_format(path) == fmt
    # The extension plays no part, and gzip is recognised by its magic bytes.
    renamed = tmp_path / "data.bin"
    renamed.write_bytes(path.read_bytes())
    assert detect_format(renamed) == fmt
    packed = tmp_path / "data"
    packed.write_bytes(gzip.compress(path.read_bytes()))
    assert detect_format(packed) == fmt


def test_formats_table_names_every_format_and_source() -> None:
    assert set(FORMATS) == {"hf-page", "hf-daily", "arxiv-snapshot", "arxiv-atom", "jsonl"}
    assert FORMAT_SOURCES == {
        "hf-page": SOURCE_HF_PAGE,
        "hf-daily": SOURCE_HF_DAILY,
        "arxiv-snapshot": SOURCE_ARXIV_SNAPSHOT,
        "arxiv-atom": SOURCE_ARXIV_API,
        "jsonl": SOURCE_USER,
    }
    assert all(FORMATS.values())


def _write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_json_lines_flavours_are_told_apart(tmp_path: Path) -> None:
    snapshot_line = SNAPSHOT.read_text(encoding="utf-8").splitlines()[0]
    ours = json.dumps(Paper.create(title="A title", arxiv_id="2401.00001").to_dict())
    daily_item = json.dumps(json.loads(DAILY.read_text(encoding="utf-8"))[0])
    assert detect_format(_write(tmp_path, "a.jsonl", (snapshot_line + "\n").encode())) == (
        "arxiv-snapshot"
    )
    assert detect_format(_write(tmp_path, "b.jsonl", (ours + "\n").encode())) == "jsonl"
    assert detect_format(_write(tmp_path, "c.jsonl", (daily_item + "\n").encode())) == "hf-daily"
    # A minimal hand-written record of ours is still ours.
    minimal = _write(tmp_path, "d.jsonl", b'{"title": "Only a title"}\n')
    assert detect_format(minimal) == "jsonl"
    # A broken first line does not hide the format of the next ones.
    broken = _write(tmp_path, "e.jsonl", ('{"id": \n' + snapshot_line + "\n").encode())
    assert detect_format(broken) == "arxiv-snapshot"


def test_detects_a_snapshot_whose_first_line_is_longer_than_the_sniff(tmp_path: Path) -> None:
    record = json.loads(SNAPSHOT.read_text(encoding="utf-8").splitlines()[0])
    record["authors"] = ", ".join(f"A. Author{i}" for i in range(20_000))  # ~300 KB line
    path = _write(tmp_path, "big.jsonl", (json.dumps(record) + "\n").encode())
    assert path.stat().st_size > 128 * 1024
    assert detect_format(path) == "arxiv-snapshot"
    (paper,) = papers_of(list(read_papers(path)))
    assert paper.id == "0704.0001"


def test_empty_file_is_unknown(tmp_path: Path) -> None:
    for data in (b"", b"\n\n  \n"):
        path = _write(tmp_path, "empty.txt", data)
        with pytest.raises(UnknownFormatError, match="empty file"):
            detect_format(path)
    with pytest.raises(UnknownFormatError, match="empty file"):
        read_papers(_write(tmp_path, "empty.gz", gzip.compress(b"")))


def test_binary_garbage_is_unknown_and_names_the_formats(tmp_path: Path) -> None:
    path = _write(tmp_path, "noise.jsonl", os.urandom(4096) + b"\x00")
    with pytest.raises(UnknownFormatError) as info:
        detect_format(path)
    message = str(info.value)
    assert str(path) in message
    for name in FORMATS:
        assert name in message


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b"<html><body>502 Bad Gateway</body></html>", "not an Atom feed"),
        (b"just a line of text\n", "does not look like a papers page"),
        ("Caf\xe9 cr\xe8me\n".encode("latin-1"), "not UTF-8"),
        (b'{"name": "x", "value": 3}\n', "none of the known fields"),
        (b'[{"name": "x"}]', "not of Hugging Face daily_papers items"),
        (b"\x89PNG\r\n\x1a\n" + bytes(100), "binary"),
    ],
)
def test_unrecognised_content_is_unknown(tmp_path: Path, data: bytes, why: str) -> None:
    with pytest.raises(UnknownFormatError, match=why):
        detect_format(_write(tmp_path, "mystery", data))


def test_unreadable_files_raise_ingest_error(tmp_path: Path) -> None:
    missing = tmp_path / "missing.jsonl"
    with pytest.raises(IngestError, match=r"missing\.jsonl"):
        detect_format(missing)
    with pytest.raises(IngestError, match=r"missing\.jsonl"):
        read_papers(missing, fmt="jsonl")
    with pytest.raises(UnknownFormatError, match="no format named 'csv'"):
        read_papers(TRENDING, fmt="csv")


def test_read_papers_with_an_explicit_format_skips_detection(tmp_path: Path) -> None:
    # Without the header, a two-line page is still a page when the caller says so.
    path = _write(tmp_path, "p.txt", b"Short Title\n\nA short abstract.\n")
    (paper,) = papers_of(list(read_papers(path, fmt="hf-page")))
    assert (paper.title, paper.abstract, paper.source_rank) == (
        "Short Title",
        "A short abstract.",
        1,
    )


def test_gzipped_files_stream_the_same_papers(tmp_path: Path) -> None:
    for src in (TRENDING, DAILY, SNAPSHOT):
        packed = _write(tmp_path, src.name + ".gz", gzip.compress(src.read_bytes()))
        assert list(read_papers(packed)) == list(read_papers(src))


def test_truncated_gzip_is_an_ingest_error(tmp_path: Path) -> None:
    data = gzip.compress(SNAPSHOT.read_bytes())
    path = _write(tmp_path, "cut.jsonl.gz", data[: len(data) // 2])
    assert detect_format(path) == "arxiv-snapshot"  # the start is intact
    got: list[Paper | RecordError] = []
    with pytest.raises(IngestError, match=r"cut\.jsonl\.gz.*truncated"):
        for item in read_papers(path):
            got.append(item)
    assert 0 < len(got) < 200  # the records before the cut were handed out first
    tiny = _write(tmp_path, "tiny.gz", gzip.compress(TRENDING.read_bytes())[:100])
    with pytest.raises(IngestError, match="truncated"):
        detect_format(tiny)


def test_corrupt_gzip_is_an_ingest_error(tmp_path: Path) -> None:
    data = bytearray(gzip.compress(SNAPSHOT.read_bytes()))
    data[-8:-4] = b"\x00\x00\x00\x00"  # wrong CRC
    path = _write(tmp_path, "crc.jsonl.gz", bytes(data))
    with pytest.raises(IngestError, match=r"crc\.jsonl\.gz"):
        list(read_papers(path))


# -- hf-page --------------------------------------------------------------------------------


def test_trending_page_has_64_papers_in_page_order(trending: list[Paper]) -> None:
    assert len(trending) == 64
    assert [p.source_rank for p in trending] == list(range(1, 65))
    assert [p.title for p in trending[:3]] == [
        "ROICtrl: Boosting Instance Control for Visual Generation",
        "AnyDressing: Customizable Multi-Garment Virtual Dressing via Latent Diffusion Models",
        "ZoomLDM: Latent Diffusion Model for multi-scale image generation",
    ]
    assert trending[-1].title == (
        "DeeDiff: Dynamic Uncertainty-Aware Early Exiting for Accelerating Diffusion Model "
        "Generation"
    )
    assert trending[-1].abstract.endswith("Full code and model are released for reproduction.")


def test_trending_papers_have_title_ids_and_no_invented_fields(trending: list[Paper]) -> None:
    for paper in trending:
        assert paper.id == title_id(paper.title)
        assert paper.arxiv_id is None
        assert paper.source == SOURCE_HF_PAGE
        assert paper.published is None
        assert paper.authors == [] and paper.categories == []
        assert paper.url_abs is None and paper.url_hf is None
        assert len(paper.abstract) > 500
    # No header line leaked in as a title.
    titles = {p.title for p in trending}
    assert not titles & {"new", "Subscribe", "May 28", "byAK and the research community"}


def by_title(papers: list[Paper], start: str) -> Paper:
    (paper,) = [p for p in papers if p.title.startswith(start)]
    return paper


def test_trending_code_and_project_links(trending: list[Paper]) -> None:
    minority = by_title(trending, "Don't Play Favorites")
    assert minority.url_code == "https://github.com/soobin-um/minority-guidance"  # no final "."
    assert minority.url_project is None
    assert minority.abstract.endswith(
        "Code is available at https://github.com/soobin-um/minority-guidance."
    )
    drdm = by_title(trending, "Deformation-Recovery Diffusion Model")
    assert drdm.url_project == "https://jianqingzheng.github.io/def_diff_rec/"
    assert drdm.url_code is None
    # The "{url}" template leftover goes, from the link and from the text.
    ant = [p for p in trending if p.url_project and "ANT_diffusion" in p.url_project]
    assert [p.url_project for p in ant] == ["https://gohyojun15.github.io/ANT_diffusion/"]
    assert "{url}" not in ant[0].abstract
    assert ant[0].abstract.endswith("https://gohyojun15.github.io/ANT_diffusion/.")
    # "https://github.com/x/y ." (space before the stop) and a trailing slash.
    steering = [p for p in trending if p.url_code and "Fk-Diffusion-Steering" in p.url_code]
    assert steering[0].url_code == "https://github.com/zacharyhorvitz/Fk-Diffusion-Steering"
    assert steering[0].abstract.endswith("Fk-Diffusion-Steering.")
    afa = [p for p in trending if p.url_code and "tenvence" in p.url_code]
    assert afa[0].url_code == "https://github.com/tenvence/afa"
    # Every extracted link is clean.
    links = [u for p in trending for u in (p.url_code, p.url_project) if u]
    assert len(links) == 22  # one link in each of 22 abstracts
    assert sum(1 for p in trending if p.url_code) == 18
    for url in links:
        assert url.startswith("https://")
        assert not url.endswith((".", ",", ")")) and "{" not in url
    assert by_title(trending, "ROICtrl").url_code is None


def test_trending_latex_macro_leftovers_are_spelled_out(trending: list[Paper]) -> None:
    roictrl = trending[0]
    assert "\\eg" not in roictrl.abstract
    assert "(e.g., ControlNet, T2I-Adapter)" in roictrl.abstract
    assert "(e.g., IP-Adapter, ED-LoRA)" in roictrl.abstract


def test_iter_papers_works_on_in_memory_lines(trending: list[Paper]) -> None:
    lines = TRENDING.read_text(encoding="utf-8").splitlines()
    assert list(hf_page.iter_papers(lines)) == trending


def test_page_header_variants_and_missing_lines() -> None:
    page = [
        "new",
        "Get trending papers in your email inbox!",
        "Subscribe",
        "byAK and the research community",
        "June 3, 2025",
        "Trending Papers",
        "",
        "First Paper Title",
        "",
        "A" * 40 + " first abstract. " + "It is long enough to read as prose, really. " * 4,
        "",
        "Second Paper Without An Abstract",
        "Third Paper Title",
        "Third abstract, ending in a full stop.",
        "Week of May 26, 2025",
        "This orphan abstract line is long enough that it cannot be a title at all, " * 5,
        "Last Title At The End",
    ]
    items = list(hf_page.iter_papers(page))
    papers = [i for i in items if isinstance(i, Paper)]
    assert [(p.source_rank, p.title) for p in papers] == [
        (1, "First Paper Title"),
        (2, "Second Paper Without An Abstract"),
        (3, "Third Paper Title"),
        (5, "Last Title At The End"),
    ]
    assert papers[1].abstract == "" and papers[3].abstract == ""
    assert papers[2].abstract == "Third abstract, ending in a full stop."
    assert errors_of(items) == [RecordError(16, "abstract without a title line")]


@pytest.mark.parametrize(
    "line",
    ["May 28", "may 28", "June 3, 2025", "28 May 2025", "2025-05-28", "Sep. 1", "Week of May 26"],
)
def test_date_lines_are_chrome(line: str) -> None:
    assert hf_page.is_chrome(line)


@pytest.mark.parametrize(
    "line", ["May the Force Be With You: Diffusion", "ROICtrl: Boosting Instance Control", "2025"]
)
def test_titles_are_not_chrome(line: str) -> None:
    assert not hf_page.is_chrome(line)


@pytest.mark.parametrize(
    ("text", "links"),
    [
        ("Code: https://github.com/a/b.", ("https://github.com/a/b", None)),
        ("(see https://github.com/a/b_(x)).", ("https://github.com/a/b_(x)", None)),
        (
            "Weights at https://huggingface.co/org/model, demo at https://huggingface.co/spaces/o/d",
            ("https://huggingface.co/org/model", "https://huggingface.co/spaces/o/d"),
        ),
        (
            "Paper https://arxiv.org/abs/2401.00001 and https://huggingface.co/papers/2401.00001",
            (None, None),
        ),
        (
            "Project page: https://x.github.io/p/ and code https://gitlab.com/g/r;",
            ("https://gitlab.com/g/r", "https://x.github.io/p/"),
        ),
        ("No links at all.", (None, None)),
    ],
)
def test_extract_links(text: str, links: tuple[str | None, str | None]) -> None:
    assert hf_page.extract_links(text) == links


# -- hf-daily -------------------------------------------------------------------------------


def test_daily_sample_trimmed_shape() -> None:
    papers = papers_of(list(read_papers(DAILY)))
    assert [p.id for p in papers] == [
        "2603.21489",
        "2603.22117",
        "2603.22286",
        "2603.22053",
        "2603.18795",
    ]
    first = papers[0]
    assert first.title == "Effective Strategies for Asynchronous Software Engineering Agents"
    assert first.authors == ["Jiayi Geng", "Graham Neubig"]
    assert first.published == date(2026, 3, 23)
    assert first.abstract.startswith("AI agents have become increasingly capable")
    assert first.ai_summary is not None and first.ai_summary.startswith("Multi-agent collab")
    assert first.ai_keywords[:2] == ["multi-agent collaboration", "software engineering"]
    assert first.url_hf == "https://huggingface.co/papers/2603.21489"
    assert first.url_abs == "https://arxiv.org/abs/2603.21489"
    assert first.source == SOURCE_HF_DAILY
    assert first.upvotes is None and first.url_code is None
    assert [p.source_rank for p in papers] == [1, 2, 3, 4, 5]
    assert papers[4].published == date(2026, 3, 19)


def test_daily_full_shape_social_fields_and_withdrawn() -> None:
    items = list(read_papers(DAILY_FULL))
    assert len(items) == 3
    swe, clap, withdrawn = items
    assert isinstance(swe, Paper) and isinstance(clap, Paper)
    assert swe.upvotes == 42
    assert swe.url_code == "https://github.com/JiayiGeng/async-swe-agents"
    assert swe.url_project is None
    # A hidden author is one without a Hugging Face account: still an author.
    assert swe.authors == ["Jiayi Geng", "Graham Neubig", "Lukáš Novák"]
    # paper.publishedAt (arXiv), not the top-level publishedAt (daily list day).
    assert swe.published == date(2026, 3, 23)
    assert clap.upvotes == 7
    assert clap.url_project == "https://animalclap.github.io/" and clap.url_code is None
    assert isinstance(withdrawn, RecordError)
    assert withdrawn.paper_id == "2603.18795"
    assert "withdrawn" in withdrawn.reason and "2026-03-25" in withdrawn.reason
    assert withdrawn.line > 1


def test_daily_json_lines_and_array_agree(tmp_path: Path) -> None:
    items = json.loads(DAILY.read_text(encoding="utf-8"))
    lines = "\n".join(json.dumps(i) for i in items) + "\n"
    path = _write(tmp_path, "daily.jsonl", lines.encode())
    assert detect_format(path) == "hf-daily"
    assert list(read_papers(path)) == list(read_papers(DAILY))
    assert list(hf_daily.iter_papers(items)) == list(read_papers(DAILY))


def test_daily_array_errors_carry_the_item_line() -> None:
    text = DAILY.read_text(encoding="utf-8")
    items = json.loads(text)
    del items[2]["paper"]["title"]
    items[3]["paper"]["upvotes"] = "12"
    body = json.dumps(items, indent=1)
    got = hf_daily.parse_bytes(body.encode())
    errors = errors_of(got)
    assert [e.reason for e in errors] == [
        "missing 'title'",
        "'paper.upvotes' must be a non-negative integer",
    ]
    lines = body.splitlines()
    for err in errors:
        assert lines[err.line - 1].strip() == "{"  # the line where the item starts
    assert errors[0].paper_id == "2603.22286"
    assert len([i for i in got if isinstance(i, Paper)]) == 3


def test_daily_record_errors_for_wrong_types() -> None:
    good = json.loads(DAILY.read_text(encoding="utf-8"))[0]
    cases: list[tuple[object, str]] = [
        ("not an item", "item is not a JSON object"),
        ({"paper": [1, 2]}, "'paper' must be an object"),
        ({"paper": {**good["paper"], "id": 2603}}, "'paper.id' must be a string"),
        ({"paper": {**good["paper"], "title": ["x"]}}, "'title' must be a string"),
        ({"paper": {**good["paper"], "title": "  "}}, "missing 'title' (empty)"),
        ({"paper": {**good["paper"], "authors": "Jiayi Geng"}}, "'paper.authors' must be"),
        (
            {"paper": {**good["paper"], "publishedAt": "yesterday"}},
            "'paper.publishedAt' is not a date",
        ),
        ({"paper": {**good["paper"], "ai_keywords": [1]}}, "'paper.ai_keywords' must be"),
        ({"paper": {**good["paper"], "githubRepo": 5}}, "'paper.githubRepo' must be"),
        ({"paper": {**good["paper"], "upvotes": -1}}, "'paper.upvotes' must be a non-negative"),
        ({"paper": {**good["paper"], "upvotes": True}}, "'paper.upvotes' must be a non-negative"),
    ]
    results = list(hf_daily.iter_papers([c for c, _ in cases] + [good]))
    for (_, reason), got in zip(cases, results, strict=False):
        assert isinstance(got, RecordError), reason
        assert got.reason.startswith(reason), (got.reason, reason)
    assert [e.line for e in errors_of(results)] == list(range(1, len(cases) + 1))
    assert isinstance(results[-1], Paper)


def test_daily_bare_paper_objects_and_owner_repo_links() -> None:
    paper = {
        "id": "2401.00001",
        "title": "A Bare Paper",
        "summary": "Text.",
        "githubRepo": "owner/repo",
        "projectPage": "  ",
        "upvotes": 0,
    }
    (got,) = hf_daily.iter_papers([paper])
    assert isinstance(got, Paper)
    assert (got.id, got.url_code, got.url_project, got.upvotes) == (
        "2401.00001",
        "https://github.com/owner/repo",
        None,
        0,
    )


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (b"", "empty"),
        (b"   \n", "empty"),
        (b"<!DOCTYPE html><html><title>503</title></html>", "HTML"),
        (b'[{"paper": {"id": "2401.00001", "title": "x"}}, {"pa', "invalid JSON"),
        (b'[{"paper": {"id": "2401.00001", "title": "x"}}', "truncated"),
        (b'{"error": "Invalid date"}', "API error: 'Invalid date'"),
        (b"\xff\xfe[]", "not UTF-8"),
        (b"null", "not JSON"),
        (b"[] []", "extra data"),
    ],
)
def test_daily_parse_bytes_rejects_bad_bodies(body: bytes, why: str) -> None:
    with pytest.raises(IngestError, match=why):
        hf_daily.parse_bytes(body)


def test_daily_parse_bytes_accepts_empty_list_and_single_item() -> None:
    assert hf_daily.parse_bytes(b"[]\n") == []
    item = json.loads(DAILY.read_text(encoding="utf-8"))[1]
    (paper,) = hf_daily.parse_bytes(json.dumps(item, indent=2).encode())
    assert isinstance(paper, Paper) and paper.id == "2603.22117"


def test_daily_truncated_array_file_fails_before_any_paper(tmp_path: Path) -> None:
    data = DAILY.read_bytes()
    path = _write(tmp_path, "daily.json", data[: len(data) - 40])
    assert detect_format(path) == "hf-daily"
    iterator = read_papers(path)
    with pytest.raises(IngestError, match=r"daily\.json"):
        next(iterator)


def test_empty_daily_list_file_yields_nothing(tmp_path: Path) -> None:
    path = _write(tmp_path, "weekend.json", b"[]\n")
    assert detect_format(path) == "hf-daily"
    assert list(read_papers(path)) == []


# -- canonical jsonl ------------------------------------------------------------------------


def test_canonical_round_trip_of_every_source(trending: list[Paper]) -> None:
    papers = [
        *trending[:3],
        *[i for i in read_papers(DAILY_FULL) if isinstance(i, Paper)],
        *papers_of(list(read_papers(SNAPSHOT)))[:3],
        *papers_of(list(read_papers(ATOM_DIR / "id_1605.08386_s0_m100_199195aa31ad.xml"))),
    ]
    buffer = io.StringIO()
    assert canonical.write_jsonl(papers, buffer) == len(papers)
    text = buffer.getvalue()
    assert "Balázs" in text  # UTF-8, not \u escapes
    assert list(canonical.iter_papers(text.splitlines())) == papers
    assert {p.source for p in papers} == {
        SOURCE_HF_PAGE,
        SOURCE_HF_DAILY,
        SOURCE_ARXIV_SNAPSHOT,
        SOURCE_ARXIV_API,
    }


def test_canonical_file_is_detected_and_read(tmp_path: Path, trending: list[Paper]) -> None:
    path = tmp_path / "mine.jsonl"
    with path.open("w", encoding="utf-8") as out:
        canonical.write_jsonl(trending, out)
    assert detect_format(path) == "jsonl"
    assert list(read_papers(path)) == trending


def test_canonical_source_is_kept_only_when_known() -> None:
    lines = [
        json.dumps({"title": "Mine"}),
        json.dumps({"title": "From HF", "source": "hf-daily", "upvotes": 3}),
        json.dumps({"title": "Typo", "source": "arxiv-snapsot"}),
        json.dumps({"title": "Null", "source": None, "abstract": None}),
    ]
    papers = papers_of(list(canonical.iter_papers(lines)))
    assert [p.source for p in papers] == [SOURCE_USER, SOURCE_HF_DAILY, SOURCE_USER, SOURCE_USER]
    assert papers[1].upvotes == 3
    assert papers[3].abstract == ""


def test_canonical_ids() -> None:
    lines = [
        json.dumps({"id": "2202.12139v2", "title": "Versioned"}),
        json.dumps({"id": "my-own-id", "title": "Custom"}),
        json.dumps({"id": "  ", "title": "Blank id"}),
        json.dumps({"title": "No id"}),
    ]
    papers = papers_of(list(canonical.iter_papers(lines)))
    assert [p.id for p in papers] == [
        "2202.12139",
        title_id("Custom"),  # not an arXiv id: known by its title (tests/test_models.py)
        title_id("Blank id"),
        title_id("No id"),
    ]
    assert papers[0].url_pdf == "https://arxiv.org/pdf/2202.12139"


def test_canonical_malformed_lines(tmp_path: Path) -> None:
    good = json.dumps(Paper.create(title="Good one", arxiv_id="2401.00002").to_dict())
    lines = [
        good,
        '{"title": "cut off", "abstr',
        "",
        json.dumps({"abstract": "no title"}),
        json.dumps({"title": "x", "colour": "red"}),
        json.dumps({"title": "x", "authors": "Ann Author"}),
        json.dumps({"title": "x", "published": "last year"}),
        json.dumps({"title": "x", "upvotes": -2}),
        json.dumps({"id": 7, "title": "x"}),
        "[1, 2]",
        good.replace("Good one", "Good two"),
    ]
    data = ("\n".join(lines) + "\n").encode()
    data = data.replace(b'"x", "colour"', b'"x\xff", "colour"')  # one line with a bad byte
    path = _write(tmp_path, "mixed.jsonl", data)
    assert detect_format(path) == "jsonl"
    items = list(read_papers(path))
    assert [p.title for p in items if isinstance(p, Paper)] == ["Good one", "Good two"]
    assert [(e.line, e.reason.split(":")[0]) for e in errors_of(items)] == [
        (2, "invalid JSON"),
        (4, "missing 'title'"),
        (5, "invalid UTF-8 (byte 13 of the line)"),
        (6, "'authors' must be a list of strings"),
        (7, "'published' is not a date"),
        (8, "'upvotes' must be a non-negative integer"),
        (9, "'id' must be a string"),
        (10, "record is not a JSON object"),
    ]
    # Without the bad byte, the unknown field is reported by Paper.from_dict.
    (err,) = errors_of(list(canonical.iter_papers([lines[4]])))
    assert err.reason == "unknown field(s): colour"


def test_record_error_str_names_the_line() -> None:
    assert str(RecordError(12, "missing 'title'")) == "line 12: missing 'title'"


def test_daily_json_lines_with_a_bad_byte_lose_only_that_line(tmp_path: Path) -> None:
    items = json.loads(DAILY.read_text(encoding="utf-8"))
    lines = [json.dumps(i, ensure_ascii=False).encode() for i in items]
    lines[1] = lines[1].replace(b"RLVR", b"RL\xffR", 1)
    path = _write(tmp_path, "daily.jsonl", b"\n".join(lines) + b"\n")
    got = list(read_papers(path))
    assert [type(i).__name__ for i in got] == ["Paper", "RecordError", "Paper", "Paper", "Paper"]
    assert isinstance(got[1], RecordError) and got[1].line == 2
    assert got[1].reason.startswith("invalid UTF-8")
