"""Import paper files into the store: committed batches, undone whole if the file fails.

:func:`load_file` streams :func:`bot.ingest.read_papers` in batches into
:meth:`PaperRepo.upsert_many`, each batch in its own short transaction, so the running bot's
writes get in between (a big load never locks it out). Every batch is journaled
(:mod:`bot.store.imports`): a file that fails outright (:class:`~bot.ingest.IngestError`
part-way, e.g. a truncated gzip, a cancellation, a crash) is undone whole, so what was stored
before is never lost or half-written. Malformed records are counted as rejected (the first
:data:`MAX_ERRORS` kept with their line and reason) and the rest of the file loads.

Parsing (and preparing rows) runs in a worker thread, one batch ahead, while SQLite builds the
full-text index of the previous batch without holding the GIL: both cores work on a big file
and the event loop stays free. On a big file the full-text index is put in bulk mode (no
automatic merges, a larger in-memory term buffer, a bigger page cache) and optimised once at
the end.

:func:`load_data_dir` imports the files in ``data/`` that changed since their last import
(``imported_files``: size and mtime first, then sha256 to confirm).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING

from bot.ingest import (
    FORMAT_SOURCES,
    IngestError,
    RecordError,
    UnknownFormatError,
    detect_format,
    read_papers,
)
from bot.models import Paper
from bot.store.papers import UpsertCounts
from bot.store.rows import Prepared, prepare
from bot.store.stamps import now, stamp

if TYPE_CHECKING:
    from bot.store import Store

log = logging.getLogger(__name__)

Progress = Callable[[int, int, int], None]
"""``progress(done_records, bytes_read, total_bytes)``, called after every batch.

