"""Alerts: after a refresh, tell subscribers about new papers matching their query or written
by an author they follow.

Pure logic, no Discord: :func:`deliver_alerts` works out, per recipient (a member's DMs or a
channel), the new papers that match any of their alerts and that they were never sent, keeps
the most popular up to the daily cap, and hands ONE :class:`Digest` per recipient to an
:class:`AlertSender` (the cog implements it with Discord). A member whose DMs are closed is
told once, where they created the alert, and their DM alerts are paused until they resume.

Query syntax (kept small and predictable): words must all appear (title, authors or
abstract), ``"a phrase"`` matches words in order, ``word*`` is a prefix, ``-word`` excludes.

An author alert (``kind`` ``author``) follows a name: the index finds the new papers with the
surname in their authors field, and :func:`bot.names.same_person` keeps those with an author
who can be that person (initials and diacritics tolerated: ``J. Smith`` follows ``John Smith``
and ``Smith, J.``). Everything else (caps, DMs, never twice) is the same as for keywords.
"""

from __future__ import annotations

import functools
import json
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Protocol

from bot.models import SOURCE_ARXIV_API, SOURCE_HF_DAILY, Paper
from bot.names import Name, fold_name, same_person, split_name
from bot.search import query as sq
from bot.store import Store
from bot.store.alerts import AUTHOR, Alert, Match, RecipientKind

log = logging.getLogger(__name__)

QUERY_MIN = 2
QUERY_MAX = 100
MAX_TERMS = 12
# Only papers the live sources brought in trigger alerts (a bulk load of an arXiv snapshot
# does not), and none published longer ago than MAX_AGE_DAYS.
ALERT_SOURCES = (SOURCE_HF_DAILY, SOURCE_ARXIV_API)
MAX_AGE_DAYS = 90
MATCHES_PER_ALERT = 500
# A prefix (word*) in the FTS5 query makes it merge the postings of every indexed word
# starting with it, over the whole store, on every refresh, whatever the few new papers.
# Measured at 1M papers (bench/bench_alerts.py, one alert): 2 letters 0.7-1.0 s, 3 letters
# 0.3-0.6 s, 4 letters 0.1-0.2 s, 5 letters 35-50 ms ("model*" still 0.17 s), a whole word
# 0.3-2 ms. So prefixes never reach the index: they are checked on the candidates (the new
# papers) in Python, at about the cost of a whole word. A short prefix matches nearly every
# paper (noise), hence at least PREFIX_MIN letters, and at most MAX_PREFIXES in one alert.
PREFIX_MIN = 5
MAX_PREFIXES = 3
PAUSE_DMS_CLOSED = "dms-closed"
PAUSE_CHANNEL_UNREACHABLE = "channel-unreachable"
PAUSE_QUERY_REFUSED = "query-refused"  # made before a rule that now refuses its query

_TERM = re.compile(r'(-?)"([^"]*)"|(-?)(\S+)')


class QueryError(ValueError):
    """An alert query that cannot be used; the message says why (shown to the member)."""


@dataclass(frozen=True, slots=True)
class AlertQuery:
    """A parsed alert query: an FTS5 expression that finds candidates (empty when the query
    only has prefixes: every new paper is a candidate), and the checks done here on each
    candidate: phrases (the index keeps no word positions, ``detail=column``) and prefixes
    (costly in the index, see PREFIX_MIN)."""

    text: str
    fts: str
    phrases: tuple[tuple[str, ...], ...] = ()  # must appear, words in this order
    excluded: tuple[tuple[str, ...], ...] = ()  # must not appear
    prefixes: tuple[str, ...] = ()  # a word starting with each must appear
    excluded_words: tuple[str, ...] = ()  # in ``fts`` as NOT; checked here when it is empty

    def accepts(self, *fields: str) -> bool:
        """Whether a candidate's fields (title, authors, abstract) pass the checks the
        index did not do."""
        by_index = bool(self.fts)
        if not (self.phrases or self.excluded or self.prefixes or not by_index):
            return True
        texts = [_fold_fast(f) for f in fields]
        for prefix in self.prefixes:
            if not any(_has_word(t, prefix, whole=False) for t in texts):
                return False
        if not by_index and any(
            _has_word(t, form, whole=True)
            for word in self.excluded_words
            for form in sq.variants(word)
            for t in texts
        ):
            return False
        for phrase in self.phrases:
            pattern = _phrase_pattern(phrase)
            if not any(pattern.search(t) for t in texts):
                return False
        return not any(_phrase_pattern(p).search(t) for p in self.excluded for t in texts)


