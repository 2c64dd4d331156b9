"""The For you digest runner (bot/recs/digest.py): one DM per member and local day (or week),
never a paper twice, exactly once across a crash, paused when DMs are closed. A real store of
the bundled papers with vectors, a fake clock, and a fake DM sender that keeps a member's DMs
as Discord would (a repeated nonce returns the first message)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot.recs.digest import (
    Digest,
    DigestBlocked,
    DigestRunner,
    TransientDigestError,
    make_nonce,
)
from bot.recs.pool import CandidatePool
from bot.recs.recommender import PERSONAL, Recommender
from bot.schedule import timecalc
from bot.store import Store
from bot.store.recs import BLOCKED, EMPTY, SENT, Member
from bot.store.runs import SENDING
from tests.daily_support import FakeClock
from tests.recs_support import embedder, real_store

BERLIN = ZoneInfo("Europe/Berlin")
ALICE = 101


def berlin(d: int, h: int, mi: int = 0) -> datetime:
    return datetime(2026, 4, d, h, mi, tzinfo=BERLIN).astimezone(UTC)


class Killed(BaseException):
    """The process ends here (nothing of it catches this)."""


@dataclass
class Sent:
    message_id: int
    nonce: str
    at: datetime
    paper_ids: list[str]
    reasons: list[tuple[str | None, tuple[str, ...]]]


@dataclass
class FakeDMs:
    """The member's DMs as Discord keeps them, and how the next calls go."""

    clock: FakeClock
    inbox: dict[int, list[Sent]] = field(default_factory=dict)
    closed: set[int] = field(default_factory=set)
    fail_after_delivery: int = 0  # next sends: delivered, then the answer is lost (a 502)
    die_before_delivery: int = 0  # next sends: the process is killed before Discord is reached
    break_before_delivery: int = 0  # next sends: a bug raises before Discord is reached
    notified: list[int] = field(default_factory=list)
    looked: int = 0

    async def send(self, digest: Digest, /) -> int:
        if self.die_before_delivery:
            self.die_before_delivery -= 1
            raise Killed
        if self.break_before_delivery:
            self.break_before_delivery -= 1
            raise RuntimeError("a bug")
        if digest.user_id in self.closed:
            raise DigestBlocked("DMs closed (Discord error 50007)")
        box = self.inbox.setdefault(digest.user_id, [])
        known = next((m for m in box if m.nonce == digest.nonce), None)
        if known is None:
            known = Sent(
                1000 + sum(map(len, self.inbox.values())),
                digest.nonce,
                self.clock.now(),
                [p.id for p in digest.papers],
                [(p.because_title, p.words) for p in digest.picks],
            )
            box.append(known)
        if self.fail_after_delivery:
            self.fail_after_delivery -= 1
            raise TransientDigestError("Discord error 502", maybe_sent=True)
        return known.message_id

    async def find_sent(self, digest: Digest, since: datetime, /) -> int | None:
        self.looked += 1
        for message in self.inbox.get(digest.user_id, []):
            if message.at >= since and message.paper_ids[:1] == [p.id for p in digest.papers[:1]]:
                return message.message_id
        return None

    async def notify_blocked(self, member: Member, /) -> None:
        self.notified.append(member.user_id)


@pytest.fixture
async def store(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Store]:
    opened = await real_store(tmp_path, tmp_path_factory.getbasetemp())
    yield opened
    await opened.close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(berlin(1, 7, 0))  # Wednesday 1 April 2026, 07:00 in Berlin


@pytest.fixture
def dms(clock: FakeClock) -> FakeDMs:
    return FakeDMs(clock)


def runner(store: Store, dms: FakeDMs, clock: FakeClock) -> DigestRunner:
    """A runner as a (re)started bot makes it: a new owner, a new recommender."""
    model = embedder()
    rec = Recommender(store.db, token_model=lambda: model, pool=CandidatePool(check_seconds=0))
    return DigestRunner(store.recs, rec, store.papers, dms, clock)


async def member_with_digest(
    store: Store, clock: FakeClock, *, cadence: str = "daily", weekday: int | None = None
) -> None:
    for paper_id in ("0704.0001", "0704.0005", "0704.0010", "0704.0011"):  # hep-ph, math...
        assert await store.social.toggle_save(ALICE, paper_id)
    await digest_on(store, clock, cadence=cadence, weekday=weekday)


async def digest_on(
    store: Store, clock: FakeClock, *, cadence: str = "daily", weekday: int | None = None
) -> None:
    at = timecalc.parse_hhmm("08:00")
    await store.recs.set_digest(
        ALICE,
        local_time="08:00",
        tz="Europe/Berlin",
        cadence=cadence,
        weekday=weekday,
        next_run=timecalc.next_run(at, BERLIN, clock.now(), weekday),
        origin_channel_id=77,
        now=clock.now(),
    )


