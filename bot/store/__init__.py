"""The paper store: the only package with SQL in it.

``Store`` bundles one :class:`Database` connection with a repository per area. Each
repository is a small class in its own module holding that area's parameterised queries.
"""

from __future__ import annotations

from pathlib import Path

from bot.store.alerts import AlertRepo
from bot.store.database import Database, StoreError
from bot.store.meta import MetaRepo
from bot.store.papers import PaperRepo
from bot.store.refresh import RefreshRepo
from bot.store.schedules import ScheduleRepo
from bot.store.social import SocialRepo

__all__ = ["Database", "Store", "StoreError"]


class Store:
    """Everything the bot keeps, behind one object that is opened and closed once."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.meta = MetaRepo(db)
        self.papers = PaperRepo(db)
        self.social = SocialRepo(db)
        self.refresh = RefreshRepo(db)
        self.alerts = AlertRepo(db)
        self.schedules = ScheduleRepo(db)

    @classmethod
    async def open(cls, path: Path | str) -> Store:
        db = await Database(path).open()
        return cls(db)

    async def close(self) -> None:
        await self.db.close()

    async def __aenter__(self) -> Store:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