``bytes_read`` counts the file's own (for ``.gz``: compressed) bytes, so ``bytes_read /
total_bytes`` is the fraction done; it is 0 where the platform cannot tell (no ``/proc``).
"""

BATCH_SIZE = 5_000
MAX_ERRORS = 100
# Files at least this big load with the FTS index in bulk mode (then optimised).
BULK_BYTES = 16 * 1024 * 1024
# FTS5 settings during a bulk load, and the defaults restored before committing.
_BULK_FTS = {"automerge": 0, "crisismerge": 64, "hashsize": 32 * 1024 * 1024}
_DEFAULT_FTS = {"automerge": 4, "crisismerge": 16, "hashsize": 1024 * 1024}
# SQLite's page cache during a bulk load (negative: KiB): the random-order index inserts of
# one long transaction spill and re-write far fewer pages (measured ~12% faster).
_BULK_CACHE_KIB = -131072
# After a bulk load that rewrote at least this share of the index, merge every segment into one
# (as 'optimize' does); after a smaller one, merge as automatic merging would. Either way in
# steps of _MERGE_PAGES pages, each its own transaction.
_OPTIMIZE_SHARE = 0.2
_MERGE_PAGES = 2_000
# After committing a batch, the loader leaves the write lock free this long (seconds).
WRITER_GAP_SECONDS = 0.02
# Beside a running bot (a live ``process:`` lease in the database), each batch is sized so
# that its transaction holds the write lock about this long (seconds): the bot's votes, saves
# and schedule changes wait at most about that much. Alone, batches stay at BATCH_SIZE.
LIVE_HOLD_SECONDS = 0.25
LIVE_FIRST_BATCH = 1_000
LIVE_MIN_BATCH = 100
BOT_PROCESSES = "process:"  # the lease prefix every running bot process holds (bot/app.py)
_SKIP_NAMES = frozenset({"readme", "readme.md", "readme.txt", "readme.rst"})


@dataclass(slots=True)
class LoadReport:
    """What importing one file did (``skipped``: unchanged since its last import)."""

    path: Path
    format: str | None
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    errors: list[RecordError] = field(default_factory=list)
    skipped: bool = False
    seconds: float = 0.0
    records: int = 0  # records read, rejected ones included
    failed: str | None = None  # load_data_dir only: why this file was not imported at all

    @property
    def papers(self) -> int:
        return self.new + self.updated + self.unchanged


# -- one file ----------------------------------------------------------------------------------


async def load_file(
    store: Store,
    path: Path | str,
    *,
    fmt: str | None = None,
    progress: Progress | None = None,
    batch_size: int = BATCH_SIZE,
) -> LoadReport:
    """Import *path* (format detected unless *fmt* is given), always, in one transaction.

    Raises :class:`~bot.ingest.UnknownFormatError` for a file of no known format and
    :class:`~bot.ingest.IngestError` for one that cannot be read to the end; then nothing of
    it is stored.
    """
    path = Path(path)
    return await _load(store, path, fmt=fmt, progress=progress, batch_size=batch_size)


async def _load(
    store: Store,
    path: Path,
    *,
    fmt: str | None,
    progress: Progress | None,
    batch_size: int,
    known_sha: str | None = None,
) -> LoadReport:
    began = time.monotonic()
    try:
        stat = await asyncio.to_thread(path.stat)
    except OSError as exc:
        raise IngestError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if fmt is None:
        fmt = await asyncio.to_thread(detect_format, path)
    items = read_papers(path, fmt)  # raises UnknownFormatError for an unknown fmt
    report = LoadReport(path=path, format=fmt)
    sha_task = None if known_sha else asyncio.ensure_future(asyncio.to_thread(_sha256, path))
    reader = _Reader(items, batch_size)
    journal = await store.imports.begin(_key(path))
    rank_list = rank_list_of(fmt, path)
    try:
        ranked = await _store_batches(
            store, path, stat, fmt, reader, report, progress, journal, rank_list
        )
        sha = known_sha if sha_task is None else await sha_task
        async with store.db.transaction() as conn:
            if ranked:
                # This file's trending list replaces the previous import of the same list.
                await store.papers.set_rank_list(conn, rank_list, ranked)
                await store.papers.replace_ranks(conn, rank_list, ranked)
            await conn.execute(
                "INSERT OR REPLACE INTO imported_files(path, size, mtime_ns, sha256, format, "
                "imported_at, papers, rejected) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    _key(path),
                    stat.st_size,
                    stat.st_mtime_ns,
                    sha,
                    fmt,
                    stamp(),
                    report.papers,
                    report.rejected,
                ),
            )
            await store.imports.finish(conn, journal)
    except BaseException:
        # Whatever stopped the file (a read error, a cancellation, a full disk), undo the
        # batches already committed. Shielded: a second cancellation must not leave it
        # half-undone (if the process dies instead, the next start undoes it).
        await reader.close()
        try:
            await asyncio.shield(store.imports.undo(journal))
        except Exception:
            log.exception("undoing the failed import of %s failed; it is retried on restart", path)
        raise
    finally:
        await reader.close()
        if sha_task is not None and not sha_task.done():
            sha_task.cancel()
            with contextlib.suppress(BaseException):
                await sha_task
    if progress is not None:
        progress(report.records, stat.st_size, stat.st_size)
    report.seconds = time.monotonic() - began
    log.info(
        "%s (%s): %d new, %d updated, %d unchanged, %d rejected in %.1fs",
        path,
        fmt,
        report.new,
        report.updated,
        report.unchanged,
        report.rejected,
        report.seconds,
    )
    return report


async def _store_batches(
    store: Store,
    path: Path,
    stat: os.stat_result,
    fmt: str,
    reader: _Reader,
    report: LoadReport,
    progress: Progress | None,
    journal: int,
    rank_list: str,
) -> frozenset[int]:
    """Store the file's batches, each in its own journaled transaction; returns the pids the
    file gave a trending rank."""
    source = FORMAT_SOURCES[fmt]
    repo = store.papers
    bulk = stat.st_size >= BULK_BYTES
    position = _ReadPosition(path, stat)
    fts_written = 0
    ranked: frozenset[int] = frozenset()
    largest = reader.size
    beside_bot = bool(await store.leases.live(BOT_PROCESSES, now()))
    if beside_bot:
        log.info("a PaperBot process uses this database: loading in short transactions")
        reader.size = min(largest, LIVE_FIRST_BATCH)
    cache: int | None = None
    if bulk:
        async with store.db.conn.execute("PRAGMA cache_size") as cur:
            row = await cur.fetchone()
        cache = int(row[0]) if row else None
        await store.db.conn.execute(f"PRAGMA cache_size={_BULK_CACHE_KIB}")
        async with store.db.transaction() as conn:
            for option, value in _BULK_FTS.items():
                await repo.fts_set(conn, option, value)
    try:
        while (batch := await reader.next()) is not None:
            papers, prepared, errors = batch
            report.records += len(papers) + len(errors)
            if errors:
                report.rejected += len(errors)
                room = MAX_ERRORS - len(report.errors)
                if room > 0:
                    report.errors.extend(errors[:room])
            if papers:
                began = time.monotonic()
                async with store.db.transaction() as conn:
                    counts = await repo.upsert_many(
                        papers,
                        source,
                        conn=conn,
                        prepared=prepared,
                        before_fts=reader.start_next,
                        journal=journal,
                        rank_list=rank_list,
                    )
                    await store.imports.heartbeat(conn, journal)
                if beside_bot:
                    held = time.monotonic() - began
                    reader.size = live_batch_size(len(papers), held, largest)
                _add(report, counts)
                ranked |= counts.ranked
                fts_written += counts.new + counts.updated
                # Leave the write lock free for a moment: another process's writer (the bot
                # beside `python -m bot load`) polls for it. The next batch parses meanwhile.
                await asyncio.sleep(WRITER_GAP_SECONDS)
            if progress is not None:
                progress(report.records, position.tell() or 0, stat.st_size)
        if bulk and fts_written:
            total = await repo.count()
            await _merge_index(store, full=fts_written >= _OPTIMIZE_SHARE * total)
        return ranked
    finally:
        if bulk:
            with contextlib.suppress(Exception):
                async with store.db.transaction() as conn:
                    for option, value in _DEFAULT_FTS.items():
                        await repo.fts_set(conn, option, value)
            if cache is not None:
                await store.db.conn.execute(f"PRAGMA cache_size={cache}")


async def _merge_index(store: Store, *, full: bool) -> None:
    """Merge the segments a bulk load left, in short transactions (other writers get in).

    *full*: into one segment, as ``optimize`` does (worth it after a load that wrote a good
    share of the index); otherwise only as far as automatic merging would have gone.
    """
    pages = -_MERGE_PAGES if full else _MERGE_PAGES
    while True:
        async with store.db.transaction() as conn:
            before = conn.total_changes
            await store.papers.fts_merge(conn, pages)
            worked = conn.total_changes - before
        # FTS5 documents "fewer than 2 changes" as "no merge work left" (per index here).
        if worked < 2 * len(await store.papers.fts_tables()):
            return
        await asyncio.sleep(WRITER_GAP_SECONDS)


def rank_list_of(fmt: str, path: Path) -> str:
    """The trending list a file's ranks belong to: the Hugging Face trending page is one list
    (a newer page replaces it, whatever its file name); any other file is its own list."""
    source = FORMAT_SOURCES[fmt]
    return source if fmt == "hf-page" else f"{source}:{path.name}"


def live_batch_size(done: int, held: float, largest: int) -> int:
    """The next batch's size beside a running bot: *done* papers held the write lock *held*
    seconds, so aim at :data:`LIVE_HOLD_SECONDS` (between LIVE_MIN_BATCH and *largest*)."""
    if held <= 0:
        return largest
    wanted = int(done * LIVE_HOLD_SECONDS / held)
    return max(min(LIVE_MIN_BATCH, largest), min(largest, wanted))


def _add(report: LoadReport, counts: UpsertCounts) -> None:
    report.new += counts.new
    report.updated += counts.updated
    report.unchanged += counts.unchanged


Batch = tuple[list[Paper], Prepared, list[RecordError]]


def _next_batch(items: Iterator[Paper | RecordError], size: int) -> Batch | None:
    """The next *size* records, parsed and prepared for the upsert (in a worker thread)."""
    papers: list[Paper] = []
    errors: list[RecordError] = []
    for item in islice(items, size):
        if isinstance(item, RecordError):
            errors.append(item)
        else:
            papers.append(item)
    return (papers, prepare(papers), errors) if papers or errors else None


class _Reader:
    """Batches of a record stream, parsed in a worker thread while the database works.

    The next batch is parsed while SQLite runs the full-text insert of the current one
    (:meth:`start_next` is the upsert's ``before_fts`` hook): that statement runs without the
    GIL, whereas parsing during a row-by-row ``executemany`` would stall it (its thread
    waits for the GIL once per row), so the two overlap without fighting.
    """

    def __init__(self, items: Iterator[Paper | RecordError], size: int) -> None:
        self.items = items
        self.size = size
        self.pending: asyncio.Future[Batch | None] | None = None

    def start_next(self) -> None:
        if self.pending is None:
            self.pending = asyncio.ensure_future(
                asyncio.to_thread(_next_batch, self.items, self.size)
            )

    async def next(self) -> Batch | None:
        self.start_next()
        assert self.pending is not None
        # Shielded: a cancelled load must not drop the worker thread while it is still inside
        # the generator (close() waits for it, then closes the generator).
        batch = await asyncio.shield(self.pending)
        self.pending = None
        return batch

    async def close(self) -> None:
        if self.pending is not None:
            # The worker cannot be interrupted: let it finish its batch, then drop it.
            with contextlib.suppress(BaseException):
                await self.pending
            self.pending = None
        close = getattr(self.items, "close", None)
        if close is not None:
            close()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _key(path: Path) -> str:
    """How ``imported_files`` names a file: its resolved path."""
    return str(path.resolve())


class _ReadPosition:
    """How far the importer has read into a file: the offset of the descriptor it opened.

    ``read_papers`` opens the file itself, so the offset is read from ``/proc/self/fdinfo``
    (for a ``.gz`` file that is the compressed bytes read, which is what an ETA needs). Where
    there is no ``/proc``, :meth:`tell` returns None.
    """

    _FD_DIR = "/proc/self/fd"

    def __init__(self, path: Path, stat: os.stat_result) -> None:
        self.ident = (stat.st_dev, stat.st_ino)
        self.fd: int | None = None
        self.usable = os.path.isdir(self._FD_DIR)

    def _same(self, fd: int) -> bool:
        try:
            st = os.stat(f"{self._FD_DIR}/{fd}")
        except OSError:
            return False
        return (st.st_dev, st.st_ino) == self.ident

    def tell(self) -> int | None:
        if not self.usable:
            return None
        if self.fd is None or not self._same(self.fd):
            self.fd = None
            try:
                fds = [int(name) for name in os.listdir(self._FD_DIR)]
            except OSError:
                self.usable = False
                return None
            # The newest descriptor on the file is the reader's (format sniffing closed its own).
            for fd in sorted(fds, reverse=True):
                if self._same(fd):
                    self.fd = fd
                    break
            else:
                return None
        try:
            with open(f"/proc/self/fdinfo/{self.fd}", encoding="ascii") as info:
                for line in info:
                    if line.startswith("pos:"):
                        return int(line.split()[1])
        except (OSError, ValueError):
            pass
        return None


# -- the data folder -----------------------------------------------------------------------------


def data_files(data_dir: Path, *, exclude: tuple[Path, ...] = ()) -> list[Path]:
    """The files under *data_dir* to import: recursively, no dotfiles, READMEs or *exclude*."""
    if not data_dir.is_dir():
        return []
    excluded = {p.resolve() for p in exclude}
    found: list[Path] = []
    for path in sorted(data_dir.rglob("*")):
        rel = path.relative_to(data_dir)
        if any(part.startswith(".") for part in rel.parts):
            continue
        if path.name.lower() in _SKIP_NAMES or not path.is_file():
            continue
        if path.resolve() in excluded:
            continue
        found.append(path)
    return found


async def load_data_dir(
    store: Store, data_dir: Path | str, *, progress: Progress | None = None
) -> list[LoadReport]:
    """Import every file in *data_dir* that changed since its last import.

    A file whose size and mtime match its last import is skipped; one whose mtime changed but
    whose content (sha256) did not is skipped too (and its mtime remembered). A file that
    cannot be imported (unknown format, unreadable, truncated, or any other exception while
    importing it) is reported with ``failed`` set to one line, and the other files still load.
    Cancellation and KeyboardInterrupt are never caught.
    """
    data_dir = Path(data_dir)
    db_path = store.db.path
    own = tuple(Path(f"{db_path}{suffix}") for suffix in ("", "-wal", "-shm", "-journal"))
    reports: list[LoadReport] = []
    for path in await asyncio.to_thread(data_files, data_dir, exclude=own):
        began = time.monotonic()
        try:
            stat = await asyncio.to_thread(path.stat)
        except OSError as exc:
            reports.append(LoadReport(path=path, format=None, failed=str(exc)))
            continue
        row = await store.db.fetchone(
            "SELECT size, mtime_ns, sha256, format FROM imported_files WHERE path = ?",
            (_key(path),),
        )
        known_sha: str | None = None
        if row is not None and int(row["size"]) == stat.st_size:
            if int(row["mtime_ns"]) == stat.st_mtime_ns:
                reports.append(_skipped(path, row["format"], began))
                continue
            try:
                known_sha = await asyncio.to_thread(_sha256, path)
            except OSError as exc:
                reports.append(LoadReport(path=path, format=None, failed=str(exc)))
                continue
            if known_sha == row["sha256"]:
                await store.db.execute(
                    "UPDATE imported_files SET mtime_ns = ? WHERE path = ?",
                    (stat.st_mtime_ns, _key(path)),
                )
                reports.append(_skipped(path, row["format"], began))
                continue
        try:
            report = await _load(
                store,
                path,
                fmt=None,
                progress=progress,
                batch_size=BATCH_SIZE,
                known_sha=known_sha,
            )
        except Exception as exc:
            if isinstance(exc, IngestError | UnknownFormatError):
                failed = str(exc)
                log.warning("%s not imported: %s", path, failed)
            else:  # a bug or a store error: the traceback goes to the log, the reason to failed
                lines = str(exc).strip().splitlines()
                failed = f"{type(exc).__name__}: {lines[0][:300] if lines else 'no details'}"
                log.warning("%s not imported: %s", path, failed, exc_info=True)
            reports.append(
                LoadReport(path=path, format=None, failed=failed, seconds=time.monotonic() - began)
            )
            continue
        reports.append(report)
    return reports


def _skipped(path: Path, fmt: str | None, began: float) -> LoadReport:
    return LoadReport(path=path, format=fmt, skipped=True, seconds=time.monotonic() - began)
