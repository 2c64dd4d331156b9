"""A member's picks, with their reasons; the explanation of one paper; the papers to rate first.

Everything runs in one reader thread per request (``Database.read``: one snapshot, off the
event loop): the member's signals (:func:`bot.store.recs.member_signals`), the candidate pool
(:mod:`.pool`), the vectors of their positives and dismissals, the model (:mod:`.model`, kept
per member until their signals or the pool change), one matrix product over the pool, and the
reasons of the few papers picked (:mod:`.explain`).

A pick is never a paper the member saved, voted, dismissed or was shown before. Kinds of
answer (:class:`Picks`):

* ``personal``: the member has a signal with a vector; the best new papers by their model.
* ``cold``: no signal yet: a few varied trending papers to rate with ⭐ / 👎
  (:meth:`Recommender.feed` picks them; trending order, spread by meaning: :func:`varied`).
* ``unavailable``: signals, but no vectors to score with (search by meaning is off, or still
  making them): trending papers, saying why.
"""

from __future__ import annotations

import dataclasses
import logging
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from functools import partial

import numpy as np
import numpy.typing as npt

from bot.recs import model as rm
from bot.recs.explain import TokenModel, closest, token_weights, weighed_words_many
from bot.recs.pool import CandidatePool, PoolSnapshot
from bot.semantic.codes import from_int8
from bot.semantic.model import paper_text
from bot.store import recs as rx
from bot.store import vectors as vx
from bot.store.database import Database

log = logging.getLogger(__name__)

PERSONAL = "personal"
COLD = "cold"
UNAVAILABLE = "unavailable"

COLD_COUNT = 5
COLD_POOL = 50  # trending papers the cold start chooses its varied few from
MAX_SIGNALS = 1000  # the most recent positives (and dismissals) a model learns from
MODELS_KEPT = 512
VARIETY = 0.5  # cold start: trade-off between trending order and being unlike the others

FloatArray = npt.NDArray[np.float32]
Trending = Callable[[int, int], Awaitable[list[int]]]
"""(server whose votes count, 0 for none; how many) -> pids of the trending papers, best first."""


@dataclass(frozen=True, slots=True)
class Pick:
    """One recommended paper and why."""

    pid: int
    paper_id: str
    score: float
    because_id: str | None = None  # the member's saved (or voted) paper closest to it
    because_title: str | None = None
    similarity: float = 0.0  # the cosine behind "because" (from the candidates' mean)
    words: tuple[str, ...] = ()  # the words of its text that weighed most


@dataclass(frozen=True, slots=True)
class Picks:
    kind: str  # PERSONAL, COLD or UNAVAILABLE
    picks: list[Pick]
    model: str | None = None  # rm.CLASSIFIER or rm.CENTROID (personal picks)
    saves: int = 0  # signals counted (since the last reset)
    votes: int = 0
    dismissals: int = 0
    candidates: int = 0  # new papers considered
    reason: str | None = None  # why the picks are not personal (unavailable)


@dataclass(frozen=True, slots=True)
class Explanation:
    """Why a paper is (or is not) one of the member's picks (``/foryou why``)."""

    pid: int
    paper_id: str
    kind: str  # PERSONAL, COLD or UNAVAILABLE: whether the member has a model at all
    model: str | None = None
    score: float | None = None
    rank: int | None = None  # among the new papers not yet seen (1 = the first pick)
    candidates: int = 0
    new: bool = False  # among the new papers
    has_vector: bool = False
    saved: bool = False
    voted: bool = False
    dismissed: bool = False
    shown: bool = False
    closest: list[tuple[str, str, float]] = field(default_factory=list)  # (id, title, cosine)
    words: tuple[str, ...] = ()
    saves: int = 0
    votes: int = 0
    dismissals: int = 0
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class _Counts:
    saves: int
    votes: int
    dismissals: int

    def picks(
        self,
        kind: str,
        picks: list[Pick],
        *,
        model: str | None = None,
        candidates: int = 0,
        reason: str | None = None,
    ) -> Picks:
        return Picks(
            kind, picks, model, self.saves, self.votes, self.dismissals, candidates, reason
        )


@dataclass(slots=True)
class _Profile:
    """What a member's picks are computed from: their model and their positives."""

    model: rm.LinearModel
    positives: list[int]  # pids with a vector, same order as the rows below
    vectors: FloatArray
    _per_token: tuple[object, FloatArray] | None = None

    def per_token(self, model: TokenModel) -> FloatArray:
        """What each token adds to this member's scores (kept with the profile)."""
        kept = self._per_token
        if kept is None or kept[0] is not model:
            kept = self._per_token = (model, token_weights(model, self.model.weights))
        return kept[1]


