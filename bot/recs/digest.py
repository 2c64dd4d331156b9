"""The For you digest: a member's top new picks by DM, once a day (or a week), exactly once.

The machine of the daily posts (:class:`bot.schedule.leased.LeasedRunner`), for one DM per
member and local day (or ISO week), over the runs of :class:`bot.store.recs.RecsRepo`:

* *Before Discord is called* the picks are written to ``rec_shown`` with the run, and the run
  enters ``sending`` with ``verify = 1``, in one transaction. A paper written there is never
  picked again for that member (by a digest or ``/foryou``): a digest never repeats a paper.
* A member whose DMs are closed: the run is ``blocked``, its papers are released (they never
  went out), the digest is paused and the member is told once where they turned it on (like
  alerts); ``/foryou digest on`` resumes it.
* A run that may have gone out is reconciled in the member's DMs: found, recorded as sent;
  not found, sent again, same papers, same nonce.

No Discord here: the DM is an injected :class:`DigestSender` (``bot/cogs/foryou.py``), the
time an injected clock.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, Unpack

from bot.models import Paper
from bot.recs.recommender import COLD, PERSONAL, Pick, Recommender
from bot.schedule import leased
from bot.schedule.leased import Clock, LeasedRunner, LoopOptions, Outcome, Recipient
from bot.store.recs import DigestRun, Member, RecsRepo

log = logging.getLogger(__name__)

DIGEST_COUNT = 5


def make_nonce(user_id: int, run_key: str) -> str:
    """The nonce of a digest: same run, same nonce, across restarts."""
    return leased.nonce("pf", f"paperbot-foryou:{user_id}:{run_key}")


@dataclass(frozen=True, slots=True)
class Digest:
    """One DM: the member's picks (a cold start's trending papers when ``kind`` says so)."""

    user_id: int
    run_key: str
    nonce: str
    weekly: bool
    kind: str  # bot.recs.recommender PERSONAL, COLD or UNAVAILABLE
    papers: tuple[Paper, ...]
    picks: tuple[Pick, ...]  # the same order as papers


class DigestBlocked(leased.Unreachable):
    """The member cannot be sent DMs (they closed them, or left every shared server)."""


class TransientDigestError(leased.Transient):
    """Worth trying again later. ``maybe_sent``: the DM may exist."""


class DigestSender(Protocol):
    async def send(self, digest: Digest, /) -> int:
        """Send the DM; returns its message id. Raises :class:`DigestBlocked` or
        :class:`TransientDigestError`."""
        ...

    async def find_sent(self, digest: Digest, since: datetime, /) -> int | None:
        """Our DM for *digest* after *since*, if the member's DMs hold it."""
        ...

    async def notify_blocked(self, member: Member, /) -> None:
        """Tell the member (where they turned the digest on) that their DMs are closed."""
        ...


class PaperSource(Protocol):
    async def get_by_pids(self, pids: Iterable[int], /) -> list[Paper]: ...