async def test_one_digest_a_day_at_the_local_time_never_repeating_a_paper(
    store: Store, clock: FakeClock, dms: FakeDMs
) -> None:
    await member_with_digest(store, clock)
    run = runner(store, dms, clock)
    assert await run.tick() == 0  # 07:00: not yet
    clock.set(berlin(1, 8, 0))
    assert await run.tick() == 1
    (first,) = dms.inbox[ALICE]
    assert len(first.paper_ids) == 5 and first.nonce == make_nonce(ALICE, "2026-04-01")
    assert all(because for because, words in first.reasons)  # each says why
    clock.set(berlin(1, 21, 0))
    assert await run.tick() == 0 and len(dms.inbox[ALICE]) == 1  # once a day
    assert (await store.recs.get_run(ALICE, "2026-04-01")).state == SENT  # type: ignore[union-attr]
    # /foryou shows the member the best picks in between: the next digest skips them too.
    rec = Recommender(store.db, pool=CandidatePool(check_seconds=0))
    seen_in_foryou = (await rec.feed(ALICE, 3)).picks
    await store.recs.mark_shown(ALICE, [p.pid for p in seen_in_foryou], clock.now())
    clock.set(berlin(2, 8, 30))
    assert await run.tick() == 1
    second = dms.inbox[ALICE][1]
    assert len(second.paper_ids) == 5
    assert not set(second.paper_ids) & set(first.paper_ids)
    assert not set(second.paper_ids) & {p.paper_id for p in seen_in_foryou}


async def test_a_day_the_bot_was_down_is_not_caught_up_later(
    store: Store, clock: FakeClock, dms: FakeDMs
) -> None:
    await member_with_digest(store, clock)
    clock.set(berlin(2, 7, 0))  # down over 1 April 08:00: that digest is not sent late
    run = runner(store, dms, clock)
    await run.tick()
    assert ALICE not in dms.inbox and await store.recs.runs_for(ALICE) == []
    member = await store.recs.member(ALICE)
    assert member is not None and member.next_run == berlin(2, 8, 0)
    clock.set(berlin(4, 9, 0))  # down again from before 2 April 08:00 until 4 April 09:00
    await run.tick()
    assert len(dms.inbox[ALICE]) == 1  # today's, not the two days missed
    assert [r.run_key for r in await store.recs.runs_for(ALICE)] == ["2026-04-04"]


async def test_weekly_digest_once_a_week_on_its_day(
    store: Store, clock: FakeClock, dms: FakeDMs
) -> None:
    await member_with_digest(store, clock, cadence="weekly", weekday=4)  # Fridays
    run = runner(store, dms, clock)
    for day in (1, 2):
        clock.set(berlin(day, 9, 0))
        await run.tick()
    assert ALICE not in dms.inbox
    clock.set(berlin(3, 8, 0))  # Friday
    await run.tick()
    clock.set(berlin(4, 8, 0))
    await run.tick()
    assert len(dms.inbox[ALICE]) == 1
    assert [r.run_key for r in await store.recs.runs_for(ALICE)] == ["2026-W14"]
    member = await store.recs.member(ALICE)
    assert member is not None and member.next_run == berlin(10, 8, 0)  # the next Friday


@pytest.mark.parametrize("crash", ["answer lost", "killed before sending", "bug"])
async def test_exactly_once_across_a_crash(
    store: Store, clock: FakeClock, dms: FakeDMs, crash: str
) -> None:
    await member_with_digest(store, clock)
    clock.set(berlin(1, 8, 0))
    if crash == "answer lost":
        dms.fail_after_delivery = 1  # the DM went out, the bot never heard back (a 502)
        await runner(store, dms, clock).tick()
    elif crash == "bug":
        dms.break_before_delivery = 1  # "sending" was written, then something raised
        await runner(store, dms, clock).tick()
    else:
        dms.die_before_delivery = 1  # "sending" was written, then the process was killed
        with pytest.raises(BaseExceptionGroup) as killed:  # out of the runner's task group
            await runner(store, dms, clock).tick()
        assert killed.group_contains(Killed)
    stuck = await store.recs.get_run(ALICE, "2026-04-01")
    assert stuck is not None and stuck.state == SENDING and stuck.verify
    reserved = await store.recs.run_pids(stuck)
    assert len(reserved) == 5
    # The bot restarts (a new runner) a little later the same day.
    clock.set(berlin(1, 9, 0))
    await runner(store, dms, clock).tick()
    assert len(dms.inbox[ALICE]) == 1  # one DM, whichever the crash
    assert dms.looked == 1  # it looked in the DMs before sending anything again
    done = await store.recs.get_run(ALICE, "2026-04-01")
    assert done is not None and done.state == SENT
    assert done.message_id == dms.inbox[ALICE][0].message_id
    assert await store.recs.run_pids(done) == reserved  # the same papers, in order