class Recommender:
    def __init__(
        self,
        db: Database,
        *,
        token_model: Callable[[], TokenModel | None] = lambda: None,
        trending: Trending | None = None,
        pool: CandidatePool | None = None,
        classifier_min: int = rm.CLASSIFIER_MIN,
        unavailable: Callable[[], str | None] = lambda: None,
    ) -> None:
        self.db = db
        self.token_model = token_model  # the embedding model, once loaded (for the words)
        self.trending = trending
        self.pool = pool or CandidatePool()
        self.classifier_min = classifier_min
        self.unavailable = unavailable  # why there are no vectors (e.g. semantic search off)
        self._models: OrderedDict[int, tuple[tuple[object, ...], _Profile]] = OrderedDict()
        self._lock = threading.Lock()

    # -- the feed --------------------------------------------------------------------------

    async def feed(self, user_id: int, limit: int, *, scope: int = 0) -> Picks:
        """The member's picks (at most *limit*); a member with no signal (or no vectors to
        score with) gets varied trending papers to rate instead, :data:`COLD_COUNT` at most."""
        found = await self.db.read(partial(self._personal, user_id, limit))
        if found.kind == PERSONAL:  # (with no picks: every new paper was seen already)
            return found
        count = min(limit, COLD_COUNT)
        trending = await self._trending(scope)
        chosen = await self.db.read(partial(self._varied, user_id, trending, count))
        return Picks(
            found.kind,
            [Pick(pid, paper_id, 0.0) for pid, paper_id in chosen],
            saves=found.saves,
            votes=found.votes,
            dismissals=found.dismissals,
            candidates=len(trending),
            reason=found.reason,
        )

    async def personal(self, user_id: int, limit: int) -> Picks:
        """The member's personal picks only (``cold``/``unavailable`` come with none)."""
        return await self.db.read(partial(self._personal, user_id, limit))

    async def reasons(self, user_id: int, pids: Sequence[int]) -> list[Pick]:
        """*pids* as picks with their reasons now (a digest being sent again), in order;
        without a model, picks without reasons."""
        return await self.db.read(partial(self._reasons, user_id, list(pids)))

    async def explain(self, user_id: int, paper_id: str) -> Explanation | None:
        """Why *paper_id* is or is not a pick for the member; None for an unknown paper."""
        return await self.db.read(partial(self._explain, user_id, paper_id))

    def forget(self, user_id: int) -> None:
        """Drop the member's model from memory (their signals were deleted)."""
        with self._lock:
            self._models.pop(user_id, None)

    async def _trending(self, scope: int) -> list[int]:
        if self.trending is None:
            return []
        return await self.trending(scope, COLD_POOL)

    # -- in the reader thread ----------------------------------------------------------------

    def _personal(self, user_id: int, limit: int, conn: sqlite3.Connection) -> Picks:
        signals = rx.member_signals(conn, user_id, MAX_SIGNALS)
        counts = _Counts(signals.saves, signals.votes, len(signals.negatives))
        if not signals.positives:
            return counts.picks(COLD, [])
        pool = self.pool.get(conn)
        profile = self._profile(conn, user_id, signals, pool)
        if profile is None or not len(pool):
            return counts.picks(UNAVAILABLE, [], reason=self._why_unavailable(pool))
        scores = profile.model.scores(pool.vectors)
        rows = pool.rows_of(sorted(signals.excluded))
        scores[rows[rows >= 0]] = -np.inf
        available = int(np.isfinite(scores).sum())
        take = min(limit, available)
        if take <= 0:
            return counts.picks(PERSONAL, [], model=profile.model.kind, candidates=len(pool))
        top = np.argpartition(-scores, take - 1)[:take]
        top = top[np.argsort(-scores[top], kind="stable")]
        picks = self._with_reasons(conn, profile, pool, pool.pids[top].tolist(), scores[top])
        return counts.picks(PERSONAL, picks, model=profile.model.kind, candidates=len(pool))

    def _why_unavailable(self, pool: PoolSnapshot) -> str:
        why = self.unavailable()
        if why:
            return why
        if not len(pool):
            return "the papers' vectors are not made yet"
        return "the papers you saved are not indexed yet"

    def _reasons(self, user_id: int, pids: list[int], conn: sqlite3.Connection) -> list[Pick]:
        texts = rx.paper_texts(conn, pids)
        pids = [p for p in pids if p in texts]
        signals = rx.member_signals(conn, user_id, MAX_SIGNALS)
        pool = self.pool.get(conn)
        profile = self._profile(conn, user_id, signals, pool) if signals.positives else None
        vectors = _vectors(conn, pids, pool.vectors.shape[1])
        if profile is None or not pids:
            return [Pick(p, texts[p].id, 0.0) for p in pids]
        scores = profile.model.scores(vectors)
        return self._with_reasons(conn, profile, pool, pids, scores, vectors=vectors)

    def _with_reasons(
        self,
        conn: sqlite3.Connection,
        profile: _Profile,
        pool: PoolSnapshot,
        pids: list[int],
        scores: FloatArray,
        *,
        vectors: FloatArray | None = None,
    ) -> list[Pick]:
        if vectors is None:
            vectors = pool.vectors[pool.rows_of(pids)]
        near, sims = closest(vectors, profile.vectors, pool.center)
        closest_pids = {profile.positives[int(i)] for i in near} if profile.positives else set()
        texts = rx.paper_texts(conn, [*pids, *closest_pids])
        model = self.token_model()
        words_of: dict[int, list[str]] = {}
        if model is not None:
            found = [p for p in pids if p in texts]
            words_of = dict(
                zip(
                    found,
                    weighed_words_many(
                        [paper_text(texts[p].title, texts[p].abstract) for p in found],
                        model,
                        profile.per_token(model),
                    ),
                    strict=True,
                )
            )
        picks: list[Pick] = []
        for i, pid in enumerate(pids):
            text = texts.get(pid)
            if text is None:  # deleted since the pool was read
                continue
            because = texts.get(profile.positives[int(near[i])]) if len(profile.positives) else None
            words = tuple(words_of.get(pid, ()))
            picks.append(
                Pick(
                    pid,
                    text.id,
                    float(scores[i]),
                    because.id if because else None,
                    because.title if because else None,
                    float(sims[i]),
                    words,
                )
            )
        return picks

    def _profile(
        self,
        conn: sqlite3.Connection,
        user_id: int,
        signals: rx.SignalRows,
        pool: PoolSnapshot,
    ) -> _Profile | None:
        key: tuple[object, ...] = (tuple(signals.positives), tuple(signals.negatives), pool.stamp)
        with self._lock:
            kept = self._models.get(user_id)
            if kept is not None and kept[0] == key:
                self._models.move_to_end(user_id)
                return kept[1]
        dim = pool.vectors.shape[1]
        found = vx.vectors(conn, [*signals.positives, *signals.negatives])
        positives = [p for p in signals.positives if p in found]
        if not positives or not len(pool):
            return None
        pos = _rows(found, positives, dim)
        neg = _rows(found, [p for p in signals.negatives if p in found], dim)
        sample = _sample(pool, positives, user_id)
        model = rm.member_model(
            pos, neg, pool.vectors[sample], pool.center, classifier_min=self.classifier_min
        )
        profile = _Profile(model, positives, pos)
        with self._lock:
            self._models[user_id] = (key, profile)
            self._models.move_to_end(user_id)
            while len(self._models) > MODELS_KEPT:
                self._models.popitem(last=False)
        return profile

    def _varied(
        self, user_id: int, trending: list[int], count: int, conn: sqlite3.Connection
    ) -> list[tuple[int, str]]:
        signals = rx.member_signals(conn, user_id, 0)
        fresh = [p for p in dict.fromkeys(trending) if p not in signals.excluded]
        texts = rx.paper_texts(conn, fresh)
        fresh = [p for p in fresh if p in texts]
        found = vx.vectors(conn, fresh)
        with_vector = [p for p in fresh if p in found]
        chosen: list[int] = []
        if with_vector:
            dim = len(found[with_vector[0]])
            chosen = varied(_rows(found, with_vector, dim), count)
            chosen = [with_vector[i] for i in chosen]
        # Too few with vectors: fill in trending order.
        chosen += [p for p in fresh if p not in chosen][: max(0, count - len(chosen))]
        order = {p: i for i, p in enumerate(fresh)}
        chosen.sort(key=order.__getitem__)
        return [(p, texts[p].id) for p in chosen]

    def _explain(self, user_id: int, paper_id: str, conn: sqlite3.Connection) -> Explanation | None:
        pid = rx.pid_of(conn, paper_id)
        if pid is None:
            return None
        flags = rx.paper_flags(conn, user_id, pid)
        signals = rx.member_signals(conn, user_id, MAX_SIGNALS)
        pool = self.pool.get(conn)
        found = vx.vectors(conn, [pid])
        base = Explanation(
            pid=pid,
            paper_id=paper_id,
            kind=COLD,
            saves=signals.saves,
            votes=signals.votes,
            dismissals=len(signals.negatives),
            candidates=len(pool),
            new=bool(pool.rows_of([pid])[0] >= 0),
            has_vector=pid in found,
            saved=flags.saved,
            voted=flags.voted,
            dismissed=flags.dismissed,
            shown=flags.shown,
        )
        if not signals.positives:
            return base
        profile = self._profile(conn, user_id, signals, pool)
        if profile is None or pid not in found:
            why = self._why_unavailable(pool) if profile is None else None
            return dataclasses.replace(base, kind=UNAVAILABLE, reason=why)
        vector = from_int8(np.frombuffer(found[pid], dtype=np.int8).reshape(1, -1))
        score = float(profile.model.scores(vector)[0])
        rank = None
        if base.new:
            # Its place among the new papers the member has not seen (itself counted in).
            scores = profile.model.scores(pool.vectors)
            rows = pool.rows_of(sorted(signals.excluded - {pid}))
            scores[rows[rows >= 0]] = -np.inf
            rank = int((scores > score).sum()) + 1
        pick = self._with_reasons(conn, profile, pool, [pid], np.array([score]), vectors=vector)
        sims = _unit(profile.vectors - pool.center) @ _unit(vector - pool.center)[0]
        best = np.argsort(-sims, kind="stable")[:3]
        texts = rx.paper_texts(conn, [profile.positives[int(i)] for i in best])
        near = [
            (texts[p].id, texts[p].title, float(sims[int(i)]))
            for i in best
            if (p := profile.positives[int(i)]) in texts
        ]
        return dataclasses.replace(
            base,
            kind=PERSONAL,
            model=profile.model.kind,
            score=score,
            rank=rank,
            closest=near,
            words=pick[0].words if pick else (),
        )


