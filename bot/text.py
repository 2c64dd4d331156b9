"""Paper text for people: LaTeX as Unicode, abstracts cut at a sentence.

Titles and abstracts keep their LaTeX in the store (citations need it); what members read
goes through :func:`readable`: ``$\\alpha$`` -> ``α``, ``$256\\times256$`` -> ``256×256``,
``\\textit{…}`` -> ``…``, ``Bal\\'azs`` -> ``Balázs``, ``x^2`` -> ``x²``. The conversion is
pylatexenc's (a maintained LaTeX parser, tolerant of broken input), with what real abstracts
need around it: a ``%`` is a percent sign (not a LaTeX comment that would swallow the rest
of the line), ``\\cite{…}`` and ``\\ref{…}`` are dropped, a ``~`` is a space, and the
"10times" left where a scraper lost a backslash reads ``10×``. Text with no backslash, dollar
or brace is returned as it is.
"""

from __future__ import annotations

import functools
import logging
import re
import unicodedata

from pylatexenc.latex2text import LatexNodes2Text

log = logging.getLogger(__name__)

_LATEX_HINT = re.compile(r"[\\$^_{}~]")
_BARE_PERCENT = re.compile(r"(?<!\\)%")
_CITE = re.compile(r"\s*\\(?:cite[tp]?|citep?|ref|eqref|label|footnote)\*?\{[^{}]*\}")
_GLUED_TIMES = re.compile(r"(?<=\d)times(?=\s*\d|\b)")
_SPACES = re.compile(r"\s+")
_SUPERSCRIPT = str.maketrans("0123456789+-=()nia", "⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻⁼⁽⁾ⁿⁱᵃ")
_SUBSCRIPT = str.maketrans("0123456789+-=()aeoxijkmnpst", "₀₁₂₃₄₅₆₇₈₉₊₋₌₍₎ₐₑₒₓᵢⱼₖₘₙₚₛₜ")
_SUP_CHARS = set("0123456789+-=()nia")
_SUB_CHARS = set("0123456789+-=()aeoxijkmnpst")
_SCRIPT = re.compile(r"([\^_])(?:\{([^{}]{1,8})\}|([0-9A-Za-z+\-=()]))")
_MATH = re.compile(r"(?<!\\)\$[^$]{1,400}(?<!\\)\$")
_DOLLAR = re.compile(r"(?<!\\)(?:\\\\)*\$+")
_ABBREVIATIONS = (
    (re.compile(r"\\eg\b\.?"), "e.g."),
    (re.compile(r"\\ie\b\.?"), "i.e."),
    (re.compile(r"\\etal\b\.?"), "et al."),
    (re.compile(r"\\wrt\b\.?"), "w.r.t."),
)
_CONVERTER = LatexNodes2Text(math_mode="text", strict_latex_spaces=False)
_CACHE = 4096


def _money_dollars(text: str) -> str:
    """*text* with the ``$`` that open no math escaped (``\\$``): a dollar sign that has no
    partner, or one before a digit whose partner cannot close math (Pandoc's rule: a closing
    ``$`` follows a non-space and is not followed by a digit), so ``$5 and $10`` is money."""
    singles = [
        m.end() - 1 for m in _DOLLAR.finditer(text) if m.group(0).lstrip("\\") == "$"
    ]  # ``$$`` (display math) is left to the converter
    money: list[int] = []
    i = 0
    while i < len(singles):
        at = singles[i]
        partner = singles[i + 1] if i + 1 < len(singles) else None
        closes = partner is not None
        if partner is not None and text[at + 1 : at + 2].isdigit():
            closes = (
                not text[partner - 1].isspace() and not text[partner + 1 : partner + 2].isdigit()
            )
        if closes:
            i += 2
        else:
            money.append(at)
            i += 1
    for at in reversed(money):
        text = text[:at] + "\\" + text[at:]
    return text


def _scripts(match: re.Match[str]) -> str:
    mark, braced, single = match.group(1), match.group(2), match.group(3)
    body = braced if braced is not None else single
    allowed, table = (_SUP_CHARS, _SUPERSCRIPT) if mark == "^" else (_SUB_CHARS, _SUBSCRIPT)
    if body and all(ch in allowed for ch in body):
        return body.translate(table)
    return match.group(0)


