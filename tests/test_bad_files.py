"""Odd files in ``data/`` never stop the bot: whatever breaks in one file becomes that file's
one-line error (or one record's), and the other files load.

Real files on disk, a real store; the bad content is built from the real fixtures.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.ingest import (
    IngestError,
    RecordError,
    UnknownFormatError,
    detect_format,
    hf_daily,
    read_papers,
)
from bot.models import Paper, record_problem
from bot.store.loader import load_data_dir, load_file
from tests.helpers_store import ARXIV_API, DAILY, SNAPSHOT, TRENDING, make_store, write_jsonl

ATOM = ARXIV_API / "id_1605.08386_s0_m100_199195aa31ad.xml"
HUGE = 10_000_000_000_000_000_000  # past SQLite's 64-bit integers
DEEP = 100_000


def deep_json(depth: int = DEEP) -> str:
    return "[" * depth + "]" * depth


def snapshot_lines() -> list[str]:
    return SNAPSHOT.read_text(encoding="utf-8").splitlines()


def items(path: Path) -> list[Paper | RecordError]:
    return list(read_papers(path))


def errors(got: list[Paper | RecordError]) -> list[RecordError]:
    return [i for i in got if isinstance(i, RecordError)]


def papers(got: list[Paper | RecordError]) -> list[Paper]:
    return [i for i in got if isinstance(i, Paper)]


# -- the three crashes of the issue, one by one ------------------------------------------------


def test_a_file_of_only_non_breaking_spaces_is_an_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "nbsp.txt"
    path.write_bytes("\u00a0\u00a0\u00a0\n\u00a0\u2003 \n\u00a0".encode())
    with pytest.raises(UnknownFormatError, match="empty"):
        detect_format(path)


async def test_a_huge_upvote_count_is_one_rejected_record(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "papers.jsonl",
        [
            {"id": "2401.00001", "title": "First paper"},
            {"id": "2401.00002", "title": "Second paper", "upvotes": 12},
            f'{{"id": "2401.00003", "title": "Third paper", "upvotes": {HUGE}}}',
            {"id": "2401.00004", "title": "Fourth paper"},
        ],
    )
    store = await make_store(tmp_path)
    try:
        report = await load_file(store, path)
        assert (report.new, report.rejected) == (3, 1)
        (err,) = report.errors
        assert str(err) == f"line 3: 'upvotes' {HUGE} is out of range (0 to 1,000,000,000)"
        assert err.paper_id == "2401.00003"
        assert await store.papers.get("2401.00003") is None
        second = await store.papers.get("2401.00002")
        assert second is not None and second.upvotes == 12
    finally:
        await store.close()


@pytest.mark.parametrize("where", ["first line", "after good lines"])
def test_json_nested_100000_deep_is_one_rejected_record(tmp_path: Path, where: str) -> None:
    good = [json.dumps({"id": f"2401.0000{i}", "title": f"Paper {i}"}) for i in range(1, 3)]
    deep = '{"title": "deep", "authors": ' + deep_json() + "}"
    lines = [deep, *good] if where == "first line" else [*good, deep]
    path = write_jsonl(tmp_path / "deep.jsonl", lines)
    got = items(path)
    assert [p.title for p in papers(got)] == ["Paper 1", "Paper 2"]
    (err,) = errors(got)
    assert err.line == lines.index(deep) + 1
    assert err.reason == "invalid JSON: nested too deeply"


# -- numbers are range-checked in every format --------------------------------------------------


def _snapshot_with(tmp_path: Path, old: str, new: str) -> Path:
    lines = snapshot_lines()[:3]
    assert old in lines[1]
    lines[1] = lines[1].replace(old, new, 1)
    return write_jsonl(tmp_path / "snap.jsonl", lines)


def _daily_with(tmp_path: Path, key: str, value: object) -> Path:
    data = json.loads(DAILY.read_text(encoding="utf-8"))[:3]
    data[1]["paper"][key] = value
    path = tmp_path / "daily.json"
    path.write_text(json.dumps(data, indent=2), encoding="utf-8")
    return path


def _atom_with(tmp_path: Path, old: str, new: str) -> Path:
    text = ATOM.read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / "feed.xml"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path


OUT_OF_RANGE = {
    "jsonl upvotes": (
        lambda t: write_jsonl(t / "p.jsonl", [{"title": "A paper", "upvotes": HUGE}]),
        f"'upvotes' {HUGE} is out of range",
    ),
    "jsonl upvotes past a billion": (
        lambda t: write_jsonl(t / "p.jsonl", [{"title": "A paper", "upvotes": 10**9 + 1}]),
        "'upvotes' 1000000001 is out of range",
    ),
    "jsonl source_rank": (
        lambda t: write_jsonl(t / "p.jsonl", [{"title": "A paper", "source_rank": 2**64}]),
        f"'source_rank' {2**64} is out of range",
    ),
    "jsonl published in year 1": (
        lambda t: write_jsonl(t / "p.jsonl", [{"title": "A paper", "published": "0001-01-01"}]),
        "'published' 0001-01-01 is out of range",
    ),
    "jsonl published in year 9999": (
        lambda t: write_jsonl(t / "p.jsonl", [{"title": "A paper", "published": "9999-12-31"}]),
        "'published' 9999-12-31 is out of range",
    ),
    "hf-daily upvotes": (
        lambda t: _daily_with(t, "upvotes", HUGE),
        f"'paper.upvotes' {HUGE} is out of range",
    ),
    "hf-daily publishedAt": (
        lambda t: _daily_with(t, "publishedAt", "9999-03-23T00:00:00.000Z"),
        "'paper.publishedAt' 9999-03-23 is out of range",
    ),
    "arxiv-snapshot v1 date": (
        lambda t: _snapshot_with(
            t, '"created":"', '"created":"Mon, 2 Apr 9999 00:00:00 GMT","x":"'
        ),
        "v1 'created' date 9999-04-02 is out of range",
    ),
    "arxiv-atom published": (
        lambda t: _atom_with(t, "<published>2016", "<published>9016"),
        "<published> 9016-05-26 is out of range",
    ),
}


@pytest.mark.parametrize("case", list(OUT_OF_RANGE))
def test_out_of_range_numbers_are_record_errors(tmp_path: Path, case: str) -> None:
    make, why = OUT_OF_RANGE[case]
    got = items(make(tmp_path))
    (err,) = errors(got)
    assert why in err.reason
    assert "\n" not in str(err) and len(str(err)) < 200


def test_numbers_at_the_edges_of_the_range_are_kept(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "edges.jsonl",
        [
            {"title": "Zero", "upvotes": 0, "source_rank": 0, "published": "1800-01-01"},
            {"title": "Many", "upvotes": 10**9, "source_rank": 10**9, "published": "2026-01-01"},
        ],
    )
    got = items(path)
    assert errors(got) == []
    assert [p.upvotes for p in papers(got)] == [0, 10**9]


def test_a_number_of_thousands_of_digits_is_a_record_error(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "digits.jsonl",
        [
            '{"title": "Too many digits", "upvotes": ' + "9" * 5000 + "}",
            {"title": "Fine"},
        ],
    )
    got = items(path)
    assert [p.title for p in papers(got)] == ["Fine"]
    (err,) = errors(got)
    assert err.line == 1 and err.reason == "invalid JSON: a number with too many digits"


@pytest.mark.parametrize("fmt", ["arxiv-snapshot", "hf-daily lines", "jsonl"])
def test_deep_json_is_a_record_error_in_every_json_lines_format(tmp_path: Path, fmt: str) -> None:
    if fmt == "arxiv-snapshot":
        lines = snapshot_lines()[:2]
        lines.insert(1, '{"id": "0704.9999", "versions": ' + deep_json() + "}")
    elif fmt == "hf-daily lines":
        lines = [json.dumps(i) for i in json.loads(DAILY.read_text(encoding="utf-8"))[:2]]
        lines.insert(1, '{"paper": ' + deep_json() + "}")
    else:
        lines = [json.dumps({"title": "A"}), deep_json(), json.dumps({"title": "B"})]
    path = write_jsonl(tmp_path / "deep.jsonl", lines)
    got = items(path)
    assert len(papers(got)) == 2
    (err,) = errors(got)
    assert err.line == 2 and "nested too deeply" in err.reason


def test_deep_json_in_a_daily_array_fails_the_file_clearly(tmp_path: Path) -> None:
    data = json.loads(DAILY.read_text(encoding="utf-8"))[:2]
    text = json.dumps(data)
    path = tmp_path / "daily.json"
    path.write_text(text[:-1] + ", " + deep_json() + "]", encoding="utf-8")
    with pytest.raises(IngestError, match="nested too deeply"):
        items(path)
    with pytest.raises(IngestError, match="nested too deeply"):
        hf_daily.parse_bytes(path.read_bytes())
    with pytest.raises(IngestError, match="nested too deeply"):
        hf_daily.parse_bytes(b'{"paper": ' + deep_json().encode() + b"}")


def test_deep_values_inside_a_record_never_reach_an_error_message(tmp_path: Path) -> None:
    # Shallow enough for the JSON parser, too deep to print: the reason stays one short line.
    nested = deep_json(500)
    lines = [
        '{"id": ' + nested + ', "title": "t", "abstract": "", "categories": "cs", '
        '"versions": [], "authors_parsed": [], "update_date": "2020-01-01"}',
        '{"title": "t", "paper": {"id": "2401.00001", "title": "x", "withdrawnAt": '
        + nested
        + "}}",
        '{"title": "t", "paper": {"title": "x", "publishedAt": "' + "9" * 10_000 + '"}}',
    ]
    for i, line in enumerate(lines):
        path = tmp_path / f"case{i}.jsonl"
        path.write_text(line + "\n", encoding="utf-8")
        (err,) = errors(items(path))
        assert len(err.reason) < 200, err.reason


@pytest.mark.parametrize("fmt", ["jsonl", "arxiv-snapshot", "hf-daily lines"])
def test_a_lone_surrogate_is_a_record_error_not_a_failed_file(tmp_path: Path, fmt: str) -> None:
    # "\\ud800" is valid JSON but no UTF-8 text: SQLite refused it and the whole file failed.
    if fmt == "jsonl":
        lines = ['{"id": "2401.00001", "title": "Broken \\ud800 title"}', '{"title": "Fine"}']
    elif fmt == "arxiv-snapshot":
        lines = snapshot_lines()[:2]
        lines[0] = lines[0].replace("diphoton", "dipho\\udfffton", 1)
    else:
        daily = json.loads(DAILY.read_text(encoding="utf-8"))[:2]
        lines = [json.dumps(i) for i in daily]
        lines[0] = lines[0].replace('"summary": "', '"summary": "\\ud800', 1)
    got = items(write_jsonl(tmp_path / "surrogate.jsonl", lines))
    assert len(papers(got)) == 1
    (err,) = errors(got)
    assert err.line == 1 and "not valid Unicode" in err.reason


# -- load_data_dir: one file's failure is that file's one line ---------------------------------


async def test_each_crash_of_the_issue_leaves_the_other_files_loading(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "a-trending.txt").write_bytes(TRENDING.read_bytes())
    (data / "b-nbsp.txt").write_bytes("\u00a0\u00a0\n\u00a0".encode())
    write_jsonl(
        data / "c-upvotes.jsonl",
        [{"title": "Kept paper"}, f'{{"title": "Bad upvotes", "upvotes": {HUGE}}}'],
    )
    write_jsonl(data / "d-deep.jsonl", [{"title": "Another kept paper"}, deep_json()])
    store = await make_store(tmp_path)
    try:
        reports = {r.path.name: r for r in await load_data_dir(store, data)}
        assert reports["a-trending.txt"].new == 64
        assert reports["b-nbsp.txt"].failed and "empty" in reports["b-nbsp.txt"].failed
        assert (reports["c-upvotes.jsonl"].new, reports["c-upvotes.jsonl"].rejected) == (1, 1)
        assert (reports["d-deep.jsonl"].new, reports["d-deep.jsonl"].rejected) == (1, 1)
        assert await store.papers.count() == 66
    finally:
        await store.close()


async def test_any_exception_in_one_file_is_that_files_one_line(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    write_jsonl(data / "a.jsonl", [{"title": "Before the poison"}])
    write_jsonl(data / "b.jsonl", [{"title": "Fine"}, {"title": "Poison pill"}])
    write_jsonl(data / "c.jsonl", [{"title": "After the poison"}])
    store = await make_store(tmp_path)
    try:
        # A real SQLite failure, not an IngestError: the store refuses one paper.
        await store.db.execute(
            "CREATE TRIGGER poison BEFORE INSERT ON papers WHEN NEW.title = 'Poison pill' "
            "BEGIN SELECT RAISE(ABORT, 'the disk is on fire'); END"
        )
        reports = {r.path.name: r for r in await load_data_dir(store, data)}
        failed = reports["b.jsonl"].failed
        assert failed is not None and "the disk is on fire" in failed and "\n" not in failed
        assert reports["a.jsonl"].new == 1 and reports["c.jsonl"].new == 1
        titles = {r["title"] for r in await store.db.fetchall("SELECT title FROM papers")}
        assert titles == {"Before the poison", "After the poison"}  # b.jsonl rolled back whole
        # Once the cause is gone, the failed file is imported on the next start.
        await store.db.execute("DROP TRIGGER poison")
        again = {r.path.name: r for r in await load_data_dir(store, data)}
        assert again["b.jsonl"].new == 2 and again["a.jsonl"].skipped
    finally:
        await store.close()


async def test_cancelling_a_load_is_never_swallowed(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "trending.txt").write_bytes(TRENDING.read_bytes())
    store = await make_store(tmp_path)

    def cancel(done: int, read: int, total: int) -> None:
        raise asyncio.CancelledError

    try:
        with pytest.raises(asyncio.CancelledError):
            await load_data_dir(store, data, progress=cancel)
        assert await store.papers.count() == 0
    finally:
        await store.close()


async def test_a_gzipped_file_with_a_deep_record_loads_the_rest(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    lines = [json.dumps({"title": "Kept"}), '{"title": ' + deep_json() + "}"]
    (data / "deep.jsonl.gz").write_bytes(gzip.compress("\n".join(lines).encode()))
    store = await make_store(tmp_path)
    try:
        (report,) = await load_data_dir(store, data)
        assert (report.failed, report.new, report.rejected) == (None, 1, 1)
        assert str(report.errors[0]) == "line 2: invalid JSON: nested too deeply"
    finally:
        await store.close()


# -- property: no bytes in any file crash load or run -------------------------------------------

SAMPLES: dict[str, bytes] = {
    "arxiv-snapshot": "\n".join(snapshot_lines()[100:106]).encode() + b"\n",
    "hf-page": b"\n".join(TRENDING.read_bytes().splitlines()[:40]) + b"\n",
    "hf-daily": DAILY.read_bytes(),
    "hf-daily full": (DAILY.parent / "ingest" / "hf_daily_full.json").read_bytes(),
    "hf-daily lines": b"\n".join(
        json.dumps(i).encode() for i in json.loads(DAILY.read_text(encoding="utf-8"))
    ),
    "arxiv-atom": ATOM.read_bytes(),
    "arxiv-atom two": (
        ARXIV_API / "id_0808.05394_1707.08567_s0_m100_42e5aa0ec3af.xml"
    ).read_bytes(),
    "jsonl": b"\n".join(
        json.dumps(p.to_dict()).encode()
        for p in papers(list(hf_daily.parse_bytes(DAILY.read_bytes())))
    ),
}
NASTY: list[bytes] = [
    b"10000000000000000000",
    b"-1",
    b"1e999",
    b"NaN",
    b"-Infinity",
    b"9" * 5000,
    b"[" * DEEP,
    b'{"a":' * 50_000,
    b"\xc2\xa0" * 40,
    b"\xe2\x80\x83\xe3\x80\x80",  # em space, ideographic space
    b"\xef\xbb\xbf",
    b"\x00",
    b"\\ud800",
    b"\xff\xfe",
    b"\r\n",
    b"\n" * 5,
    b'"',
    b"}",
    b"]",
    b"<",
    b"<!DOCTYPE feed [<!ENTITY a 'aaaa'>]>",
    b"\x1f\x8b",
    b"0000-00-00",
    b"9999-12-31",
    b"Mon, 2 Apr 99999 19:18:42 GMT",
]
WHOLE_FILES: list[bytes] = [
    b"",
    "\u00a0".encode() * 100,
    "\u00a0 \u2003\n\u3000\t\u00a0\n".encode(),
    b"\xef\xbb\xbf" + " \u00a0 ".encode(),
    b"\x00" * 64,
    b"\n" * 1000,
    b"[" * DEEP + b"]" * DEEP,
    b"{" * DEEP,
    b"9" * 10_000,
]

_position = st.floats(min_value=0.0, max_value=1.0)
_mutation = st.one_of(
    st.tuples(st.just("truncate"), _position, st.just(b"")),
    st.tuples(st.just("flip"), _position, st.binary(min_size=1, max_size=1)),
    st.tuples(st.just("insert"), _position, st.sampled_from(NASTY) | st.binary(max_size=8)),
    st.tuples(st.just("number"), _position, st.sampled_from(NASTY[:6])),
)


def _mutate(data: bytes, kind: str, where: float, payload: bytes) -> bytes:
    at = int(where * len(data))
    if kind == "truncate":
        return data[:at]
    if kind == "flip" and data:
        at = min(at, len(data) - 1)
        return data[:at] + bytes([data[at] ^ (payload[0] or 1)]) + data[at + 1 :]
    if kind == "number":
        runs = list(re.finditer(rb"\d+", data))
        if runs:
            run = runs[min(int(where * len(runs)), len(runs) - 1)]
            return data[: run.start()] + payload + data[run.end() :]
    return data[:at] + payload + data[at:]


@st.composite
def bad_files(draw: st.DrawFn) -> bytes:
    choice = draw(st.integers(0, 9))
    if choice == 0:
        data = draw(st.binary(max_size=2048))
    elif choice == 1:
        data = draw(st.sampled_from(WHOLE_FILES))
    else:
        data = SAMPLES[draw(st.sampled_from(sorted(SAMPLES)))]
        for kind, where, payload in draw(st.lists(_mutation, min_size=1, max_size=4)):
            data = _mutate(data, kind, where, payload)
    packing = draw(st.sampled_from(["plain", "plain", "gzip", "gzip cut"]))
    if packing != "plain":
        data = gzip.compress(data, compresslevel=1)
        if packing == "gzip cut":
            data = data[: draw(st.integers(0, len(data) - 1))]
    return data


def _check_items(path: Path) -> None:
    """Reading *path* ends in papers and record errors, or one clear file error: nothing else."""
    try:
        got = list(read_papers(path))
    except (IngestError, UnknownFormatError) as exc:
        assert "\n" not in str(exc) and str(exc).startswith(str(path)), str(exc)[:500]
        return
    for item in got:
        if isinstance(item, RecordError):
            assert "\n" not in item.reason and len(item.reason) <= 300, item.reason[:500]
        else:
            assert record_problem(item) is None


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=bad_files())
def test_any_bytes_read_as_papers_record_errors_or_one_file_error(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bad"
        path.write_bytes(data)
        _check_items(path)


GOOD_LINES = snapshot_lines()[:100]
GOOD_IDS = [json.loads(line)["id"] for line in GOOD_LINES]


class _Runner:
    """One event loop and one store for a whole hypothesis run (a store per example is slow)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.loop = asyncio.new_event_loop()
        self.store = self.loop.run_until_complete(make_store(root))
        self.examples = 0

    def run(self, coro):  # type: ignore[no-untyped-def]
        return self.loop.run_until_complete(coro)

    def close(self) -> None:
        self.run(self.store.close())
        self.loop.close()


