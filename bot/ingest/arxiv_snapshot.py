"""The arXiv metadata snapshot (Kaggle "Cornell-University/arxiv"): JSON lines, streamed.

One record a line with keys ``id, submitter, authors, title, comments, journal-ref, doi,
report-no, categories, license, abstract, versions[{version, created}], update_date,
authors_parsed``. The full file is 4-5 GB, so this module never holds more than one line, and
the per-record work is kept to ``json.loads`` plus a few string operations (no regexes besides
the id check, no ``email.utils`` unless a date is unusual).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import date
from email.utils import parsedate_tz
from typing import Any

from bot.ingest._common import (
    JSON_ERRORS,
    Item,
    NumberedLines,
    RecordError,
    brief,
    json_error,
    squash,
)
from bot.ingest._common import (
    loads as json_loads,
)
from bot.models import (
    SOURCE_ARXIV_SNAPSHOT,
    Paper,
    clean_doi,
    clean_text,
    date_problem,
    normalize_arxiv_id,
    text_problem,
)

__all__ = ["iter_papers", "parse_lines", "parse_record"]

_MONTHS = {
    m: i
    for i, m in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1
    )
}
_DAYS: dict[str, date] = {}
_DAYS_MAX = 50_000
_ABS = "https://arxiv.org/abs/"
_PDF = "https://arxiv.org/pdf/"
_HF = "https://huggingface.co/papers/"
_REQUIRED = ("id", "title", "abstract", "categories", "versions", "authors_parsed")


def iter_papers(lines: Iterable[str]) -> Iterator[Item]:
    """Papers from snapshot lines (blank lines skipped), a :class:`RecordError` per bad line."""
    return parse_lines(enumerate(lines, 1))


def parse_lines(numbered: NumberedLines) -> Iterator[Item]:
    """Like :func:`iter_papers`, over ``(line number, text)`` pairs (errors passed through)."""
    loads = json_loads
    for item in numbered:
        if isinstance(item, RecordError):
            yield item
            continue
        lineno, line = item
        try:
            record = loads(line)
        except JSON_ERRORS as exc:
            if line.isspace() or not line:
                continue
            yield RecordError(lineno, json_error(exc))
            continue
        yield parse_record(record, lineno)


def parse_record(record: Any, line: int = 0) -> Item:
    """One decoded snapshot record -> :class:`Paper` (or :class:`RecordError` saying why not).

    The record's only number is its date, range-checked here, and its text must be valid
    Unicode (see ``bot.models.record_problem``).
    """
    if type(record) is not dict:
        return RecordError(line, "record is not a JSON object")
    try:
        raw_id = record["id"]
        title = record["title"]
        abstract = record["abstract"]
        categories = record["categories"]
        versions = record["versions"]
        parsed = record["authors_parsed"]
    except KeyError:
        missing = next(k for k in _REQUIRED if k not in record)
        return RecordError(line, f"missing '{missing}'", _str_or_none(record.get("id")))

    arxiv_id = normalize_arxiv_id(raw_id) if type(raw_id) is str else None
    if arxiv_id is None:
        return RecordError(line, f"'id' is not an arXiv id: {brief(raw_id)}")
    if type(title) is not str:
        return RecordError(line, "'title' must be a string", arxiv_id)
    title = " ".join(title.split())
    if not title:
        return RecordError(line, "missing 'title' (empty)", arxiv_id)
    if type(abstract) is not str:
        return RecordError(line, "'abstract' must be a string", arxiv_id)
    if type(categories) is not str:
        return RecordError(line, "'categories' must be a space separated string", arxiv_id)

    published: date | None = None
    if type(versions) is list and versions:
        first = versions[0]
        if type(first) is dict and first.get("version") == "v1":
            created = first.get("created")
            if type(created) is str:
                published = _DAYS.get(created[:16])
    if published is None:
        published = _first_version_date(versions)
        if published is None:
            return RecordError(line, "'versions' has no valid v1 'created' date", arxiv_id)
        if why := date_problem("v1 'created' date", published):
            return RecordError(line, why, arxiv_id)

    authors: list[str] = []
    try:
        for entry in parsed:
            if type(entry) is not list:
                raise TypeError
            last = entry[0]
            first_name = entry[1]
            suffix = entry[2] if len(entry) > 2 else ""
            if first_name:
                name = first_name + " " + last + (" " + suffix if suffix else "")
            else:
                name = last + " " + suffix if suffix else last
            name = name.strip()
            if name:
                authors.append(name)
    except (TypeError, IndexError, KeyError, AttributeError):
        return RecordError(
            line, "'authors_parsed' must be a list of [last, first, suffix]", arxiv_id
        )

    doi = record.get("doi")
    journal_ref = record.get("journal-ref")
    if doi is not None and type(doi) is not str:
        return RecordError(line, "'doi' must be a string", arxiv_id)
    if journal_ref is not None and type(journal_ref) is not str:
        return RecordError(line, "'journal-ref' must be a string", arxiv_id)

    # Paper.create(title=..., arxiv_id=...) spelled out: it would clean the title and check
    # the id a second time, which is a tenth of the budget per record. A test keeps the two equal.
    paper = Paper(
        id=arxiv_id,
        title=title,
        abstract=squash(abstract),
        authors=authors,
        published=published,
        categories=categories.split(),
        url_abs=_ABS + arxiv_id,
        url_pdf=_PDF + arxiv_id,
        url_hf=_HF + arxiv_id,
        source=SOURCE_ARXIV_SNAPSHOT,
        doi=clean_doi(doi) if doi else None,
        journal_ref=(clean_text(journal_ref) or None) if journal_ref else None,
    )
    # Text from a JSON escape such as \\ud800 cannot be stored. isascii() is O(1) on Python's
    # compact strings, so record_problem's full check runs only for the rare non-ASCII record.
    ascii_only = (
        title.isascii()
        and abstract.isascii()
        and all(map(str.isascii, authors))
        and (journal_ref is None or journal_ref.isascii())
    )
    if not ascii_only and (why := text_problem(paper)):
        return RecordError(line, why, arxiv_id)
    return paper


def _first_version_date(versions: object) -> date | None:
    """The date (UTC) of the v1 ``created`` stamp, e.g. ``Mon, 2 Apr 2007 19:18:42 GMT``."""
    if type(versions) is not list or not versions:
        return None
    first = versions[0]
    if type(first) is not dict:
        return None
    if first.get("version") != "v1":
        first = next((v for v in versions if type(v) is dict and v.get("version") == "v1"), first)
    created = first.get("created")
    if type(created) is not str:
        return None
    parts = created.split()
    try:
        day = date(int(parts[3]), _MONTHS[parts[2]], int(parts[1]))
    except (IndexError, KeyError, ValueError, OverflowError):
        pass
    else:
        # Records come roughly in date order: remember the day for the next ones. The key,
        # the first 16 characters ("Mon, 2 Apr 2007 " or "Tue, 24 Jul 2007"), names the day.
        # Only days in range are remembered: a remembered day skips the range check.
        if created[3:5] == ", " and date_problem("", day) is None:
            if len(_DAYS) >= _DAYS_MAX:
                _DAYS.clear()
            _DAYS[created[:16]] = day
        return day
    try:
        fields = parsedate_tz(created)  # unusual spelling: let the RFC 2822 parser try
        return None if fields is None else date(fields[0], fields[1], fields[2])
    except (ValueError, OverflowError, IndexError, TypeError):
        return None


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) else None