_WORD_CHAR = re.compile(r"[^\W_]")  # what the index's tokenizer keeps in a word


def _has_word(text: str, word: str, *, whole: bool) -> bool:
    """Whether folded *text* has a word starting with *word* (``whole``: equal to it).

    A substring search, then a look at the characters around it: far cheaper on long
    abstracts than a regular expression with look-arounds at every position."""
    at = text.find(word)
    while at != -1:
        end = at + len(word)
        if not (at and _WORD_CHAR.match(text, at - 1)) and not (
            whole and end < len(text) and _WORD_CHAR.match(text, end)
        ):
            return True
        at = text.find(word, at + 1)
    return False


def _fold_fast(text: str) -> str:
    # Folding walks every character; plain ASCII (most abstracts) only needs lower().
    return text.lower() if text.isascii() else sq.fold_token(text)


@functools.lru_cache(maxsize=1024)
def _phrase_pattern(words: tuple[str, ...]) -> re.Pattern[str]:
    """The words in order, separated by anything that is not a word character, as whole
    words (the way the index's tokenizer cuts text)."""
    body = r"[\W_]+".join(re.escape(w) for w in words)
    return re.compile(rf"(?<![^\W_]){body}(?![^\W_])")


def compile_query(text: str, *, prefix_min: int = PREFIX_MIN) -> AlertQuery:
    """Parse an alert query. Raises :class:`QueryError` with a reason for the member.

    Words are tokenised and folded exactly like ``/search`` does (:mod:`bot.search.query`),
    so a word matches its plural too ("agent" finds "agents"); phrases match as written.

    >>> compile_query('diffusion "video generation" -survey').fts
    '("diffusion" OR "diffusions") AND "video" AND "generation" NOT ("survey" OR "surveys")'
    """
    text = " ".join(text.split())
    if len(text) < QUERY_MIN:
        raise QueryError(f"an alert needs at least {QUERY_MIN} characters")
    if len(text) > QUERY_MAX:
        raise QueryError(f"an alert can be at most {QUERY_MAX} characters")
    words_in: list[str] = []  # single words to look for
    prefixes: list[str] = []
    exclude: list[str] = []
    phrases: list[tuple[str, ...]] = []
    excluded: list[tuple[str, ...]] = []
    terms = 0
    for m in _TERM.finditer(text):
        negative = bool(m.group(1) or m.group(3))
        raw = m.group(2) if m.group(2) is not None else m.group(4)
        prefix = m.group(2) is None and raw.endswith("*")
        words = tuple(sq.tokens(raw))
        if not words:
            continue
        terms += 1
        if negative:
            if len(words) == 1:
                exclude.append(words[0])
            else:
                excluded.append(words)
        elif len(words) > 1:
            phrases.append(words)
        elif prefix:
            if len(words[0]) < prefix_min:
                raise QueryError(
                    f"`{words[0]}*` is too short a prefix: use at least {prefix_min} letters "
                    "before the `*` (a shorter one matches thousands of words)"
                )
            prefixes.append(words[0])
        else:
            words_in.append(words[0])
    if not (words_in or prefixes or phrases):
        raise QueryError("an alert needs at least one word to look for")
    if terms > MAX_TERMS:
        raise QueryError(f"an alert can have at most {MAX_TERMS} words or phrases")
    if len(set(prefixes)) > MAX_PREFIXES:
        raise QueryError(f"an alert can have at most {MAX_PREFIXES} words with `*`")
    if prefixes or phrases:
        words_in = [w for w in words_in if w not in sq.STOP_WORDS]
    else:
        words_in = sq.content_terms(words_in)
    parts = [sq.term_expr(w) for w in dict.fromkeys(words_in)]
    for phrase in dict.fromkeys(phrases):
        parts += [sq.quote(w) for w in phrase]
    expr = " AND ".join(dict.fromkeys(parts))
    if expr:  # (FTS5 has no query of exclusions alone: then they are checked in accepts)
        for word in dict.fromkeys(exclude):
            expr += f" NOT {sq.term_expr(word)}"
    return AlertQuery(
        text,
        expr,
        phrases=tuple(dict.fromkeys(phrases)),
        excluded=tuple(dict.fromkeys(excluded)),
        prefixes=tuple(dict.fromkeys(prefixes)),
        excluded_words=tuple(dict.fromkeys(exclude)),
    )


