"""PaperBot's own JSON lines: one :meth:`Paper.to_dict` object per line.

A record's own ``source`` is kept when it names a known source (``SOURCES``); a missing, null
or unknown one becomes ``jsonl`` (``SOURCE_USER``). Validation messages come from
:meth:`Paper.from_dict`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import TextIO

from bot.ingest._common import JSON_ERRORS, Item, NumberedLines, RecordError, json_error
from bot.ingest._common import loads as json_loads
from bot.models import SOURCE_USER, SOURCES, Paper

__all__ = ["iter_papers", "parse_lines", "parse_record", "write_jsonl"]


def iter_papers(lines: Iterable[str]) -> Iterator[Item]:
    """Papers from JSON lines (blank lines skipped), a :class:`RecordError` per bad line."""
    return parse_lines(enumerate(lines, 1))


def parse_lines(numbered: NumberedLines) -> Iterator[Item]:
    """Like :func:`iter_papers`, over ``(line number, text)`` pairs (errors passed through)."""
    for item in numbered:
        if isinstance(item, RecordError):
            yield item
            continue
        lineno, line = item
        if not line.strip():
            continue
        try:
            record = json_loads(line)
        except JSON_ERRORS as exc:
            yield RecordError(lineno, json_error(exc))
            continue
        yield parse_record(record, lineno)


def parse_record(record: object, line: int = 0) -> Item:
    """One decoded record -> :class:`Paper` (or :class:`RecordError` with from_dict's reason,
    which covers numbers out of range)."""
    if not isinstance(record, dict):
        return RecordError(line, "record is not a JSON object")
    if record.get("source") not in SOURCES:
        record = {**record, "source": SOURCE_USER}
    raw_id = record.get("id")
    try:
        return Paper.from_dict(record)
    except ValueError as exc:
        return RecordError(line, str(exc), raw_id if isinstance(raw_id, str) else None)


def write_jsonl(papers: Iterable[Paper], stream: TextIO) -> int:
    """Write *papers* as JSON lines (UTF-8 text, not ASCII-escaped); returns how many."""
    count = 0
    dumps = json.dumps
    for paper in papers:
        stream.write(dumps(paper.to_dict(), ensure_ascii=False))
        stream.write("\n")
        count += 1
    return count
