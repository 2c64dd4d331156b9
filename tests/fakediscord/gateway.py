"""The fake gateway: sessions, sequence numbers, resume/replay, compression, drops."""

# The wait helpers deliberately take `timeout=` (their documented API).
# ruff: noqa: ASYNC109

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from aiohttp import WSMsgType, web

from . import payloads
from .world import PRIVILEGED_INTENTS, Intent

if TYPE_CHECKING:
    from .server import FakeDiscord

log = logging.getLogger(__name__)

JSON = dict[str, Any]


class Op:
    DISPATCH = 0
    HEARTBEAT = 1
    IDENTIFY = 2
    PRESENCE_UPDATE = 3
    VOICE_STATE_UPDATE = 4
    RESUME = 6
    RECONNECT = 7
    REQUEST_GUILD_MEMBERS = 8
    INVALID_SESSION = 9
    HELLO = 10
    HEARTBEAT_ACK = 11


DropMode = Literal["close", "abort", "reconnect", "invalid_session"]


@dataclass
class GatewayFrame:
    """One gateway payload, ``direction`` "in" = sent by the client, "out" = by the fake."""

    index: int
    connection_id: int
    direction: Literal["in", "out"]
    op: int
    t: str | None
    s: int | None
    d: Any
    time: float


@dataclass
class GatewaySession:
    id: str
    token: str
    intents: int
    shard: tuple[int, int] | None
    seq: int = 0
    #: Every dispatch sent in this session (replayed on RESUME).
    backlog: list[JSON] = field(default_factory=list)
    connection: GatewayConnection | None = None
    invalidated: bool = False
    identify_payload: JSON = field(default_factory=dict)

    def wants_guild(self, guild_id: int | None) -> bool:
        if self.shard is None:
            return True
        shard_id, count = self.shard
        if guild_id is None:
            return shard_id == 0
        return (guild_id >> 22) % count == shard_id


class GatewayConnection:
    def __init__(
        self,
        conn_id: int,
        ws: web.WebSocketResponse,
        request: web.Request,
        gateway: Gateway,
    ) -> None:
        self.id = conn_id
        self.ws = ws
        self.request = request
        self.gateway = gateway
        self.path = request.path
        self.query = dict(request.query)
        self.compress = self.query.get("compress")
        self.session: GatewaySession | None = None
        self.lock = asyncio.Lock()
        self.close_code: int | None = None
        #: True when the fake (not the client) closed this connection.
        self.closed_by_server = False
        # zlib-stream: one deflate stream per connection, each payload ends with a
        # Z_SYNC_FLUSH marker, sent as binary frames (what Discord does). Anything else
        # (no compression, or zstd-stream) gets plain JSON text frames, which discord.py
        # always accepts without decompressing.
        self._zlib = zlib.compressobj() if self.compress == "zlib-stream" else None

    @property
    def open(self) -> bool:
        return not self.ws.closed

    async def close(self, code: int, reason: bytes = b"") -> None:
        """Server-initiated close (keeps the session resumable unless the caller says not)."""
        self.closed_by_server = True
        with contextlib.suppress(Exception):
            await self.ws.close(code=code, message=reason)

    def _encode(self, text: str) -> str | bytes:
        if self._zlib is not None:
            return self._zlib.compress(text.encode()) + self._zlib.flush(zlib.Z_SYNC_FLUSH)
        return text

    async def send(self, payload: JSON) -> bool:
        """Send one payload; returns False if the socket is already gone."""
        async with self.lock:
            if self.ws.closed:
                return False
            text = json.dumps(payload, separators=(",", ":"))
            data = self._encode(text)
            try:
                if isinstance(data, bytes):
                    await self.ws.send_bytes(data)
                else:
                    await self.ws.send_str(data)
            except (ConnectionError, RuntimeError) as exc:
                log.debug("gateway send failed on connection %s: %s", self.id, exc)
                return False
            self.gateway.record(self, "out", payload)
            return True