NAME_MAX = 100
_NAME_CHARS = re.compile(r"^[^\W\d_]+(?:[\s.,'’-]+[^\W\d_]+)*[\s.]*$")


@dataclass(frozen=True, slots=True)
class AuthorQuery:
    """A followed author: the index finds papers with the surname among their authors
    (``fts``), :meth:`accepts` keeps those with an author who can be the person."""

    text: str
    name: Name
    fts: str

    def accepts(self, title: str, authors: str, abstract: str) -> bool:
        try:
            names = json.loads(authors)
        except ValueError:
            return False
        if not isinstance(names, list):
            return False
        return any(isinstance(a, str) and same_person(self.name, split_name(a)) for a in names)


def compile_author(text: str) -> AuthorQuery:
    """Parse a followed author's name. Raises :class:`QueryError` with a reason for the member.

    >>> compile_author("J. Smith").fts
    'authors : ("smith")'
    """
    text = " ".join(text.split())
    if len(text) < QUERY_MIN:
        raise QueryError(f"a name needs at least {QUERY_MIN} characters")
    if len(text) > NAME_MAX:
        raise QueryError(f"a name can be at most {NAME_MAX} characters")
    if not _NAME_CHARS.match(text):
        raise QueryError(
            "that doesn't look like a name: use letters, spaces, dots, hyphens and "
            "apostrophes, e.g. `J. Smith` or `Smith, Jane`"
        )
    name = split_name(text)
    surname = sq.tokens(" ".join(name.last))
    if not surname or sum(map(len, surname)) < 2:
        raise QueryError("give the author's surname, e.g. `J. Smith`")
    if not name.given and not name.corporate:
        raise QueryError(
            "add a first name or an initial, e.g. `J. Smith`: a surname alone follows "
            "everyone who has it"
        )
    parts = []
    for token in surname:
        # The index keeps letters such as ø and ł (it only drops accents): look for both.
        forms = dict.fromkeys([token, fold_name(token)])
        parts.append("(" + " OR ".join(sq.quote(f) for f in forms) + ")")
    return AuthorQuery(
        text,
        name,
        "authors : (" + " AND ".join(parts) + ")" if len(parts) > 1 else "authors : " + parts[0],
    )


class Matcher(Protocol):
    """What an alert compiles to: an FTS5 expression for candidates ('' = every new paper)
    and the check of each candidate's title, authors (JSON) and abstract."""

    @property
    def fts(self) -> str: ...

    def accepts(self, title: str, authors: str, abstract: str) -> bool: ...


def compile_alert(alert: Alert) -> Matcher:
    """The alert's matcher (raises :class:`QueryError` when its query is no longer accepted)."""
    if alert.kind == AUTHOR:
        return compile_author(alert.query)
    return compile_query(alert.query)


async def find_matches(
    store: Store,
    query: Matcher,
    *,
    after_pid: int,
    upto_pid: int,
    published_since: date,
    limit: int = MATCHES_PER_ALERT,
) -> tuple[list[Match], int]:
    """The papers stored in (after_pid, upto_pid] from the live sources that match *query*,
    and the pid they were checked up to: *upto_pid*, or less when *limit* candidates were
    reached (a flood of new papers: the rest is for the next run, nothing is skipped)."""
    candidates = await store.alerts.match(
        query.fts or None,
        after_pid=after_pid,
        upto_pid=upto_pid,
        published_since=published_since,
        sources=ALERT_SOURCES,
        limit=limit,
    )
    checked = candidates[-1].pid if len(candidates) >= limit else upto_pid
    return [m for m in candidates if query.accepts(m.title, m.authors, m.abstract)], checked


class DeliveryBlocked(Exception):
    """The recipient cannot be reached for good (DMs closed, channel gone or forbidden)."""


