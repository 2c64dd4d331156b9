"""Paper references in free text: what the "Find papers" message action looks for.

Pure functions, no I/O and no Discord. :func:`find_references` reads a message and returns,
in the order they appear and without repeats:

* arXiv ids, from arXiv URLs (``abs``, ``pdf`` with or without ``.pdf``, ``html``, any
  version, ``export.`` and ``www.`` hosts), Hugging Face paper URLs (``huggingface.co/papers``
  and ``hf.co/papers``), arXiv DOIs (``10.48550/arXiv.<id>``), ``arXiv:<id>`` and bare ids,
  new style (``2401.12345v2``) and old style (``hep-th/9901001``);
* other DOIs (``10.<registrant>/<suffix>``), which the store cannot resolve (it keeps no
  DOIs) but which the answer names;
* title candidates: each line with the references and decoration taken out, and the parts of
  it a citation is made of (quoted text, pieces between ``. `` / `` - `` / `` | ``), for an
  exact normalised-title lookup when the ids find nothing.

A bare number is taken for an arXiv id only when it could be one: ``YYMM.NNNN`` from April
2007 (five digits from January 2015), ``archive/YYMMNNN`` with a known archive from August
1991 to March 2007, and not inside a longer token (``v1.2401.12345``, a path, a version).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from bot.models import fast_title_key, normalize_arxiv_id

MAX_REFERENCES = 25  # ids looked at per message: one select menu's worth of results
MAX_TITLE_CANDIDATES = 60
TITLE_MIN_WORDS = 2
TITLE_MIN_CHARS = 12  # of the normalised title: "attention" alone is not a title
TITLE_MAX_CHARS = 300

# The arXiv archives of old-style ids (before April 2007); a bare "word/1234567" is an id only
# with one of these in front.
OLD_ARCHIVES = frozenset(
    {
        "acc-phys", "adap-org", "alg-geom", "ao-sci", "astro-ph", "atom-ph", "bayes-an",
        "chao-dyn", "chem-ph", "cmp-lg", "comp-gas", "cond-mat", "cs", "dg-ga", "funct-an",
        "gr-qc", "hep-ex", "hep-lat", "hep-ph", "hep-th", "math", "math-ph", "mtrl-th", "nlin",
        "nucl-ex", "nucl-th", "patt-sol", "physics", "plasm-ph", "q-alg", "q-bio", "q-fin",
        "quant-ph", "solv-int", "stat", "supr-con",
    }
)  # fmt: skip

_NEW = r"\d{4}\.\d{4,5}"
_OLD = r"[a-z][a-z-]*(?:\.[a-z]{2})?/\d{7}"
_ID = rf"(?:{_NEW}|{_OLD})"
_VERSION = r"(?:v\d+)?"

_REFERENCE = re.compile(
    rf"""
      (?:(?:www\.|export\.)?arxiv\.org/(?:abs|pdf|html)/(?P<url>{_ID}){_VERSION}(?:\.pdf)?)
    | (?:(?:www\.)?(?:huggingface|hf)\.co/papers/(?P<hf>{_NEW}){_VERSION})
    | (?P<doi>\b10\.\d{{4,9}}/[^\s<>"'`|\\]+)
    | (?:\barxiv\s*[:.]?\s*(?P<prefixed>{_ID}){_VERSION}(?![\w/]))
    | (?<![\w./-])(?P<bare>{_ID}){_VERSION}(?![\w/]|\.\d)
    """,
    re.IGNORECASE | re.VERBOSE | re.ASCII,
)
_ARXIV_DOI = re.compile(r"10\.48550/arxiv\.(.+)", re.IGNORECASE | re.ASCII)
_ANY_URL = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
_DOI_TRAILING = ".,;:!?*_~"
_PAIRS = {")": "(", "]": "["}


@dataclass(frozen=True, slots=True)
class References:
    """What :func:`find_references` found, each list in order of appearance, no repeats."""

    arxiv_ids: list[str] = field(default_factory=list)  # version-less, normalised
    dois: list[str] = field(default_factory=list)  # DOIs that are not arXiv's
    titles: list[str] = field(default_factory=list)  # candidate titles, best guesses first

    @property
    def empty(self) -> bool:
        return not (self.arxiv_ids or self.dois or self.titles)


def plausible_bare_id(text: str) -> bool:
    """Whether a bare ``2401.12345`` / ``hep-th/9901001`` (no prefix, no URL) can be an id."""
    new = re.fullmatch(r"(\d\d)(\d\d)\.(\d{4,5})", text)
    if new is not None:
        yymm = int(new[1] + new[2])
        if not 1 <= int(new[2]) <= 12 or yymm < 704:
            return False
        return len(new[3]) == (5 if yymm >= 1501 else 4)
    old = re.fullmatch(r"([a-z][a-z-]*)(?:\.[a-z]{2})?/(\d\d)(\d\d)\d{3}", text, re.IGNORECASE)
    if old is None or old[1].lower() not in OLD_ARCHIVES or not 1 <= int(old[3]) <= 12:
        return False
    year = int(old[2])
    return year >= 91 or (year, int(old[3])) <= (7, 3)


def clean_doi(raw: str) -> str:
    """*raw* without the punctuation a sentence or Markdown put after it (an unbalanced
    closing bracket included: ``(doi:10.1/x)``, ``[paper](https://doi.org/10.1/x)``)."""
    doi = raw
    while doi:
        last = doi[-1]
        unbalanced = last in _PAIRS and doi.count(last) > doi.count(_PAIRS[last])
        if last not in _DOI_TRAILING and not unbalanced:
            break
        doi = doi[:-1]
    return doi


def find_references(text: str, *, limit: int = MAX_REFERENCES) -> References:
    """The paper references in *text* (see the module docstring); at most *limit* ids."""
    ids: dict[str, None] = {}
    dois: dict[str, str] = {}  # casefolded -> as written (DOIs ignore case)
    spans: list[tuple[int, int]] = []
    for match in _REFERENCE.finditer(text):
        kind = match.lastgroup
        value = match[kind] if kind else None
        if value is None:
            continue
        if kind == "doi":
            doi = clean_doi(value)
            arxiv = _ARXIV_DOI.fullmatch(doi)
            found = normalize_arxiv_id(arxiv[1]) if arxiv else None
            if found:
                ids.setdefault(found)
            elif not arxiv:
                dois.setdefault(doi.casefold(), doi)
        elif kind == "bare" and not plausible_bare_id(value):
            continue
        elif (found := normalize_arxiv_id(value)) is not None:
            ids.setdefault(found)
        spans.append(match.span())
    spans.extend(m.span() for m in _ANY_URL.finditer(text))
    return References(
        arxiv_ids=list(ids)[:limit],
        dois=list(dois.values())[:limit],
        titles=title_candidates(_blank(text, spans)),
    )


def _blank(text: str, spans: list[tuple[int, int]]) -> str:
    """*text* with the references and links in *spans* (which may overlap) made spaces."""
    if not spans:
        return text
    chars = list(text)
    for start, end in spans:
        chars[start:end] = " " * (end - start)
    return "".join(chars)


_LEAD = re.compile(r"^(?:\s*(?:>+|[-*•·+]|\d{1,3}[.)]|\[\d{1,3}\]|#{1,6})\s+)+")
_MARKUP = re.compile(r"\*\*|__|~~|\|\||`+|\*|_(?=\W)|(?<=\W)_|^_|_$")
_QUOTED = re.compile(r"[\"“”«»„]([^\"“”«»„\n]{8,300})[\"“”«»„]")
_SPLIT = re.compile(r"(?<=\w[.?!])\s+|\s+[-–—|]\s+")
_TRAILING_NOTE = re.compile(r"\s*[(\[][^()\[\]]{0,80}[)\]]\s*$")
_LABEL = re.compile(r"^(?:title|paper|re|fwd?)\s*:\s*", re.IGNORECASE)


def title_candidates(text: str) -> list[str]:
    """Strings of *text* that may be a paper's title, most likely first: whole lines, then
    quoted text and the pieces of citation-like lines. Each has at least
    :data:`TITLE_MIN_WORDS` words and :data:`TITLE_MIN_CHARS` characters once normalised."""
    whole: list[str] = []
    parts: list[str] = []
    for raw in text.splitlines():
        line = " ".join(_LEAD.sub("", raw).split())
        if not line:
            continue
        whole.append(line)
        whole.append(_TRAILING_NOTE.sub("", line))
        parts.extend(m[1] for m in _QUOTED.finditer(raw))
        parts.extend(_SPLIT.split(line))
    seen: dict[str, str] = {}
    for candidate in (*whole, *parts):
        title = _tidy(candidate)
        key = fast_title_key(title)
        if (
            len(key) >= TITLE_MIN_CHARS
            and len(title) <= TITLE_MAX_CHARS
            and key.count(" ") + 1 >= TITLE_MIN_WORDS
        ):
            seen.setdefault(key, title)
        if len(seen) >= MAX_TITLE_CANDIDATES:
            break
    return list(seen.values())


def _tidy(text: str) -> str:
    text = _MARKUP.sub("", text)
    text = _LABEL.sub("", " ".join(text.split()))
    return text.strip(" \"'“”«»„‘’.,;:!?()[]{}<>-–—|")