class Gateway:
    """Gateway half of :class:`FakeDiscord` (reached as ``server.gateway``)."""

    def __init__(self, server: FakeDiscord) -> None:
        self.server = server
        self.heartbeat_interval_ms = server.heartbeat_interval_ms
        #: Reply to heartbeats with op 11 (False simulates a zombie connection).
        self.ack_heartbeats = True
        #: Seconds to wait between READY and the GUILD_CREATE burst.
        self.guild_create_delay = 0.0
        #: Bitmask of privileged intents the application may use (None = all allowed).
        self.allowed_privileged_intents: int | None = None
        self.sessions: dict[str, GatewaySession] = {}
        #: IDENTIFYs refused with op 9 for coming too fast in their bucket.
        self.identify_rejections = 0
        #: bucket (shard_id % max_concurrency) -> loop time of its last accepted IDENTIFY.
        self._last_identify: dict[int, float] = {}
        self.connections: list[GatewayConnection] = []
        self.frames: list[GatewayFrame] = []
        self._next_conn = 0
        self._waiters: list[
            tuple[Callable[[GatewayFrame], bool], asyncio.Future[GatewayFrame]]
        ] = []

    # ----------------------------------------------------------------- stats
    @property
    def identify_count(self) -> int:
        return sum(1 for f in self.frames if f.direction == "in" and f.op == Op.IDENTIFY)

    @property
    def resume_count(self) -> int:
        return sum(1 for f in self.frames if f.direction == "in" and f.op == Op.RESUME)

    @property
    def heartbeat_count(self) -> int:
        return sum(1 for f in self.frames if f.direction == "in" and f.op == Op.HEARTBEAT)

    @property
    def open_connections(self) -> list[GatewayConnection]:
        return [c for c in self.connections if c.open]

    def frames_in(self, op: int | None = None) -> list[GatewayFrame]:
        return [f for f in self.frames if f.direction == "in" and (op is None or f.op == op)]

    def dispatched(self, event: str | None = None) -> list[GatewayFrame]:
        return [
            f
            for f in self.frames
            if f.direction == "out" and f.op == Op.DISPATCH and (event is None or f.t == event)
        ]

    # ------------------------------------------------------------- recording
    def record(
        self, conn: GatewayConnection, direction: Literal["in", "out"], payload: JSON
    ) -> None:
        frame = GatewayFrame(
            index=len(self.frames),
            connection_id=conn.id,
            direction=direction,
            op=int(payload.get("op", -1)),
            t=payload.get("t"),
            s=payload.get("s"),
            d=payload.get("d"),
            time=asyncio.get_running_loop().time(),
        )
        self.frames.append(frame)
        for pred, fut in list(self._waiters):
            if not fut.done() and pred(frame):
                fut.set_result(frame)
        self._waiters = [(p, f) for p, f in self._waiters if not f.done()]

    async def wait_for(
        self,
        *,
        op: int | None = None,
        event: str | None = None,
        direction: Literal["in", "out"] | None = None,
        since: int = 0,
        timeout: float = 5.0,
        predicate: Callable[[GatewayFrame], bool] | None = None,
    ) -> GatewayFrame:
        """Wait for a frame (already recorded ones from index ``since`` count too)."""

        def match(f: GatewayFrame) -> bool:
            return (
                f.index >= since
                and (op is None or f.op == op)
                and (event is None or f.t == event)
                and (direction is None or f.direction == direction)
                and (predicate is None or predicate(f))
            )

        for f in self.frames[since:]:
            if match(f):
                return f
        fut: asyncio.Future[GatewayFrame] = asyncio.get_running_loop().create_future()
        self._waiters.append((match, fut))
        try:
            return await asyncio.wait_for(fut, timeout)
        except TimeoutError:
            raise TimeoutError(
                f"no gateway frame op={op} event={event} direction={direction} within {timeout}s"
            ) from None

    # ------------------------------------------------------------- dispatch
    async def dispatch(
        self,
        event: str,
        data: JSON,
        *,
        guild_id: int | None = None,
        intent: int | None = None,
        transform: Callable[[GatewaySession, JSON], JSON] | None = None,
    ) -> int:
        """Send a DISPATCH to every live session (queued for disconnected ones).

        ``intent``: only sessions that identified with this intent get it.
        ``guild_id``: routes the event to the right shard. ``transform`` may rewrite the
        payload per session (e.g. blank message content without the MESSAGE_CONTENT intent).
        Returns how many sessions got it.
        """
        delivered = 0
        for session in list(self.sessions.values()):
            if session.invalidated:
                continue
            if intent is not None and not session.intents & intent:
                continue
            if not session.wants_guild(guild_id):
                continue
            body = transform(session, data) if transform is not None else data
            await self.send_dispatch(session, event, body)
            delivered += 1
        return delivered

    async def send_dispatch(self, session: GatewaySession, event: str, data: JSON) -> None:
        session.seq += 1
        payload = {"op": Op.DISPATCH, "t": event, "s": session.seq, "d": data}
        session.backlog.append(payload)
        conn = session.connection
        if conn is not None and conn.open:
            await conn.send(payload)

    async def drop(
        self,
        mode: DropMode = "close",
        *,
        code: int = 4000,
        resumable: bool = True,
    ) -> int:
        """Drop every open connection; returns how many were dropped.

        * ``close``: close frame with ``code`` (4000 is resumable; 4004/4010-4014 are fatal).
        * ``abort``: kill the TCP connection without a close frame.
        * ``reconnect``: send op 7 RECONNECT; the client closes and resumes.
        * ``invalid_session``: send op 9 with ``d=resumable``; when False the session is
          invalidated and the client must IDENTIFY again.
        """
        conns = self.open_connections
        for conn in conns:
            if mode == "close":
                if conn.session is not None and code in (4004, 4010, 4011, 4012, 4013, 4014):
                    conn.session.invalidated = True
                await conn.close(code, b"fake drop")
            elif mode == "abort":
                conn.closed_by_server = True
                transport = conn.request.transport
                if transport is not None:
                    transport.abort()
            elif mode == "reconnect":
                await conn.send({"op": Op.RECONNECT, "d": None})
            elif mode == "invalid_session":
                if conn.session is not None and not resumable:
                    conn.session.invalidated = True
                await conn.send({"op": Op.INVALID_SESSION, "d": resumable})
        return len(conns)

    async def close_all(self) -> None:
        for conn in self.open_connections:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.close(1001, b"server stopping"), 1.0)

    # ------------------------------------------------------------- handler
    async def handle(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(max_msg_size=0, autoping=True)
        await ws.prepare(request)
        self._next_conn += 1
        conn = GatewayConnection(self._next_conn, ws, request, self)
        self.connections.append(conn)
        if conn.query.get("encoding", "json") != "json":
            await conn.close(4002, b"Error while decoding payload.")
            return ws
        await conn.send({"op": Op.HELLO, "d": {"heartbeat_interval": self.heartbeat_interval_ms}})
        try:
            async for msg in ws:
                if msg.type is WSMsgType.TEXT:
                    raw: str = msg.data
                elif msg.type is WSMsgType.BINARY:
                    raw = msg.data.decode()
                else:
                    break
                try:
                    payload = json.loads(raw)
                except ValueError:
                    await conn.close(4002, b"Error while decoding payload.")
                    break
                self.record(conn, "in", payload)
                await self._on_payload(conn, payload)
        finally:
            conn.close_code = ws.close_code
            session = conn.session
            if session is not None and session.connection is conn:
                session.connection = None
                # A client-initiated 1000/1001 close ends the session like on Discord.
                if ws.close_code in (1000, 1001) and not conn.closed_by_server:
                    session.invalidated = True
        return ws

    async def _on_payload(self, conn: GatewayConnection, payload: JSON) -> None:
        op = payload.get("op")
        d = payload.get("d")
        if op == Op.HEARTBEAT:
            if self.ack_heartbeats:
                await conn.send({"op": Op.HEARTBEAT_ACK})
        elif op == Op.IDENTIFY:
            await self._identify(conn, d or {})
        elif op == Op.RESUME:
            await self._resume(conn, d or {})
        elif op in (Op.PRESENCE_UPDATE, Op.VOICE_STATE_UPDATE, Op.REQUEST_GUILD_MEMBERS):
            if conn.session is None:  # accepted, never answered (no member chunks)
                await conn.close(4003, b"Not authenticated.")
        else:
            await conn.close(4001, b"Unknown opcode.")

    async def _identify(self, conn: GatewayConnection, d: JSON) -> None:
        server = self.server
        if conn.session is not None:
            await conn.close(4005, b"Already authenticated.")
            return
        if d.get("token") != server.token:
            await conn.close(4004, b"Authentication failed.")
            return
        intents = int(d.get("intents", 0))
        if (
            self.allowed_privileged_intents is not None
            and intents & PRIVILEGED_INTENTS & ~self.allowed_privileged_intents
        ):
            await conn.close(4014, b"Disallowed intent(s).")
            return
        shard_raw = d.get("shard")
        shard = (int(shard_raw[0]), int(shard_raw[1])) if shard_raw else None
        if shard is not None and not 0 <= shard[0] < shard[1]:
            await conn.close(4010, b"Invalid shard.")
            return
        world = server.world
        wanted = GatewaySession("", "", 0, shard)
        # Only the servers the bot user is in: an app installed to a user's account reaches
        # other servers through interactions alone.
        guilds = [
            g
            for g in world.guilds.values()
            if wanted.wants_guild(g.id) and world.bot.id in g.members
        ]
        limit = server.max_guilds_per_shard
        if limit is not None and len(guilds) > limit:
            await conn.close(4011, b"Sharding required.")
            return
        if not self._identify_allowed(shard):
            self.identify_rejections += 1
            await conn.send({"op": Op.INVALID_SESSION, "d": False})
            return
        session = GatewaySession(
            id=secrets.token_hex(16),
            token=d["token"],
            intents=intents,
            shard=shard,
            identify_payload=d,
        )
        self.sessions[session.id] = session
        session.connection = conn
        conn.session = session
        ready: JSON = {
            "v": 10,
            "user": payloads.user(world.bot)
            | {"verified": True, "mfa_enabled": False, "email": None},
            "guilds": [{"id": str(g.id), "unavailable": True} for g in guilds],
            "session_id": session.id,
            "session_type": "normal",
            "resume_gateway_url": server.resume_gateway_url,
            "application": {"id": str(world.application.id), "flags": world.application.flags},
            "private_channels": [],
            "relationships": [],
            "presences": [],
            "user_settings": {},
            "guild_join_requests": [],
            "geo_ordered_rtc_regions": ["local"],
            "auth": {},
            "_trace": ['["fake-discord-gateway",{"micros":1}]'],
        }
        if shard is not None:
            ready["shard"] = list(shard)
        await self.send_dispatch(session, "READY", ready)
        if self.guild_create_delay:
            await asyncio.sleep(self.guild_create_delay)
        for g in guilds:
            if not g.unavailable:
                await self.send_dispatch(session, "GUILD_CREATE", payloads.guild_create(world, g))

    def _identify_allowed(self, shard: tuple[int, int] | None) -> bool:
        """Discord's IDENTIFY rate limit: one per ``identify_interval`` in each bucket
        ``shard_id % max_concurrency`` (an accepted IDENTIFY is recorded)."""
        interval = self.server.identify_interval
        if interval is None:
            return True
        bucket = (shard[0] if shard else 0) % max(1, self.server.max_concurrency)
        now = asyncio.get_running_loop().time()
        last = self._last_identify.get(bucket)
        if last is not None and now - last < interval:
            return False
        self._last_identify[bucket] = now
        return True

    async def _resume(self, conn: GatewayConnection, d: JSON) -> None:
        session = self.sessions.get(str(d.get("session_id")))
        if d.get("token") != self.server.token:
            await conn.close(4004, b"Authentication failed.")
            return
        if session is None or session.invalidated:
            await conn.send({"op": Op.INVALID_SESSION, "d": False})
            return
        seq = d.get("seq")
        if seq is not None and int(seq) > session.seq:
            await conn.close(4007, b"Invalid seq.")
            return
        old = session.connection
        if old is not None and old is not conn and old.open:
            await old.close(4000, b"Session resumed elsewhere.")
        session.connection = conn
        conn.session = session
        last = int(seq or 0)
        for payload in [p for p in session.backlog if int(p["s"]) > last]:
            await conn.send(payload)
        await self.send_dispatch(session, "RESUMED", {"_trace": ['["fake-discord-gateway"]']})


def intents_for_message(guild_id: int | None) -> int:
    return int(Intent.GUILD_MESSAGES if guild_id is not None else Intent.DIRECT_MESSAGES)
