"""The SQLite database: one writer, a pool of read-only readers, numbered migrations.

Every SQL statement of the project lives under ``bot/store/``. This module owns the
connections; the repositories beside it (papers, schedules, ...) hold the queries.

Connections (Datasette's model):

- **One writer.** Every write goes through :meth:`Database.transaction` (``BEGIN IMMEDIATE``)
  on a single aiosqlite connection, behind an asyncio lock, so a read-then-write sequence
  inside it cannot interleave with another writer of this process. Another process (``python
  -m bot load`` beside the running bot) is waited for by polling in short steps, not by one
  long sleep in SQLite's busy handler, so a write gets in as soon as the other process
  commits a batch.
- **Readers.** :meth:`fetchone`, :meth:`fetchall`, :meth:`fetchval` and :meth:`read` run on
  read-only connections, one per worker thread of a small pool. In WAL mode each read sees
  the last committed snapshot: never rows a running transaction has not committed yet, and it
  never waits behind a long write. A read inside a transaction that must see the
  transaction's own writes uses the transaction's connection instead.

:meth:`read` runs a whole function (several queries and the Python work on their results) in
a reader thread in one hop, inside one read transaction, so it sees one snapshot and keeps
CPU-heavy work off the event loop. A read can be given a time budget: SQLite's progress
handler stops it with :class:`ReadBudgetExceeded` when the budget is spent.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import re
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite

log = logging.getLogger(__name__)

T = TypeVar("T")

_MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")

DEFAULT_READERS = 3
# The writer asks SQLite to wait this long for another process's write lock, then polls.
_WRITER_BUSY_MS = 50
_WAL_SECONDS = 10.0  # how long opening waits for another process to finish creating the file
_WRITE_POLL_SECONDS = 0.005
DEFAULT_WRITE_TIMEOUT = 60.0
# Each connection's own page cache (KiB, negative as SQLite wants); the OS page cache behind
# them is shared, so these stay small: at a million papers RSS is the budget (bulk loads
# raise the writer's for their duration, see bot/store/loader.py).
_READER_CACHE_KIB = -8192
_WRITER_CACHE_KIB = -16384
# How often (in SQLite virtual machine steps) a budgeted read looks at the clock.
_PROGRESS_STEPS = 2_000


class StoreError(RuntimeError):
    """A problem with the database that a person can act on (the message says what)."""


class ReadBudgetExceeded(StoreError):
    """A read ran past the time budget it was given and was stopped."""


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


class ReaderPool:
    """Read-only SQLite connections, one per worker thread, opened on first use."""

    def __init__(self, path: Path, size: int) -> None:
        self.path = path
        self.size = max(1, size)
        self._executor = ThreadPoolExecutor(self.size, thread_name_prefix="paperbot-reader")
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._closed = False

    def _connection(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA busy_timeout=5000")
            conn.execute("PRAGMA query_only=ON")
            conn.execute("PRAGMA temp_store=MEMORY")
            conn.execute(f"PRAGMA cache_size={_READER_CACHE_KIB}")
            conn.row_factory = sqlite3.Row
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        return conn

    def _call(
        self, fn: Callable[[sqlite3.Connection], T], budget: float | None, snapshot: bool
    ) -> T:
        conn = self._connection()
        if budget is not None:
            deadline = time.monotonic() + budget
            conn.set_progress_handler(lambda: int(time.monotonic() > deadline), _PROGRESS_STEPS)
        try:
            if not snapshot:
                return fn(conn)
            conn.execute("BEGIN")
            try:
                return fn(conn)
            finally:
                if conn.in_transaction:
                    conn.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            if budget is not None and "interrupted" in str(exc):
                raise ReadBudgetExceeded(f"a read ran past its {budget:.2f} s budget") from None
            raise
        finally:
            if budget is not None:
                conn.set_progress_handler(None, 0)

    async def run(
        self,
        fn: Callable[[sqlite3.Connection], T],
        *,
        budget: float | None = None,
        snapshot: bool = True,
    ) -> T:
        if self._closed:
            raise StoreError("the database is not open")
        loop = asyncio.get_running_loop()
        call = functools.partial(self._call, fn, budget, snapshot)
        return await loop.run_in_executor(self._executor, call)

    def close(self) -> None:
        """Wait for running reads, then close every reader connection."""
        self._closed = True
        self._executor.shutdown(wait=True, cancel_futures=True)
        with self._lock:
            conns, self._all = self._all, []
        for conn in conns:
            with contextlib.suppress(sqlite3.Error):
                conn.close()


class Database:
    """One writer connection (aiosqlite) and a pool of reader connections (threads).

    See the module docstring for who uses which. ``readers`` is the size of the pool.
    """

    def __init__(
        self,
        path: Path | str,
        *,
        readers: int = DEFAULT_READERS,
        write_timeout: float = DEFAULT_WRITE_TIMEOUT,
    ) -> None:
        if str(path) == ":memory:":
            raise StoreError("an in-memory database cannot be shared by readers: use a file")
        self.path = Path(path)
        self.readers = readers
        self.write_timeout = write_timeout
        self._conn: aiosqlite.Connection | None = None
        self._pool: ReaderPool | None = None
        self._write_lock = asyncio.Lock()
        # Committed write transactions of this process that changed papers (PaperRepo says
        # so with papers_changed): readers that keep results or words (search) key them by
        # it, so that none outlives a change it depends on.
        self.generation = 0
        self._papers_changed = False

    @property
    def conn(self) -> aiosqlite.Connection:
        """The writer connection (for the store's own transactions)."""
        if self._conn is None:
            raise StoreError("the database is not open")
        return self._conn

    @property
    def pool(self) -> ReaderPool:
        if self._pool is None:
            raise StoreError("the database is not open")
        return self._pool

    async def open(self) -> Database:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(
                f"cannot create the database folder {self.path.parent}: {exc.strerror}"
            ) from None
        try:
            self._conn = await connect(str(self.path), isolation_level=None)
            await self._conn.execute(f"PRAGMA busy_timeout={_WRITER_BUSY_MS}")
            # SQLite answers the switch to WAL "locked" at once, without waiting, while another
            # process opens the same new file: polled, as a transaction's BEGIN is.
            await self._when_unlocked(self._conn, "PRAGMA journal_mode=WAL", _WAL_SECONDS)
            await self._conn.execute("PRAGMA synchronous=NORMAL")
            await self._conn.execute("PRAGMA foreign_keys=ON")
            await self._conn.execute("PRAGMA temp_store=MEMORY")
            await self._conn.execute(f"PRAGMA cache_size={_WRITER_CACHE_KIB}")
            self._conn.row_factory = sqlite3.Row
            await self.migrate()
        except StoreError:
            await self.close()
            raise
        except sqlite3.DatabaseError as exc:
            await self.close()
            raise StoreError(f"cannot open the database {self.path}: {exc}") from None
        self._pool = ReaderPool(self.path, self.readers)
        return self

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await asyncio.to_thread(pool.close)
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
        async with self.conn.execute("PRAGMA user_version") as cur:
            row = await cur.fetchone()
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
            async with self.transaction() as conn:
                # Another process sharing the file (a second shard process starting at the
                # same time) may have applied it while we waited for the write lock.
                async with conn.execute("PRAGMA user_version") as cur:
                    row = await cur.fetchone()
                if row is not None and int(row[0]) >= mig.version:
                    log.info("migration %s was applied by another process", mig.name)
                    continue
                log.info("applying migration %s", mig.name)
                # executescript would COMMIT our transaction; run statement by statement.
                for statement in _split_sql(mig.sql):
                    await conn.execute(statement)
                await conn.execute(f"PRAGMA user_version={mig.version}")
        return latest

    # -- writes -------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """A write transaction (``BEGIN IMMEDIATE``): committed on success, rolled back on error.

        Waits for this process's other writers (in order) and for another process's write
        transaction (polling, up to ``write_timeout`` seconds, then :class:`StoreError`).
        """
        async with self._write_lock:
            conn = self.conn
            try:
                # Inside the try: if we are cancelled while BEGIN is queued, aiosqlite still
                # runs it, and the ROLLBACK (queued after it) must end that transaction.
                await self._begin(conn)
                yield conn
            except BaseException:
                # SQLite may have rolled back already (disk full, interrupt): keep the
                # original error rather than "no transaction is active".
                with contextlib.suppress(sqlite3.OperationalError):
                    await conn.execute("ROLLBACK")
                raise
            else:
                await conn.execute("COMMIT")
                if self._papers_changed:
                    self.generation += 1
            finally:
                self._papers_changed = False

    def papers_changed(self) -> None:
        """Inside a write transaction: it changes papers (their rows, ranks or index), so
        :attr:`generation` moves on when it commits."""
        self._papers_changed = True

    async def _begin(self, conn: aiosqlite.Connection) -> None:
        await self._when_unlocked(conn, "BEGIN IMMEDIATE", self.write_timeout)

    async def _when_unlocked(self, conn: aiosqlite.Connection, sql: str, seconds: float) -> None:
        """Run *sql*, polling while another process holds the lock it needs, up to *seconds*
        (then :class:`StoreError`)."""
        deadline = time.monotonic() + seconds
        while True:
            try:
                await conn.execute(sql)
                return
            except sqlite3.OperationalError as exc:
                if not _is_busy(exc):
                    raise
                if time.monotonic() >= deadline:
                    raise StoreError(
                        f"the database {self.path} stayed locked by another process for "
                        f"{seconds:.0f} s; try again when it has finished"
                    ) from None
            await asyncio.sleep(_WRITE_POLL_SECONDS)

    async def execute(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> int:
        """Run one write statement in its own transaction; returns the rows changed."""
        async with self.transaction() as conn:
            cur = await conn.execute(sql, params)
            return cur.rowcount

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        async with self.transaction() as conn:
            await conn.executemany(sql, rows)

    # -- reads (committed data, on reader connections) -------------------------------------

    async def read(
        self,
        fn: Callable[[sqlite3.Connection], T],
        *,
        budget: float | None = None,
        snapshot: bool = True,
    ) -> T:
        """``fn(connection)`` in a reader thread, inside one read transaction (one snapshot).

        With *budget* (seconds), a read still running then is stopped and
        :class:`ReadBudgetExceeded` raised. *snapshot* False runs *fn* in autocommit mode
        (each statement sees the newest commit), for long scans that should not pin the WAL.
        """
        return await self.pool.run(fn, budget=budget, snapshot=snapshot)

    async def fetchone(
        self, sql: str, params: Sequence[Any] | dict[str, Any] = ()
    ) -> sqlite3.Row | None:
        def run(conn: sqlite3.Connection) -> sqlite3.Row | None:
            row: sqlite3.Row | None = conn.execute(sql, params).fetchone()
            return row

        return await self.pool.run(run, snapshot=False)

    async def fetchall(
        self, sql: str, params: Sequence[Any] | dict[str, Any] = ()
    ) -> list[sqlite3.Row]:
        def run(conn: sqlite3.Connection) -> list[sqlite3.Row]:
            return conn.execute(sql, params).fetchall()

        return await self.pool.run(run, snapshot=False)

    async def fetchval(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> Any:
        row = await self.fetchone(sql, params)
        return None if row is None else row[0]


async def connect(database: str, **kwargs: Any) -> aiosqlite.Connection:
    """``aiosqlite.connect``, except that a file that cannot be opened (a folder, a damaged
    file) waits for aiosqlite's worker thread to stop before raising: left running, it
    reports to the event loop after ``asyncio.run`` closed it, and a one-line CLI error is
    followed by a "RuntimeError: Event loop is closed" traceback from a thread."""
    conn = aiosqlite.connect(database, **kwargs)
    try:
        return await conn
    except BaseException:
        thread = getattr(conn, "_thread", None)
        if thread is not None and thread.is_alive():
            await asyncio.to_thread(thread.join, 5.0)
        raise


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return (int(code) & 0xFF) in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
    return "locked" in str(exc) or "busy" in str(exc)


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
