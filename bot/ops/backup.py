"""``python -m bot backup PATH``: a consistent copy of the database, safe while the bot runs.

A backup holds everything the bot knows (servers, channels, members' saved papers and
alerts), so it is created readable by its owner only (0600) before a byte is written into it,
and a folder the backup creates is 0700.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bot.store import StoreError
from bot.store.health import copy_database

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class BackupInfo:
    path: Path  # the copy
    size: int  # bytes
    schema_version: int
    papers: int | None
    seconds: float

    def summary(self) -> str:
        papers = f"{self.papers:,} papers, " if self.papers is not None else ""
        return (
            f"backup written to {self.path} ({papers}{self.size / 1e6:.1f} MB, "
            f"schema version {self.schema_version}, integrity ok, {self.seconds:.1f} s)"
        )


def backup_name(now: datetime | None = None) -> str:
    stamp = (now or datetime.now(UTC)).astimezone(UTC).strftime("%Y%m%d-%H%M%S")
    return f"paperbot-{stamp}.db"


def _prepare(db_path: Path, target: Path | str) -> tuple[Path, Path, Path]:
    """Resolve the target file (a folder, existing or written with a trailing slash, gets a
    dated name) and refuse unsafe ones."""
    folder = str(target).endswith(("/", os.sep))
    db_path = db_path.expanduser()
    target = Path(target).expanduser()
    if folder or target.is_dir():
        target = target / backup_name()
    if target.exists():
        raise StoreError(f"{target} already exists; choose another name or remove it first")
    if db_path.exists() and target.resolve() == db_path.resolve():
        raise StoreError("the backup cannot be the database itself")
    try:
        target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"cannot create the folder {target.parent}: {exc.strerror}") from None
    partial = target.with_name(f".{target.name}.partial")
    partial.unlink(missing_ok=True)
    _create_private(partial)
    return db_path, target, partial


def _create_private(path: Path) -> None:
    """Create *path* empty with mode 0600 (SQLite writes into it as into a new database, and
    gives its journal the same mode): never readable by others, not even for a moment."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        raise StoreError(f"cannot create {path}: {exc.strerror}") from None
    os.close(fd)


def _size(path: Path) -> int:
    return path.stat().st_size


async def backup(db_path: Path, target: Path | str) -> BackupInfo:
    """Copy the database at *db_path* to *target* (a file, or a folder to put a dated file in:
    an existing one, or a path ending in a slash, created).

    Uses SQLite's online backup API, so the copy is consistent even while the bot writes.
    The copy is written beside the target under a temporary name, checked with
    ``PRAGMA integrity_check`` and only then renamed into place; an existing file is never
    overwritten. Raises :class:`StoreError` with a message a person can act on.
    """
    began = time.monotonic()
    db_path, target, partial = _prepare(db_path, target)
    try:
        result = await copy_database(db_path, partial)
        if result.integrity != "ok":
            raise StoreError(f"the copy failed its integrity check: {result.integrity}")
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    info = BackupInfo(
        path=target,
        size=_size(target),
        schema_version=result.version,
        papers=result.papers,
        seconds=time.monotonic() - began,
    )
    log.info("%s", info.summary())
    return info
