"""Format detection by content, and :func:`read_papers`, which streams any known file."""

from __future__ import annotations

import codecs
import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, cast

from bot.ingest import arxiv_atom, arxiv_snapshot, canonical, hf_daily, hf_page
from bot.ingest._common import (
    BOM,
    JSON_ERRORS,
    MAX_LINE_BYTES,
    READ_ERRORS,
    IngestError,
    Item,
    UnknownFormatError,
    decode_body,
    numbered_lines,
    read_error,
)
from bot.ingest.limits import Capped, Inflated, read_capped
from bot.models import (
    SOURCE_ARXIV_API,
    SOURCE_ARXIV_SNAPSHOT,
    SOURCE_HF_DAILY,
    SOURCE_HF_PAGE,
    SOURCE_USER,
)

log = logging.getLogger(__name__)

FORMATS: dict[str, str] = {
    "hf-page": "Hugging Face papers page saved as text (title line, abstract line, page order)",
    "hf-daily": "Hugging Face daily_papers API items (JSON array or JSON lines)",
    "arxiv-snapshot": "arXiv metadata snapshot, Kaggle JSON lines (authors_parsed, versions)",
    "arxiv-atom": "arXiv API response (Atom XML)",
    "jsonl": "PaperBot JSON lines, one Paper.to_dict() object per line",
}
# The Paper.source each format produces (jsonl records may carry their own).
FORMAT_SOURCES: dict[str, str] = {
    "hf-page": SOURCE_HF_PAGE,
    "hf-daily": SOURCE_HF_DAILY,
    "arxiv-snapshot": SOURCE_ARXIV_SNAPSHOT,
    "arxiv-atom": SOURCE_ARXIV_API,
    "jsonl": SOURCE_USER,
}

GZIP_MAGIC = b"\x1f\x8b"
SNIFF_BYTES = 64 * 1024
_READ_BUFFER = 1 << 20
_UTF8_BOM = codecs.BOM_UTF8
_SNAPSHOT_KEYS = frozenset(
    {"authors_parsed", "versions", "submitter", "update_date", "journal-ref", "report-no"}
)


def _known() -> str:
    return "; ".join(f"{name} ({desc})" for name, desc in FORMATS.items())


def _unknown(path: Path, why: str) -> UnknownFormatError:
    return UnknownFormatError(f"{path}: {why}. Known formats: {_known()}")


def open_binary(path: Path) -> BinaryIO:
    """Open *path* for reading, transparently gunzipping it when it starts with gzip magic
    (and refusing a gzip bomb, see :class:`~bot.ingest.limits.Inflated`)."""
    stream = open(path, "rb", buffering=_READ_BUFFER)  # noqa: SIM115
    try:
        magic = stream.read(2)
        stream.seek(0)
    except BaseException:
        stream.close()
        raise
    if magic == GZIP_MAGIC:
        inflated = io.BufferedReader(Inflated(stream, str(path)), buffer_size=_READ_BUFFER)
        return cast(BinaryIO, inflated)
    return stream


def _read_head(path: Path) -> bytes:
    try:
        with open_binary(path) as stream:
            return stream.read(SNIFF_BYTES)
    except READ_ERRORS as exc:
        raise IngestError(f"{path}: cannot read: {read_error(exc)}") from exc


def detect_format(path: Path) -> str:
    """The format of *path* from its content (the first 64 KB, gunzipped if need be).

    Raises :class:`UnknownFormatError` (naming the known formats) for an empty, binary or
    unrecognised file, and :class:`IngestError` for one that cannot be read.
    """
    path = Path(path)
    head = _read_head(path)
    fmt, why = sniff(head, truncated=len(head) >= SNIFF_BYTES)
    if fmt is None:
        raise _unknown(path, why)
    log.debug("%s: detected format %s", path, fmt)
    return fmt


