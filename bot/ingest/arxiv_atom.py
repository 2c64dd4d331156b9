"""arXiv API responses (``export.arxiv.org/api/query``): Atom 1.0 with ``opensearch:`` and
``arxiv:`` extensions.

Parsed with expat as a stream (entries are handed out as soon as they close, with the line
where they start). A DOCTYPE is refused, so entity tricks cannot blow up memory. The error feed
the API sends for a bad query (one entry titled ``Error`` whose id points at
``arxiv.org/api/errors``) raises :class:`ArxivApiError` (an :class:`IngestError`): the whole
response is a failure, not one bad record.
"""

from __future__ import annotations

import contextlib
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol
from xml.parsers import expat

from bot.ingest._common import (
    READ_ERRORS,
    ArxivApiError,
    IngestError,
    Item,
    RecordError,
    brief,
    iso_date,
    read_error,
    squash,
)
from bot.models import (
    MAX_COUNT,
    SOURCE_ARXIV_API,
    Paper,
    clean_doi,
    clean_text,
    date_problem,
    find_arxiv_id,
    record_problem,
)

__all__ = ["FeedInfo", "feed_total", "iter_papers", "parse_bytes", "parse_feed"]

ATOM_NS = "http://www.w3.org/2005/Atom"
ARXIV_NS = "http://arxiv.org/schemas/atom"
OPENSEARCH_NS = "http://a9.com/-/spec/opensearch/1.1/"

_FEED = f"{ATOM_NS} feed"
_ENTRY = f"{ATOM_NS} entry"
_AUTHOR = f"{ATOM_NS} author"
_NAME = f"{ATOM_NS} name"
_LINK = f"{ATOM_NS} link"
_CATEGORY = f"{ATOM_NS} category"
_PRIMARY = f"{ARXIV_NS} primary_category"
_ENTRY_TEXT = {
    f"{ATOM_NS} id": "id",
    f"{ATOM_NS} title": "title",
    f"{ATOM_NS} summary": "summary",
    f"{ATOM_NS} published": "published",
    f"{ARXIV_NS} doi": "doi",
    f"{ARXIV_NS} journal_ref": "journal_ref",
}
_FEED_NUMBERS = {
    f"{OPENSEARCH_NS} totalResults": "total_results",
    f"{OPENSEARCH_NS} startIndex": "start_index",
    f"{OPENSEARCH_NS} itemsPerPage": "items_per_page",
}
_CHUNK = 1 << 16
_VERSIONED_LINK = re.compile(
    r"^https?://(?:export\.)?arxiv\.org/(abs|pdf)/(.+?)(?:v\d+)?(?:\.pdf)?$"
)


class Readable(Protocol):
    """A binary stream: an open file, ``gzip.open(...)``, ``io.BytesIO``, a response body."""

    def read(self, size: int = ..., /) -> bytes: ...


@dataclass(slots=True)
class FeedInfo:
    """The feed's ``opensearch:`` numbers, filled in while parsing (None when absent)."""

    total_results: int | None = None
    start_index: int | None = None
    items_per_page: int | None = None


@dataclass(slots=True)
class _Entry:
    line: int
    id: str = ""
    title: str = ""
    summary: str = ""
    published: str = ""
    doi: str = ""
    journal_ref: str = ""
    authors: list[str] = field(default_factory=list)
    primary: str | None = None
    categories: list[str] = field(default_factory=list)
    links: list[tuple[str, str, str]] = field(default_factory=list)  # (rel, title, href)


class _FeedParser:
    def __init__(self, info: FeedInfo) -> None:
        self.info = info
        self.parser = expat.ParserCreate(namespace_separator=" ")
        self.parser.buffer_text = True
        self.parser.StartElementHandler = self._start
        self.parser.EndElementHandler = self._end
        self.parser.CharacterDataHandler = self._chars
        self.parser.StartDoctypeDeclHandler = self._doctype
        self.depth = 0
        self.entry: _Entry | None = None
        self.in_author = False
        self.text: list[str] | None = None
        self.done: list[_Entry] = []

    def feed(self, data: bytes, final: bool = False) -> list[_Entry]:
        try:
            self.parser.Parse(data, final)
        except IngestError:
            raise
        except (LookupError, ValueError) as exc:
            # The XML declaration names an encoding expat cannot read ("UTF-7", "bogus").
            raise IngestError(f"invalid XML: {str(exc)[:80]}") from None
        done, self.done = self.done, []
        return done

    def _doctype(self, *_: object) -> None:
        raise IngestError("a DOCTYPE is not allowed in an arXiv API response")

    def _start(self, name: str, attrs: dict[str, str]) -> None:
        self.depth += 1
        depth = self.depth
        if depth == 1:
            if name != _FEED:
                local = name.rpartition(" ")[2]
                raise IngestError(f"not an Atom feed (root element <{local}>)")
            return
        entry = self.entry
        if entry is None:
            if depth == 2:
                if name == _ENTRY:
                    self.entry = _Entry(line=self.parser.CurrentLineNumber)
                elif name in _FEED_NUMBERS:
                    self.text = []
            return
        if depth == 3:
            if name in _ENTRY_TEXT:
                self.text = []
            elif name == _AUTHOR:
                self.in_author = True
            elif name == _CATEGORY:
                term = attrs.get("term", "").strip()
                if term:
                    entry.categories.append(term)
            elif name == _PRIMARY:
                entry.primary = attrs.get("term", "").strip() or None
            elif name == _LINK:
                entry.links.append(
                    (attrs.get("rel", "alternate"), attrs.get("title", ""), attrs.get("href", ""))
                )
        elif depth == 4 and self.in_author and name == _NAME:
            self.text = []

    def _chars(self, data: str) -> None:
        if self.text is not None:
            self.text.append(data)

    def _end(self, name: str) -> None:
        depth = self.depth
        self.depth -= 1
        text = self.text
        if text is not None:
            self.text = None
            value = "".join(text)
            entry = self.entry
            if entry is None:
                attr = _FEED_NUMBERS.get(name)
                if attr is not None:
                    with contextlib.suppress(ValueError):
                        number = int(value.strip()[:20])
                        # Out of range is unknown: paging then stops at the first short page.
                        if 0 <= number <= MAX_COUNT:
                            setattr(self.info, attr, number)
            elif name == _NAME:
                value = clean_text(value)
                if value:
                    entry.authors.append(value)
            else:
                attr = _ENTRY_TEXT.get(name)
                if attr is not None:
                    setattr(entry, attr, value)
            return
        if depth == 3 and name == _AUTHOR:
            self.in_author = False
        elif depth == 2 and name == _ENTRY and self.entry is not None:
            self.done.append(self.entry)
            self.entry = None


