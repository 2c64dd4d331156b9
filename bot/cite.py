"""Citations of papers: BibTeX, APA-style text, and reading-list files (BibTeX, RIS, CSV).

Pure: no Discord, no I/O. BibTeX is written by bibtexparser (v2) and Unicode encoded as
LaTeX by pylatexenc:

* Title and abstract are LaTeX already (arXiv's metadata): they go in as stored, with only
  their non-ASCII characters encoded (``Itô`` -> ``It{\\^o}``) and the bare ``%``, ``&`` and
  ``#`` a source left unescaped (a ``%`` would comment out the rest of the line, closing brace
  included). A value with unbalanced braces cannot be written: it goes in as plain text.
* Plain fields (authors, journal reference) are text: every special character is encoded
  (``&`` -> ``{\\&}``, ``ü`` -> ``{\\"u}``). URLs and DOIs are written verbatim.

An arXiv paper is ``@misc`` with ``eprint``, ``archivePrefix`` and ``primaryClass`` (arXiv's
own export); with a journal reference it becomes ``@article`` with ``journal``, and a known
DOI is added either way. Keys are stable: first author's surname, year, first significant
title word (``vaswani2017attention``); an export de-duplicates them deterministically.

APA, RIS and CSV are plain text for people and reference managers: LaTeX shown as Unicode
(:func:`bot.text.readable`).
"""

from __future__ import annotations

import csv
import io
import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from bibtexparser.entrypoint import write_string
from bibtexparser.library import Library
from bibtexparser.middlewares.parsestack import default_unparse_stack
from bibtexparser.model import Entry, Field
from bibtexparser.writer import BibtexFormat
from pylatexenc.latexencode import UnicodeToLatexEncoder

from bot.models import Paper, clean_text
from bot.names import Name, fold_name, initials, split_name
from bot.text import readable

log = logging.getLogger(__name__)

STYLES = ("bibtex", "apa")
EXPORT_FORMATS = ("bibtex", "ris", "csv")
APA_AUTHORS_MAX = 20  # APA 7: up to 20 names; more: the first 19, an ellipsis, the last
ARXIV_DOI = "10.48550/arXiv."

_PLAIN = UnicodeToLatexEncoder(
    non_ascii_only=False,
    replacement_latex_protection="braces-all",
    unknown_char_policy="keep",  # e.g. CJK names: kept as UTF-8 (biber and modern BibTeX read it)
    unknown_char_warning=False,
)
_NON_ASCII = UnicodeToLatexEncoder(
    non_ascii_only=True,
    replacement_latex_protection="braces-all",
    unknown_char_policy="keep",
    unknown_char_warning=False,
)
# The ASCII characters the plain encoder changes (", #, $, %, &, <, >, \\, ^, _, {, }, ~).
_PLAIN_CHANGES = frozenset(c for c in map(chr, range(32, 127)) if _PLAIN.unicode_to_latex(c) != c)
_BARE_SPECIAL = re.compile(r"(?<!\\)([%&#])")
_ET_AL = re.compile(r"(?:and\s+)?(?:et\.?\s*al\.?|others)", re.IGNORECASE)
_ET_AL_END = re.compile(r",?\s+(?:and\s+)?(?:et\.?\s*al\.?|others)\s*$", re.IGNORECASE)
_KEY_WORD = re.compile(r"[a-z0-9]+")
_KEY_SKIP = frozenset(
    [
        "a",
        "an",
        "the",
        "on",
        "of",
        "in",
        "for",
        "to",
        "and",
        "with",
        "from",
        "by",
        "via",
        "at",
        "is",
        "are",
        "towards",
        "toward",
    ]
)
_NEW_ID_YEAR = re.compile(r"^(\d{2})(\d{2})\.\d{4,5}$")
_OLD_ID_YEAR = re.compile(r"/(\d{2})\d{5}$")


# -- the parts every format needs -----------------------------------------------------------


def named(authors: Iterable[str]) -> list[str]:
    """The authors that are names: a blank or a lone symbol (``~``) is a source's slip, and
    "et al." (or "others") stands for the authors not listed (:func:`more_authors`)."""
    out = []
    for author in authors:
        name = _ET_AL_END.sub("", _matched_braces_only(author))
        if any(ch.isalnum() for ch in name) and not _ET_AL.fullmatch(name.strip()):
            out.append(name)
    return out


def more_authors(authors: Iterable[str]) -> bool:
    """Whether the list ends in "et al." (or "others"): more authors than it names."""
    return any(_ET_AL.fullmatch(a.strip()) or _ET_AL_END.search(a) for a in authors)