def sniff(head: bytes, *, truncated: bool = False) -> tuple[str | None, str]:
    """``(format, "")`` for the start of a file, or ``(None, reason)``.

    *truncated* says *head* is only the start of the content (its last line may be cut).
    """
    if head.startswith(_UTF8_BOM):
        head = head[len(_UTF8_BOM) :]
    if not head.strip():
        return None, "empty file"
    # A NUL byte or two is a damaged line (that record's error, as further down the file);
    # binary data (a database, an image, UTF-16 text, a gzip inside a gzip) holds many.
    if head.count(0) > max(1, len(head) // 1000):
        return None, "binary content"
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    text = decoder.decode(head, final=not truncated)
    # A stray bad byte is the line importers' business (a RecordError for that line); text
    # in another encoding throughout is not ours.
    bad = text.count("\ufffd") - head.count("\ufffd".encode())
    if bad > max(1, len(text) // 1000):
        return None, "not UTF-8 text"
    text = text.lstrip()
    if not text:  # white space that is not ASCII: no-break spaces, em spaces...
        return None, "empty file (only white space)"
    lead = text[0]
    if lead == "<":
        if "<feed" in text and arxiv_atom.ATOM_NS in text:
            return "arxiv-atom", ""
        return None, "XML or HTML, but not an Atom feed"
    if lead == "[":
        return _sniff_array(text)
    if lead == "{":
        return _sniff_objects(text, truncated)
    lines = text.splitlines()
    if truncated and len(lines) > 1:
        lines.pop()
    if hf_page.looks_like_page(lines[:40]):
        return "hf-page", ""
    return None, "text that does not look like a papers page"


def _classify(keys: set[str]) -> str | None:
    if "paper" in keys:
        return "hf-daily"
    if keys & _SNAPSHOT_KEYS:
        return "arxiv-snapshot"
    if "title" in keys:
        # A bare Hugging Face paper object says "summary" where we say "abstract".
        if "summary" in keys and "abstract" not in keys:
            return "hf-daily"
        return "jsonl"
    return None


def _sniff_array(text: str) -> tuple[str | None, str]:
    rest = text[1:].lstrip()
    if rest.startswith("]"):
        return "hf-daily", ""  # an empty daily list (weekends)
    if rest.startswith("{"):
        try:
            first, _ = json.JSONDecoder().raw_decode(rest)
        except JSON_ERRORS:
            first = None
        if isinstance(first, dict):
            fmt = _classify(set(first))
            if fmt == "hf-daily":
                return fmt, ""
        elif '"paper"' in rest:
            return "hf-daily", ""
    return None, "a JSON array, but not of Hugging Face daily_papers items"


def _sniff_objects(text: str, truncated: bool) -> tuple[str | None, str]:
    lines = text.splitlines()
    if truncated and len(lines) > 1:
        lines.pop()
    unknown = False
    for line in lines[:20]:
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except JSON_ERRORS:
            continue
        if isinstance(value, dict):
            fmt = _classify(set(value))
            if fmt is not None:
                return fmt, ""
            # One malformed record (a missing title) is that line's error, not the file's.
            unknown = True
    if unknown:
        return None, "JSON objects with none of the known fields"
    # No complete line (a huge first record, a pretty-printed object): look at the key names.
    keys = {
        k for k in ("paper", *_SNAPSHOT_KEYS, "title", "summary", "abstract") if f'"{k}"' in text
    }
    fmt = _classify(keys)
    if fmt is not None:
        return fmt, ""
    return None, "JSON, but none of the known record shapes"


def read_papers(path: Path, fmt: str | None = None) -> Iterator[Item]:
    """Stream the papers (and record errors) of *path*, gunzipping ``.gz`` content.

    The format is detected from the content unless *fmt* is given. Detection problems raise
    here; a file that breaks while being read (truncated gzip...) raises :class:`IngestError`
    from the iterator, after the records before the break.
    """
    path = Path(path)
    if fmt is None:
        fmt = detect_format(path)
    elif fmt not in FORMATS:
        raise UnknownFormatError(f"{path}: no format named {fmt!r}. Known formats: {_known()}")
    else:
        try:
            path.stat()
        except OSError as exc:
            raise IngestError(f"{path}: cannot read: {read_error(exc)}") from exc
    return _read(path, fmt)


def _is_json_lines(path: Path) -> bool:
    """True when the first line that is not blank holds one whole JSON object (JSON lines,
    streamed), False for a JSON array or a pretty-printed object (read whole, capped)."""
    with open_binary(path) as stream:
        while line := stream.readline(MAX_LINE_BYTES + 1):
            text = line.decode(errors="replace").lstrip(BOM).strip()
            if text:
                try:
                    return isinstance(json.loads(text), dict)
                except JSON_ERRORS:
                    return False
    return False


def _read_daily(stream: BinaryIO, name: str) -> Iterator[Item]:
    """A daily JSON array or single object, parsed whole (up to the whole-file limit). JSON
    lines with a bad byte in one line are read line by line, so only that line is lost."""
    data = read_capped(stream, name, "Hugging Face daily JSON", _DAILY_HINT)
    if data.lstrip()[:1] == b"{":
        try:
            data.decode()
        except UnicodeDecodeError:
            return hf_daily.parse_lines(numbered_lines(io.BytesIO(data), name))
    return hf_daily.parse_text(decode_body(data, name), name)


_DAILY_HINT = " as one JSON document (as JSON lines, one item a line, any size loads)"


def _read(path: Path, fmt: str) -> Iterator[Item]:
    name = str(path)
    try:
        lines = fmt == "hf-daily" and _is_json_lines(path)
        with open_binary(path) as stream:
            if fmt == "arxiv-atom":
                yield from arxiv_atom.iter_papers(Capped(stream, name, "arXiv Atom"))
            elif fmt == "hf-daily" and lines:
                yield from hf_daily.parse_lines(numbered_lines(stream, name))
            elif fmt == "hf-daily":
                yield from _read_daily(stream, name)
            elif fmt == "arxiv-snapshot":
                yield from arxiv_snapshot.parse_lines(numbered_lines(stream, name))
            elif fmt == "jsonl":
                yield from canonical.parse_lines(numbered_lines(stream, name))
            else:
                yield from hf_page.parse_lines(numbered_lines(stream, name))
    except IngestError as exc:
        if str(exc).startswith(name):
            raise
        raise type(exc)(f"{name}: {exc}") from exc
    except READ_ERRORS as exc:
        raise IngestError(f"{name}: cannot read: {read_error(exc)}") from exc
