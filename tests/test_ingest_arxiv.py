"""arXiv importers: the metadata snapshot (JSON lines) and API responses (Atom)."""

from __future__ import annotations

import gzip
import io
import json
from datetime import date
from pathlib import Path

import pytest

from bot.ingest import (
    ArxivApiError,
    IngestError,
    RecordError,
    arxiv_atom,
    arxiv_snapshot,
    detect_format,
    read_papers,
)
from bot.models import SOURCE_ARXIV_API, SOURCE_ARXIV_SNAPSHOT, Paper

FIXTURES = Path(__file__).parent / "fixtures"
SNAPSHOT = FIXTURES / "arxiv-metadata-oai-snapshot.200.jsonl"
ATOM_DIR = FIXTURES / "arxiv-api"
ATOM_SEARCH = ATOM_DIR / "q_testing_s0_m100_cfe7536492ca.xml"
ATOM_ONE = ATOM_DIR / "id_1605.08386_s0_m100_199195aa31ad.xml"
ATOM_TWO_IDS = ATOM_DIR / "id_0808.05394_1707.08567_s0_m100_42e5aa0ec3af.xml"
ATOM_EMPTY = ATOM_DIR / "id_0000.0000_s0_m100_8b51d9633a68.xml"
ATOM_ERROR = FIXTURES / "ingest" / "arxiv-api-error.xml"


def only_papers(items: list[Paper | RecordError]) -> list[Paper]:
    assert all(isinstance(i, Paper) for i in items), [i for i in items if not isinstance(i, Paper)]
    return [i for i in items if isinstance(i, Paper)]


@pytest.fixture(scope="module")
def snapshot() -> list[Paper]:
    return only_papers(list(read_papers(SNAPSHOT)))


def snapshot_lines() -> list[str]:
    return SNAPSHOT.read_text(encoding="utf-8").splitlines()


# -- snapshot -------------------------------------------------------------------------------


def test_snapshot_sample_loads_all_200(snapshot: list[Paper]) -> None:
    assert len(snapshot) == 200
    assert snapshot[0].id == "0704.0001" and snapshot[-1].id == "0704.0200"
    assert len({p.id for p in snapshot}) == 200
    assert all(p.source == SOURCE_ARXIV_SNAPSHOT for p in snapshot)
    for paper in snapshot:
        assert "\n" not in paper.title and "  " not in paper.title
        assert "\n" not in paper.abstract and "  " not in paper.abstract
        assert paper.abstract == paper.abstract.strip() and paper.abstract
        assert paper.published is not None and paper.categories and paper.authors


def test_snapshot_first_record(snapshot: list[Paper]) -> None:
    first = snapshot[0]
    assert first.title == (
        "Calculation of prompt diphoton production cross sections at Tevatron and LHC energies"
    )
    # authors_parsed is Unicode ("Bal\\'azs" in the LaTeX author string).
    assert first.authors == ["C. Balázs", "E. L. Berger", "P. M. Nadolsky", "C. -P. Yuan"]
    assert first.published == date(2007, 4, 2)  # v1: "Mon, 2 Apr 2007 19:18:42 GMT"
    assert first.categories == ["hep-ph"]
    assert first.abstract.startswith(
        "A fully differential calculation in perturbative quantum chromodynamics is presented "
        "for the production of massive photon pairs at hadron colliders."
    )
    assert first.abstract.endswith("judicious selection of events.")
    assert first.url_abs == "https://arxiv.org/abs/0704.0001"
    assert first.url_pdf == "https://arxiv.org/pdf/0704.0001"
    assert first.url_hf == "https://huggingface.co/papers/0704.0001"


def test_snapshot_categories_dates_and_author_shapes(snapshot: list[Paper]) -> None:
    second = snapshot[1]
    assert second.title == "Sparsity-certifying Graph Decompositions"
    assert second.categories == ["math.CO", "cs.CG"]  # primary first
    assert second.authors == ["Ileana Streinu", "Louis Theran"]
    assert second.published == date(2007, 3, 31)
    # A suffix ([last, first, suffix]) and a fourth element (affiliation), which is dropped.
    assert any("Neal J. Evans II" in p.authors for p in snapshot)
    affiliated = [p for p in snapshot if "A. S. Mishchenko" in p.authors]
    assert affiliated and all("1 and 2" not in a for a in affiliated[0].authors)


