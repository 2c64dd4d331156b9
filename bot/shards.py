"""Shards: which servers a process serves, when the bot runs as several processes.

Discord splits a bot's servers over *shards*: a server belongs to shard
``(guild_id >> 22) % shard_count``, and each gateway connection (one per shard) receives the
events of its servers only. One process may run every shard (the default) or a range of them
(``PAPERBOT_SHARDS=0-3`` with ``PAPERBOT_SHARD_COUNT=8``); the work the database hands out
per server (daily posts) then goes to the process that runs the server's shard.

Pure: no discord, no SQL (``bot/store`` turns a :class:`ShardSet` into a WHERE clause).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["ShardClaim", "ShardSet", "format_shard_ids", "parse_shard_ids", "shard_of"]

_PART = re.compile(r"^(\d+)(?:\s*-\s*(\d+))?$")


def shard_of(guild_id: int, shard_count: int) -> int:
    """The shard a server belongs to (Discord's formula)."""
    return (guild_id >> 22) % shard_count


def parse_shard_ids(text: str) -> tuple[int, ...]:
    """``"0-3"``, ``"0,2,5"``, ``"0-3, 8-11"`` -> sorted shard ids.

    Raises ValueError with a message saying what is wrong (the setting name is added by the
    caller).
    """
    ids: list[int] = []
    for raw in text.split(","):
        part = raw.strip()
        if not part:
            raise ValueError(f"{text!r} has an empty part; write ids like 0-3 or 0,2,5")
        m = _PART.match(part)
        if not m:
            raise ValueError(f"{part!r} is not a shard id or a range like 0-3")
        first = int(m.group(1))
        last = int(m.group(2)) if m.group(2) is not None else first
        if last < first:
            raise ValueError(f"the range {part!r} runs backwards; write {last}-{first}")
        ids.extend(range(first, last + 1))
    if len(set(ids)) != len(ids):
        twice = sorted({i for i in ids if ids.count(i) > 1})
        raise ValueError(f"shard {', '.join(map(str, twice))} is listed more than once")
    return tuple(sorted(ids))


def format_shard_ids(ids: tuple[int, ...]) -> str:
    """``(0, 1, 2, 3, 8)`` -> ``"0-3,8"`` (the inverse of :func:`parse_shard_ids`)."""
    parts: list[str] = []
    start = prev = None
    for i in ids:
        if prev is not None and i == prev + 1:
            prev = i
            continue
        if start is not None:
            parts.append(str(start) if start == prev else f"{start}-{prev}")
        start = prev = i
    if start is not None:
        parts.append(str(start) if start == prev else f"{start}-{prev}")
    return ",".join(parts)


@dataclass(frozen=True, slots=True)
class ShardSet:
    """The shards one process runs, out of ``count`` in total (a strict subset of them:
    a process running every shard needs no filter and has no ShardSet)."""

    count: int
    ids: tuple[int, ...]

    def __post_init__(self) -> None:
        if self.count < 1:
            raise ValueError("the shard count must be at least 1")
        if not self.ids:
            raise ValueError("a shard set needs at least one shard")
        if any(not 0 <= i < self.count for i in self.ids):
            raise ValueError(f"shard ids must be between 0 and {self.count - 1}")

    def owns(self, guild_id: int) -> bool:
        """Whether this process runs the shard of *guild_id*."""
        return shard_of(guild_id, self.count) in self.ids

    @property
    def share(self) -> float:
        """The fraction of all shards run here (for splitting the per-bot rate limit)."""
        return len(self.ids) / self.count

    @property
    def label(self) -> str:
        return f"shards {format_shard_ids(self.ids)} of {self.count}"


@dataclass(frozen=True, slots=True)
class ShardClaim:
    """What a process runs, as it tells the others through the database: ``count`` None is
    Discord's recommendation, ``ids`` None is every shard."""

    count: int | None
    ids: tuple[int, ...] | None

    @property
    def text(self) -> str:
        count = "auto" if self.count is None else str(self.count)
        ids = "all" if self.ids is None else format_shard_ids(self.ids)
        return f"{count}:{ids}"

    @classmethod
    def parse(cls, text: str) -> ShardClaim | None:
        count, _, ids = text.partition(":")
        try:
            return cls(
                None if count == "auto" else int(count),
                None if ids == "all" else parse_shard_ids(ids),
            )
        except ValueError:
            return None

    @property
    def label(self) -> str:
        ids = "every shard" if self.ids is None else f"shards {format_shard_ids(self.ids)}"
        return ids + ("" if self.count is None else f" of {self.count}")

    def conflict(self, other: ShardClaim) -> str | None:
        """Why this process and *other* cannot both run, or None."""
        if self.ids is None or other.ids is None:
            return "both would run the same shards"
        if self.count != other.count:
            return f"PAPERBOT_SHARD_COUNT differs ({self.count} here, {other.count} there)"
        common = sorted(set(self.ids) & set(other.ids))
        if common:
            return f"both would run shard {format_shard_ids(tuple(common))}"
        return None
