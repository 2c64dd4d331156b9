"""The Hugging Face papers page (trending / daily list) saved as plain text.

Layout: a few page-chrome lines (``new``, ``Get trending papers in your email inbox!``,
``Subscribe``, ``byAK and the research community``, a date such as ``May 28``), then for each
paper a title line and an abstract line, separated by blank lines, in page order. The page has
no arXiv ids, authors or years, so papers get title ids and no publication date.

Links in an abstract are pulled out: the first code host link (GitHub, GitLab, Hugging Face
model/dataset repos...) becomes ``url_code``, the first other site ``url_project``. The abstract
keeps its sentence ("Code is available at https://github.com/x/y.") so it still reads as
written, but every URL in it is repaired the same way as the extracted link (``{url}`` template
leftovers removed), and the ``\\eg`` / ``\\ie`` macro leftovers are spelled out.

Robustness: page furniture (the header lines above, any date line such as ``June 3, 2025``)
is skipped wherever it appears. A title followed by another title-like line (short, not ending
like a sentence) becomes a paper with an empty abstract; a long line where a title is expected
is an abstract whose title is missing, reported as a :class:`RecordError`. Ranks count page
positions, so a lost paper leaves a gap rather than shifting the ones below it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from urllib.parse import urlsplit

from bot.ingest._common import Item, NumberedLines, RecordError
from bot.models import SOURCE_HF_PAGE, Paper, record_problem

__all__ = [
    "CHROME_LINES",
    "extract_links",
    "is_chrome",
    "iter_papers",
    "looks_like_page",
    "parse_lines",
    "tidy_abstract",
]

# Page furniture, compared case-insensitively on the stripped line.
CHROME_LINES = frozenset(
    {
        "new",
        "get trending papers in your email inbox!",
        "subscribe",
        "byak and the research community",
        "daily papers",
        "trending papers",
        "trending",
        "papers",
        "today",
        "yesterday",
        "this week",
        "this month",
        "previous",
        "next",
        "load more",
        "submit paper",
        "search",
    }
)
_MONTH = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?"
)
# "May 28", "May 28, 2025", "28 May 2025", "2025-05-28", "Week of May 26", "Week 22, 2025".
_DATE_LINE = re.compile(
    rf"^(?:(?:week\s+of\s+)?{_MONTH}\s+\d{{1,2}}(?:st|nd|rd|th)?(?:,?\s+\d{{4}})?"
    rf"|\d{{1,2}}\s+{_MONTH}(?:,?\s+\d{{4}})?"
    rf"|{_MONTH}\s+\d{{4}}"
    r"|\d{4}-\d{2}-\d{2}"
    r"|week\s+\d{1,2},?\s+\d{4})$",
    re.IGNORECASE,
)

# A title is one short line; an abstract is prose. A line after a title that is short and does
# not end like a sentence is taken as the next title (the previous paper had no abstract).
_TITLE_MAX = 300
_ABSTRACT_MIN = 150

_URL = re.compile(r"https?://[^\s<>\"']+", re.IGNORECASE)
_TEMPLATE = re.compile(r"\{[A-Za-z_]*\}")  # "{url}" left over from a page template
_TRAILING = ".,;:!?'\""
_CODE_HOSTS = frozenset(
    {
        "github.com",
        "gitlab.com",
        "bitbucket.org",
        "codeberg.org",
        "gitee.com",
        "sourceforge.net",
        "huggingface.co",
        "hf.co",
    }
)
_NOT_PROJECT_HOSTS = frozenset({"arxiv.org", "www.arxiv.org", "doi.org", "dx.doi.org"})
_MACROS = (
    (re.compile(r"\\eg\b"), "e.g."),
    (re.compile(r"\\ie\b"), "i.e."),
    (re.compile(r"\\etal\b\.?"), "et al."),
    (re.compile(r"\\vs\b\.?"), "vs."),
)


def iter_papers(lines: Iterable[str]) -> Iterator[Item]:
    """Papers from the page's text lines, ranked in page order (1 = top)."""
    return parse_lines(enumerate(lines, 1))