def iter_papers(stream: Readable, info: FeedInfo | None = None) -> Iterator[Item]:
    """Papers from an Atom response read from *stream*, in feed order.

    *info*, when given, receives the feed's ``opensearch:`` numbers (they precede the entries).
    Raises :class:`IngestError` for XML that is not a complete Atom feed and
    :class:`ArxivApiError` for the API's error feed.
    """
    parser = _FeedParser(info if info is not None else FeedInfo())
    seen_data = False
    try:
        while True:
            chunk = stream.read(_CHUNK)
            if not chunk:
                break
            seen_data = seen_data or bool(chunk.strip())
            for entry in parser.feed(chunk):
                yield _convert(entry)
        if not seen_data:
            raise IngestError("empty response, expected an Atom feed")
        for entry in parser.feed(b"", final=True):
            yield _convert(entry)
    except expat.ExpatError as exc:
        message = expat.ErrorString(exc.code)
        raise IngestError(f"invalid XML: {message} (line {exc.lineno})") from exc
    except READ_ERRORS as exc:
        raise IngestError(f"cannot read the feed: {read_error(exc)}") from exc


def parse_feed(data: bytes) -> tuple[FeedInfo, list[Item]]:
    """A whole response body -> (its opensearch numbers, its papers and record errors)."""
    info = FeedInfo()
    items = list(iter_papers(io.BytesIO(data), info))
    return info, items


def parse_bytes(data: bytes) -> list[Item]:
    """A whole response body -> papers and record errors; :class:`IngestError` on garbage."""
    return parse_feed(data)[1]


def feed_total(data: bytes) -> int | None:
    """``opensearch:totalResults`` of a response (entries are not converted, errors not raised).

    Raises :class:`IngestError` when *data* is not an Atom feed.
    """
    info = FeedInfo()
    parser = _FeedParser(info)
    try:
        parser.feed(data, final=True)
    except expat.ExpatError as exc:
        message = expat.ErrorString(exc.code)
        raise IngestError(f"invalid XML: {message} (line {exc.lineno})") from exc
    return info.total_results


def _is_error_entry(entry: _Entry) -> bool:
    return "arxiv.org/api/errors" in entry.id or (
        entry.title.strip() == "Error" and find_arxiv_id(entry.id) is None
    )


def _convert(entry: _Entry) -> Item:
    if _is_error_entry(entry):
        reason = clean_text(entry.summary) or clean_text(entry.id) or "unknown error"
        raise ArxivApiError(f"arXiv API error: {reason}")
    arxiv_id = find_arxiv_id(entry.id)
    if arxiv_id is None:
        return RecordError(entry.line, f"<id> is not an arXiv URL: {brief(clean_text(entry.id))}")
    title = squash(entry.title)
    if not title:
        return RecordError(entry.line, "missing 'title'", arxiv_id)
    categories = [entry.primary] if entry.primary else []
    for term in entry.categories:
        if term not in categories:
            categories.append(term)
    url_abs: str | None = None
    url_pdf: str | None = None
    for rel, link_title, href in entry.links:
        if link_title == "pdf" and url_pdf is None:
            url_pdf = _link(href)
        elif rel == "alternate" and url_abs is None:
            url_abs = _link(href)
    published = iso_date(entry.published.strip())
    if why := date_problem("<published>", published):
        return RecordError(entry.line, why, arxiv_id)
    paper = Paper.create(
        title=title,
        arxiv_id=arxiv_id,
        abstract=squash(entry.summary),
        authors=entry.authors,
        published=published,
        categories=categories,
        url_abs=url_abs,
        url_pdf=url_pdf,
        source=SOURCE_ARXIV_API,
        doi=clean_doi(entry.doi),
        journal_ref=clean_text(entry.journal_ref) or None,
    )
    if why := record_problem(paper):
        return RecordError(entry.line, why, arxiv_id)
    return paper


def _link(href: str) -> str | None:
    """An arXiv link without its version (the id is versionless), on https."""
    href = href.strip()
    if not href:
        return None
    m = _VERSIONED_LINK.match(href)
    if m:
        return f"https://arxiv.org/{m.group(1)}/{m.group(2)}"
    return href