async def test_closed_dms_pause_the_digest_tell_once_and_free_the_papers(
    store: Store, clock: FakeClock, dms: FakeDMs
) -> None:
    await member_with_digest(store, clock)
    dms.closed.add(ALICE)
    clock.set(berlin(1, 8, 0))
    run = runner(store, dms, clock)
    await run.tick()
    blocked = await store.recs.get_run(ALICE, "2026-04-01")
    assert blocked is not None and blocked.state == BLOCKED
    assert await store.recs.run_pids(blocked) == []  # nothing went out: nothing counts as seen
    member = await store.recs.member(ALICE)
    assert member is not None and member.paused_reason == "dms-closed"
    assert dms.notified == [ALICE]
    for day in (2, 3):
        clock.set(berlin(day, 8, 0))
        await run.tick()
    assert dms.notified == [ALICE] and ALICE not in dms.inbox  # told once, paused
    assert [r.run_key for r in await store.recs.runs_for(ALICE)] == ["2026-04-01"]
    # Turned on again after opening the DMs: the next day's digest goes out.
    dms.closed.clear()
    await digest_on(store, clock)
    clock.set(berlin(4, 8, 0))
    await run.tick()
    assert len(dms.inbox[ALICE]) == 1


async def test_nothing_new_sends_nothing(store: Store, clock: FakeClock, dms: FakeDMs) -> None:
    await member_with_digest(store, clock)
    rec = Recommender(store.db, pool=CandidatePool(check_seconds=0))
    everything = (await rec.feed(ALICE, 10_000)).picks
    assert (await rec.feed(ALICE, 1)).kind == PERSONAL
    await store.recs.mark_shown(ALICE, [p.pid for p in everything], clock.now())
    clock.set(berlin(1, 8, 0))
    await runner(store, dms, clock).tick()
    assert ALICE not in dms.inbox
    assert (await store.recs.get_run(ALICE, "2026-04-01")).state == EMPTY  # type: ignore[union-attr]


async def test_a_digest_turned_off_before_its_retry_does_not_go_out(
    store: Store, clock: FakeClock, dms: FakeDMs
) -> None:
    await member_with_digest(store, clock)
    clock.set(berlin(1, 8, 0))
    dms.break_before_delivery = 1
    await runner(store, dms, clock).tick()
    assert await store.recs.digest_off(ALICE, clock.now())
    clock.set(berlin(1, 10, 0))
    await runner(store, dms, clock).tick()
    assert ALICE not in dms.inbox
    run = await store.recs.get_run(ALICE, "2026-04-01")
    assert run is not None and run.state == "failed"
    assert await store.recs.run_pids(run) == []  # released: never seen


def act_while_picking(rec: Recommender, act: Callable[[], Awaitable[object]]) -> list[int]:
    """Make the recommender run *act* (the member's command) on its first pick: after the run
    checked the digest is still on, before its papers are reserved."""
    feed = rec.feed
    calls: list[int] = []

    async def feed_then_act(user_id: int, count: int) -> Any:
        if not calls:
            await act()
        calls.append(1)
        return await feed(user_id, count)

    rec.feed = feed_then_act  # type: ignore[method-assign]
    return calls


@pytest.mark.parametrize("command", ["digest off", "forget"])
async def test_a_digest_turned_off_while_it_picks_does_not_go_out(
    store: Store, clock: FakeClock, dms: FakeDMs, command: str
) -> None:
    await member_with_digest(store, clock)
    clock.set(berlin(1, 8, 0))
    run = runner(store, dms, clock)

    async def act() -> None:
        if command == "forget":
            await store.recs.forget(ALICE)
        else:
            assert await store.recs.digest_off(ALICE, clock.now())

    calls = act_while_picking(run.recommender, act)
    await run.tick()
    assert calls  # the run got as far as its pick
    assert ALICE not in dms.inbox  # turned off before its papers were reserved: no DM
    rows = await store.db.fetchall("SELECT pid FROM rec_shown WHERE user_id = ?", (ALICE,))
    assert rows == []  # nothing counts as seen (and a forgotten member left no row)
    if command == "forget":
        assert await store.recs.runs_for(ALICE) == [] and await store.recs.member(ALICE) is None
    else:
        (closed,) = await store.recs.runs_for(ALICE)
        assert closed.state == "failed" and not closed.verify
    clock.set(berlin(1, 10, 0))
    await run.tick()
    assert ALICE not in dms.inbox
