"""Hugging Face ``GET /api/daily_papers`` items: a JSON array, or JSON lines of items.

Each item is ``{"paper": {...}, ...}``. The trimmed shape has ``paper.{id, title, summary,
authors[].{name, hidden}, publishedAt, ai_summary, ai_keywords}``; the full shape adds
top-level ``publishedAt, title, summary, thumbnail, numComments, submittedBy, organization,
isAuthorParticipating`` and ``paper.{upvotes, discussionId, submittedOnDailyAt, githubRepo,
githubStars, projectPage, mediaUrls, withdrawnAt}``. A bare paper object (an item without
``paper``, as ``/api/papers/{id}`` returns) is accepted too.

Each paper's 1-based position in the list is kept as ``source_rank`` (a caller paging through
the API adds the page offset).

Decisions: a *hidden* author is only one not linked to a Hugging Face account, so the name is
kept. ``published`` is ``paper.publishedAt`` (the arXiv date); the top-level ``publishedAt`` is
the day the paper was put on the daily list and is not used. A withdrawn paper
(``paper.withdrawnAt`` set) is reported as a :class:`RecordError` carrying its id, so a caller
can drop it from the store.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

from bot.ingest._common import (
    JSON_ERRORS,
    IngestError,
    Item,
    NumberedLines,
    RecordError,
    brief,
    decode_body,
    iso_date,
    json_array_items,
    json_error,
    str_list,
)
from bot.models import (
    SOURCE_HF_DAILY,
    Paper,
    clean_text,
    count_problem,
    date_problem,
    normalize_arxiv_id,
    record_problem,
)

__all__ = ["iter_papers", "parse_bytes", "parse_item", "parse_lines", "parse_text"]

_SNIPPET = 80


def iter_papers(items: Iterable[object]) -> Iterator[Item]:
    """Papers from decoded items (``line`` of an error = 1-based position of the item)."""
    for index, item in enumerate(items, 1):
        yield parse_item(item, index, rank=index)


def parse_bytes(data: bytes) -> list[Item]:
    """A whole response body -> papers and record errors.

    Raises :class:`IngestError` for a body that is not UTF-8 JSON (an HTML error page, an
    empty or truncated body, an API error object such as ``{"error": "..."}``).
    """
    return list(parse_text(decode_body(data, "response"), "response"))


def parse_text(text: str, what: str = "input") -> Iterator[Item]:
    """Papers from the text of a JSON array, a single item, or JSON lines of items.

    A JSON array is checked whole before the first paper is returned; JSON lines are reported
    line by line. *what* names the input in error messages.
    """
    body = text.lstrip()
    if not body:
        raise IngestError(f"{what}: empty, expected JSON")
    head = body[0]
    if head == "[":
        pairs = json_array_items(text, what)
        return (parse_item(value, line, rank=rank) for rank, (line, value) in enumerate(pairs, 1))
    if head == "{":
        return _parse_objects(text, what)
    if head == "<":
        raise IngestError(f"{what}: got HTML/XML instead of JSON: {_snippet(body)}")
    raise IngestError(f"{what}: not JSON: {_snippet(body)}")


def _parse_objects(text: str, what: str) -> Iterator[Item]:
    try:
        value = json.loads(text)
    except JSON_ERRORS as exc:
        if _is_json_lines(text):
            return parse_lines(enumerate(text.splitlines(), 1))
        if isinstance(exc, json.JSONDecodeError):
            raise IngestError(f"{what}: invalid JSON at line {exc.lineno}: {exc.msg}") from exc
        raise IngestError(f"{what}: {json_error(exc)}") from None
    if isinstance(value, dict) and "error" in value and "paper" not in value:
        error = value["error"]
        raise IngestError(
            f"{what}: API error: {_snippet(error) if isinstance(error, str) else brief(error)}"
        )
    first_line = 1 + text[: len(text) - len(text.lstrip())].count("\n")
    return iter([parse_item(value, first_line, rank=1)])


def _is_json_lines(text: str) -> bool:
    """True when one of the first few non-blank lines is a JSON object on its own."""
    seen = 0
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            if isinstance(json.loads(line), dict):
                return True
        except JSON_ERRORS:
            pass
        seen += 1
        if seen >= 5:
            break
    return False


def parse_lines(numbered: NumberedLines) -> Iterator[Item]:
    """JSON lines of items, as ``(line number, text)`` pairs (errors passed through)."""
    rank = 0
    for entry in numbered:
        if isinstance(entry, RecordError):
            rank += 1
            yield entry
            continue
        lineno, line = entry
        if not line.strip():
            continue
        rank += 1
        try:
            value = json.loads(line)
        except JSON_ERRORS as exc:
            yield RecordError(lineno, json_error(exc))
            continue
        yield parse_item(value, lineno, rank=rank)


def parse_item(item: object, line: int = 0, *, rank: int | None = None) -> Item:
    """One daily_papers item (or bare paper object) -> :class:`Paper` or :class:`RecordError`.

    *rank* is the item's 1-based position in the list, kept as ``source_rank``.
    """
    if not isinstance(item, dict):
        return RecordError(line, "item is not a JSON object")
    paper: Any = item.get("paper", item)
    if not isinstance(paper, dict):
        return RecordError(line, "'paper' must be an object")

    raw_id = paper.get("id")
    if raw_id is not None and not isinstance(raw_id, str):
        return RecordError(line, "'paper.id' must be a string")
    arxiv_id = normalize_arxiv_id(raw_id) if raw_id else None
    known_id = arxiv_id or (raw_id.strip() if raw_id else None)

    title = paper.get("title") or item.get("title")
    if title is None:
        return RecordError(line, "missing 'title'", known_id)
    if not isinstance(title, str):
        return RecordError(line, "'title' must be a string", known_id)
    if not title.strip():
        return RecordError(line, "missing 'title' (empty)", known_id)

    withdrawn = paper.get("withdrawnAt")
    if withdrawn:
        when = (
            withdrawn if isinstance(withdrawn, str) and len(withdrawn) <= 40 else brief(withdrawn)
        )
        return RecordError(line, f"withdrawn ({when}): {clean_text(title)[:200]}", known_id)

    summary = paper.get("summary") or item.get("summary") or ""
    if not isinstance(summary, str):
        return RecordError(line, "'summary' must be a string", known_id)

    authors = _authors(paper.get("authors"))
    if authors is None:
        return RecordError(line, "'paper.authors' must be a list of {name: ...}", known_id)

    published_raw = paper.get("publishedAt")
    published = iso_date(published_raw)
    if published_raw is not None and published is None:
        return RecordError(
            line, f"'paper.publishedAt' is not a date: {brief(published_raw)}", known_id
        )
    if why := date_problem("'paper.publishedAt'", published):
        return RecordError(line, why, known_id)

    upvotes = paper.get("upvotes")
    if why := count_problem("paper.upvotes", upvotes):
        return RecordError(line, why, known_id)

    ai_summary = paper.get("ai_summary")
    if ai_summary is not None and not isinstance(ai_summary, str):
        return RecordError(line, "'paper.ai_summary' must be a string", known_id)
    keywords = str_list(paper.get("ai_keywords") or [])
    if keywords is None:
        return RecordError(line, "'paper.ai_keywords' must be a list of strings", known_id)

    links: dict[str, str | None] = {}
    for field, key in (("url_code", "githubRepo"), ("url_project", "projectPage")):
        value = paper.get(key)
        if value is not None and not isinstance(value, str):
            return RecordError(line, f"'paper.{key}' must be a string", known_id)
        links[field] = _url(value, github=field == "url_code")

    result = Paper.create(
        title=title,
        arxiv_id=arxiv_id,
        abstract=clean_text(summary),
        authors=authors,
        published=published,
        upvotes=upvotes,
        source_rank=rank,
        ai_summary=(clean_text(ai_summary) or None) if ai_summary else None,
        ai_keywords=keywords,
        source=SOURCE_HF_DAILY,
        **links,
    )
    if known_id and not arxiv_id:
        result.url_hf = f"https://huggingface.co/papers/{known_id}"
    if why := record_problem(result):
        return RecordError(line, why, known_id)
    return result


def _authors(value: object) -> list[str] | None:
    if value is None:
        return []
    if not isinstance(value, list):
        return None
    names: list[str] = []
    for author in value:
        if isinstance(author, str):  # tolerate a plain list of names
            name: object = author
        elif isinstance(author, dict):
            name = author.get("name")
        else:
            return None
        if isinstance(name, str) and name.strip():
            names.append(clean_text(name))
    return names


def _url(value: str | None, *, github: bool) -> str | None:
    if not value or not value.strip():
        return None
    value = value.strip()
    if value.startswith(("http://", "https://")):
        return value
    if github and value.count("/") == 1:  # "owner/repo"
        return f"https://github.com/{value}"
    return None


def _snippet(text: str) -> str:
    text = " ".join(text.split())
    return repr(text[:_SNIPPET] + ("..." if len(text) > _SNIPPET else ""))
