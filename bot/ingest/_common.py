"""Errors and small helpers shared by the importers (no format knowledge here)."""

from __future__ import annotations

import json
import re
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any, Protocol, TypeAlias

import orjson

from bot.models import Paper


class UnknownFormatError(ValueError):
    """The content of a file matches none of the known formats (see ``FORMATS``)."""


class IngestError(ValueError):
    """A whole file (or response body) cannot be read: unreadable, truncated, not UTF-8..."""


class ArxivApiError(IngestError):
    """The arXiv API answered with its error feed (an entry titled ``Error``)."""


@dataclass(frozen=True, slots=True)
class RecordError:
    """One malformed record; the rest of the file still loads.

    ``line`` is the 1-based line where the record starts (for JSON arrays and XML: the line of
    the item's opening token). ``paper_id`` is set when the record's id is known (for example a
    withdrawn Hugging Face paper), so a caller can act on it.
    """

    line: int
    reason: str
    paper_id: str | None = None

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


Item: TypeAlias = Paper | RecordError
# Lines after decoding: (1-based line number, text), or an error for a line that could not be
# decoded. Every line-based importer consumes this, so ``read_papers`` can report bad bytes in
# one line without giving up on the file.
NumberedLines: TypeAlias = Iterable[tuple[int, str] | RecordError]

READ_ERRORS = (OSError, EOFError, zlib.error)
# The longest line a line format may have (the longest arXiv snapshot record is tens of KB).
# A longer one is a RecordError, and is read past in chunks, never held whole.
MAX_LINE_BYTES = 4 << 20
_SKIP_CHUNK = 1 << 20


class LineStream(Protocol):
    """A binary stream read line by line: an open file, ``gzip.open(...)``, ``io.BytesIO``."""

    def readline(self, size: int = -1, /) -> bytes: ...


BOM = "\ufeff"


def size_text(n: int) -> str:
    """``4 MiB``, ``32 MiB``, ``512 KiB``: a byte count for a message."""
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:.3g} {unit}"
    return f"{n} bytes"


def numbered_lines(
    stream: LineStream, name: str, *, max_line: int = MAX_LINE_BYTES
) -> Iterator[tuple[int, str] | RecordError]:
    """Decode a binary stream line by line (UTF-8), streaming.

    A line that is not valid UTF-8, holds a NUL byte or is longer than *max_line* bytes becomes
    a :class:`RecordError` (a long line is read past in chunks: memory stays under *max_line*
    whatever the line's length); a stream that cannot be read any further (truncated gzip,
    I/O error) raises :class:`IngestError` naming *name*.
    """
    lineno = 0
    readline = stream.readline
    limit = max_line + 1  # room for the newline of a line of exactly max_line bytes
    try:
        while raw := readline(limit):
            lineno += 1
            if len(raw) == limit and raw[-1:] != b"\n":
                while (rest := readline(_SKIP_CHUNK)) and rest[-1:] != b"\n":
                    pass
                yield RecordError(lineno, f"line longer than {size_text(max_line)}, skipped")
                continue
            try:
                text = raw.decode()
            except UnicodeDecodeError as exc:
                yield RecordError(lineno, f"invalid UTF-8 (byte {exc.start + 1} of the line)")
                continue
            if "\x00" in text:  # no text holds one: a damaged line, not a paper
                yield RecordError(lineno, f"a NUL byte (byte {raw.index(0) + 1} of the line)")
                continue
            if lineno == 1 and text.startswith(BOM):
                text = text[1:]
            yield lineno, text
    except READ_ERRORS as exc:
        raise IngestError(f"{name}: cannot read past line {lineno}: {read_error(exc)}") from exc


def read_error(exc: BaseException) -> str:
    """A short reason for a read failure."""
    if isinstance(exc, EOFError):
        return f"truncated compressed data ({exc})"
    if isinstance(exc, zlib.error):
        return f"corrupt compressed data ({exc})"
    return str(exc) or type(exc).__name__


# What parsing untrusted JSON can raise besides JSONDecodeError (a ValueError): RecursionError
# for deep nesting (100,000 brackets), ValueError for an integer of more than 4,300 digits.
# Other JSON libraries raise ValueError subclasses too.
JSON_ERRORS = (ValueError, RecursionError)


def loads(text: str | bytes) -> Any:
    """One JSON value (orjson: about 4x the standard library's speed on snapshot records).

    Errors are :class:`json.JSONDecodeError` (orjson's subclass): deeper than 1,024 levels,
    NaN and infinities, lone surrogates and numbers beyond a double are refused (the standard
    library took the last three and left them to the range checks).
    """
    return orjson.loads(text)


