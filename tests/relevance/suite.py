"""The judged relevance suite: queries with graded judgements, and the paper pool they were judged on.

``queries.jsonl`` holds one judged query per line (see README.md in this folder). A judgement
names a paper by *ref*: a version-less arXiv id (``2202.12139``, ``hep-th/0601001``) or, for a
paper of the trending page (which has no ids), ``title:`` followed by its exact title.

    queries = load_queries()
    store = await build_store(tmp_path / "pool.db")
    try:
        ids = await resolve(store, queries)   # ref -> the stored paper's id
        ...
    finally:
        await store.close()
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.models import title_id
from bot.store import Store
from bot.store.loader import load_file

HERE = Path(__file__).parent
QUERIES = HERE / "queries.jsonl"
FIXTURES = HERE.parent / "fixtures"

# Every file of the pool, in load order. The judgements were made by reading these papers.
POOL_FILES: tuple[Path, ...] = (
    FIXTURES / "trending-may-28.txt",
    FIXTURES / "arxiv-metadata-oai-snapshot.200.jsonl",
    *sorted((FIXTURES / "arxiv-api").glob("*.xml")),
    FIXTURES / "daily_papers.sample.json",
    FIXTURES / "ingest" / "hf_daily_full.json",
)
# How many papers the pool held when the queries were judged. A different count means papers
# came or went: the judgements no longer cover the whole pool (see README.md, "The pool").
JUDGED_POOL_SIZE = 371

KINDS = ("keyword", "question", "paraphrase", "partial", "typo", "author", "id", "title")
GRADES = (1, 2, 3)
TITLE_REF = "title:"


class SuiteError(ValueError):
    """A malformed query file or a judgement that does not name a stored paper."""


@dataclass(frozen=True, slots=True)
class Query:
    """One judged query: grade 3 = the paper sought, 2 = clearly relevant, 1 = partially."""

    query: str
    kind: str
    relevant: dict[str, int]
    note: str = ""


def _query_from(data: Any, where: str) -> Query:
    if not isinstance(data, dict):
        raise SuiteError(f"{where}: not a JSON object")
    unknown = set(data) - {"query", "kind", "relevant", "note"}
    if unknown:
        raise SuiteError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
    text, kind, relevant, note = (data.get(k) for k in ("query", "kind", "relevant", "note"))
    if not isinstance(text, str) or not text.strip():
        raise SuiteError(f"{where}: 'query' must be a non-empty string")
    if kind not in KINDS:
        raise SuiteError(f"{where}: 'kind' is {kind!r}, expected one of {', '.join(KINDS)}")
    if not isinstance(relevant, dict) or not relevant:
        raise SuiteError(f"{where}: 'relevant' must be a non-empty object of ref -> grade")
    for ref, grade in relevant.items():
        if not ref.strip():
            raise SuiteError(f"{where}: empty ref in 'relevant'")
        # bool is an int subclass: true/false are not grades.
        if isinstance(grade, bool) or grade not in GRADES:
            raise SuiteError(f"{where}: grade of {ref!r} is {grade!r}, expected 1, 2 or 3")
    if note is not None and not isinstance(note, str):
        raise SuiteError(f"{where}: 'note' must be a string")
    return Query(query=text, kind=kind, relevant=dict(relevant), note=note or "")


def load_queries(path: Path = QUERIES) -> list[Query]:
    """The judged queries in file order (blank lines skipped); a bad line raises SuiteError."""
    queries = []
    with open(path, encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            where = f"{path.name} line {number}"
            try:
                data = json.loads(line)
            except json.JSONDecodeError as exc:
                raise SuiteError(f"{where}: not valid JSON ({exc.msg})") from None
            queries.append(_query_from(data, where))
    return queries


async def build_store(path: Path) -> Store:
    """A store at *path* holding the whole pool, loaded with the project's own loader."""
    store = await Store.open(path)
    try:
        for file in POOL_FILES:
            await load_file(store, file)
    except BaseException:
        await store.close()
        raise
    return store


def _lookup_key(ref: str) -> str:
    if ref.startswith(TITLE_REF):
        return title_id(ref[len(TITLE_REF) :])
    return ref


async def resolve(store: Store, queries: Iterable[Query]) -> dict[str, str]:
    """Map every ref of *queries* to the id of the stored paper it names.

    An arXiv ref must be the paper's stored id exactly (version-less, canonical case); a title
    ref may also reach a paper that since got an arXiv id (its title id stays an alias). Raises
    SuiteError naming every ref that does not resolve, with the query it comes from.
    """
    first_use: dict[str, str] = {}
    for query in queries:
        for ref in query.relevant:
            first_use.setdefault(ref, query.query)
    resolved: dict[str, str] = {}
    problems: list[str] = []
    for ref, used_by in first_use.items():
        paper = await store.papers.get(_lookup_key(ref))
        if paper is None:
            problems.append(f"{ref!r} (query {used_by!r}) names no stored paper")
        elif not ref.startswith(TITLE_REF) and paper.id != ref:
            problems.append(f"{ref!r} (query {used_by!r}) should be written {paper.id!r}")
        else:
            resolved[ref] = paper.id
    if problems:
        raise SuiteError(f"{len(problems)} judgement ref(s) do not resolve: " + "; ".join(problems))
    return resolved
