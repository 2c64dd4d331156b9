"""Leases shared by processes on one database, and IDENTIFY pacing built on them.

"Another process" is a second Store on the same file: its own connections, as a process has.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.app import _is_stale
from bot.identify import MARGIN, IdentifyPacer
from bot.shards import ShardClaim
from bot.store import Store
from bot.store.leases import Lease, ProcessId, process_gone, process_owner, this_process

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
async def stores(tmp_path: Path) -> AsyncIterator[tuple[Store, Store]]:
    a = await Store.open(tmp_path / "shared.db")
    b = await Store.open(tmp_path / "shared.db")
    yield a, b
    await a.close()
    await b.close()


async def test_one_holder_at_a_time_until_it_ends_or_is_given_up(
    stores: tuple[Store, Store],
) -> None:
    a, b = stores
    ttl = timedelta(minutes=3)
    assert await a.leases.acquire("refresher", "A", ttl=ttl, now=T0)
    assert not await b.leases.acquire("refresher", "B", ttl=ttl, now=T0 + timedelta(minutes=2))
    # The holder renews: still its own three minutes later.
    assert await a.leases.acquire("refresher", "A", ttl=ttl, now=T0 + timedelta(minutes=2))
    assert not await b.leases.acquire("refresher", "B", ttl=ttl, now=T0 + timedelta(minutes=4))
    held = await b.leases.holder("refresher")
    assert held is not None and held.owner == "A" and held.until == T0 + timedelta(minutes=5)
    # Not renewed (the holder died): it ends and another takes it.
    assert await b.leases.acquire("refresher", "B", ttl=ttl, now=T0 + timedelta(minutes=5))
    # Only the holder can give it up.
    assert not await a.leases.release("refresher", "A")
    assert await b.leases.release("refresher", "B")
    assert await b.leases.holder("refresher") is None
    assert await a.leases.acquire("refresher", "A", ttl=ttl, now=T0 + timedelta(minutes=5))


async def test_two_processes_racing_for_a_lease_get_it_once(
    stores: tuple[Store, Store],
) -> None:
    a, b = stores
    ttl = timedelta(minutes=3)
    for round_ in range(20):
        now = T0 + timedelta(hours=round_)
        got = await asyncio.gather(
            a.leases.acquire(f"race-{round_}", "A", ttl=ttl, now=now),
            b.leases.acquire(f"race-{round_}", "B", ttl=ttl, now=now),
        )
        assert sorted(got) == [False, True]


async def test_an_unreadable_lease_counts_as_free(stores: tuple[Store, Store]) -> None:
    a, _ = stores
    await a.meta.set("lease:refresher", "not json")
    assert await a.leases.holder("refresher") is None
    assert await a.leases.acquire("refresher", "A", ttl=timedelta(seconds=5), now=T0)


class Clock:
    """Wall time that only moves when someone sleeps (shared by both 'processes')."""

    def __init__(self) -> None:
        self.now = T0
        self.log: list[tuple[str, datetime]] = []

    def __call__(self) -> datetime:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)
        await asyncio.sleep(0)


async def test_identify_is_paced_per_bucket_across_processes(
    stores: tuple[Store, Store],
) -> None:
    clock = Clock()
    pacers = [IdentifyPacer(s.leases, interval=5.0, now=clock, sleep=clock.sleep) for s in stores]
    starts: list[tuple[int, datetime]] = []

    async def identify(pacer: IdentifyPacer, shard: int) -> None:
        await pacer.wait(shard)
        # When the bucket's lease was taken, by the clock the pacer read to take it (the
        # shared fake clock may have moved on since: the other "process" slept meanwhile).
        held = await pacer.leases.holder(f"identify:{pacer.bucket(shard)}")
        assert held is not None
        starts.append((shard, held.until - timedelta(seconds=pacer.interval * (1 + MARGIN))))

    # Process A runs shards 0-1, process B shards 2-3, launched one after another each;
    # max_concurrency 1: one bucket, one IDENTIFY per 5 s over both processes.
    async def launch(pacer: IdentifyPacer, shards: list[int]) -> None:
        for shard in shards:
            await identify(pacer, shard)

    await asyncio.gather(launch(pacers[0], [0, 1]), launch(pacers[1], [2, 3]))
    times = sorted(t for _, t in starts)
    assert len(times) == 4
    gaps = [(later - earlier).total_seconds() for earlier, later in itertools.pairwise(times)]
    assert all(gap >= 5.0 for gap in gaps), gaps

    # max_concurrency 2 (a larger bot): shards 4 and 5 are in different buckets and go
    # together; shard 6 shares shard 4's bucket and waits.
    for pacer in pacers:
        pacer.max_concurrency = 2
    clock.now += timedelta(seconds=30)
    starts.clear()
    began = clock.now
    await asyncio.gather(identify(pacers[0], 4), identify(pacers[1], 5))
    await identify(pacers[0], 6)
    at = dict(starts)
    assert at[4] == at[5] == began
    assert (at[6] - at[4]).total_seconds() >= 5.0


@pytest.mark.parametrize(
    ("mine", "theirs", "why"),
    [
        (ShardClaim(8, (0, 1, 2, 3)), ShardClaim(8, (4, 5, 6, 7)), None),
        (ShardClaim(8, (0, 1, 2, 3)), ShardClaim(8, (3, 4)), "both would run shard 3"),
        (ShardClaim(8, (0, 1)), ShardClaim(4, (2, 3)), "PAPERBOT_SHARD_COUNT differs"),
        (ShardClaim(None, None), ShardClaim(8, (4,)), "both would run the same shards"),
        (ShardClaim(None, None), ShardClaim(None, None), "both would run the same shards"),
    ],
)
def test_which_shard_claims_clash(mine: ShardClaim, theirs: ShardClaim, why: str | None) -> None:
    found = mine.conflict(theirs)
    assert (found is None) if why is None else (found is not None and why in found)
    assert ShardClaim.parse(theirs.text) == theirs


async def test_claims_are_checked_and_written_in_one_transaction(
    stores: tuple[Store, Store],
) -> None:
    # Two processes registering at the same instant with clashing shards: exactly one wins.
    a, b = stores
    ttl = timedelta(minutes=3)
    mine, theirs = ShardClaim(4, (0, 1)), ShardClaim(4, (1, 2))

    def clash(claim: ShardClaim) -> Callable[[Lease], bool]:
        def check(lease: Lease) -> bool:
            other = ShardClaim.parse(lease.info)
            return other is not None and claim.conflict(other) is not None

        return check

    held = await asyncio.gather(
        a.leases.register(
            "process:A",
            "A",
            ttl=ttl,
            now=T0,
            info=mine.text,
            prefix="process:",
            conflicts=clash(mine),
        ),
        b.leases.register(
            "process:B",
            "B",
            ttl=ttl,
            now=T0,
            info=theirs.text,
            prefix="process:",
            conflicts=clash(theirs),
        ),
    )
    assert sorted(h is None for h in held) == [False, True]
    # A claim that was not renewed ends: the other shards' process may start then.
    later = T0 + ttl + timedelta(seconds=1)
    loser = "B" if held[1] is not None else "A"
    claim = theirs if loser == "B" else mine
    store = b if loser == "B" else a
    assert (
        await store.leases.register(
            f"process:{loser}",
            loser,
            ttl=ttl,
            now=later,
            info=claim.text,
            prefix="process:",
            conflicts=clash(claim),
        )
        is None
    )


def test_a_claim_of_a_process_that_is_gone_is_stale() -> None:
    host = socket.gethostname()
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    assert _is_stale(f"{host}:{gone.pid}:abcd1234")  # ended
    assert _is_stale(f"{host}:{os.getpid()}:abcd1234")  # this process (an earlier bot)
    assert not _is_stale(f"{host}:{os.getppid()}:abcd1234")  # alive
    assert not _is_stale(f"elsewhere:{gone.pid}:abcd1234")  # another machine: only expiry


def _ended_pid() -> int:
    """The pid of a process that has ended."""
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    return gone.pid


def test_an_owner_whose_process_is_provably_dead_is_gone() -> None:
    me = this_process()
    ended = _ended_pid()
    same = replace(me, token="0000beef")
    assert not process_gone(process_owner("run1"))  # this very process
    assert process_gone(f"{replace(same, pid=ended)}:run1")  # ended
    assert process_gone(f"{same}:run1")  # this pid, another process: a restarted container
    assert process_gone(f"{replace(same, pid=os.getppid(), boot='old-boot')}:run1")  # rebooted
    assert not process_gone(f"{replace(same, pid=os.getppid())}:run1")  # alive
    assert not process_gone(f"{replace(same, host='elsewhere', pid=ended)}:run1")
    assert not process_gone(f"{ended}:7f00aa")  # an owner in the old form: only expiry
    assert ProcessId.parse(process_owner("run1")) == me


async def test_a_refresh_lease_of_a_dead_process_is_taken_over_at_once(
    stores: tuple[Store, Store],
) -> None:
    a, b = stores
    until = datetime.now(UTC) + timedelta(minutes=30)
    ended = _ended_pid()
    me = this_process()
    # Killed on this machine (its pid is free), or before the machine's last boot: gone.
    for dead in (replace(me, pid=ended, token="0000beef"), replace(me, boot="old-boot")):
        assert await a.refresh.acquire("hf", f"{dead}:run", until)
        assert await b.refresh.acquire("hf", process_owner("next"), until)
        await b.refresh.release("hf", process_owner("next"))
    # Alive (our parent), or of another machine: respected until it expires.
    for alive in (replace(me, pid=os.getppid(), token="0000beef"), replace(me, host="elsewhere")):
        assert await a.refresh.acquire("hf", f"{alive}:run", until)
        assert not await b.refresh.acquire("hf", process_owner("next"), until)
        await a.refresh.release("hf", f"{alive}:run")
