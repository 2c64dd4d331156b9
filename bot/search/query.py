"""Query text -> safe FTS5 expressions. Pure: no SQL execution, no I/O.

User text never reaches FTS5 as syntax. It is normalised, split into word tokens the way the
``unicode61`` tokenizer splits them, and every token is re-emitted as a double-quoted string,
so quotes, ``*``, ``-``, ``:``, ``NEAR(``, ``AND``/``OR``/``NOT``, emoji or NUL bytes are
just text. The index uses ``detail=column``, where a quoted string holding two tokens (a
phrase) is an error, so a Python token must never contain a character the tokenizer treats as
a separator: the splitter below keeps exactly letters and digits, minus the few code points
SQLite's (older) Unicode tables class as separators.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass

from bot.models import find_arxiv_id

MAX_QUERY_CHARS = 300
MAX_TOKENS = 12
MAX_TOKEN_CHARS = 64

# Letters and digits, as unicode61 sees them. U+19B0..U+19C9 and U+1CF2..U+1CF3 are letters
# for Python's Unicode tables but separators for SQLite's (measured over all code points).
_TOKEN = re.compile(r"[^\W_\u19b0-\u19c0\u19c8\u19c9\u1cf2\u1cf3]+")
_ASCII_TOKEN = re.compile(r"[a-z0-9]+")
_DROP = frozenset(("Cc", "Cf", "Cs", "Co", "Cn"))


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# English function words: dropped from a query when it has other words (a query of only
# stop-words keeps them). Folding is lower() + diacritics, not casefold(): unicode61 keeps
# "ß" as it is, so casefold's "ss" would never match.
STOP_WORDS = _words(
    """
    a about above after again against all also am an and any are as at be because been
    being below between both but by can could did do does doing down during each few for
    from further had has have having he her here hers him his how i if in into is it its
    itself just me more most my no nor not now of off on once only or other our ours out
    over own same she should so some such than that the their theirs them then there these
    they this those through to too under until up very via was we were what when where
    which while who whom why will with within without would you your
    """
)

# Words that are common in every abstract: never "distinctive" for related-paper queries.
BORING_WORDS = STOP_WORDS | _words(
    """
    abstract achieve achieves address approach approaches based best better data different
    effective efficient et existing experiment experimental experiments first furthermore
    however improve improved improves including introduce large method methods model models
    new novel number one paper performance present problem problems propose proposed provide
    recent result results several show shows significantly specifically state study studies
    task tasks three two use used uses using well work works
    """
)


# Words of a request rather than of its topic ("papers about ...", "how do I ...", "show me
# work on ..."): like stop-words, dropped when the query has other words, so they never
# count against a paper.
FILLER_WORDS = _words(
    """
    anything article articles find finding help know latest looking look paper papers please
    recent research search show something tell thing things want wanted need needs way ways
    work works
    """
)


def clean(text: str) -> str:
    """NFKC, drop control/format/private/unassigned characters, collapse white space, cap."""
    text = unicodedata.normalize("NFKC", text[: MAX_QUERY_CHARS * 4])
    kept = "".join(
        " " if ch.isspace() else ch
        for ch in text
        if ch.isspace() or unicodedata.category(ch) not in _DROP
    )
    return " ".join(kept.split())[:MAX_QUERY_CHARS]


_NON_ASCII_RUN = re.compile(r"[^\x00-\x7f]+")


def _sqlite_diacritic(ch: str) -> bool:
    """Whether unicode61 drops *ch* as a diacritic (sqlite3Fts5UnicodeIsdiacritic)."""
    cp = ord(ch)
    if cp < 768 or cp > 817:
        return False
    if cp < 800:
        return bool(0x08029FDF & (1 << (cp - 768)))
    return bool(0x000361F8 & (1 << (cp - 800)))


@functools.lru_cache(maxsize=8192)
def _fold_char(ch: str) -> str:
    """One (lower-cased) character as unicode61 with remove_diacritics 2 indexes it: a Latin
    letter with diacritics becomes its ASCII letter, a lone diacritic disappears; any other
    character (Cyrillic "й", Greek "ά", Hangul syllables, kana with dakuten...) is kept."""
    if _sqlite_diacritic(ch):
        return ""
    decomposed = unicodedata.normalize("NFD", ch)
    base, marks = decomposed[0], decomposed[1:]
    if marks and base.isascii() and base.isalpha() and all(map(_sqlite_diacritic, marks)):
        return base
    return ch


def _fold_run(m: re.Match[str]) -> str:
    return "".join(_fold_char(ch) for ch in m.group())


def fold_token(word: str) -> str:
    """Case- and diacritic-fold text the way unicode61 (remove_diacritics 2) does."""
    if word.isascii():
        return word.lower()
    return _NON_ASCII_RUN.sub(_fold_run, word.lower())  # only the non-ASCII runs


def tokens(text: str) -> list[str]:
    """Folded word tokens of ``text``, in order, duplicates removed, at most MAX_TOKENS."""
    seen: dict[str, None] = {}
    for raw in _TOKEN.findall(fold_token(text)):
        # folding can expose new separators (e.g. a ligature's parts); re-split to be safe
        for tok in _TOKEN.findall(raw):
            tok = tok[:MAX_TOKEN_CHARS]
            if tok not in seen:
                seen[tok] = None
                if len(seen) >= MAX_TOKENS:
                    return list(seen)
    return list(seen)


def word_list(text: str, *, folded: bool = False) -> list[str]:
    """Every folded word token of ``text`` (no cap, duplicates kept); ``folded``: the text
    already went through :func:`fold_token`."""
    if text.isascii():
        return _ASCII_TOKEN.findall(text if folded else text.lower())
    return _TOKEN.findall(text if folded else fold_token(text))


def word_set(text: str, *, folded: bool = False) -> set[str]:
    return set(word_list(text, folded=folded))


def content_terms(toks: list[str]) -> list[str]:
    """Drop stop-words and request words ("papers about", "how do I"), unless nothing else
    would be left (then stop-words only, then nothing dropped)."""
    kept = [t for t in toks if t not in STOP_WORDS and t not in FILLER_WORDS]
    if kept:
        return kept
    kept = [t for t in toks if t not in STOP_WORDS]
    return kept or toks


_SUFFIXES = ("ations", "ation", "ings", "ing", "ers", "er", "ies", "ied", "es", "ed", "ly", "s")


def stem(word: str) -> str:
    """A crude English stem, only to group forms of one word ("tune", "tuning", "tuned")."""
    if not word.isascii() or not word.isalpha() or len(word) < 4:
        return word
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            base = word[: -len(suffix)]
            if suffix in ("ies", "ied"):
                return base + "y"
            if len(base) > 3 and base[-1] == base[-2] and base[-1] not in "aeiouls":
                base = base[:-1]  # running -> run, stopped -> stop
            return base.rstrip("e")
    return word.rstrip("e")


def quote(token: str) -> str:
    return '"' + token.replace('"', '""') + '"'


def variants(token: str) -> list[str]:
    """The token and its singular/plural partner ("network" <-> "networks").

    The index is not stemmed (Porter stemming folds "generation" into "general"), so simple
    English plurals are matched by expanding the query instead.
    """
    if len(token) < 3 or not token.isalpha() or not token.isascii():
        return [token]
    if token.endswith("ies") and len(token) > 4:
        return [token, token[:-3] + "y"]
    if token.endswith(("sses", "xes", "ches", "shes")):
        return [token, token[:-2]]
    if token.endswith("s") and not token.endswith(("ss", "us", "is")):
        return [token, token[:-1]]
    if token.endswith("y") and len(token) > 3 and token[-2] not in "aeiou":
        return [token, token[:-1] + "ies"]
    if token.endswith(("s", "x", "ch", "sh")):
        return [token, token + "es"]
    return [token, token + "s"]


def term_expr(token: str) -> str:
    forms = variants(token)
    if len(forms) == 1:
        return quote(forms[0])
    return "(" + " OR ".join(quote(f) for f in forms) + ")"


def all_of(terms: list[str]) -> str:
    """An FTS5 expression matching rows that contain every term (or its plural partner)."""
    return " AND ".join(term_expr(t) for t in terms)


@dataclass(frozen=True, slots=True)
class ParsedQuery:
    text: str  # the cleaned query, for display
    arxiv_id: str | None  # a bare arXiv id, or one found in an arXiv / Hugging Face URL
    terms: list[str]  # folded tokens, stop- and request words dropped when others exist


def parse(query: str) -> ParsedQuery:
    text = clean(query)
    arxiv_id = find_arxiv_id(text) if text else None
    return ParsedQuery(text=text, arxiv_id=arxiv_id, terms=content_terms(tokens(text)))
