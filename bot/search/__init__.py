"""Search over the paper store: full text, autocomplete, related papers, topic filters.

Pure (no Discord). :class:`SearchEngine` is the entry point; :mod:`bot.search.query` turns any
user text into safe FTS5 expressions.
"""

from bot.search.engine import (
    MAX_CANDIDATES,
    SORTS,
    Hit,
    SearchEngine,
    SearchResult,
    Sort,
    Suggestion,
    Tuning,
    trim_label,
)

__all__ = [
    "MAX_CANDIDATES",
    "SORTS",
    "Hit",
    "SearchEngine",
    "SearchResult",
    "Sort",
    "Suggestion",
    "Tuning",
    "trim_label",
]