def varied(vectors: FloatArray, count: int, variety: float = VARIETY) -> list[int]:
    """Rows of *vectors* (given best first) to show together: greedily the best remaining by
    ``(1 - variety) * its place's worth - variety * its cosine to the closest row chosen``
    (maximal marginal relevance), cosines taken from the rows' mean."""
    n = len(vectors)
    if n == 0 or count <= 0:
        return []
    unit = _unit(vectors - vectors.mean(axis=0))
    worth = 1.0 / (1.0 + np.arange(n) / 10.0)
    chosen = [0]
    nearest = unit @ unit[0]
    while len(chosen) < min(count, n):
        value = (1 - variety) * worth - variety * nearest
        value[chosen] = -np.inf
        best = int(value.argmax())
        chosen.append(best)
        nearest = np.maximum(nearest, unit @ unit[best])
    return chosen


def _unit(rows: FloatArray) -> FloatArray:
    norms = np.linalg.norm(rows, axis=-1, keepdims=True)
    out: FloatArray = np.divide(rows, norms, out=np.zeros_like(rows), where=norms > 0)
    return out


def _rows(found: dict[int, bytes], pids: Sequence[int], dim: int) -> FloatArray:
    if not pids:
        return np.zeros((0, dim), dtype=np.float32)
    raw = np.frombuffer(b"".join(found[p] for p in pids), dtype=np.int8)
    return from_int8(raw.reshape(len(pids), dim))


def _vectors(conn: sqlite3.Connection, pids: Sequence[int], dim: int) -> FloatArray:
    found = vx.vectors(conn, pids)
    out = np.zeros((len(pids), dim), dtype=np.float32)
    for i, pid in enumerate(pids):
        if pid in found:
            out[i] = from_int8(np.frombuffer(found[pid], dtype=np.int8))
    return out


def _sample(pool: PoolSnapshot, positives: Sequence[int], user_id: int) -> npt.NDArray[np.int64]:
    """Rows of the pool sampled as the classifier's other papers: the same for the same
    member and pool (so their picks do not shuffle between two requests)."""
    taken = pool.rows_of(positives)
    allowed = np.setdiff1d(np.arange(len(pool)), taken[taken >= 0])
    rng = np.random.default_rng([user_id & 0xFFFFFFFF, pool.stamp[0], pool.stamp[1]])
    size = min(rm.NEGATIVE_SAMPLE, allowed.size)
    return np.sort(rng.choice(allowed, size=size, replace=False)).astype(np.int64)
