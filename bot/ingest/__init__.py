"""Importers: files and response bodies in, :class:`~bot.models.Paper` records out.

Pure parsing (no SQL, no Discord), streaming: a multi-gigabyte arXiv snapshot is read one line
at a time. Every importer yields ``Paper | RecordError``; a malformed record is reported with
its line and the rest of the file still loads, while a file that cannot be read at all raises
:class:`IngestError`, and one whose content is not recognised :class:`UnknownFormatError`.

What one file may cost is bounded (``limits``): a line over 4 MiB is a record error, a document
parsed whole stops at 32 MiB, a gzip bomb is refused. Numbers are range-checked and text must
be valid Unicode (``bot.models.record_problem``), so a record the store cannot hold never
leaves an importer.

Formats (see ``FORMATS``): ``hf-page``, ``hf-daily``, ``arxiv-snapshot``, ``arxiv-atom``,
``jsonl``. Each has a module usable on in-memory data (``hf_page``, ``hf_daily``,
``arxiv_snapshot``, ``arxiv_atom``, ``canonical``).
"""

from __future__ import annotations

from bot.ingest._common import (
    ArxivApiError,
    IngestError,
    Item,
    RecordError,
    UnknownFormatError,
)
from bot.ingest.reader import FORMAT_SOURCES, FORMATS, detect_format, read_papers, sniff

__all__ = [
    "FORMATS",
    "FORMAT_SOURCES",
    "ArxivApiError",
    "IngestError",
    "Item",
    "RecordError",
    "UnknownFormatError",
    "detect_format",
    "read_papers",
    "sniff",
]
