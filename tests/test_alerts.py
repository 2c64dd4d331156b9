"""Keyword alerts: query syntax, matching new papers, one digest per recipient per run, never
the same paper twice, the daily cap, and DMs that bounce (the sender is a recording fake:
the Discord side is exercised in the end-to-end tests)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from bot.fetch.alerts import (
    MAX_PREFIXES,
    PREFIX_MIN,
    DeliveryBlocked,
    Digest,
    QueryError,
    compile_author,
    compile_query,
    deliver_alerts,
)
from bot.ingest import hf_daily
from bot.models import Paper
from bot.store import Store
from bot.store.alerts import Alert
from tests.fakesources import HF_SAMPLE

GUILD, CHANNEL, ALICE, BOB, NEWS = 1, 10, 100, 200, 11
NOW = datetime(2026, 3, 25, 12, 0, tzinfo=UTC)


class RecordingSender:
    def __init__(self) -> None:
        self.digests: list[Digest] = []
        self.notices: list[Alert] = []
        self.blocked_users: set[int] = set()
        self.flaky: int = 0  # fail this many sends with a transient error
        self.shows: int | None = None  # show only the first so many papers of a digest

    async def send_digest(self, digest: Digest) -> list[str]:
        if self.flaky:
            self.flaky -= 1
            raise ConnectionResetError("gateway hiccup")
        if digest.kind == "user" and digest.target_id in self.blocked_users:
            raise DeliveryBlocked("DMs closed (Discord error 50007)")
        self.digests.append(digest)
        return [p.id for p in digest.papers[: self.shows]]

    async def notify_blocked(self, alert: Alert) -> None:
        self.notices.append(alert)

    def for_target(self, target: int) -> list[Digest]:
        return [d for d in self.digests if d.target_id == target]


def sample_papers() -> list[Paper]:
    papers = [p for p in hf_daily.parse_bytes(HF_SAMPLE.read_bytes()) if isinstance(p, Paper)]
    assert len(papers) == 5
    return papers


def made_up(
    n: int, title: str, *, upvotes: int = 0, published: date | None = date(2026, 3, 24)
) -> Paper:
    return Paper.create(
        title=title,
        arxiv_id=f"2603.{90000 + n}",
        abstract=f"We study {title.lower()} at scale.",
        authors=["A. Author"],
        published=published,
        upvotes=upvotes,
        source="hf-daily",
    )


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    s = await Store.open(tmp_path / "paperbot.db")
    yield s
    await s.close()


async def add(store: Store, user: int, query: str, *, channel: int | None = None) -> Alert:
    alert, created = await store.alerts.add(
        guild_id=GUILD, user_id=user, query=query, origin_channel_id=CHANNEL, channel_id=channel
    )
    assert created
    return alert


# -- query syntax ----------------------------------------------------------------------------


def test_compile_query() -> None:
    # Words are folded like /search folds them, and match their plural or singular too.
    assert compile_query("diffusion").fts == '("diffusion" OR "diffusions")'
    assert compile_query("agents").fts == '("agents" OR "agent")'
    q = compile_query('Diffusion  "Video Generation" -survey -"user study"')
    assert (
        q.fts
        == '("diffusion" OR "diffusions") AND "video" AND "generation" NOT ("survey" OR "surveys")'
    )
    assert q.phrases == (("video", "generation"),) and q.excluded == (("user", "study"),)
    # Prefixes are checked on the candidates, not in the index (see PREFIX_MIN).
    prefixed = compile_query("agents transform* -survey")
    assert prefixed.fts == '("agents" OR "agent") NOT ("survey" OR "surveys")'
    assert prefixed.prefixes == ("transform",)
    assert (compile_query("transform*").fts, compile_query("transform*").prefixes) == (
        "",
        ("transform",),
    )
    assert compile_query("Itô calculus").fts == '("ito" OR "itos") AND ("calculus" OR "calculuses")'
    assert compile_query("GPT-4").phrases == (("gpt", "4"),)
    # Stop words only count when nothing else is left.
    assert compile_query("the agents of").fts == '("agents" OR "agent")'
    # FTS syntax in the input is data, not operators.
    fts = compile_query('a OR b NEAR(c) "').fts
    assert "NEAR(" not in fts and '"near"' in fts and fts.count("(") == fts.count(")")


def test_phrases_are_checked_in_order() -> None:
    q = compile_query('"video generation" -"user study"')
    assert q.accepts("Fast Video Generation with Diffusion", "", "")
    assert not q.accepts("Generation of video", "", "")  # both words, wrong order
    assert q.accepts("x", "", "we improve video  generation.")  # any field
    assert not q.accepts("Video generation", "", "a user study shows")


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ("x", "at least 2 characters"),
        ("-survey", "at least one word"),
        ("!!! ???", "at least one word"),
        ("y" * 101, "at most 100 characters"),
        (" ".join(f"w{i}" for i in range(13)), "at most 12 words"),
    ],
)
def test_bad_queries_are_explained(query: str, reason: str) -> None:
    with pytest.raises(QueryError, match=reason):
        compile_query(query)


# -- delivery --------------------------------------------------------------------------------


async def test_a_new_alert_only_sees_papers_stored_after_it(store: Store) -> None:
    await store.papers.upsert_many(sample_papers(), "hf-daily")
    await add(store, ALICE, "software engineering agents")
    sender = RecordingSender()
    report = await deliver_alerts(store, sender, daily_cap=20, now=NOW)
    assert sender.digests == [] and report.checked == 1


async def test_matching_new_papers_arrive_as_one_digest(store: Store) -> None:
    await add(store, ALICE, "agents")
    await add(store, ALICE, '"reinforcement learning"')
    await add(store, BOB, "quantum gravity")
    await store.papers.upsert_many(sample_papers(), "hf-daily")
    sender = RecordingSender()
    report = await deliver_alerts(store, sender, daily_cap=20, now=NOW)
    (digest,) = sender.digests  # one DM for Alice, none for Bob
    assert digest.kind == "user" and digest.target_id == ALICE
    titles = [p.title for p in digest.papers]
    assert any("Software Engineering Agents" in t for t in titles)
    assert any("RLVR" in t for t in titles)
    assert {q for qs in digest.queries.values() for q in qs} == {
        "agents",
        '"reinforcement learning"',
    }
    assert len(titles) == len(set(titles))
    assert report.digests == 1 and report.papers == len(titles)


async def test_never_the_same_paper_twice(store: Store) -> None:
    await add(store, ALICE, "agents")
    await store.papers.upsert_many(sample_papers(), "hf-daily")
    sender = RecordingSender()
    await deliver_alerts(store, sender, daily_cap=20, now=NOW)
    first = {p.id for p in sender.digests[0].papers}
    # A second alert matching the same papers, and the same papers imported again.
    await add(store, ALICE, "software")
    await store.papers.upsert_many(sample_papers(), "hf-daily")
    await store.papers.upsert_many([made_up(1, "Agents that plan")], "hf-daily")
    await deliver_alerts(store, sender, daily_cap=20, now=NOW)
    assert len(sender.digests) == 2
    second = {p.id for p in sender.digests[1].papers}
    assert second == {"2603.90001"} and not first & second
    await deliver_alerts(store, sender, daily_cap=20, now=NOW)
    assert len(sender.digests) == 2  # nothing new: nothing sent


async def test_daily_cap_keeps_the_most_popular(store: Store) -> None:
    await add(store, ALICE, "robots")
    await store.papers.upsert_many(
        [made_up(i, f"Robots number {i}", upvotes=i) for i in range(1, 8)], "hf-daily"
    )
    sender = RecordingSender()
    report = await deliver_alerts(store, sender, daily_cap=3, now=NOW)
    (digest,) = sender.digests
    assert [p.upvotes for p in digest.papers] == [7, 6, 5]
    assert digest.held_back == 4 and report.held_back == 4
    # The cap holds for the rest of the day...
    await store.papers.upsert_many([made_up(20, "Robots again", upvotes=100)], "hf-daily")
    await deliver_alerts(store, sender, daily_cap=3, now=NOW + timedelta(hours=2))
    assert len(sender.digests) == 1
    # ...and the next day there is room again.
    await store.papers.upsert_many([made_up(21, "Robots tomorrow", upvotes=1)], "hf-daily")
    await deliver_alerts(store, sender, daily_cap=3, now=NOW + timedelta(days=1))
    assert len(sender.digests) == 2
    assert [p.id for p in sender.digests[1].papers] == ["2603.90021"]


async def test_only_fresh_papers_from_live_sources_trigger_alerts(store: Store) -> None:
    await add(store, ALICE, "robots")
    # A bulk load of a snapshot (even of recent papers) is not news...
    await store.papers.upsert_many([made_up(1, "Robots in a snapshot")], "arxiv-snapshot")
    # ...nor is a paper from 1999 that a live source happens to list...
    await store.papers.upsert_many(
        [made_up(2, "Robots of 1999", published=date(1999, 1, 1))], "arxiv-api"
    )
    # ...but new papers from the live sources are.
    await store.papers.upsert_many([made_up(3, "Robots now")], "arxiv-api")
    await store.papers.upsert_many([made_up(4, "Robots trending")], "hf-daily")
    sender = RecordingSender()
    await deliver_alerts(store, sender, daily_cap=20, now=NOW)
    assert sorted(p.id for p in sender.digests[0].papers) == ["2603.90003", "2603.90004"]


async def test_closed_dms_pause_alerts_and_tell_the_member_once(store: Store) -> None:
    a1 = await add(store, ALICE, "agents")
    await add(store, ALICE, "software")
    await add(store, BOB, "agents")
    await store.papers.upsert_many(sample_papers(), "hf-daily")
    sender = RecordingSender()
    sender.blocked_users.add(ALICE)
    report = await deliver_alerts(store, sender, daily_cap=20, now=NOW)
    assert report.blocked == 1
    assert [d.target_id for d in sender.digests] == [BOB]
    assert [n.id for n in sender.notices] == [a1.id]  # told once, where the first was made
    assert sender.notices[0].origin_channel_id == CHANNEL
    alerts = await store.alerts.for_member(GUILD, ALICE)
    assert all(a.paused and a.paused_reason == "dms-closed" for a in alerts)
    # Later runs neither retry nor tell again.
    await store.papers.upsert_many([made_up(1, "Agents again")], "hf-daily")
    await deliver_alerts(store, sender, daily_cap=20, now=NOW)
    assert len(sender.notices) == 1 and all(d.target_id != ALICE for d in sender.digests)
    # Resuming starts from new papers only.
    assert await store.alerts.resume_member(GUILD, ALICE) == (2, 0)
    sender.blocked_users.clear()
    await deliver_alerts(store, sender, daily_cap=20, now=NOW)
    assert not sender.for_target(ALICE)
    await store.papers.upsert_many([made_up(2, "Agents after resuming")], "hf-daily")
    await deliver_alerts(store, sender, daily_cap=20, now=NOW)
    assert [p.id for p in sender.for_target(ALICE)[0].papers] == ["2603.90002"]


async def test_transient_failure_is_retried_next_run(store: Store) -> None:
    await add(store, ALICE, "agents")
    await store.papers.upsert_many(sample_papers(), "hf-daily")
    sender = RecordingSender()
    sender.flaky = 1
    report = await deliver_alerts(store, sender, daily_cap=20, now=NOW)
    assert report.failed == 1 and not sender.digests
    report = await deliver_alerts(store, sender, daily_cap=20, now=NOW)
    assert report.digests == 1 and sender.digests[0].papers


async def test_a_paper_is_not_sent_again_after_a_stop_mid_send(store: Store) -> None:
    """The bot is stopped (its task cancelled) while a digest is being sent, after Discord
    took it: after the restart the member does not get the same papers again."""
    await add(store, ALICE, "agents")
    await store.papers.upsert_many(sample_papers(), "hf-daily")

    class StoppedMidSend(RecordingSender):
        async def send_digest(self, digest: Digest) -> list[str]:
            self.digests.append(digest)  # the DM reached Discord...
            raise asyncio.CancelledError  # ...and then the process was told to stop

    stopped = StoppedMidSend()
    with pytest.raises(asyncio.CancelledError):
        await deliver_alerts(store, stopped, daily_cap=20, now=NOW)
    assert stopped.digests and stopped.digests[0].papers
    after_restart = RecordingSender()
    await deliver_alerts(store, after_restart, daily_cap=20, now=NOW)
    assert [p.id for d in after_restart.digests for p in d.papers] == []


async def test_channel_alert_posts_once_in_the_channel(store: Store) -> None:
    await add(store, ALICE, "agents", channel=NEWS)
    await add(store, BOB, "software", channel=NEWS)
    await store.papers.upsert_many(sample_papers(), "hf-daily")
    sender = RecordingSender()
    await deliver_alerts(store, sender, daily_cap=20, now=NOW)
    (digest,) = sender.digests
    assert (digest.kind, digest.target_id) == ("channel", NEWS)
    assert len(digest.alerts) == 2


async def test_alert_bookkeeping(store: Store) -> None:
    a = await add(store, ALICE, "agents")
    again, created = await store.alerts.add(
        guild_id=GUILD, user_id=ALICE, query="agents", origin_channel_id=CHANNEL
    )
    assert not created and again.id == a.id
    # Same words as a channel alert is a different alert.
    await add(store, ALICE, "agents", channel=NEWS)
    assert await store.alerts.count_for_member(GUILD, ALICE) == 2
    assert [x.channel_id for x in await store.alerts.for_guild(GUILD, channels_only=True)] == [NEWS]
    await store.alerts.pause_dm_alerts(ALICE, "dms-closed")
    resumed, created = await store.alerts.add(
        guild_id=GUILD, user_id=ALICE, query="agents", origin_channel_id=CHANNEL
    )
    assert not created and not resumed.paused
    assert await store.alerts.remove(a.id) and not await store.alerts.remove(a.id)


async def test_one_broken_alert_does_not_hold_up_the_others(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sqlite3

    await add(store, ALICE, "software")
    await add(store, BOB, "agents")
    real = store.alerts.match

    async def flaky(fts_query: str, **kw: object):  # type: ignore[no-untyped-def]
        if "software" in fts_query:
            raise sqlite3.OperationalError("fts5: syntax error")
        return await real(fts_query, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(store.alerts, "match", flaky)
    await store.papers.upsert_many(sample_papers(), "hf-daily")
    sender = RecordingSender()
    report = await deliver_alerts(store, sender, daily_cap=20, now=NOW)
    assert [d.target_id for d in sender.digests] == [BOB]
    assert report.errors and "syntax error" in report.errors[0]


async def test_resuming_dm_alerts_resumes_them_in_every_server(store: Store) -> None:
    # DMs are per member: closed DMs paused Alice's DM alerts in both servers, so resuming
    # in one server resumes her DM alerts in the other too (not Bob's, not channel alerts
    # elsewhere, which belong to that server).
    here = await add(store, ALICE, "agents")
    there, _ = await store.alerts.add(
        guild_id=GUILD + 1, user_id=ALICE, query="robots", origin_channel_id=CHANNEL + 1
    )
    posted, _ = await store.alerts.add(
        guild_id=GUILD + 1,
        user_id=ALICE,
        query="robots",
        origin_channel_id=CHANNEL + 1,
        channel_id=NEWS + 1,
    )
    bobs = await add(store, BOB, "agents")
    await store.papers.upsert_many(sample_papers(), "hf-daily")
    sender = RecordingSender()
    sender.blocked_users.update({ALICE, BOB})
    await deliver_alerts(store, sender, daily_cap=20, now=NOW)
    await store.alerts.pause([posted.id], "channel-unreachable")
    assert len(sender.notices) == 2  # one per member, not one per server

    assert await store.alerts.resume_member(GUILD, ALICE) == (1, 1)
    state = {a.id: a.paused for a in await store.alerts.active()}
    assert here.id in state and there.id in state
    assert posted.id not in state and bobs.id not in state
    assert await store.alerts.resume_member(GUILD, ALICE) == (0, 0)


async def test_only_papers_shown_are_recorded_the_rest_come_next_time(store: Store) -> None:
    # A digest that shows only part of its papers (say a message could not hold them all):
    # the others are not marked as sent; the next run brings them, still under the cap.
    await add(store, ALICE, "robots")
    await add(store, ALICE, "robot arms")
    await store.papers.upsert_many(
        [made_up(i, f"Robots number {i} with arms", upvotes=i) for i in range(1, 8)], "hf-daily"
    )
    sender = RecordingSender()
    sender.shows = 3
    report = await deliver_alerts(store, sender, daily_cap=6, now=NOW)
    assert [p.upvotes for p in sender.digests[0].papers] == [7, 6, 5, 4, 3, 2]
    assert report.papers == 3 and report.held_back == 1
    delivered = await store.alerts.delivered("user", ALICE, list(range(1, 100)))
    assert len(delivered) == 3
    report = await deliver_alerts(store, sender, daily_cap=6, now=NOW + timedelta(hours=1))
    assert [p.upvotes for p in sender.digests[1].papers] == [4, 3, 2]
    assert report.papers == 3
    # The day's cap is used up: nothing more today, nothing ever sent twice.
    await deliver_alerts(store, sender, daily_cap=6, now=NOW + timedelta(hours=2))
    assert len(sender.digests) == 2
    assert len(await store.alerts.delivered("user", ALICE, list(range(1, 100)))) == 6


@pytest.mark.parametrize("query", ["co*", "a*", "diffusion re*", "-survey tr*"])
def test_short_prefixes_are_refused_with_the_reason(query: str) -> None:
    # A short prefix makes the index merge the postings of thousands of words on every
    # refresh (see bench/bench_alerts.py): refused when the alert is made, saying why.
    with pytest.raises(QueryError, match=f"at least {PREFIX_MIN} letters before the `\\*`"):
        compile_query(query)


def test_prefixes_are_bounded_in_length_and_number() -> None:
    ok = "transformer"[:PREFIX_MIN] + "*"
    assert compile_query(ok).prefixes == (ok[:-1],)
    assert compile_query("diffusion*").prefixes == ("diffusion",)
    many = " ".join(f"{w}*" for w in ("transform", "diffusion", "generat", "language"))
    assert len(many.split()) > MAX_PREFIXES
    with pytest.raises(QueryError, match=f"at most {MAX_PREFIXES} words with `\\*`"):
        compile_query(many)


async def test_an_old_alert_with_a_short_prefix_is_paused_not_run(store: Store) -> None:
    # Made before the rule: it is not matched (no cost), it is paused once with the reason,
    # and the member's other alerts carry on.
    old, _ = await store.alerts.add(
        guild_id=GUILD, user_id=ALICE, query="co*", origin_channel_id=CHANNEL
    )
    await add(store, ALICE, "agents")
    searched: list[str] = []
    real = store.alerts.match

    async def spy(fts_query: str, **kw: object):  # type: ignore[no-untyped-def]
        searched.append(fts_query)
        return await real(fts_query, **kw)  # type: ignore[arg-type]

    store.alerts.match = spy  # type: ignore[method-assign]
    await store.papers.upsert_many(sample_papers(), "hf-daily")
    sender = RecordingSender()
    report = await deliver_alerts(store, sender, daily_cap=20, now=NOW)
    assert searched == ['("agents" OR "agent")']
    assert report.digests == 1 and not report.errors
    paused = await store.alerts.get(old.id)
    assert paused is not None and paused.paused and paused.paused_reason == "query-refused"


async def test_prefixes_are_matched_on_the_new_papers_not_the_index(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A prefix in the FTS query merges the postings of every word starting with it in the
    # whole store on every refresh; the new papers are few, so prefixes are checked on them.
    alerts = {
        "only": await add(store, ALICE, "transform*"),
        "excl": await add(store, BOB, "transform* -survey"),
        "mixed": await add(store, BOB + 1, "robots transform*"),
        "diacritics": await add(store, BOB + 2, "schrödinger*"),
    }
    queries: list[str | None] = []
    real = store.alerts.match

    async def spy(fts_query: str | None, **kw: object):  # type: ignore[no-untyped-def]
        queries.append(fts_query)
        return await real(fts_query, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(store.alerts, "match", spy)
    await store.papers.upsert_many(
        [
            made_up(1, "Transformers for robots"),
            made_up(2, "A survey of transformations"),
            made_up(3, "Robots without attention"),
            made_up(4, "Retransformed data"),  # not a word starting with "transform"
            made_up(5, "Schrodingers cat, robots and transformation-free physics"),
        ],
        "hf-daily",
    )
    sender = RecordingSender()
    await deliver_alerts(store, sender, daily_cap=20, now=NOW)
    assert not any(q and "*" in q for q in queries), queries
    got = {d.target_id: sorted(p.id for p in d.papers) for d in sender.digests}
    assert got == {
        alerts["only"].user_id: ["2603.90001", "2603.90002", "2603.90005"],
        alerts["excl"].user_id: ["2603.90001", "2603.90005"],
        alerts["mixed"].user_id: ["2603.90001", "2603.90005"],
        alerts["diacritics"].user_id: ["2603.90005"],
    }


async def test_each_alert_looks_at_a_bounded_number_of_papers_per_run(store: Store) -> None:
    # At most match_limit papers per alert and run; the next run goes on from there, so
    # a flood of new papers delays matches but loses none.
    await add(store, ALICE, "robots")
    await store.papers.upsert_many(
        [made_up(i, f"Robots number {i}", upvotes=100 - i) for i in range(1, 8)], "hf-daily"
    )
    sender = RecordingSender()
    sent: list[list[int | None]] = []
    for hour in range(4):
        report = await deliver_alerts(
            store, sender, daily_cap=20, now=NOW + timedelta(hours=hour), match_limit=3
        )
        sent.append([p.upvotes for d in sender.digests[len(sent) :] for p in d.papers])
        assert report.errors == []
    assert sent == [[99, 98, 97], [96, 95, 94], [93], []]


async def test_papers_of_an_unfinished_import_wait_for_it(store: Store) -> None:
    # A paper of a file still being loaded may be taken back if the file fails: no alert may
    # announce it before the file is stored whole.
    await add(store, ALICE, "zebrafish")
    journal = await store.imports.begin("big-file.jsonl")
    async with store.db.transaction() as conn:
        await store.papers.upsert_many(
            [made_up(1, "Zebrafish fins at scale")], "hf-daily", conn=conn, journal=journal
        )
    sender = RecordingSender()
    await deliver_alerts(store, sender, daily_cap=20, now=NOW)
    assert sender.digests == []
    async with store.db.transaction() as conn:
        await store.imports.finish(conn, journal)
    await deliver_alerts(store, sender, daily_cap=20, now=NOW)
    assert [p.title for d in sender.digests for p in d.papers] == ["Zebrafish fins at scale"]


# -- followed authors (issue 11, item 5) --------------------------------------------------------


def test_compile_author() -> None:
    assert compile_author("J. Smith").fts == 'authors : ("smith")'
    assert compile_author("Smith-Jones, Jane").fts == 'authors : (("smith") AND ("jones"))'
    # accents are dropped by the index too; ø is not, so both spellings are looked for
    assert compile_author("Gabriel García Márquez").fts == 'authors : ("marquez")'
    assert compile_author("M. Sørensen").fts == 'authors : ("sørensen" OR "sorensen")'
    assert compile_author("Qwen Team").name.corporate


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("Smith", "add a first name or an initial"),
        ("J. Smith 2", "doesn't look like a name"),
        ('"Smith" OR x', "doesn't look like a name"),
        ("j*", "doesn't look like a name"),
        ("A " + "b" * 100, "at most 100 characters"),
    ],
)
def test_bad_names_are_explained(name: str, reason: str) -> None:
    with pytest.raises(QueryError, match=reason):
        compile_author(name)


async def follow(store: Store, user: int, name: str, *, channel: int | None = None) -> Alert:
    alert, created = await store.alerts.add(
        guild_id=GUILD,
        user_id=user,
        query=name,
        origin_channel_id=CHANNEL,
        channel_id=channel,
        kind="author",
    )
    assert created and alert.kind == "author"
    return alert


def by(n: int, *authors: str, upvotes: int = 0) -> Paper:
    paper = made_up(n, f"Paper {n} on things", upvotes=upvotes)
    paper.authors = list(authors)
    return paper


async def test_an_author_alert_follows_the_person_through_initials_and_accents(
    store: Store,
) -> None:
    carol, dave = 300, 400
    await follow(store, ALICE, "G. Neubig")
    await follow(store, BOB, "Huang, K.")
    await follow(store, carol, "Lukasz Kaiser")
    await follow(store, dave, "K. Schmidhuber")
    await add(store, ALICE, "Neubig")  # the same text as a keyword alert is another alert
    await store.papers.upsert_many(
        [
            *sample_papers(),  # Graham Neubig, Kexin Huang
            by(1, "Łukasz Kaiser", "Noam Shazeer"),
            by(2, "Jürgen Schmidhuber"),  # not K.
            by(3, "Kai Huangfu"),  # another surname
            by(4, "Neubig, Graham", upvotes=5),  # written surname first
        ],
        "hf-daily",
    )
    sender = RecordingSender()
    await deliver_alerts(store, sender, daily_cap=20, now=NOW)
    (alice,) = sender.for_target(ALICE)  # one digest for the author and the keyword alert
    assert [p.id for p in alice.papers] == ["2603.90004", "2603.21489"]  # most popular first
    assert {a.kind for a in alice.alerts} == {"author", "keywords"}
    (bob,) = sender.for_target(BOB)
    assert [p.id for p in bob.papers] == ["2603.22117"]  # Kexin Huang; not Kai Huangfu
    (kaiser,) = sender.for_target(carol)
    assert [p.id for p in kaiser.papers] == ["2603.90001"]
    assert sender.for_target(dave) == []

    # Never twice: a later run sends nothing again.
    await deliver_alerts(store, sender, daily_cap=20, now=NOW + timedelta(hours=1))
    assert len(sender.digests) == 3


async def test_author_alerts_keep_the_daily_cap_and_pause_on_closed_dms(store: Store) -> None:
    await follow(store, ALICE, "A. Author")  # every made-up paper's author
    await store.papers.upsert_many(
        [made_up(i, f"Study {i}", upvotes=i) for i in range(5)], "hf-daily"
    )
    sender = RecordingSender()
    report = await deliver_alerts(store, sender, daily_cap=2, now=NOW)
    (digest,) = sender.digests
    assert [p.id for p in digest.papers] == ["2603.90004", "2603.90003"]
    assert digest.held_back == report.held_back == 3

    await follow(store, BOB, "A. Author")
    await store.papers.upsert_many([made_up(9, "Study nine")], "hf-daily")
    sender.blocked_users.add(BOB)
    report = await deliver_alerts(store, sender, daily_cap=2, now=NOW)
    assert report.blocked == 1 and [a.user_id for a in sender.notices] == [BOB]
    assert all(a.paused for a in await store.alerts.for_member(GUILD, BOB))
