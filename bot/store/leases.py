"""Named leases shared by every process on the database: who does a piece of work now.

Several bot processes (one per shard range) share one SQLite file. Work that must happen
once, whoever does it (a refresh-and-alerts cycle, Discord's IDENTIFY pacing), is guarded by
a lease: a row ``lease:<name>`` in ``meta`` holding the owner and the instant the lease ends.
Taking one is a read-then-write inside ``BEGIN IMMEDIATE``, so two processes can never both
hold it; a holder that dies loses it when it expires.

A holder that names itself with :func:`process_owner` can also be seen dead before then:
:func:`process_gone` says when the process that wrote an owner provably no longer runs.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import socket
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.store.database import Database

log = logging.getLogger(__name__)

_PREFIX = "lease:"
_BOOT_ID = Path("/proc/sys/kernel/random/boot_id")  # Linux: new at every boot
_UNKNOWN = "-"


@dataclass(frozen=True, slots=True)
class ProcessId:
    """Who a process is, as written into a lease's owner: ``host:pid:boot:token``.

    ``boot`` is the kernel's boot id (``-`` where there is none), ``token`` is random per
    process, so a later process with the same pid (a restarted container) is told apart."""

    host: str
    pid: int
    boot: str
    token: str

    def __str__(self) -> str:
        return f"{self.host}:{self.pid}:{self.boot}:{self.token}"

    @classmethod
    def parse(cls, owner: str) -> ProcessId | None:
        """The process that wrote *owner* (anything may follow its four parts), or None
        when *owner* was not written by :func:`process_owner`."""
        parts = owner.split(":")
        if len(parts) < 4 or not parts[0] or not parts[1].isdigit() or not parts[3]:
            return None
        return cls(parts[0], int(parts[1]), parts[2] or _UNKNOWN, parts[3])


_this: ProcessId | None = None


def _boot_id() -> str:
    try:
        return _BOOT_ID.read_text(encoding="ascii").strip().replace(":", "") or _UNKNOWN
    except (OSError, ValueError):
        return _UNKNOWN


def this_process() -> ProcessId:
    """This process (a forked child is a new one)."""
    global _this
    if _this is None or _this.pid != os.getpid():
        _this = ProcessId(socket.gethostname(), os.getpid(), _boot_id(), secrets.token_hex(4))
    return _this


def process_owner(task: str = "") -> str:
    """An owner naming this process (and *task* in it) that :func:`process_gone` can read."""
    return f"{this_process()}:{task}" if task else str(this_process())


def process_gone(owner: str) -> bool:
    """Whether the process that wrote *owner* (with :func:`process_owner`) provably no longer
    runs: it ran on this machine before its last boot, or its pid is not alive here, or its
    pid is this process's while it is not this process (a restarted container). A process
    of another machine, a live pid, or an owner in another form: not provably gone."""
    other = ProcessId.parse(owner)
    me = this_process()
    if other is None or other.host != me.host:
        return False
    if other.boot != me.boot:
        return _UNKNOWN not in (other.boot, me.boot)  # this machine has restarted since
    if other.pid == me.pid:
        return other.token != me.token
    if os.name == "nt":  # os.kill would end the process there, not look at it
        return False
    try:
        os.kill(other.pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # PermissionError: alive, another user's
        return False
    return False


@dataclass(frozen=True, slots=True)
class Lease:
    name: str
    owner: str
    until: datetime
    info: str = ""  # what the holder says about itself (e.g. the shards it runs)


def _encode(owner: str, until: datetime, info: str) -> str:
    data = {"owner": owner, "until": until.astimezone(UTC).isoformat()}
    if info:
        data["info"] = info
    return json.dumps(data, separators=(",", ":"))


def _decode(name: str, raw: str | None) -> Lease | None:
    if raw is None:
        return None
    try:
        data = json.loads(raw)
        until = datetime.fromisoformat(str(data["until"]))
        if until.tzinfo is None:
            raise ValueError("naive lease time")
        return Lease(name, str(data["owner"]), until, str(data.get("info", "")))
    except (ValueError, KeyError, TypeError):
        log.warning("lease %s holds an unreadable value; treating it as free", name)
        return None


class LeaseRepo:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def acquire(self, name: str, owner: str, *, ttl: timedelta, now: datetime) -> bool:
        """Take (or renew) *name* for *owner* until ``now + ttl`` unless another owner holds
        it and its lease has not ended. Returns whether *owner* holds it now."""
        key = _PREFIX + name
        async with self.db.transaction() as conn:
            async with conn.execute("SELECT value FROM meta WHERE key = ?", (key,)) as cur:
                row = await cur.fetchone()
            held = _decode(name, None if row is None else str(row[0]))
            if held is not None and held.owner != owner and held.until > now:
                return False
            value = _encode(owner, now + ttl, "")
            await conn.execute(
                "INSERT INTO meta(key, value) VALUES (?, ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (key, value),
            )
        return True

    async def release(self, name: str, owner: str) -> bool:
        """Give *name* up if *owner* holds it (another owner's lease is left alone)."""
        key = _PREFIX + name
        async with self.db.transaction() as conn:
            async with conn.execute("SELECT value FROM meta WHERE key = ?", (key,)) as cur:
                row = await cur.fetchone()
            held = _decode(name, None if row is None else str(row[0]))
            if held is None or held.owner != owner:
                return False
            await conn.execute("DELETE FROM meta WHERE key = ?", (key,))
        return True

    async def register(
        self,
        name: str,
        owner: str,
        *,
        ttl: timedelta,
        now: datetime,
        info: str,
        prefix: str,
        conflicts: Callable[[Lease], bool],
    ) -> Lease | None:
        """Hold *name* (with *info*) unless a live lease under *prefix* held by another owner
        *conflicts*: then nothing is written and that lease is returned. Checking and
        writing are one transaction, so two processes starting together see each other."""
        async with self.db.transaction() as conn:
            async with conn.execute(
                "SELECT key, value FROM meta WHERE key >= ? AND key < ?",
                (_PREFIX + prefix, _PREFIX + prefix + "\uffff"),
            ) as cur:
                rows = await cur.fetchall()
            for key, raw in rows:
                held = _decode(str(key)[len(_PREFIX) :], str(raw))
                if held is None or held.owner == owner or held.until <= now:
                    continue
                if conflicts(held):
                    return held
            await conn.execute(
                "INSERT INTO meta(key, value) VALUES (?, ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (_PREFIX + name, _encode(owner, now + ttl, info)),
            )
        return None

    async def live(self, prefix: str, now: datetime) -> list[Lease]:
        """The leases under *prefix* that have not ended (e.g. ``process:``: the bot
        processes running on this database)."""
        rows = await self.db.fetchall(
            "SELECT key, value FROM meta WHERE key >= ? AND key < ?",
            (_PREFIX + prefix, _PREFIX + prefix + "\uffff"),
        )
        found = (_decode(str(key)[len(_PREFIX) :], str(raw)) for key, raw in rows)
        return [lease for lease in found if lease is not None and lease.until > now]

    async def holder(self, name: str) -> Lease | None:
        """The current lease on *name* (it may have ended: compare ``until`` with now)."""
        raw = await self.db.fetchval("SELECT value FROM meta WHERE key = ?", (_PREFIX + name,))
        return _decode(name, None if raw is None else str(raw))
