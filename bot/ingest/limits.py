"""How much reading one file may cost: the size limits of the importers, and the readers that
enforce them.

* A line longer than :data:`MAX_LINE_BYTES` is one rejected record (``numbered_lines``).
* Formats parsed whole (a Hugging Face daily JSON array) or holding a whole entry's text in
  memory (an Atom feed) stop at :data:`MAX_WHOLE_FILE_BYTES` of content (:func:`read_capped`,
  :class:`Capped`). A daily file in JSON lines is streamed instead, line by line.
* Gzip content may expand at most :data:`MAX_GZIP_RATIO` times the compressed bytes read
  (:class:`Inflated`), so a small file that inflates to terabytes (a gzip bomb) stops early
  with a clear error. Real paper files compress 3-10 times (text) and rarely past 20.
"""

from __future__ import annotations

import gzip
import io
from typing import BinaryIO, Protocol

from bot.ingest._common import MAX_LINE_BYTES, IngestError, size_text

__all__ = [
    "MAX_GZIP_RATIO",
    "MAX_LINE_BYTES",
    "MAX_WHOLE_FILE_BYTES",
    "Capped",
    "Inflated",
    "read_capped",
]

MAX_WHOLE_FILE_BYTES = 32 << 20
MAX_GZIP_RATIO = 100
# The ratio is checked once this much has come out: a small file may expand any amount.
GZIP_CHECK_AFTER = 16 << 20


class Readable(Protocol):
    def read(self, size: int = ..., /) -> bytes: ...


class Inflated(io.RawIOBase):
    """The gunzipped content of *raw* (a binary file positioned at its start), refusing to
    expand more than :data:`MAX_GZIP_RATIO` times the compressed bytes read so far."""

    def __init__(self, raw: BinaryIO, name: str) -> None:
        self.raw = raw
        self.name_for_errors = name
        self.gz = gzip.GzipFile(fileobj=raw, mode="rb")
        self.out = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        # read1: what one step of decompression gives, so that the lines before a truncation
        # are handed out before the error (read() would drop them with the exception).
        data = self.gz.read1(len(buffer))
        n = len(data)
        buffer[:n] = data
        self.out += n
        if self.out > GZIP_CHECK_AFTER:
            read = max(self.raw.tell(), 1)
            if self.out > MAX_GZIP_RATIO * read:
                raise IngestError(
                    f"{self.name_for_errors}: expands more than {MAX_GZIP_RATIO} times "
                    f"({size_text(self.out)} out of the first {size_text(read)}): refused as "
                    "a likely gzip bomb"
                )
        return n

    def close(self) -> None:
        if not self.closed:
            try:
                self.gz.close()
            finally:
                self.raw.close()
        super().close()


def read_capped(stream: Readable, name: str, what: str, hint: str = "") -> bytes:
    """All of *stream*, or :class:`IngestError` once it passes :data:`MAX_WHOLE_FILE_BYTES`."""
    data = stream.read(MAX_WHOLE_FILE_BYTES + 1)
    if len(data) > MAX_WHOLE_FILE_BYTES:
        raise _too_large(name, what, hint)
    return data


class Capped:
    """*stream* for a streaming parser that still keeps a lot in memory: reading past
    :data:`MAX_WHOLE_FILE_BYTES` raises :class:`IngestError`."""

    def __init__(self, stream: Readable, name: str, what: str) -> None:
        self.stream = stream
        self.name = name
        self.what = what
        self.total = 0

    def read(self, size: int = -1, /) -> bytes:
        room = MAX_WHOLE_FILE_BYTES + 1 - self.total
        chunk = self.stream.read(room if size < 0 else min(size, room))
        self.total += len(chunk)
        if self.total > MAX_WHOLE_FILE_BYTES:
            raise _too_large(self.name, self.what)
        return chunk


def _too_large(name: str, what: str, hint: str = "") -> IngestError:
    return IngestError(
        f"{name}: larger than {size_text(MAX_WHOLE_FILE_BYTES)}, the most a {what} file may "
        f"hold{hint}"
    )
