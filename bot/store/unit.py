"""A unit of work: several repositories' writes in one transaction, without a connection in hand.

Code outside ``bot/store`` never handles a connection. When writes of different repositories
must commit together (a refresh day: its papers, its trending list and the source's cursor),
it asks the store for a unit of work and writes through it::

    async with store.unit_of_work() as work:
        counts = await work.upsert_papers(papers, "hf-daily", rank_list="hf:2026-03-24")
        await work.advance_refresh("hf", day, validators)

Everything commits when the block ends, or nothing does if it raises.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import TYPE_CHECKING

import aiosqlite

from bot.models import Paper
from bot.store.papers import UpsertCounts

if TYPE_CHECKING:
    from bot.store import Store
    from bot.store.refresh import Validators


class UnitOfWork:
    """Writes bound to one open transaction (see the module docstring)."""

    def __init__(self, store: Store, conn: aiosqlite.Connection) -> None:
        self._store = store
        self._conn = conn

    async def upsert_papers(
        self, papers: Sequence[Paper], source: str, *, rank_list: str | None = None
    ) -> UpsertCounts:
        return await self._store.papers.upsert_many(
            papers, source, conn=self._conn, rank_list=rank_list
        )

    async def replace_ranks(self, rank_list: str, keep: frozenset[int] | set[int]) -> int:
        return await self._store.papers.replace_ranks(self._conn, rank_list, keep)

    async def advance_refresh(
        self, source: str, day: date | None, validators: Mapping[str, Validators] | None = None
    ) -> None:
        await self._store.refresh.advance(source, day, validators, conn=self._conn)