def year_of(paper: Paper) -> int | None:
    """The publication year: the date when known, else the one an arXiv id carries."""
    if paper.published:
        return paper.published.year
    if paper.arxiv_id:
        m = _NEW_ID_YEAR.match(paper.arxiv_id) or _OLD_ID_YEAR.search(paper.arxiv_id)
        if m:
            yy = int(m.group(1))
            return 2000 + yy if yy < 91 else 1900 + yy
    return None


def primary_class(paper: Paper) -> str | None:
    return paper.categories[0] if paper.categories else None


def paper_url(paper: Paper) -> str | None:
    return paper.url_abs or (
        f"https://arxiv.org/abs/{paper.arxiv_id}" if paper.arxiv_id else paper.url_hf
    )


def cite_key(paper: Paper) -> str:
    """``surname`` + ``year`` + first significant title word, ASCII letters and digits."""
    surname = ""
    for author in named(paper.authors):
        name = split_name(author)
        words = _KEY_WORD.findall(fold_name(" ".join(name.last)))
        if words:
            surname = "".join(words)
            break
    title_words = _KEY_WORD.findall(fold_name(readable(paper.title)))
    word = next(
        (w for w in title_words if w not in _KEY_SKIP), title_words[0] if title_words else ""
    )
    year = year_of(paper)
    key = f"{surname or 'anon'}{year or ''}{word}"
    return key[:60]


def unique_keys(papers: Sequence[Paper]) -> dict[str, str]:
    """Paper id -> its key in a list of papers: :func:`cite_key`, and when several papers
    share one, the one with the smallest id keeps it and the others get ``b``, ``c``, ...
    (the same list always gets the same keys)."""
    keys: dict[str, str] = {}
    used: set[str] = set()
    for paper in sorted({p.id: p for p in papers}.values(), key=lambda p: p.id):
        base = cite_key(paper)
        key, n = base, 1
        while key in used:
            n += 1
            key = base + _suffix(n)
        used.add(key)
        keys[paper.id] = key
    return keys


def _suffix(n: int) -> str:
    """The *n*-th paper with a key: 2 -> b, 3 -> c, ..., 26 -> z, then z27, z28, ..."""
    return "abcdefghijklmnopqrstuvwxyz"[n - 1] if n <= 26 else f"z{n}"


# -- BibTeX ----------------------------------------------------------------------------------


def _balanced(text: str) -> bool:
    """Whether *text* can be a brace-delimited BibTeX value: its braces balance as BibTeX
    counts them (every brace, escaped or not: ``\\{`` opens a group too) and it does not end
    in a lone backslash (which would escape the closing brace)."""
    depth = 0
    escaped = False
    for ch in text:
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth < 0:
                return False
        escaped = not escaped if ch == "\\" else False
    return depth == 0 and not escaped


def _matched_braces_only(text: str) -> str:
    """*text* without the braces that do not pair up (a source's slip): BibTeX counts every
    brace, even an encoded one, so a lone brace would end the field early or never."""
    opened: list[int] = []
    drop: set[int] = set()
    for i, ch in enumerate(text):
        if ch == "{":
            opened.append(i)
        elif ch == "}":
            if opened:
                opened.pop()
            else:
                drop.add(i)
    drop.update(opened)
    return "".join(ch for i, ch in enumerate(text) if i not in drop) if drop else text


def latex_value(text: str) -> str:
    """A LaTeX field (title, abstract) for BibTeX: kept as LaTeX, non-ASCII encoded."""
    text = clean_text(text)
    if not _balanced(text):
        return plain_value(readable(text))
    text = _BARE_SPECIAL.sub(r"\\\1", text)
    # (the encoder walks every character: most of arXiv is ASCII, which it leaves as it is)
    return text if text.isascii() else str(_NON_ASCII.unicode_to_latex(text))


def plain_value(text: str) -> str:
    """A plain-text field for BibTeX: every LaTeX special character and non-ASCII encoded."""
    text = clean_text(_matched_braces_only(text))
    if text.isascii() and _PLAIN_CHANGES.isdisjoint(text):
        return text  # nothing the encoder would change (most names): skip its walk
    return str(_PLAIN.unicode_to_latex(text))


def bibtex_name(author: str) -> str:
    """One author for BibTeX's ``author`` list: ``First von Last``, ``von Last, Jr, First``
    when there is a suffix, an organisation in braces (never split into initials)."""
    name = split_name(author)
    if name.corporate or (not name.given and len(name.last) > 1):
        return "{" + plain_value(" ".join(name.last)) + "}"
    if name.jr:
        parts = [name.surname, " ".join(name.jr), " ".join(name.given)]
        return ", ".join(plain_value(p) for p in parts if p)
    text = plain_value(" ".join(name.given + name.von + name.last))
    # " and " inside a name would split it in two
    return "{" + text + "}" if re.search(r"\sand\s", text, re.IGNORECASE) else text


