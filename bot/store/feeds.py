"""Public feeds of daily schedules: the token that turns one on, and what the feed lists.

A schedule's feed is off while ``schedules.feed_token`` is NULL. Turning it on stores a random
token (``secrets.token_urlsafe``): the feed's URL holds it, so only whoever was given the URL
can find the feed. Turning the feed off forgets the token; turning it on again makes a new one
(an old URL never comes back to life). Deleting the schedule (``/daily off``) deletes the
token with it.

The feed lists the channel's daily posts that went out (``daily_runs`` in state ``sent``),
newest first, with the paper as the store holds it now (or the title recorded at posting time
when the paper has since left the store).
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import datetime

from bot.models import Paper
from bot.store.database import Database
from bot.store.rows import COLUMNS, row_to_paper
from bot.store.schedules import SENT
from bot.store.stamps import parse_ts

log = logging.getLogger(__name__)

TOKEN_BYTES = 24  # 32 URL-safe characters, 192 random bits
MAX_TOKEN_CHARS = 64  # longer text is not a token we made: not even looked up

_PAPER_COLUMNS = ", ".join(f"p.{name}" for name in COLUMNS)


@dataclass(frozen=True, slots=True)
class FeedSchedule:
    """What a public feed may show about its schedule (no server, channel or member ids)."""

    token: str
    topic: str | None
    local_time: str
    tz: str
    created_at: datetime | None


@dataclass(frozen=True, slots=True)
class FeedPost:
    paper: Paper
    posted_at: datetime
    in_store: bool  # False: the paper left the store; only its id and title are known


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


class FeedRepo:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def set_public(self, channel_id: int, public: bool) -> str | None:
        """Turn a schedule's public feed on (keeping a token it has) or off.

        Returns the token (None when off, or when the channel has no schedule).
        """
        async with self.db.transaction() as conn:
            async with conn.execute(
                "SELECT feed_token FROM schedules WHERE channel_id = ?", (channel_id,)
            ) as cur:
                row = await cur.fetchone()
            if row is None:
                return None
            token: str | None = row[0]
            if not public:
                if token is not None:
                    await conn.execute(
                        "UPDATE schedules SET feed_token = NULL WHERE channel_id = ?",
                        (channel_id,),
                    )
                    log.info("public feed of channel %s turned off", channel_id)
                return None
            if token is None:
                token = new_token()
                await conn.execute(
                    "UPDATE schedules SET feed_token = ? WHERE channel_id = ?",
                    (token, channel_id),
                )
                log.info("public feed of channel %s turned on", channel_id)
            return token

    async def token_for(self, channel_id: int) -> str | None:
        value = await self.db.fetchval(
            "SELECT feed_token FROM schedules WHERE channel_id = ?", (channel_id,)
        )
        return None if value is None else str(value)

    async def tokens_for_guild(self, guild_id: int) -> dict[int, str]:
        """channel id -> token, for the schedules of a server whose feed is on."""
        rows = await self.db.fetchall(
            "SELECT channel_id, feed_token FROM schedules "
            "WHERE guild_id = ? AND feed_token IS NOT NULL",
            (guild_id,),
        )
        return {int(r[0]): str(r[1]) for r in rows}

    async def schedule(self, token: str) -> FeedSchedule | None:
        """The schedule whose public feed has this token, or None."""
        if not token or len(token) > MAX_TOKEN_CHARS:
            return None
        row = await self.db.fetchone(
            "SELECT feed_token, topic, local_time, tz, created_at FROM schedules "
            "WHERE feed_token = ?",
            (token,),
        )
        if row is None:
            return None
        return FeedSchedule(
            token=str(row[0]),
            topic=row[1],
            local_time=str(row[2]),
            tz=str(row[3]),
            created_at=parse_ts(row[4]),
        )

    async def posts(self, token: str, limit: int = 50) -> list[FeedPost]:
        """The daily posts that went out in the channel of this feed, newest first."""
        if not token or len(token) > MAX_TOKEN_CHARS:
            return []
        # A weekly post's papers are its run_papers rows (its own pid stays NULL).
        rows = await self.db.fetchall(
            "SELECT r.updated_at, coalesce(rp.paper_id, r.paper_id), "
            f"coalesce(rp.title, r.title), p.pid, {_PAPER_COLUMNS} "
            "FROM schedules s JOIN daily_runs r ON r.channel_id = s.channel_id "
            "LEFT JOIN run_papers rp ON rp.channel_id = r.channel_id AND rp.run_key = r.run_key "
            "LEFT JOIN papers p ON p.pid = coalesce(rp.pid, r.pid) "
            "WHERE s.feed_token = ? AND r.state = ? AND r.paper_id IS NOT NULL "
            "ORDER BY r.updated_at DESC, r.run_key DESC, rp.position LIMIT ?",
            (token, SENT, limit),
        )
        posts: list[FeedPost] = []
        for row in rows:
            posted = parse_ts(row[0])
            if posted is None:
                continue
            if row[3] is None:
                paper = Paper(id=str(row[1]), title=str(row[2] or row[1]))
                posts.append(FeedPost(paper, posted, in_store=False))
            else:
                posts.append(FeedPost(row_to_paper(row, 4), posted, in_store=True))
        return posts