@functools.lru_cache(maxsize=_CACHE)
def readable(text: str) -> str:
    """*text* with its LaTeX turned into Unicode, white space collapsed. Never raises."""
    if not text:
        return ""
    text = _GLUED_TIMES.sub("×", text)
    if not _LATEX_HINT.search(text):
        return _SPACES.sub(" ", text).strip()
    source = _CITE.sub("", text)
    for pattern, words in _ABBREVIATIONS:
        source = pattern.sub(words, source)
    source = _BARE_PERCENT.sub(r"\\%", source)
    if "$" in source:
        source = _money_dollars(source)
    # Sub- and superscripts of short runs (x^2, a_{ij}) as Unicode, inside math only: an
    # underscore in plain text is a name or a URL.
    source = _MATH.sub(lambda m: _SCRIPT.sub(_scripts, m.group(0)), source)
    try:
        converted = _CONVERTER.latex_to_text(source)
    except Exception:  # a parser bug on odd input must never cost a card
        log.debug("LaTeX conversion failed; showing the text as it is", exc_info=True)
        converted = source
    return _SPACES.sub(" ", converted.replace("\xa0", " ")).strip()


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9(\[“\"'])")


def cut(text: str, limit: int, *, ellipsis: str = "…") -> str:
    """*text* in at most *limit* characters: whole, else cut on a word boundary with an
    ellipsis. The one trimming helper of the project (labels, card fields, messages); line
    breaks are kept (collapse white space first where a single line is wanted). Never leaves
    a dangling escape backslash (Markdown) behind."""
    if limit <= 0:
        return ""
    if len(text) <= limit:
        return text
    if limit <= len(ellipsis):
        return text[:limit]
    head = text[: _grapheme_start(text, limit - len(ellipsis))]
    space = head.rfind(" ")
    if space >= limit // 2:
        head = head[:space]
    return head.rstrip(" \\,;:.-–—") + ellipsis


_ZWJ = "\u200d"


def _joins_previous(ch: str) -> bool:
    """Whether *ch* belongs to the character before it: a combining mark (an accent of a
    decomposed letter), a variation selector, a joiner, an emoji skin tone or tag."""
    code = ord(ch)
    return (
        unicodedata.combining(ch) != 0
        or unicodedata.category(ch) in ("Mn", "Me", "Mc")
        or ch == _ZWJ
        or 0xFE00 <= code <= 0xFE0F
        or 0x1F3FB <= code <= 0x1F3FF
        or 0xE0020 <= code <= 0xE007F
    )


def _regional(ch: str) -> bool:
    return 0x1F1E6 <= ord(ch) <= 0x1F1FF


def _grapheme_start(text: str, at: int) -> int:
    """The nearest cut at or before *at* that does not split what reads as one character:
    a letter from its accents, an emoji sequence joined by ZWJ, a flag's two indicators."""
    while 0 < at < len(text) and (_joins_previous(text[at]) or text[at - 1] == _ZWJ):
        at -= 1
    if 0 < at < len(text) and _regional(text[at]):
        run = 0
        while run < at and _regional(text[at - 1 - run]):
            run += 1
        at -= run % 2
    return at


def cut_at_sentence(text: str, limit: int) -> str:
    """*text* in at most *limit* characters, ending at a sentence end when one falls in the
    last third of the room (else on a word boundary, with an ellipsis)."""
    text = _SPACES.sub(" ", text).strip()
    if len(text) <= limit:
        return text
    ends = [m.start() for m in _SENTENCE_END.finditer(text[: limit + 1])]
    good = [e for e in ends if e >= limit * 2 // 3 and e <= limit]
    if good:
        return text[: good[-1]]
    return cut(text, limit)


def one_line(text: str, limit: int) -> str:
    """*text* on one line (white space collapsed), cut to *limit* characters."""
    return cut(_SPACES.sub(" ", text).strip(), limit)