def test_snapshot_fast_path_equals_paper_create(snapshot: list[Paper]) -> None:
    # parse_record builds Paper directly for speed; it must match what Paper.create makes.
    for paper in snapshot[:20]:
        expected = Paper.create(
            title=paper.title,
            arxiv_id=paper.id,
            abstract=paper.abstract,
            authors=paper.authors,
            published=paper.published,
            categories=paper.categories,
            source=SOURCE_ARXIV_SNAPSHOT,
            doi=paper.doi,
            journal_ref=paper.journal_ref,
        )
        assert paper == expected


def test_snapshot_iter_papers_in_memory(snapshot: list[Paper]) -> None:
    assert list(arxiv_snapshot.iter_papers(snapshot_lines())) == snapshot


def test_snapshot_old_style_ids_and_unusual_dates() -> None:
    record = json.loads(snapshot_lines()[0])
    record["id"] = "hep-th/9901001"
    record["versions"] = [
        {"version": "v2", "created": "Tue, 5 Jan 1999 10:00:00 GMT"},
        {"version": "v1", "created": "4 Jan 1999 09:00:00 GMT"},  # no weekday
    ]
    paper = arxiv_snapshot.parse_record(record, 1)
    assert isinstance(paper, Paper)
    assert paper.id == "hep-th/9901001"
    assert paper.published == date(1999, 1, 4)
    assert paper.url_abs == "https://arxiv.org/abs/hep-th/9901001"


def _mutated(change: dict[str, object], drop: str | None = None) -> str:
    record = json.loads(snapshot_lines()[5])
    record.update(change)
    if drop:
        del record[drop]
    return json.dumps(record)