@pytest.fixture(scope="module")
def runner(tmp_path_factory: pytest.TempPathFactory) -> Iterator[_Runner]:
    r = _Runner(tmp_path_factory.mktemp("bad-files"))
    try:
        yield r
    finally:
        r.close()


@settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=bad_files(), name=st.sampled_from(["bad.txt", "bad.jsonl", "bad.json.gz", "bad"]))
def test_any_bytes_beside_a_good_file_never_stop_the_data_folder(
    runner: _Runner, data: bytes, name: str
) -> None:
    runner.examples += 1
    folder = runner.root / f"data{runner.examples}"
    folder.mkdir()
    (folder / "good.jsonl").write_text("\n".join(GOOD_LINES) + "\n", encoding="utf-8")
    (folder / name).write_bytes(data)
    reports = {r.path.name: r for r in runner.run(load_data_dir(runner.store, folder))}
    good = reports["good.jsonl"]
    assert good.failed is None and good.papers == 100 and good.rejected == 0
    bad = reports[name]
    if bad.failed is not None:
        assert "\n" not in bad.failed
        assert bad.papers == 0
    found = runner.run(runner.store.papers.get_many(GOOD_IDS))
    assert sorted(p.id for p in found) == sorted(GOOD_IDS)
    runner.run(runner.store.papers.check_fts())
    assert runner.run(runner.store.db.fetchval("PRAGMA integrity_check")) == "ok"


