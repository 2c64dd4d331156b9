"""A member's mark on a paper, set or taken back by one button: a 👍 vote (per server), a
save to the reading list, a "not for me" on a pick. One table each, one way to toggle."""

from __future__ import annotations

from typing import Literal

import aiosqlite

from bot.errors import PaperNotFound

MarkTable = Literal["votes", "saves", "rec_dismissals"]


async def toggle_mark(
    conn: aiosqlite.Connection,
    table: MarkTable,
    owner: dict[str, int],
    paper_id: str,
    created_at: str,
) -> tuple[bool, int]:
    """In *conn*'s transaction: add the mark of *owner* (column -> value, e.g. ``user_id``)
    on the paper, or remove it when it was there. Returns (marked now, the paper's pid).
    Unknown paper: :class:`PaperNotFound`."""
    async with conn.execute("SELECT pid FROM papers WHERE id = ?", (paper_id,)) as cur:
        row = await cur.fetchone()
    if row is None:
        raise PaperNotFound(paper_id)
    pid = int(row[0])
    columns = list(owner)  # constant names from the repositories, never user text
    where = " AND ".join(f"{column} = ?" for column in columns)
    cur = await conn.execute(
        f"DELETE FROM {table} WHERE {where} AND pid = ?", (*owner.values(), pid)
    )
    if cur.rowcount:
        return False, pid
    await conn.execute(
        f"INSERT INTO {table}({', '.join(columns)}, pid, created_at) "
        f"VALUES ({', '.join('?' * len(columns))}, ?, ?)",
        (*owner.values(), pid, created_at),
    )
    return True, pid
