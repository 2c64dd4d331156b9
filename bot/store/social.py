"""Votes and reading lists: what members do with the buttons on a card."""

from __future__ import annotations

from datetime import datetime

from bot.store.database import Database
from bot.store.marks import toggle_mark
from bot.store.stamps import parse_ts, stamp, ts


class SocialRepo:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def toggle_vote(self, guild_id: int, user_id: int, paper_id: str) -> tuple[bool, int]:
        """Add the member's vote, or take it back if it was there.

        Returns (voted now, the paper's vote count in that server). Unknown paper: PaperNotFound.
        """
        async with self.db.transaction() as conn:
            voted, pid = await toggle_mark(
                conn, "votes", {"guild_id": guild_id, "user_id": user_id}, paper_id, stamp()
            )
            async with conn.execute(
                "SELECT count(*) FROM votes WHERE guild_id = ? AND pid = ?", (guild_id, pid)
            ) as cur2:
                count_row = await cur2.fetchone()
        return voted, int(count_row[0]) if count_row else 0

    async def vote_count(self, guild_id: int, paper_id: str) -> int:
        value = await self.db.fetchval(
            "SELECT count(*) FROM votes JOIN papers USING (pid) "
            "WHERE votes.guild_id = ? AND papers.id = ?",
            (guild_id, paper_id),
        )
        return int(value or 0)

    async def guild_votes(self, guild_id: int, since: datetime) -> dict[int, list[datetime]]:
        """This server's 👍 votes cast since *since*: pid -> when each was cast."""
        rows = await self.db.fetchall(
            "SELECT pid, created_at FROM votes WHERE guild_id = ? AND created_at >= ?",
            (guild_id, ts(since)),
        )
        votes: dict[int, list[datetime]] = {}
        for row in rows:
            try:
                cast = parse_ts(row[1])
            except ValueError:
                continue
            if cast is not None:
                votes.setdefault(int(row[0]), []).append(cast)
        return votes

    async def toggle_save(self, user_id: int, paper_id: str) -> bool:
        """Save the paper to the member's reading list, or remove it. Returns saved now."""
        async with self.db.transaction() as conn:
            saved, _ = await toggle_mark(conn, "saves", {"user_id": user_id}, paper_id, stamp())
        return saved

    async def remove_save(self, user_id: int, paper_id: str) -> bool:
        changed = await self.db.execute(
            "DELETE FROM saves WHERE user_id = ? AND pid = (SELECT pid FROM papers WHERE id = ?)",
            (user_id, paper_id),
        )
        return changed > 0

    async def saved_ids(self, user_id: int, *, limit: int = 100, offset: int = 0) -> list[str]:
        rows = await self.db.fetchall(
            "SELECT papers.id FROM saves JOIN papers USING (pid) WHERE saves.user_id = ? "
            "ORDER BY saves.created_at DESC, papers.pid DESC LIMIT ? OFFSET ?",
            (user_id, limit, offset),
        )
        return [str(r[0]) for r in rows]

    async def saved_count(self, user_id: int) -> int:
        return int(
            await self.db.fetchval("SELECT count(*) FROM saves WHERE user_id = ?", (user_id,)) or 0
        )