def test_snapshot_malformed_records_are_reported_and_skipped(tmp_path: Path) -> None:
    lines = snapshot_lines()
    bad = [
        (lines[3][: len(lines[3]) // 2], "invalid JSON"),
        (_mutated({}, drop="title"), "missing 'title'"),
        (_mutated({"title": "  \n "}), "missing 'title' (empty)"),
        (_mutated({"title": 42}), "'title' must be a string"),
        (_mutated({"id": "not-an-id"}), "'id' is not an arXiv id: 'not-an-id'"),
        (_mutated({"categories": ["hep-ph"]}), "'categories' must be a space separated string"),
        (_mutated({"versions": []}), "'versions' has no valid v1 'created' date"),
        (_mutated({"versions": [{"version": "v1", "created": "soon"}]}), "'versions' has no"),
        (_mutated({"authors_parsed": "Balázs, C."}), "'authors_parsed' must be a list"),
        (_mutated({"authors_parsed": [["Solo"]]}), "'authors_parsed' must be a list"),
        (_mutated({"abstract": None}), "'abstract' must be a string"),
        (_mutated({}, drop="versions"), "missing 'versions'"),
        ("[]", "record is not a JSON object"),
    ]
    content = [lines[0], "", *[b for b, _ in bad], lines[1]]
    path = tmp_path / "broken.jsonl"
    path.write_text("\n".join(content) + "\n", encoding="utf-8")
    assert detect_format(path) == "arxiv-snapshot"
    items = list(read_papers(path))
    papers = [i for i in items if isinstance(i, Paper)]
    errors = [i for i in items if isinstance(i, RecordError)]
    assert [p.id for p in papers] == ["0704.0001", "0704.0002"]
    assert len(errors) == len(bad)
    for (_, reason), err, lineno in zip(bad, errors, range(3, 3 + len(bad)), strict=True):
        assert err.line == lineno
        assert err.reason.startswith(reason), (err.reason, reason)
    assert errors[1].paper_id == "0704.0006"  # the id is known even when the title is not


def test_snapshot_invalid_utf8_line_is_one_record_error(tmp_path: Path) -> None:
    lines = [line.encode() for line in snapshot_lines()[:5]]
    lines[2] = lines[2].replace(b"Evolution", b"Evol\xe9tion", 1).replace(b"the ", b"th\xe9 ", 1)
    path = tmp_path / "latin1.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    items = list(read_papers(path))
    assert [type(i).__name__ for i in items] == ["Paper", "Paper", "RecordError", "Paper", "Paper"]
    err = items[2]
    assert isinstance(err, RecordError) and err.line == 3
    assert err.reason.startswith("invalid UTF-8")


def test_snapshot_gzip_and_blank_lines(tmp_path: Path, snapshot: list[Paper]) -> None:
    data = SNAPSHOT.read_bytes().replace(b"\n", b"\n\n", 3)
    path = tmp_path / "snap.json.gz"
    path.write_bytes(gzip.compress(data))
    assert list(read_papers(path)) == snapshot


def test_snapshot_truncated_gzip_stops_with_ingest_error(tmp_path: Path) -> None:
    data = gzip.compress(SNAPSHOT.read_bytes() * 3)
    path = tmp_path / "snap.jsonl.gz"
    path.write_bytes(data[: int(len(data) * 0.8)])
    seen = 0
    with pytest.raises(IngestError, match=r"snap\.jsonl\.gz: cannot read past line \d+"):
        for item in read_papers(path):
            assert isinstance(item, Paper | RecordError)
            seen += 1
    assert 200 < seen < 600


# -- Atom -----------------------------------------------------------------------------------


def test_atom_search_response() -> None:
    info = arxiv_atom.FeedInfo()
    with ATOM_SEARCH.open("rb") as stream:
        papers = only_papers(list(arxiv_atom.iter_papers(stream, info)))
    assert (info.total_results, info.start_index, info.items_per_page) == (214881, 0, 100)
    assert len(papers) == 100
    first = papers[0]
    assert first.id == "2202.12139"  # "2202.12139v1" without its version
    assert first.title == (
        "Testing Deep Learning Models: A First Comparative Study of Multiple Testing Techniques"
    )
    assert first.authors == ["Mohit Kumar Ahuja", "Arnaud Gotlieb", "Helge Spieker"]
    assert first.published == date(2022, 2, 24)
    assert first.categories == ["cs.SE", "cs.LG"]
    assert first.url_abs == "https://arxiv.org/abs/2202.12139"
    assert first.url_pdf == "https://arxiv.org/pdf/2202.12139"
    assert first.url_hf == "https://huggingface.co/papers/2202.12139"
    assert first.abstract.startswith("Deep Learning (DL) has revolutionized")
    assert first.source == SOURCE_ARXIV_API
    for paper in papers:
        assert paper.arxiv_id == paper.id and "v" not in paper.id.rpartition(".")[2]
        assert "\n" not in paper.title and "\n" not in paper.abstract
        assert paper.published is not None and paper.categories


def test_atom_primary_category_comes_first() -> None:
    body = ATOM_ONE.read_bytes().replace(
        b'<arxiv:primary_category term="math.CO"/>', b'<arxiv:primary_category term="math.ST"/>'
    )
    (paper,) = only_papers(arxiv_atom.parse_bytes(body))
    assert paper.categories == ["math.ST", "math.CO"]


def test_atom_single_and_partial_lookups() -> None:
    (heat,) = only_papers(list(read_papers(ATOM_ONE)))
    assert heat.id == "1605.08386"
    assert heat.title == "Heat-bath random walks with Markov bases"
    assert heat.authors == ["Caprice Stanley", "Tobias Windisch"]
    assert heat.categories == ["math.CO", "math.ST"]
    assert heat.published == date(2016, 5, 26)
    # Two ids asked, one found (0808.05394 does not exist).
    body = ATOM_TWO_IDS.read_bytes()
    (proc,) = only_papers(arxiv_atom.parse_bytes(body))
    assert proc.id == "1707.08567"
    assert len(proc.authors) == 34
    assert proc.authors[0] == "Kees A. Schouhamer Immink"
    assert proc.authors[-1] == "Hirosuke Yamamoto"
    assert proc.categories == ["cs.IT"]
    assert arxiv_atom.feed_total(body) == 1


def test_atom_empty_response_is_not_an_error() -> None:
    body = ATOM_EMPTY.read_bytes()
    assert arxiv_atom.parse_bytes(body) == []
    assert arxiv_atom.feed_total(body) == 0
    assert list(read_papers(ATOM_EMPTY)) == []


def test_atom_error_feed_raises() -> None:
    body = ATOM_ERROR.read_bytes()
    with pytest.raises(ArxivApiError, match=r"incorrect id format for 1234\.12345"):
        arxiv_atom.parse_bytes(body)
    assert arxiv_atom.feed_total(body) == 1
    with pytest.raises(ArxivApiError, match=r"arxiv-api-error\.xml: arXiv API error"):
        list(read_papers(ATOM_ERROR))
    assert issubclass(ArxivApiError, IngestError)


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (b"", "empty response"),
        (b"  \n", "empty response"),
        (
            b"<html><body>Service Unavailable</body></html>",
            r"not an Atom feed \(root element <html>\)",
        ),
        (b"Rate exceeded.", "invalid XML: syntax error"),
        (ATOM_ONE.read_bytes()[:900], "invalid XML"),
        (
            b'<?xml version="1.0"?><!DOCTYPE feed [<!ENTITY a "aaaa">]>'
            b'<feed xmlns="http://www.w3.org/2005/Atom">&a;</feed>',
            "DOCTYPE",
        ),
    ],
)
def test_atom_garbage_raises_ingest_error(body: bytes, why: str) -> None:
    with pytest.raises(IngestError, match=why):
        arxiv_atom.parse_bytes(body)


