"""The canonical paper record, and the rules that identify and merge papers.

Pure Python: no I/O, no SQL, no Discord. Importers produce :class:`Paper` objects, the store
persists them, search and cards read them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

# Sources, from least to most authoritative for bibliographic fields (title, abstract, authors,
# categories, dates). Social fields (upvotes, trending rank, AI summary) come from Hugging Face.
SOURCE_HF_PAGE = "hf-page"
SOURCE_HF_DAILY = "hf-daily"
SOURCE_USER = "jsonl"
SOURCE_ARXIV_API = "arxiv-api"
SOURCE_ARXIV_SNAPSHOT = "arxiv-snapshot"
SOURCES: tuple[str, ...] = (
    SOURCE_HF_PAGE,
    SOURCE_HF_DAILY,
    SOURCE_USER,
    SOURCE_ARXIV_API,
    SOURCE_ARXIV_SNAPSHOT,
)
_AUTHORITY = {name: i for i, name in enumerate(SOURCES)}

_FULL_NEW = re.compile(r"^(?:arxiv:)?(\d{4}\.\d{4,5})(v\d+)?$", re.ASCII | re.IGNORECASE)
_FULL_OLD = re.compile(
    r"^(?:arxiv:)?([a-z][a-z-]*(?:\.[a-z]{2})?/\d{7})(v\d+)?$", re.ASCII | re.IGNORECASE
)

TITLE_ID_PREFIX = "t-"

# The range of every number a paper record may carry: far wider than any real value, narrow
# enough that SQLite's 64-bit integers and the ranking arithmetic never see garbage.
MAX_COUNT = 1_000_000_000  # upvotes, positions on a list
EARLIEST_PUBLISHED = date(1800, 1, 1)
PUBLISHED_AHEAD = timedelta(days=366)  # how far past today a publication date may lie
# Any date up to the day this process started stays in range for good: checked without a clock.
_IN_RANGE_UNTIL = datetime.now(UTC).date()
_SHOWN_DIGITS = 40


def normalize_arxiv_id(value: str) -> str | None:
    """Return the arXiv id without version, or None when *value* is not an arXiv id.

    ``2202.12139v2`` -> ``2202.12139``; ``arXiv:hep-th/0601001v1`` -> ``hep-th/0601001``.
    """
    text = value.strip()
    m = _FULL_NEW.match(text)
    if m:
        return m.group(1)
    m = _FULL_OLD.match(text)
    if m:
        archive, _, number = m.group(1).partition("/")
        # Archive names are lower case; the subject class (math.CO) keeps its capitals.
        head, dot, sub = archive.partition(".")
        return f"{head.lower()}{dot}{sub.upper()}/{number}"
    return None


_URL_ID = re.compile(
    r"(?:arxiv\.org/(?:abs|pdf|html)/|huggingface\.co/papers/|hf\.co/papers/)"
    r"([a-z][a-z-]*(?:\.[A-Z]{2})?/\d{7}|\d{4}\.\d{4,5})(?:v\d+)?",
    re.IGNORECASE,
)


def find_arxiv_id(text: str) -> str | None:
    """The arXiv id named by *text*: a bare id or an arXiv / Hugging Face paper URL."""
    text = text.strip()
    direct = normalize_arxiv_id(text)
    if direct:
        return direct
    m = _URL_ID.search(text)
    return normalize_arxiv_id(m.group(1)) if m else None


def fold(text: str) -> str:
    """Unicode-fold text for matching: NFKD, drop combining marks, casefold ("Itô" -> "ito")."""
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return stripped.casefold()


_NON_WORD = re.compile(r"[\W_]+", re.UNICODE)


def title_key(title: str) -> str:
    """A normalised title used to recognise the same paper across sources."""
    return _NON_WORD.sub(" ", fold(title)).strip()


_ASCII_WORD = re.compile(r"[a-z0-9]+")


def fast_title_key(title: str) -> str:
    """:func:`title_key`, about 6x faster on ASCII titles (most of arXiv).

    For ASCII text Unicode folding is just ``lower()``; anything else takes the general path.
    (tests/test_store.py checks the two agree.)
    """
    if title.isascii():
        return " ".join(_ASCII_WORD.findall(title.lower()))
    return title_key(title)


def title_id(title: str) -> str:
    """A stable id for a paper without an arXiv id, derived from its normalised title."""
    digest = hashlib.sha1(title_key(title).encode("utf-8")).hexdigest()[:12]
    return f"{TITLE_ID_PREFIX}{digest}"


def clean_text(text: str) -> str:
    """Collapse hard wraps and runs of white space into single spaces."""
    return " ".join(text.split())


_DOI = re.compile(r"^10\.\d{4,9}/\S+$")
_DOI_PREFIX = re.compile(r"^(?:https?://(?:dx\.)?doi\.org/|doi:\s*)", re.IGNORECASE)


def clean_doi(value: str | None) -> str | None:
    """The paper's DOI (``10.1103/PhysRevD.76.013009``) from a source's DOI field, or None.

    arXiv lists an erratum's DOI after the paper's own (``10.1364/A 10.1364/B``): the first
    is kept. A ``https://doi.org/`` or ``doi:`` prefix is dropped; anything else is not a DOI.
    """
    if not value:
        return None
    text = _DOI_PREFIX.sub("", value.strip())
    first = text.split()[0] if text.split() else ""
    return first if _DOI.match(first) and len(first) <= 300 else None


@dataclass(slots=True)
class Paper:
    """One paper, as the store keeps it. ``id`` is the arXiv id (no version) or a title id."""

    id: str
    title: str
    abstract: str = ""
    authors: list[str] = field(default_factory=list)
    published: date | None = None
    categories: list[str] = field(default_factory=list)
    url_abs: str | None = None
    url_pdf: str | None = None
    url_code: str | None = None
    url_project: str | None = None
    url_hf: str | None = None
    source: str = SOURCE_USER
    source_rank: int | None = None
    upvotes: int | None = None
    ai_summary: str | None = None
    ai_keywords: list[str] = field(default_factory=list)
    doi: str | None = None  # of the published version (arXiv's metadata), e.g. 10.1103/...
    journal_ref: str | None = None  # arXiv's free-text journal reference

    @property
    def arxiv_id(self) -> str | None:
        """The id when it is an arXiv id (a row an earlier version stored under a record's
        own id, ``doi:...`` or ``openreview:...``, has none: no arXiv links for it)."""
        if self.id.startswith(TITLE_ID_PREFIX):
            return None
        return self.id if normalize_arxiv_id(self.id) == self.id else None

    @property
    def key(self) -> str:
        return title_key(self.title)

    @classmethod
    def create(cls, *, title: str, arxiv_id: str | None = None, **fields: Any) -> Paper:
        """Build a paper, deriving its id (and arXiv links) from *arxiv_id* or the title."""
        title = clean_text(title)
        norm = normalize_arxiv_id(arxiv_id) if arxiv_id else None
        paper = cls(id=norm or title_id(title), title=title, **fields)
        if norm:
            paper.url_abs = paper.url_abs or f"https://arxiv.org/abs/{norm}"
            paper.url_pdf = paper.url_pdf or f"https://arxiv.org/pdf/{norm}"
            paper.url_hf = paper.url_hf or f"https://huggingface.co/papers/{norm}"
        return paper

    def to_dict(self) -> dict[str, Any]:
        """The canonical JSON form (also the input format of the ``jsonl`` importer)."""
        data = dataclasses.asdict(self)
        data["published"] = self.published.isoformat() if self.published else None
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Paper:
        """Inverse of :meth:`to_dict`. Raises ``ValueError`` with a readable reason."""
        if not isinstance(data, dict):
            raise ValueError("record is not a JSON object")
        title = data.get("title")
        if not isinstance(title, str) or not title.strip():
            raise ValueError("missing 'title'")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - known
        if unknown:
            names = sorted(unknown)
            shown = ", ".join(name[:40] for name in names[:5])
            more = f" and {len(names) - 5} more" if len(names) > 5 else ""
            raise ValueError(f"unknown field(s): {shown}{more}")
        values = {k: v for k, v in data.items() if k not in ("id", "title")}
        published = values.get("published")
        if published is not None:
            if not isinstance(published, str):
                raise ValueError("'published' must be a YYYY-MM-DD string")
            try:
                values["published"] = date.fromisoformat(published[:10])
            except ValueError:
                raise ValueError(f"'published' is not a date: {published[:40]!r}") from None
        for name in ("authors", "categories", "ai_keywords"):
            if name in values and not (
                isinstance(values[name], list) and all(isinstance(x, str) for x in values[name])
            ):
                raise ValueError(f"'{name}' must be a list of strings")
        for name in ("source_rank", "upvotes"):
            if why := count_problem(name, values.get(name)):
                raise ValueError(why)
        for name in (
            "abstract",
            "url_abs",
            "url_pdf",
            "url_code",
            "url_project",
            "url_hf",
            "source",
            "ai_summary",
            "doi",
            "journal_ref",
        ):
            v = values.get(name)
            if v is not None and not isinstance(v, str):
                raise ValueError(f"'{name}' must be a string")
        raw_id = data.get("id")
        if raw_id is not None and not isinstance(raw_id, str):
            raise ValueError("'id' must be a string")
        raw_id = raw_id.strip() if raw_id else None
        # Any spelling get() accepts: a bare id (any version) or an arXiv / HF paper URL.
        arxiv = find_arxiv_id(raw_id) if raw_id else None
        # null means "not given" for the two non-optional string fields
        for name in ("abstract", "source"):
            if name in values and values[name] is None:
                del values[name]
        values.setdefault("source", SOURCE_USER)
        if raw_id and not arxiv and not raw_id.startswith(TITLE_ID_PREFIX):
            # Another kind of id (a DOI, an OpenReview id...): the paper is known by its title,
            # so it joins the arXiv record of that title; a DOI is kept as the DOI.
            if values.get("doi") is None and (doi := clean_doi(raw_id)):
                values["doi"] = doi
            raw_id = None
        if values.get("doi") is not None:
            doi = clean_doi(values["doi"])
            if doi is None:
                raise ValueError(f"'doi' is not a DOI: {values['doi'][:40]!r}")
            values["doi"] = doi
        if values.get("journal_ref") is not None:
            values["journal_ref"] = clean_text(values["journal_ref"]) or None
        paper = cls.create(title=title, arxiv_id=arxiv, **values)
        if raw_id and not arxiv:
            paper.id = raw_id
        if why := record_problem(paper):
            raise ValueError(why)
        return paper


def _shown(value: int) -> str:
    # str() of an int past 4300 digits raises; a number that long is cut anyway.
    if value.bit_length() > 4 * _SHOWN_DIGITS:
        return "a number of over " + str(_SHOWN_DIGITS) + " digits"
    return str(value)


def count_problem(name: str, value: object) -> str | None:
    """Why *value* cannot be a count such as upvotes or a list position; None when it can."""
    if value is None:
        return None
    if type(value) is float and value.is_integer() and value >= 2**63:
        # JSON integers past 64 bits arrive as floats (orjson): say what is wrong with them.
        return f"'{name}' {int(value)} is out of range (0 to {MAX_COUNT:,})"
    if type(value) is not int or value < 0:
        return f"'{name}' must be a non-negative integer"
    if value > MAX_COUNT:
        return f"'{name}' {_shown(value)} is out of range (0 to {MAX_COUNT:,})"
    return None


def date_problem(name: str, value: date | None, *, today: date | None = None) -> str | None:
    """Why *value* cannot be a publication date (before 1800, or over a year ahead)."""
    if value is None:
        return None
    if today is None and EARLIEST_PUBLISHED <= value <= _IN_RANGE_UNTIL:
        return None
    latest = (today or datetime.now(UTC).date()) + PUBLISHED_AHEAD
    if not EARLIEST_PUBLISHED <= value <= latest:
        return (
            f"{name} {value.isoformat()} is out of range "
            f"({EARLIEST_PUBLISHED.isoformat()} to {latest.isoformat()})"
        )
    return None


def record_problem(paper: Paper, *, today: date | None = None) -> str | None:
    """Why *paper* cannot be stored as it is, or None. Every importer asks this last.

    Numbers must be in range (upvotes, list position, publication date) and text valid
    Unicode; the reason names the field (``'upvotes' 10000000000000000000 is out of range``).
    """
    return number_problem(paper, today=today) or text_problem(paper)


def number_problem(paper: Paper, *, today: date | None = None) -> str | None:
    """The range checks of :func:`record_problem` alone."""
    if paper.upvotes is not None and (why := count_problem("upvotes", paper.upvotes)):
        return why
    if paper.source_rank is not None and (why := count_problem("source_rank", paper.source_rank)):
        return why
    if paper.published is not None:
        return date_problem("'published'", paper.published, today=today)
    return None


_URL_FIELDS = ("url_abs", "url_pdf", "url_code", "url_project", "url_hf")


def text_problem(paper: Paper) -> str | None:
    """The Unicode check of :func:`record_problem` alone: a lone surrogate (only a JSON escape
    such as ``\\ud800`` makes one) cannot be stored as UTF-8."""
    for name in ("title", "abstract", "ai_summary", "doi", "journal_ref", *_URL_FIELDS):
        value = getattr(paper, name)
        if value and _not_unicode(value):
            return f"'{name}' is not valid Unicode (a lone surrogate)"
    for name in ("authors", "categories", "ai_keywords"):
        if any(_not_unicode(x) for x in getattr(paper, name)):
            return f"'{name}' is not valid Unicode (a lone surrogate)"
    return None


def _not_unicode(text: str) -> bool:
    if text.isascii():  # O(1) on CPython's compact strings
        return False
    try:
        text.encode()
    except UnicodeEncodeError:
        return True
    return False


_BIBLIO = (
    "title",
    "abstract",
    "authors",
    "published",
    "categories",
    "url_abs",
    "url_pdf",
    "doi",
    "journal_ref",
)
_SOCIAL = ("source_rank", "upvotes", "ai_summary", "ai_keywords", "url_hf")
_LINKS = ("url_code", "url_project")


def _empty(value: object) -> bool:
    return value is None or value == "" or value == []


def merge(existing: Paper, incoming: Paper) -> Paper:
    """Merge two records of the same paper into a new one.

    Bibliographic fields come from the more authoritative source (arXiv over Hugging Face),
    social fields (upvotes, trending rank, AI summary) from the source that has them, the
    newer import winning between equals. An arXiv id always replaces a title-derived id.
    Empty values never overwrite known ones.
    """
    result = dataclasses.replace(existing)
    incoming_wins = _AUTHORITY.get(incoming.source, 0) >= _AUTHORITY.get(existing.source, 0)
    for name in _BIBLIO:
        new = getattr(incoming, name)
        if _empty(new):
            continue
        if incoming_wins or _empty(getattr(existing, name)):
            setattr(result, name, new)
    for name in _SOCIAL + _LINKS:
        new = getattr(incoming, name)
        if not _empty(new):
            setattr(result, name, new)
    if incoming.arxiv_id and not existing.arxiv_id:
        result.id = incoming.id
    if incoming_wins:
        result.source = incoming.source
    return result