@dataclass(frozen=True, slots=True)
class Digest:
    """One message for one recipient: the new papers matching their alerts."""

    kind: RecipientKind
    target_id: int
    alerts: list[Alert]  # the recipient's alerts that matched something
    papers: list[Paper]  # most popular first, at most the remaining daily cap
    queries: dict[str, list[str]]  # paper id -> the alert queries it matched
    held_back: int  # further matches not sent: over the daily cap


class AlertSender(Protocol):
    async def send_digest(self, digest: Digest) -> Sequence[str]:
        """Send the digest; return the ids of the papers the recipient was shown in full
        (only those are recorded as delivered: the others stay pending for the next run).
        Raise :class:`DeliveryBlocked` when the recipient is unreachable for good, any other
        exception when nothing went out (retried next run)."""

    async def notify_blocked(self, alert: Alert) -> None:
        """Tell the member, in ``alert.origin_channel_id``, that their DMs are closed."""


@dataclass(slots=True)
class AlertRunReport:
    checked: int = 0  # active alerts looked at
    digests: int = 0  # messages sent
    papers: int = 0  # papers in them
    held_back: int = 0  # matches over the daily cap
    blocked: int = 0  # recipients found unreachable (alerts paused)
    failed: int = 0  # transient failures (tried again next run)
    errors: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"alerts: {self.checked} checked, {self.digests} digest(s) with {self.papers} "
            f"paper(s), {self.held_back} over the daily cap, {self.blocked} blocked, "
            f"{self.failed} failed"
        )


@dataclass(slots=True)
class _Pending:
    alerts: list[Alert] = field(default_factory=list)
    matches: dict[int, Match] = field(default_factory=dict)
    queries: dict[int, list[str]] = field(default_factory=dict)
    alerts_by_pid: dict[int, list[int]] = field(default_factory=dict)
    checked: dict[int, int] = field(default_factory=dict)  # alert id -> checked up to pid


def _popularity(match: Match) -> tuple[int, int]:
    return (match.upvotes or 0, match.pid)


async def deliver_alerts(
    store: Store,
    sender: AlertSender,
    *,
    daily_cap: int,
    now: datetime | None = None,
    match_limit: int = MATCHES_PER_ALERT,
) -> AlertRunReport:
    """Check every active alert against the papers stored since it was last checked (at most
    *match_limit* candidates each per run) and send one digest per recipient. Never raises
    for a delivery problem (see the report)."""
    now = now or datetime.now(UTC)
    report = AlertRunReport()
    # Papers of an import still in progress may yet be taken back: wait for it to finish.
    upto = await store.imports.settled_pid()
    published_since = (now - timedelta(days=MAX_AGE_DAYS)).date()
    pending: dict[tuple[RecipientKind, int], _Pending] = {}
    idle: dict[int, int] = {}  # alert id -> checked up to this pid, nothing found
    refused: list[int] = []
    for alert in await store.alerts.active():
        report.checked += 1
        if alert.last_pid >= upto:
            continue
        try:
            query = compile_alert(alert)
        except QueryError as exc:
            # Made before a rule that refuses it now (a short prefix): costly to run, so it
            # is paused, once; /alerts list tells the member why.
            log.info("alert %d (%r) is refused now (%s); pausing it", alert.id, alert.query, exc)
            refused.append(alert.id)
            continue
        try:
            found, checked = await find_matches(
                store,
                query,
                after_pid=alert.last_pid,
                upto_pid=upto,
                published_since=published_since,
                limit=match_limit,
            )
        except Exception as exc:
            # One odd alert must not hold up everyone else's: skip it for these papers.
            log.warning("alert %d (%r) could not be matched: %s", alert.id, alert.query, exc)
            report.errors.append(f"alert {alert.id}: {exc}")
            idle[alert.id] = upto
            continue
        if not found:
            idle[alert.id] = checked
            continue
        group = pending.setdefault(alert.recipient, _Pending())
        group.alerts.append(alert)
        group.checked[alert.id] = checked
        for match in found:
            group.matches.setdefault(match.pid, match)
            group.queries.setdefault(match.pid, []).append(alert.query)
            group.alerts_by_pid.setdefault(match.pid, []).append(alert.id)
    await store.alerts.advance(idle)
    await store.alerts.pause(refused, PAUSE_QUERY_REFUSED)

    day_start = datetime.combine(now.astimezone(UTC).date(), time(0), tzinfo=UTC)
    for (kind, target), group in pending.items():
        try:
            await _deliver_one(
                store, sender, kind, target, group, daily_cap, day_start, now, report
            )
        except Exception as exc:
            report.failed += 1
            report.errors.append(f"{kind} {target}: {exc.__class__.__name__}: {exc}")
            log.exception("alert digest for %s %s failed; trying again next run", kind, target)
    if report.checked:
        log.info("%s", report.summary())
    return report