def parse_lines(numbered: NumberedLines) -> Iterator[Item]:
    """Like :func:`iter_papers`, over ``(line number, text)`` pairs (errors passed through)."""
    rank = 0
    title: str | None = None
    title_line = 0
    for item in numbered:
        if isinstance(item, RecordError):
            yield item
            continue
        lineno, raw = item
        line = raw.strip()
        if not line or is_chrome(line):
            continue
        if title is None:
            if len(line) > _TITLE_MAX:
                rank += 1
                yield RecordError(lineno, "abstract without a title line")
                continue
            title, title_line = line, lineno
            continue
        if _is_title_like(line):
            rank += 1
            yield _paper(title, "", rank, title_line)
            title, title_line = line, lineno
            continue
        rank += 1
        yield _paper(title, line, rank, title_line)
        title = None
    if title is not None:
        rank += 1
        yield _paper(title, "", rank, title_line)


def is_chrome(line: str) -> bool:
    """True for page furniture: the header lines and date lines such as ``May 28``."""
    return line.casefold() in CHROME_LINES or _DATE_LINE.match(line) is not None


def _is_title_like(line: str) -> bool:
    return len(line) < _ABSTRACT_MIN and not line.endswith((".", ".)", '."'))


def looks_like_page(lines: list[str]) -> bool:
    """Content sniffing: does this start of a text file look like a saved papers page?"""
    body = [s for s in (x.strip() for x in lines) if s]
    if not body:
        return False
    folded = {s.casefold() for s in body[:12]}
    if {"get trending papers in your email inbox!", "byak and the research community"} & folded:
        return True
    content = [s for s in body if not is_chrome(s)]
    if len(content) < 2:
        return False
    first, second = content[0], content[1]
    if first[0] in "{[<#" or len(first) > _TITLE_MAX or len(second) < _ABSTRACT_MIN:
        return False
    # Prose, not a log or a table: mostly letters and spaces.
    letters = sum(ch.isalpha() or ch == " " for ch in second)
    return letters > 0.8 * len(second)


def _paper(title: str, abstract: str, rank: int, line: int) -> Item:
    url_code, url_project = extract_links(abstract)
    paper = Paper.create(
        title=title,
        abstract=tidy_abstract(abstract),
        url_code=url_code,
        url_project=url_project,
        source=SOURCE_HF_PAGE,
        source_rank=rank,
    )
    if why := record_problem(paper):
        return RecordError(line, why)
    return paper


def clean_url(url: str) -> str:
    """Repair a URL cut out of prose: template leftovers, trailing punctuation, stray ``)``."""
    url = _TEMPLATE.sub("", url)
    while True:
        stripped = url.rstrip(_TRAILING)
        for opening, closing in ("()", "[]"):
            if stripped.endswith(closing) and stripped.count(opening) < stripped.count(closing):
                stripped = stripped[:-1]
        if stripped == url:
            return url
        url = stripped


def _is_code_url(url: str) -> bool | None:
    """True for a code host, False for another site, None for links that are neither."""
    parts = urlsplit(url)
    host = (parts.hostname or "").removeprefix("www.")
    if not host or "." not in host:
        return None
    if host in _NOT_PROJECT_HOSTS:
        return None
    if host in _CODE_HOSTS:
        path = parts.path.rstrip("/")
        if host in ("huggingface.co", "hf.co"):
            if path.startswith("/papers"):  # a paper page, not code
                return None
            if path.startswith("/spaces"):  # a demo
                return False
        # A bare host ("https://github.com") names no repository.
        return True if path.strip("/") else None
    return False


def extract_links(text: str) -> tuple[str | None, str | None]:
    """``(url_code, url_project)``: the first code-host link and the first other site link."""
    code: str | None = None
    project: str | None = None
    for match in _URL.finditer(text):
        url = clean_url(match.group(0))
        kind = _is_code_url(url)
        if kind is True and code is None:
            code = url.rstrip("/")  # one spelling per repository, for merging
        elif kind is False and project is None:
            project = url
    return code, project


def tidy_abstract(text: str) -> str:
    """The abstract as it should read on a card: URLs repaired, ``\\eg``-style macros spelled out."""
    if "://" in text:
        text = _URL.sub(_repair_url, text)
    if "\\" in text:
        for pattern, replacement in _MACROS:
            text = pattern.sub(replacement, text)
    text = " ".join(text.split())
    if text.endswith(" ."):  # "... at https://github.com/x/y ." (space before the full stop)
        text = text[:-2] + "."
    return text


def _repair_url(match: re.Match[str]) -> str:
    raw = match.group(0)
    url = clean_url(raw)
    # Keep the sentence's own punctuation after the link ("... at https://x.org/y.").
    tail = _TEMPLATE.sub("", raw)[len(url) :]
    return url + tail
