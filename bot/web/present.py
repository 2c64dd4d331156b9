"""Papers as the web site shows them: readable text, safe links, a citation line, JSON.

Everything here is plain data for the templates (which escape it) and for the JSON API. Paper
text is untrusted: control and bidi-override characters are dropped, LaTeX becomes Unicode
(:func:`bot.text.readable`, as on the Discord cards), and only http(s) links are ever used.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

from bot import cite
from bot.models import Paper
from bot.text import cut_at_sentence, readable

URL_MAX = 2048
SNIPPET_CHARS = 300
AUTHORS_IN_LIST = 6
AUTHORS_IN_CITATION = 20

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")
_NOT_IN_URL = re.compile(r"[\s\x00-\x1f\x7f]")
_URL_FIELDS = ("url_abs", "url_pdf", "url_code", "url_project", "url_hf")
_FIELDS = tuple(f.name for f in dataclasses.fields(Paper))


def clean(text: str | None) -> str:
    """*text* without control or bidi-override characters, white space collapsed."""
    if not text:
        return ""
    return " ".join(_CONTROL.sub("", text).split())


def safe_url(url: str | None) -> str | None:
    """*url* when it is an http(s) link with a host (no other scheme is ever linked)."""
    if not url:
        return None
    url = url.strip()
    if len(url) > URL_MAX or _NOT_IN_URL.search(url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    return url


def paper_path(root: str, paper_id: str) -> str:
    """The path (after *root*: the site's path prefix or its whole base URL) of a paper's page.
    Old arXiv ids keep their slash."""
    return f"{root}/papers/{quote(paper_id, safe='/')}"


def links(paper: Paper) -> list[tuple[str, str]]:
    """(label, url) for each known, safe link of the paper, in reading order."""
    candidates = (
        ("arXiv", paper.url_abs),
        ("PDF", paper.url_pdf),
        ("Code", paper.url_code),
        ("Project", paper.url_project),
        ("Hugging Face", paper.url_hf),
    )
    return [(label, url) for label, raw in candidates if (url := safe_url(raw))]


def author_names(paper: Paper) -> list[str]:
    return [name for name in (clean(readable(a)) for a in paper.authors) if name]


def short_authors(names: list[str], shown: int = AUTHORS_IN_LIST) -> str:
    if len(names) <= shown:
        return ", ".join(names)
    return ", ".join(names[:shown]) + f" and {len(names) - shown} more"


def citation(paper: Paper) -> str:
    """The paper's APA reference, as ``/cite`` gives it (bot/cite.py)."""
    return cite.apa(paper)


def bibtex(paper: Paper) -> str:
    """The paper's BibTeX entry, as ``/cite`` gives it (bot/cite.py)."""
    return cite.bibtex(paper)


@dataclass(frozen=True, slots=True)
class PaperView:
    """One paper, ready for a template."""

    id: str
    path: str
    title: str
    authors: str
    all_authors: list[str]
    published: str
    categories: list[str]
    snippet: str
    abstract: str
    summary: str
    links: list[tuple[str, str]]
    citation: str
    bibtex: str
    upvotes: int | None
    source_rank: int | None
    why: str | None = None

    @classmethod
    def of(cls, paper: Paper, root: str, *, why: str | None = None) -> PaperView:
        abstract = clean(readable(paper.abstract))
        names = author_names(paper)
        return cls(
            id=paper.id,
            path=paper_path(root, paper.id),
            title=clean(readable(paper.title)) or "Untitled",
            authors=short_authors(names),
            all_authors=names,
            published=paper.published.isoformat() if paper.published else "",
            categories=[clean(c) for c in paper.categories[:8] if clean(c)],
            snippet=cut_at_sentence(abstract, SNIPPET_CHARS),
            abstract=abstract,
            summary=clean(readable(paper.ai_summary or "")),
            links=links(paper),
            citation=citation(paper),
            bibtex=bibtex(paper),
            upvotes=paper.upvotes,
            source_rank=paper.source_rank,
            why=why,
        )


def paper_json(paper: Paper, base_url: str) -> dict[str, Any]:
    """The API's form of a paper: the stored record (links only when safe), its readable
    title and abstract, and its page on this site."""
    # Paper.to_dict's fields, without dataclasses.asdict's deep copy (a tenth of the time)
    data: dict[str, Any] = {name: getattr(paper, name) for name in _FIELDS}
    for key in ("authors", "categories", "ai_keywords"):
        data[key] = list(data[key])
    data["published"] = paper.published.isoformat() if paper.published else None
    for key in _URL_FIELDS:
        data[key] = safe_url(data[key])
    data["title_text"] = clean(readable(paper.title))
    data["abstract_text"] = clean(readable(paper.abstract))
    data["page"] = paper_path(base_url.rstrip("/"), paper.id)
    data["citation"] = citation(paper)
    return data