async def _deliver_one(
    store: Store,
    sender: AlertSender,
    kind: RecipientKind,
    target: int,
    group: _Pending,
    daily_cap: int,
    day_start: datetime,
    now: datetime,
    report: AlertRunReport,
) -> None:
    already = await store.alerts.delivered(kind, target, list(group.matches))
    fresh = sorted(
        (m for pid, m in group.matches.items() if pid not in already),
        key=_popularity,
        reverse=True,
    )
    if not fresh:
        await store.alerts.advance(group.checked)
        return
    room = max(daily_cap - await store.alerts.delivered_since(kind, target, day_start), 0)
    chosen, held = fresh[:room], len(fresh) - min(room, len(fresh))
    report.held_back += held
    if not chosen:
        log.info("%s %s reached the daily cap; %d match(es) not sent", kind, target, held)
        await store.alerts.advance(group.checked)
        return
    papers = await store.papers.get_many([m.id for m in chosen])
    digest = Digest(
        kind=kind,
        target_id=target,
        alerts=group.alerts,
        papers=papers,
        queries={m.id: group.queries[m.pid] for m in chosen},
        held_back=held,
    )
    # Recorded as delivered BEFORE Discord is called (at most once: a crash or a stop while
    # sending never sends these papers again); released below when they did not go out.
    chosen_pids = [m.pid for m in chosen]
    await store.alerts.record_delivery(
        kind,
        target,
        [(m.pid, group.alerts_by_pid[m.pid][0]) for m in chosen],
        checked={},
        at=now,
    )
    try:
        shown_ids = set(await sender.send_digest(digest))
    except DeliveryBlocked as exc:
        await store.alerts.forget_deliveries(kind, target, chosen_pids)
        report.blocked += 1
        await _blocked(store, sender, kind, target, group.alerts, exc)
        return
    except Exception:
        # The sender's contract: any other exception means nothing went out.
        await store.alerts.forget_deliveries(kind, target, chosen_pids)
        raise
    # Only what the recipient saw is delivered. An alert with a chosen paper that was not
    # shown keeps its watermark below that paper, so the next run finds it again (papers
    # shown meanwhile are filtered out as delivered); the others move past this run's papers.
    shown = [m for m in chosen if m.id in shown_ids]
    checked = dict(group.checked)
    for m in chosen:
        if m.id not in shown_ids:
            for alert_id in group.alerts_by_pid[m.pid]:
                checked[alert_id] = min(checked[alert_id], m.pid - 1)
    if len(shown) < len(chosen):
        log.info(
            "%s %s was shown %d of %d paper(s); the rest stay pending",
            kind,
            target,
            len(shown),
            len(chosen),
        )
    await store.alerts.forget_deliveries(
        kind, target, [m.pid for m in chosen if m.id not in shown_ids]
    )
    await store.alerts.advance(checked)
    if shown:
        report.digests += 1
        report.papers += len(shown)


async def _blocked(
    store: Store,
    sender: AlertSender,
    kind: RecipientKind,
    target: int,
    alerts: Sequence[Alert],
    exc: DeliveryBlocked,
) -> None:
    if kind == "channel":
        count = await store.alerts.pause([a.id for a in alerts], PAUSE_CHANNEL_UNREACHABLE)
        log.warning("cannot post alerts in channel %s (%s); paused %d alert(s)", target, exc, count)
        return
    paused = await store.alerts.pause_dm_alerts(target, PAUSE_DMS_CLOSED)
    log.info("user %s does not accept DMs; paused %d alert(s)", target, len(paused))
    if not paused:
        return
    first = min(paused, key=lambda a: a.id)
    try:
        await sender.notify_blocked(first)
    except Exception:
        log.warning("could not tell user %s that their alerts are paused", target, exc_info=True)