def test_atom_feed_total_of_garbage_raises() -> None:
    with pytest.raises(IngestError):
        arxiv_atom.feed_total(b"<html>oops</html>")
    with pytest.raises(IngestError):
        arxiv_atom.feed_total(b"not xml")


def test_atom_bad_entries_are_record_errors_with_their_line() -> None:
    text = ATOM_ONE.read_text(encoding="utf-8")
    entry = text[text.index("  <entry>") : text.index("</feed>")]
    bad_id = entry.replace("http://arxiv.org/abs/1605.08386v1", "urn:nothing")
    no_title = entry.replace("<title>Heat-bath random walks with Markov bases</title>", "")
    body = text.replace(entry, entry + bad_id + no_title)
    items = arxiv_atom.parse_bytes(body.encode())
    assert [type(i).__name__ for i in items] == ["Paper", "RecordError", "RecordError"]
    first_line = text[: text.index("  <entry>")].count("\n") + 1
    entry_lines = entry.count("\n")
    err_id, err_title = items[1], items[2]
    assert isinstance(err_id, RecordError) and isinstance(err_title, RecordError)
    assert err_id.line == first_line + entry_lines
    assert err_id.reason == "<id> is not an arXiv URL: 'urn:nothing'"
    assert err_title.reason == "missing 'title'" and err_title.paper_id == "1605.08386"


def test_atom_streams_in_small_chunks() -> None:
    class Trickle(io.RawIOBase):
        """Hands out at most 7 bytes per read, like a slow socket."""

        def __init__(self, data: bytes) -> None:
            self.inner = io.BytesIO(data)

        def read(self, size: int = -1) -> bytes:
            return self.inner.read(7 if size < 0 else min(size, 7))

    body = ATOM_SEARCH.read_bytes()
    assert list(arxiv_atom.iter_papers(Trickle(body))) == arxiv_atom.parse_bytes(body)


def test_atom_gzipped_file(tmp_path: Path) -> None:
    path = tmp_path / "search.xml.gz"
    path.write_bytes(gzip.compress(ATOM_SEARCH.read_bytes()))
    assert detect_format(path) == "arxiv-atom"
    assert len(list(read_papers(path))) == 100
