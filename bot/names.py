"""People's names as papers list them: split into parts, folded for matching, initials.

Splitting is BibTeX's, through bibtexparser (``First von Last``, ``von Last, First``,
``von Last, Jr, First``), plus the one shape arXiv's data adds: a generational suffix written
last (``Neal J. Evans II``, from ``[last, first, suffix]``). Pure: no I/O.

Matching (:func:`same_person`) is what following an author needs: surnames equal once folded
(case, accents, ``ø``/``ł``-style letters), given names compatible word by word, where an
initial matches any name it starts (``J. Smith`` ~ ``John Smith`` ~ ``Smith, J.``, ``J.-P.``
~ ``Jean-Pierre``).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from bibtexparser.middlewares.names import parse_single_name_into_parts

from bot.models import fold
from bot.text import readable

_SUFFIXES = frozenset({"jr", "jr.", "sr", "sr.", "ii", "iii", "iv"})
# Letters NFKD does not decompose, so fold() keeps them; people type them without.
_MORE_FOLDS = str.maketrans(
    {"ø": "o", "ł": "l", "đ": "d", "ð": "d", "þ": "th", "æ": "ae", "œ": "oe", "ı": "i", "ħ": "h"}
)
_LETTERS = re.compile(r"[^\W\d_]+")
# Organisations listed as authors ("The ATLAS Collaboration", "Qwen Team"): one unit, no
# given name or initials.
_CORPORATE = re.compile(
    r"\b(?:collaboration|consortium|team|group|project|initiative|laboratory|lab|institute|"
    r"committee|organization|organisation|association|network|society|inc|ltd|corp)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class Name:
    """One person's (or organisation's) name in parts, as written."""

    given: tuple[str, ...]
    von: tuple[str, ...]
    last: tuple[str, ...]
    jr: tuple[str, ...]
    corporate: bool = False

    @property
    def surname(self) -> str:
        """``von Last`` as written (``van Gogh``)."""
        return " ".join(self.von + self.last)


@functools.lru_cache(maxsize=8192)
def split_name(text: str) -> Name:
    """*text* (``John A. Smith``, ``Smith, John A.``, ``van Gogh, V.``) in parts."""
    text = " ".join(readable(text).split()) if "\\" in text else " ".join(text.split())
    if not text:
        return Name((), (), (), ())
    if _CORPORATE.search(text) and "," not in text:
        return Name((), (), (text,), (), corporate=True)
    words = text.split(" ")
    jr: tuple[str, ...] = ()
    if "," not in text and len(words) > 2 and words[-1].casefold() in _SUFFIXES:
        jr, text = (words[-1],), " ".join(words[:-1])
    parts = parse_single_name_into_parts(text, strict=False)
    given, last = tuple(parts.first), tuple(parts.last)
    if not last and given:  # "Smith," and the like
        given, last = given[:-1], given[-1:]
    return Name(given, tuple(parts.von), last, jr or tuple(parts.jr))


def fold_name(text: str) -> str:
    """Case, accents and letters like ``ø`` / ``ł`` folded away: ``Sørensen`` -> ``sorensen``."""
    return fold(text).translate(_MORE_FOLDS)


def name_words(parts: tuple[str, ...]) -> tuple[str, ...]:
    """The folded words of some name parts (hyphens, dots and apostrophes split words)."""
    return tuple(_LETTERS.findall(fold_name(" ".join(parts))))


def _compatible(a: str, b: str) -> bool:
    if a == b:
        return True
    return (len(a) == 1 and b.startswith(a)) or (len(b) == 1 and a.startswith(b))


def same_person(wanted: Name, author: Name) -> bool:
    """Whether *author* (from a paper) can be the person *wanted* names.

    Surnames must be equal once folded (``von`` parts aside); given names must agree word by
    word as far as both go, an initial standing for any name it starts. A name on a paper
    without given names matches only an organisation of the same name.
    """
    if wanted.corporate or author.corporate:
        return wanted.corporate == author.corporate and name_words(wanted.last) == name_words(
            author.last
        )
    if not wanted.last or name_words(wanted.last) != name_words(author.last):
        return False
    mine, theirs = name_words(wanted.given), name_words(author.given)
    if not mine or not theirs:
        return not mine and not theirs
    return all(_compatible(a, b) for a, b in zip(mine, theirs, strict=False))


def initials(name: Name) -> str:
    """APA-style initials of the given names: ``John A.`` -> ``J. A.``, ``Jean-Pierre`` ->
    ``J.-P.``, ``C. -P.`` -> ``C.-P.``."""
    out: list[str] = []
    for token in name.given:
        pieces = [p for p in token.split("-") if _LETTERS.search(p)]
        if not pieces:
            continue
        text = "-".join(" ".join(f"{w[0].upper()}." for w in _LETTERS.findall(p)) for p in pieces)
        if token.startswith("-") and out:
            out[-1] += "-" + text
        else:
            out.append(text)
    return " ".join(out)