async def test_a_bad_first_record_is_a_record_error_not_an_unknown_file(tmp_path: Path) -> None:
    # Line 1 lacks its title (a malformed record); lines 2-3 are good canonical records.
    path = write_jsonl(
        tmp_path / "mine.jsonl",
        [
            {"id": "2401.00001", "abstract": "This record lost its title."},
            {"id": "2401.00002", "title": "A good paper"},
            {"id": "2401.00003", "title": "Another good paper"},
        ],
    )
    store = await make_store(tmp_path)
    try:
        report = await load_file(store, path)  # raises UnknownFormatError on the reviewed code
        assert (report.new, report.rejected) == (2, 1)
        assert report.errors[0].line == 1 and "title" in report.errors[0].reason
    finally:
        await store.close()


@pytest.mark.parametrize("line", [1, 2, 400])
async def test_a_nul_byte_in_one_line_is_that_lines_error(tmp_path: Path, line: int) -> None:
    # A text file with one NUL byte is a text file with one bad line, whether the byte falls
    # in the first 64 KB (where the format is detected) or further down.
    records = [
        {"id": f"2401.{n:05d}", "title": f"Paper number {n}", "abstract": "x" * 200}
        for n in range(1, 501)
    ]
    lines = [json.dumps(r) for r in records]
    lines[line - 1] = lines[line - 1].replace("Paper number", "Paper\x00number")
    path = tmp_path / "mine.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    store = await make_store(tmp_path)
    try:
        report = await load_file(store, path)  # "binary content" on the reviewed code
        assert (report.new, report.rejected) == (499, 1)
        assert [e.line for e in report.errors] == [line]
    finally:
        await store.close()


@pytest.mark.parametrize(
    "data",
    [
        b"SQLite format 3\x00" + bytes(4000),
        "\n".join(['{"title": "A paper"}'] * 50).encode("utf-16-le"),
        b'{"title": "A paper"}\n' + b"\x00" * 64 + b"\n",
    ],
    ids=["sqlite", "utf-16", "nul-run"],
)
def test_a_file_with_many_nul_bytes_is_binary(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "mine.jsonl"
    path.write_bytes(data)
    with pytest.raises(UnknownFormatError, match="binary content"):
        detect_format(path)
