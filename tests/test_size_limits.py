"""Size limits on reading: a huge line, a gzip bomb, an oversized whole-file format.

Memory is checked with tracemalloc's peak (what Python allocated at most while reading), never
with timings: each input here is far bigger than the limit it must stay under.
"""

from __future__ import annotations

import gzip
import io
import json
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from bot.ingest import IngestError, RecordError, canonical, read_papers
from bot.ingest._common import MAX_LINE_BYTES, numbered_lines
from bot.ingest.limits import MAX_GZIP_RATIO, MAX_WHOLE_FILE_BYTES
from bot.models import Paper
from bot.store.loader import load_data_dir
from tests.helpers_store import ARXIV_API, DAILY, make_store

MiB = 1 << 20
BOMB = 1024 * MiB
T = TypeVar("T")


def peak_while(run: Callable[[], T]) -> tuple[T, int]:
    """*run*'s result and the peak of Python memory allocated while it ran."""
    tracemalloc.start()
    try:
        result = run()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return result, peak


class Generated(io.RawIOBase):
    """A binary stream whose bytes come from a generator: nothing is held but one chunk."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self.chunks = chunks
        self.pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        while not self.pending:
            try:
                self.pending = next(self.chunks)
            except StopIteration:
                return 0
        n = min(len(buffer), len(self.pending))
        buffer[:n] = self.pending[:n]
        self.pending = self.pending[n:]
        return n


def huge_line_stream(line_bytes: int) -> io.BufferedReader:
    def chunks() -> Iterator[bytes]:
        yield json.dumps({"id": "2401.00001", "title": "Before the huge line"}).encode() + b"\n"
        block = b"x" * MiB
        yield b'{"title": "'
        for _ in range(line_bytes // MiB):
            yield block
        yield b'"}\n'
        yield json.dumps({"id": "2401.00002", "title": "After the huge line"}).encode() + b"\n"

    return io.BufferedReader(Generated(chunks()), buffer_size=MiB)


def test_a_huge_line_is_skipped_as_one_record_in_bounded_memory() -> None:
    size = 256 * MiB  # 64 times the limit
    items, peak = peak_while(
        lambda: list(canonical.parse_lines(numbered_lines(huge_line_stream(size), "gen")))
    )
    assert [i.title for i in items if isinstance(i, Paper)] == [
        "Before the huge line",
        "After the huge line",
    ]
    (err,) = [i for i in items if isinstance(i, RecordError)]
    assert err.line == 2 and err.reason == "line longer than 4 MiB, skipped"
    assert peak < 3 * MAX_LINE_BYTES, f"peak {peak / MiB:.1f} MiB"


@pytest.mark.parametrize("limit", [16, 64, 1000])
def test_a_line_at_the_limit_is_still_read(limit: int) -> None:
    exact = b"y" * limit
    crlf = exact[:-1] + b"\r\n"  # the \r is part of the line, the newline is not
    data = exact + b"\n" + exact + b"x\n" + crlf + b"z" * (3 * limit) + b"\n" + exact
    got = list(numbered_lines(io.BytesIO(data), "edge", max_line=limit))
    assert [(i[0], len(i[1])) if isinstance(i, tuple) else (i.line, "error") for i in got] == [
        (1, limit + 1),
        (2, "error"),
        (3, limit + 1),
        (4, "error"),
        (5, limit),  # the last line, without a newline
    ]


def test_a_file_with_a_too_long_line_loads_the_rest(tmp_path: Path) -> None:
    path = tmp_path / "long.jsonl"
    with open(path, "wb") as out:
        out.write(b'{"title": "First"}\n{"title": "')
        out.write(b"z" * (MAX_LINE_BYTES + 1))
        out.write(b'"}\n{"title": "Third"}\n')
    got = list(read_papers(path))
    assert [i.title for i in got if isinstance(i, Paper)] == ["First", "Third"]
    assert [str(i) for i in got if isinstance(i, RecordError)] == [
        "line 2: line longer than 4 MiB, skipped"
    ]


def gzip_bomb(path: Path, expanded: int) -> Path:
    """A gzip file that starts like a PaperBot JSON lines file and expands *expanded* bytes.

    Built from one compressed megabyte of spaces repeated as gzip members (the format allows
    any number), so it costs nothing to make and is about 1/1000 of its expanded size.
    """
    head = gzip.compress(b'{"title": "Bait"}\n' * 10)
    member = gzip.compress(b" " * MiB, compresslevel=9)
    with open(path, "wb") as out:
        out.write(head)
        for _ in range(expanded // MiB):
            out.write(member)
    return path


def test_a_gzip_bomb_stops_with_a_clear_error_in_bounded_memory(tmp_path: Path) -> None:
    path = gzip_bomb(tmp_path / "bomb.jsonl.gz", BOMB)  # 1 GiB from about 1 MB
    assert path.stat().st_size < BOMB / 500

    def read() -> tuple[list[Paper | RecordError], str]:
        got: list[Paper | RecordError] = []
        with pytest.raises(IngestError) as info:
            for item in read_papers(path):
                got.append(item)
        return got, str(info.value)

    (got, message), peak = peak_while(read)
    assert message.startswith(str(path))
    assert f"expands more than {MAX_GZIP_RATIO} times" in message and "gzip bomb" in message
    assert "\n" not in message
    assert len([i for i in got if isinstance(i, Paper)]) == 10  # what came before, streamed
    assert peak < 3 * MAX_LINE_BYTES, f"peak {peak / MiB:.1f} MiB"


async def test_a_gzip_bomb_in_data_is_that_files_one_line(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    gzip_bomb(data / "bomb.jsonl.gz", BOMB)
    (data / "good.jsonl").write_text('{"title": "Good"}\n', encoding="utf-8")
    store = await make_store(tmp_path)
    try:
        reports = {r.path.name: r for r in await load_data_dir(store, data)}
        failed = reports["bomb.jsonl.gz"].failed
        assert failed is not None and "gzip bomb" in failed
        assert reports["good.jsonl"].new == 1
        assert await store.papers.count() == 1  # the bait before the bomb was rolled back
    finally:
        await store.close()


def test_an_oversized_daily_array_is_refused_before_parsing(tmp_path: Path) -> None:
    item = json.loads(DAILY.read_text(encoding="utf-8"))[0]
    item["paper"]["summary"] = "s" * MiB
    path = tmp_path / "daily.json"
    with open(path, "w", encoding="utf-8") as out:
        out.write("[")
        for i in range(MAX_WHOLE_FILE_BYTES // MiB + 2):
            out.write(("," if i else "") + json.dumps(item))
        out.write("]")

    def read() -> str:
        with pytest.raises(IngestError) as info:
            list(read_papers(path))
        return str(info.value)

    message, peak = peak_while(read)
    assert message.startswith(str(path)) and "larger than 32 MiB" in message
    assert "JSON lines" in message  # says how to import it anyway
    assert peak < MAX_WHOLE_FILE_BYTES + 4 * MiB, f"peak {peak / MiB:.1f} MiB"


def test_daily_json_lines_are_streamed_not_read_whole(tmp_path: Path) -> None:
    items = json.loads(DAILY.read_text(encoding="utf-8"))
    path = tmp_path / "daily.jsonl"
    lines = 0
    with open(path, "w", encoding="utf-8") as out:
        while out.tell() <= MAX_WHOLE_FILE_BYTES + 8 * MiB:
            item = items[lines % len(items)]
            item["paper"]["id"] = f"2501.{lines:05d}"
            item["paper"]["summary"] = f"Summary {lines} " + "w " * (MiB // 4)
            out.write(json.dumps(item) + "\n")
            lines += 1
    got, peak = peak_while(lambda: sum(isinstance(i, Paper) for i in read_papers(path)))
    assert got == lines
    assert peak < 12 * MiB, f"peak {peak / MiB:.1f} MiB"


def test_an_oversized_atom_feed_is_refused(tmp_path: Path) -> None:
    text = (ARXIV_API / "id_1605.08386_s0_m100_199195aa31ad.xml").read_text(encoding="utf-8")
    head, _, tail = text.partition("</summary>")
    padding = "word " * (MAX_WHOLE_FILE_BYTES // 5 + MiB)
    path = tmp_path / "feed.xml"
    path.write_text(head + padding + "</summary>" + tail, encoding="utf-8")

    def read() -> str:
        with pytest.raises(IngestError) as info:
            list(read_papers(path))
        return str(info.value)

    message, peak = peak_while(read)
    assert message.startswith(str(path)) and "larger than 32 MiB" in message
    assert peak < MAX_WHOLE_FILE_BYTES * 3, f"peak {peak / MiB:.1f} MiB"


@pytest.mark.parametrize(
    "sample",
    [
        "arxiv-metadata-oai-snapshot.200.jsonl",
        "trending-may-28.txt",
        "daily_papers.sample.json",
        "arxiv-api/q_testing_s0_m100_cfe7536492ca.xml",
    ],
)
def test_real_files_are_far_inside_the_limits(sample: str) -> None:
    data = (Path(__file__).parent / "fixtures" / sample).read_bytes()
    assert max(len(line) for line in data.splitlines()) * 100 < MAX_LINE_BYTES
    ratio = len(data) / len(gzip.compress(data, compresslevel=9))
    assert ratio * 10 < MAX_GZIP_RATIO, ratio