def bibtex_names(authors: Sequence[str]) -> list[str]:
    """The ``author`` list of BibTeX, encoded; ``others`` last when the list said "et al."."""
    names = [bibtex_name(a) for a in named(authors)]
    return [*names, "others"] if names and more_authors(authors) else names


def bibtex_entry(
    paper: Paper,
    key: str | None = None,
    *,
    abstract: bool = False,
    names: Sequence[str] | None = None,
) -> Entry:
    """The paper as a bibtexparser :class:`Entry` (see the module docstring). *names*: the
    ``author`` list already encoded (default: every author of the paper)."""
    if names is None:
        names = bibtex_names(paper.authors)
    entry_type = "article" if paper.journal_ref else "misc"
    fields = [Field("title", latex_value(paper.title))]
    if names:
        fields.append(Field("author", " and ".join(names)))
    if paper.journal_ref:
        fields.append(Field("journal", plain_value(paper.journal_ref)))
    if year := year_of(paper):
        fields.append(Field("year", str(year)))
    if paper.doi:
        fields.append(Field("doi", paper.doi))
    if paper.arxiv_id:
        fields += [Field("eprint", paper.arxiv_id), Field("archivePrefix", "arXiv")]
        if primary := primary_class(paper):
            fields.append(Field("primaryClass", primary))
    if url := paper_url(paper):
        fields.append(Field("url", url))
    if abstract and paper.abstract:
        fields.append(Field("abstract", latex_value(paper.abstract)))
    return Entry(entry_type, key or cite_key(paper), fields)


def _format() -> BibtexFormat:
    fmt = BibtexFormat()
    fmt.indent = "  "
    fmt.block_separator = "\n"
    return fmt


def write_bibtex(entries: Iterable[Entry]) -> str:
    library = Library()
    library.add(list(entries))
    # The entries are made for this file only: the writer may change them in place (its
    # default deep-copies every entry first).
    stack = default_unparse_stack(allow_inplace_modification=True)
    return str(write_string(library, unparse_stack=stack, bibtex_format=_format()))


def bibtex(paper: Paper, *, max_chars: int | None = None) -> str:
    """One paper's BibTeX entry; within *max_chars* by listing fewer authors (``and others``)
    when the whole list does not fit (a collaboration paper has thousands)."""
    names = bibtex_names(paper.authors)
    text = write_bibtex([bibtex_entry(paper, names=names)])
    if max_chars is None or len(text) <= max_chars:
        return text
    # Each name kept adds itself and " and " to the entry ending in "and others" (BibTeX
    # styles print "et al."): keep as many as fit, at least one.
    room = max_chars - len(write_bibtex([bibtex_entry(paper, names=["others"])]))
    kept = 0
    for name in names:
        room -= len(name) + len(" and ")
        if room < 0:
            break
        kept += 1
    names = [n for n in names if n != "others"]
    return write_bibtex([bibtex_entry(paper, names=[*names[: max(kept, 1)], "others"])])


def bibtex_file(papers: Sequence[Paper]) -> str:
    """A ``.bib`` file of *papers* (abstracts included), keys made unique."""
    keys = unique_keys(papers)
    return write_bibtex(bibtex_entry(p, keys[p.id], abstract=True) for p in papers)


# -- APA ---------------------------------------------------------------------------------------


def apa_name(name: Name) -> str:
    if name.corporate or not name.given:
        return " ".join(name.von + name.last)
    text = f"{name.surname}, {initials(name)}" if initials(name) else name.surname
    return f"{text}, {' '.join(name.jr)}" if name.jr else text


def apa_authors(authors: Sequence[str]) -> str:
    names = [apa_name(split_name(a)) for a in named(authors)]
    names = [n for n in names if n]
    if not names:
        return ""
    if more_authors(authors) and len(names) < APA_AUTHORS_MAX:
        return ", ".join(names) + ", et al."
    if len(names) == 1:
        return names[0]
    if len(names) > APA_AUTHORS_MAX:
        return ", ".join(names[: APA_AUTHORS_MAX - 1]) + ", . . . " + names[-1]
    return ", ".join(names[:-1]) + ", & " + names[-1]


def doi_url(paper: Paper) -> str | None:
    if paper.doi:
        return f"https://doi.org/{paper.doi}"
    if paper.arxiv_id:
        return f"https://doi.org/{ARXIV_DOI}{paper.arxiv_id}"
    return None


