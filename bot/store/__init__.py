"""The paper store: the only package with SQL in it.

``Store`` bundles one :class:`Database` connection with a repository per area. Each
repository is a small class in its own module holding that area's parameterised queries.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from bot.store.alerts import AlertRepo
from bot.store.database import Database, StoreError
from bot.store.feeds import FeedRepo
from bot.store.imports import ImportRepo
from bot.store.leases import LeaseRepo
from bot.store.meta import MetaRepo
from bot.store.papers import PaperRepo
from bot.store.recs import RecsRepo
from bot.store.refresh import RefreshRepo
from bot.store.schedules import ScheduleRepo
from bot.store.signals import SignalRepo
from bot.store.social import SocialRepo
from bot.store.unit import UnitOfWork
from bot.store.vectors import VectorRepo

__all__ = ["Database", "Store", "StoreError"]


class Store:
    """Everything the bot keeps, behind one object that is opened and closed once."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.meta = MetaRepo(db)
        self.leases = LeaseRepo(db)
        self.papers = PaperRepo(db)
        self.imports = ImportRepo(db, self.papers)
        self.social = SocialRepo(db)
        self.signals = SignalRepo(db)
        self.refresh = RefreshRepo(db)
        self.alerts = AlertRepo(db)
        self.schedules = ScheduleRepo(db)
        self.feeds = FeedRepo(db)
        self.vectors = VectorRepo(db)
        self.recs = RecsRepo(db)

    @classmethod
    async def open(cls, path: Path | str, *, readers: int | None = None) -> Store:
        """Open (and migrate) the database; undo what a crashed import left half-done."""
        db = Database(path) if readers is None else Database(path, readers=readers)
        await db.open()
        store = cls(db)
        try:
            await store.imports.recover()
        except BaseException:
            await db.close()
            raise
        return store

    @contextlib.asynccontextmanager
    async def unit_of_work(self) -> AsyncIterator[UnitOfWork]:
        """Several repositories' writes in one transaction (see :mod:`bot.store.unit`)."""
        async with self.db.transaction() as conn:
            yield UnitOfWork(self, conn)

    async def close(self) -> None:
        await self.db.close()

    async def __aenter__(self) -> Store:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