class DigestRunner(LeasedRunner[DigestRun, Member, Digest, int]):
    """The members' digests; the loop and the protocol are the base's."""

    turned_off = "the digest was turned off"

    name = "digest"
    plural = "digest(s)"

    def __init__(
        self,
        repo: RecsRepo,
        recommender: Recommender,
        papers: PaperSource,
        sender: DigestSender,
        clock: Clock | None = None,
        *,
        count: int = DIGEST_COUNT,
        send_timeout: float = 60.0,
        **options: Unpack[LoopOptions],
    ) -> None:
        super().__init__(repo, clock, timeout=send_timeout, **options)
        self.repo = repo
        self.recommender = recommender
        self.papers = papers
        self.sender = sender
        self.count = count

    async def _sleep(self, seconds: float) -> None:
        # Real time, whatever the clock: a test's stepped clock belongs to the daily runner
        # (each sleep on it moves it on); a test ticks this loop with wake() instead.
        await asyncio.sleep(seconds)

    # -- the base's hooks -----------------------------------------------------------------------

    def _who(self, key: int) -> str:
        return f"the digest of user {key}"

    def _recipient(self, parent: Member) -> Recipient:
        m = parent
        assert m.next_run is not None  # (due)
        return Recipient(
            m.user_id, m.next_run, m.local_time or "", m.tz or "UTC", m.weekly, m.weekday
        )

    def _nonce(self, key: int, run_key: str) -> str:
        return make_nonce(key, run_key)

    async def _bad_timing(self, parent: Member, now: datetime) -> None:
        log.warning("turning the digest of user %s off", parent.user_id)
        await self.repo.digest_off(parent.user_id, now)

    async def _parent(self, run: DigestRun) -> Member | None:
        return await self.repo.member(run.user_id)

    async def _restart(self, run: DigestRun, now: datetime) -> DigestRun:
        return await self.repo.restart_run(run, now)

    async def _end_early(
        self, run: DigestRun, parent: Member | None, now: datetime
    ) -> Outcome | None:
        on = parent is not None and parent.digest and parent.paused_reason is None
        if now < run.deadline and on:
            return None
        why = "turned off" if not on else "the day ended before it could go out"
        await self.repo.mark_failed(run, error=why, release=True, now=now)
        return Outcome("failed", detail=why)

    async def _find_sent(self, message: Digest, since: datetime) -> int | None:
        return await self.sender.find_sent(message, since)

    async def _send(self, message: Digest) -> int:
        return await self.sender.send(message)

    async def _sent(self, run: DigestRun, message: Digest, receipt: int) -> Outcome:
        await self.repo.mark_sent(run, receipt, self.clock.now())
        log.info(
            "digest of %d paper(s) sent to user %s (%s)",
            len(message.papers),
            run.user_id,
            run.run_key,
        )
        return Outcome("sent", message_id=receipt, papers=len(message.papers))

    async def _blocked(
        self, run: DigestRun, parent: Member | None, exc: leased.Unreachable, reconciling: bool
    ) -> Outcome:
        log.info("user %s does not accept DMs: pausing their digest (%s)", run.user_id, exc)
        paused = await self.repo.mark_blocked(run, reason=exc.reason, now=self.clock.now())
        if paused and parent is not None:
            try:
                await self.sender.notify_blocked(parent)
            except Exception:
                log.warning("could not tell user %s about their digest", run.user_id, exc_info=True)
        return Outcome("blocked", detail=exc.reason)

    # -- the DM ---------------------------------------------------------------------------------

    async def _prepare(self, run: DigestRun, member: Member, now: datetime) -> Digest | Outcome:
        """Pick the papers and write ``sending`` (before Discord is called)."""
        for _ in range(3):
            found = await self.recommender.feed(run.user_id, self.count)
            if not found.picks:
                await self.repo.mark_empty(run, now)
                return Outcome("empty")
            papers = await self.papers.get_by_pids([p.pid for p in found.picks])
            have = {p.id for p in papers}
            picks = [p for p in found.picks if p.paper_id in have]
            if picks and await self.repo.begin_send(run, [p.pid for p in picks], now):
                return Digest(
                    run.user_id,
                    run.run_key,
                    run.nonce,
                    member.weekly,
                    found.kind,
                    tuple(papers),
                    tuple(picks),
                )
            log.info("a digest paper of user %s went meanwhile; picking again", run.user_id)
        raise RuntimeError("could not reserve the digest's papers after 3 picks")

    async def _resume(self, run: DigestRun, member: Member | None) -> tuple[Digest, bool]:
        """The digest of a run already ``sending`` (its reserved papers, in order), and
        whether every one of them is still in the store."""
        pids = await self.repo.run_pids(run)
        papers = await self.papers.get_by_pids(pids)
        have = {p.id for p in papers}
        picks = [p for p in await self.recommender.reasons(run.user_id, pids) if p.paper_id in have]
        digest = Digest(
            run.user_id,
            run.run_key,
            run.nonce,
            bool(member and member.weekly),
            PERSONAL if any(p.because_id for p in picks) else COLD,
            tuple(papers),
            tuple(picks),
        )
        return digest, bool(pids) and len(papers) == len(pids) == len(picks)