def json_error(exc: Exception) -> str:
    """The reason for a record (or file) whose JSON could not be parsed, in one short line."""
    if isinstance(exc, json.JSONDecodeError):
        if "depth limit" in exc.msg or "recursion" in exc.msg.lower():
            return "invalid JSON: nested too deeply"
        if "infinity" in exc.msg:
            return "invalid JSON: a number with too many digits"
        if "surrogate" in exc.msg:
            return "text that is not valid Unicode (a lone surrogate)"
        return f"invalid JSON: {exc.msg} (column {exc.colno})"
    if isinstance(exc, RecursionError):
        return "invalid JSON: nested too deeply"
    if "digits" in str(exc):
        return "invalid JSON: a number with too many digits"
    return f"invalid JSON: {brief(str(exc))}"


_BRIEF = 60


def brief(value: object) -> str:
    """*value* for an error message: a string cut short and quoted, other values by type only
    (never the repr of a huge or deeply nested value)."""
    if isinstance(value, str):
        return repr(value[:_BRIEF] + ("..." if len(value) > _BRIEF else ""))
    if isinstance(value, bool | float) or value is None:
        return repr(value)
    if isinstance(value, int):
        return str(value) if value.bit_length() <= 128 else "a huge number"
    if isinstance(value, list):
        return "a JSON array"
    if isinstance(value, dict):
        return "a JSON object"
    return type(value).__name__


def decode_body(data: bytes, what: str) -> str:
    """Decode a whole small body as UTF-8 (BOM dropped) or raise :class:`IngestError`."""
    try:
        text = data.decode()
    except UnicodeDecodeError as exc:
        raise IngestError(f"{what}: not UTF-8 (byte {exc.start})") from exc
    return text[1:] if text.startswith(BOM) else text


_DECODER = json.JSONDecoder()
_WS = re.compile(r"[ \t\r\n]*")


def json_array_items(text: str, what: str) -> list[tuple[int, object]]:
    """Parse a JSON array whole, returning ``(line, item)`` with each item's starting line.

    Raises :class:`IngestError` for anything but a complete, valid JSON array: the file fails
    before any item is handed out.
    """
    pos = _skip_ws(text, 0)
    if not text.startswith("[", pos):
        raise IngestError(f"{what}: not a JSON array")
    items: list[tuple[int, object]] = []
    line = 1 + text.count("\n", 0, pos)
    counted = pos
    pos = _skip_ws(text, pos + 1)
    if text.startswith("]", pos):
        pos += 1
    else:
        while True:
            line += text.count("\n", counted, pos)
            counted = pos
            try:
                value, pos = _DECODER.raw_decode(text, pos)
            except json.JSONDecodeError as exc:
                raise IngestError(f"{what}: invalid JSON at line {exc.lineno}: {exc.msg}") from exc
            except JSON_ERRORS as exc:
                reason = json_error(exc).removeprefix("invalid JSON: ")
                raise IngestError(f"{what}: invalid JSON at line {line}: {reason}") from None
            items.append((line, value))
            pos = _skip_ws(text, pos)
            if text.startswith(",", pos):
                pos = _skip_ws(text, pos + 1)
                continue
            if text.startswith("]", pos):
                pos += 1
                break
            where = 1 + text.count("\n", 0, pos)
            if pos >= len(text):
                raise IngestError(f"{what}: JSON array is truncated (line {where})")
            raise IngestError(f"{what}: invalid JSON at line {where}: expected ',' or ']'")
    if _skip_ws(text, pos) != len(text):
        where = 1 + text.count("\n", 0, pos)
        raise IngestError(f"{what}: extra data after the JSON array (line {where})")
    return items


def _skip_ws(text: str, pos: int) -> int:
    m = _WS.match(text, pos)
    return m.end() if m else pos


def iso_date(value: object) -> date | None:
    """``2024-05-01`` or ``2024-05-01T12:00:00.000Z`` -> date; None for anything else."""
    if not isinstance(value, str) or len(value) < 10:
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return None


def str_list(value: object) -> list[str] | None:
    """The list if it is a list of strings (empties dropped), else None."""
    if not isinstance(value, list):
        return None
    out: list[str] = []
    for x in value:
        if not isinstance(x, str):
            return None
        x = x.strip()
        if x:
            out.append(x)
    return out


def squash(text: str) -> str:
    """:func:`bot.models.clean_text` for hard-wrapped text, about 3x faster on long abstracts.

    Unwraps newlines and collapses runs of spaces with ``str.replace`` (no per-word objects);
    text holding tabs or carriage returns takes the general path.
    """
    text = text.strip().replace("\n", " ")
    if "\t" in text or "\r" in text:
        return " ".join(text.split())
    while "  " in text:
        text = text.replace("  ", " ")
    return text
