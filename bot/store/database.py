"""The SQLite connection: set-up, numbered migrations, transactions.

Every SQL statement of the project lives under ``bot/store/``. This module owns the
connection; the repositories beside it (papers, schedules, ...) hold the queries.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import sqlite3
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import aiosqlite

log = logging.getLogger(__name__)

_MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


class StoreError(RuntimeError):
    """A problem with the database that a person can act on (the message says what)."""


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str


def load_migrations() -> list[Migration]:
    """The numbered migrations shipped in ``bot/store/migrations``, in order."""
    found: list[Migration] = []
    for entry in resources.files("bot.store.migrations").iterdir():
        m = _MIGRATION_NAME.match(entry.name)
        if m:
            found.append(Migration(int(m.group(1)), entry.name, entry.read_text("utf-8")))
    found.sort(key=lambda mig: mig.version)
    for expected, mig in enumerate(found, start=1):
        if mig.version != expected:
            raise StoreError(f"migration numbering has a gap or a duplicate at {mig.name}")
    return found


class Database:
    """One aiosqlite connection with WAL, a busy timeout, foreign keys and migrations.

    Writes are serialised by :meth:`transaction` (``BEGIN IMMEDIATE``), so a read-then-write
    sequence inside it cannot interleave with another writer.
    """

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path) if str(path) != ":memory:" else Path(":memory:")
        self._conn: aiosqlite.Connection | None = None
        self._write_lock = asyncio.Lock()

    @property
    def conn(self) -> aiosqlite.Connection:
        if self._conn is None:
            raise StoreError("the database is not open")
        return self._conn

    async def open(self) -> Database:
        if str(self.path) != ":memory:":
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(
                    f"cannot create the database folder {self.path.parent}: {exc.strerror}"
                ) from None
        try:
            self._conn = await aiosqlite.connect(str(self.path), isolation_level=None)
            await self._conn.execute("PRAGMA journal_mode=WAL")
            await self._conn.execute("PRAGMA synchronous=NORMAL")
            await self._conn.execute("PRAGMA foreign_keys=ON")
            await self._conn.execute("PRAGMA busy_timeout=5000")
            await self._conn.execute("PRAGMA temp_store=MEMORY")
            await self._conn.execute("PRAGMA cache_size=-65536")
            self._conn.row_factory = sqlite3.Row
            await self.migrate()
        except StoreError:
            await self.close()
            raise
        except sqlite3.DatabaseError as exc:
            await self.close()
            raise StoreError(f"cannot open the database {self.path}: {exc}") from None
        return self

    async def close(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            with contextlib.suppress(sqlite3.Error):
                await conn.execute("PRAGMA optimize")
            await conn.close()

    async def __aenter__(self) -> Database:
        return await self.open()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- migrations ---------------------------------------------------------------------

    async def schema_version(self) -> int:
        row = await self.fetchone("PRAGMA user_version")
        return int(row[0]) if row else 0

    async def migrate(self) -> int:
        """Apply pending migrations, each in its own transaction. Returns the new version."""
        migrations = load_migrations()
        latest = migrations[-1].version if migrations else 0
        current = await self.schema_version()
        if current > latest:
            raise StoreError(
                f"the database {self.path} has schema version {current}, newer than this "
                f"PaperBot understands ({latest}); upgrade PaperBot or use a backup"
            )
        for mig in migrations:
            if mig.version <= current:
                continue
            log.info("applying migration %s", mig.name)
            async with self.transaction():
                # executescript would COMMIT our transaction; run statement by statement.
                for statement in _split_sql(mig.sql):
                    await self.conn.execute(statement)
                await self.conn.execute(f"PRAGMA user_version={mig.version}")
        return latest

    # -- queries --------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """A write transaction (``BEGIN IMMEDIATE``): committed on success, rolled back on error."""
        async with self._write_lock:
            try:
                # Inside the try: if we are cancelled while BEGIN is queued, aiosqlite still
                # runs it, and the ROLLBACK (queued after it) must end that transaction.
                await self.conn.execute("BEGIN IMMEDIATE")
                yield self.conn
            except BaseException:
                # SQLite may have rolled back already (disk full, interrupt): keep the
                # original error rather than "no transaction is active".
                with contextlib.suppress(sqlite3.OperationalError):
                    await self.conn.execute("ROLLBACK")
                raise
            else:
                await self.conn.execute("COMMIT")

    async def execute(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> int:
        """Run one write statement in its own transaction; returns the rows changed."""
        async with self.transaction() as conn:
            cur = await conn.execute(sql, params)
            return cur.rowcount

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        async with self.transaction() as conn:
            await conn.executemany(sql, rows)

    async def fetchone(
        self, sql: str, params: Sequence[Any] | dict[str, Any] = ()
    ) -> sqlite3.Row | None:
        async with self.conn.execute(sql, params) as cur:
            row: sqlite3.Row | None = await cur.fetchone()
            return row

    async def fetchall(
        self, sql: str, params: Sequence[Any] | dict[str, Any] = ()
    ) -> list[sqlite3.Row]:
        async with self.conn.execute(sql, params) as cur:
            rows = await cur.fetchall()
            return list(rows)

    async def fetchval(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> Any:
        row = await self.fetchone(sql, params)
        return None if row is None else row[0]

    async def backup(self, target: Path) -> None:
        """A consistent copy of the live database (SQLite online backup API)."""
        target.parent.mkdir(parents=True, exist_ok=True)
        dest = await aiosqlite.connect(str(target))
        try:
            await self.conn.backup(dest)
        finally:
            await dest.close()


def _split_sql(script: str) -> list[str]:
    """Split a migration script into statements (handles triggers' inner semicolons)."""
    statements: list[str] = []
    buf = ""
    for line in script.splitlines(keepends=True):
        if line.strip().startswith("--") and not buf.strip():
            continue
        buf += line
        if sqlite3.complete_statement(buf):
            if buf.strip():
                statements.append(buf.strip())
            buf = ""
    if buf.strip():
        statements.append(buf.strip())
    return statements