def apa(paper: Paper) -> str:
    """``Surname, I., & Surname, I. (Year). Title. arXiv. https://doi.org/10.48550/arXiv.ID``

    With a journal reference the journal replaces "arXiv" and the paper's DOI arXiv's."""
    year = year_of(paper)
    when = f"({year})" if year else "(n.d.)"
    title = _sentence(readable(paper.title))
    source = readable(paper.journal_ref) if paper.journal_ref else "arXiv" if paper.arxiv_id else ""
    authors = apa_authors(paper.authors)
    head = f"{authors} {when}. {title}" if authors else f"{title} {when}."
    parts = [head]
    if source:
        parts.append(_sentence(source))
    link = doi_url(paper) if (paper.doi or paper.arxiv_id) else paper_url(paper)
    text = " ".join(parts)
    return f"{text} {link}" if link else text


def _sentence(text: str) -> str:
    text = text.strip()
    return text if text.endswith((".", "?", "!")) else text + "."


# -- reading-list files ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ExportFile:
    filename: str
    data: bytes
    description: str  # e.g. "BibTeX"


def ris_file(papers: Sequence[Paper]) -> str:
    """RIS (``TAG  - value`` lines, ``ER  -`` after each record): preprints as ``UNPB``,
    papers with a journal reference as ``JOUR``."""
    keys = unique_keys(papers)
    lines: list[str] = []

    def add(tag: str, value: str | None) -> None:
        value = clean_text(value or "")
        if value:
            lines.append(f"{tag}  - {value}")

    for paper in papers:
        add("TY", "JOUR" if paper.journal_ref else "UNPB" if paper.arxiv_id else "GEN")
        add("ID", keys[paper.id])
        add("TI", readable(paper.title))
        for author in named(paper.authors):
            name = split_name(author)
            if name.corporate or not name.given:
                add("AU", " ".join(name.von + name.last))
            else:
                add(
                    "AU",
                    ", ".join(
                        p for p in (name.surname, " ".join(name.given), " ".join(name.jr)) if p
                    ),
                )
        if year := year_of(paper):
            add("PY", str(year))
        if paper.published:
            add("DA", paper.published.strftime("%Y/%m/%d/"))
        if paper.journal_ref:
            add("JO", readable(paper.journal_ref))
        elif paper.arxiv_id:
            add("PB", "arXiv")
        add("DO", paper.doi or (f"{ARXIV_DOI}{paper.arxiv_id}" if paper.arxiv_id else None))
        add("UR", paper_url(paper))
        add("L1", paper.url_pdf)
        if paper.arxiv_id:
            add("AN", f"arXiv:{paper.arxiv_id}")
        for category in paper.categories:
            add("KW", category)
        add("AB", readable(paper.abstract))
        lines.append("ER  - ")
        lines.append("")
    return "\r\n".join(lines)


CSV_COLUMNS = (
    "key",
    "id",
    "title",
    "authors",
    "year",
    "published",
    "categories",
    "doi",
    "journal_ref",
    "url",
    "pdf",
    "abstract",
)
# A cell starting with one of these runs as a formula in a spreadsheet (CSV injection):
# such cells get a leading apostrophe, the usual defence.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: str) -> str:
    return "'" + value if value.startswith(_FORMULA_START) else value


def csv_file(papers: Sequence[Paper]) -> str:
    """One row per paper (:data:`CSV_COLUMNS`), authors separated by ``; ``."""
    keys = unique_keys(papers)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for p in papers:
        year = year_of(p)
        row = (
            keys[p.id],
            p.id,
            readable(p.title),
            "; ".join(clean_text(a) for a in named(p.authors)),
            str(year) if year else "",
            p.published.isoformat() if p.published else "",
            " ".join(p.categories),
            p.doi or "",
            clean_text(p.journal_ref or ""),
            paper_url(p) or "",
            p.url_pdf or "",
            readable(p.abstract),
        )
        writer.writerow([_cell(v) for v in row])
    return out.getvalue()


def export(papers: Sequence[Paper], fmt: str, *, name: str = "paperbot-reading-list") -> ExportFile:
    """*papers* as a file in format *fmt* (one of :data:`EXPORT_FORMATS`)."""
    if fmt == "bibtex":
        return ExportFile(f"{name}.bib", bibtex_file(papers).encode("utf-8"), "BibTeX")
    if fmt == "ris":
        return ExportFile(f"{name}.ris", ris_file(papers).encode("utf-8"), "RIS")
    if fmt == "csv":
        # With a byte order mark, so spreadsheets read the UTF-8 (accents, Greek) correctly.
        return ExportFile(f"{name}.csv", csv_file(papers).encode("utf-8-sig"), "CSV")
    raise ValueError(f"unknown export format {fmt!r} (expected one of {', '.join(EXPORT_FORMATS)})")
