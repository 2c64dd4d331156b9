"""The REST half of the fake: the route table, the way of one request (recorded, injected
failures, rate limits, auth, handler, Discord-shaped errors) and the lookups handlers share.

Areas add their routes from their own modules (``channels``, ``webhooks``,
``application``, ``guilds``); :class:`~tests.fakediscord.server.FakeDiscord` puts them
together.
"""

from __future__ import annotations

import asyncio
import copy
import json
import logging
import mimetypes
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiohttp import BodyPartReader, web

from . import payloads
from .gateway import Gateway
from .ratelimit import FakeResponse, RateLimiter
from .recording import RecordedFile, RecordedRequest, RequestLog
from .validation import FieldError, errors_to_json
from .world import FakeChannel, FakeGuild, Perm, World

log = logging.getLogger(__name__)

JSON = dict[str, Any]

FILE_FIELD = re.compile(r"^files\[(\d+)\]$")


class DiscordError(Exception):
    """Raised inside handlers; becomes a Discord-shaped JSON error response."""

    def __init__(
        self,
        status: int,
        code: int,
        message: str,
        errors: Sequence[FieldError] | JSON | None = None,
    ) -> None:
        super().__init__(f"{status} {code} {message}")
        self.status = status
        self.code = code
        self.message = message
        if errors is None or isinstance(errors, dict):
            self.errors: JSON | None = errors
        else:
            self.errors = errors_to_json(errors)

    def body(self) -> JSON:
        return payloads.error_body(self.code, self.message, self.errors)


def invalid_form(errors: Sequence[FieldError]) -> DiscordError:
    return DiscordError(400, 50035, "Invalid Form Body", errors)


@dataclass
class Reply:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Ctx:
    req: RecordedRequest
    params: dict[str, str]

    def id(self, name: str) -> int:
        raw = self.params[name]
        if not raw.isdigit():
            raise invalid_form(
                [FieldError((name,), "NUMBER_TYPE_COERCE", f'Value "{raw}" is not snowflake.')]
            )
        return int(raw)

    @property
    def body(self) -> JSON:
        return self.req.json if isinstance(self.req.json, dict) else {}

    def flag(self, name: str) -> bool:
        return self.req.query.get(name, "").lower() in ("1", "true")


Handler = Callable[[Ctx], Awaitable[Reply]]


@dataclass
class Route:
    method: str
    template: str
    regex: re.Pattern[str]
    handler: Handler
    auth: bool
    global_exempt: bool

    @property
    def key(self) -> str:
        return f"{self.method} {self.template}"


def _compile(template: str) -> re.Pattern[str]:
    regex = re.sub(r"\\\{([a-z_]+)\\\}", r"(?P<\1>[^/]+)", re.escape(template))
    return re.compile(f"^{regex}$")


class RestApi(RequestLog):
    """Route table and request handling (a part of ``FakeDiscord``, which sets the state)."""

    world: World
    token: str
    host: str
    port: int
    echo_events: bool
    limiter: RateLimiter
    gateway: Gateway
    attachments: dict[int, bytes]
    internal_errors: list[BaseException]
    _routes: list[Route]

    @staticmethod
    def _now() -> float:
        return asyncio.get_running_loop().time()

    # ----------------------------------------------------------------- urls
    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def api_url(self) -> str:
        """Value for ``discord.http.Route.BASE``."""
        return f"{self.base_url}/api/v10"

    @property
    def gateway_url(self) -> str:
        """Value for ``DiscordWebSocket.DEFAULT_GATEWAY`` (and GET /gateway/bot)."""
        return f"ws://{self.host}:{self.port}/gateway"

    @property
    def resume_gateway_url(self) -> str:
        return f"ws://{self.host}:{self.port}/gateway-resume"

    # ------------------------------------------------------------- routing
    def _route(
        self,
        method: str,
        template: str,
        handler: Handler,
        *,
        auth: bool = True,
        global_exempt: bool = False,
    ) -> None:
        self._routes.append(
            Route(method, template, _compile(template), handler, auth, global_exempt)
        )

    def _match(self, method: str, path: str) -> tuple[Route | None, dict[str, str], bool]:
        """(route, params, path_exists_with_other_method)."""
        other = False
        for route in self._routes:
            m = route.regex.match(path)
            if m is None:
                continue
            if route.method == method:
                return route, m.groupdict(), False
            other = True
        return None, {}, other

    async def _read_body(self, request: web.Request, rec: RecordedRequest) -> None:
        ctype = request.headers.get("Content-Type", "")
        if ctype.startswith("multipart/form-data"):
            reader = await request.multipart()
            chunks: list[bytes] = []
            while True:
                part = await reader.next()
                if part is None:
                    break
                if not isinstance(part, BodyPartReader):
                    continue
                data = await part.read(decode=False)
                chunks.append(bytes(data))
                name = part.name or ""
                if name == "payload_json":
                    rec.json = json.loads(data.decode())
                elif part.filename is not None or FILE_FIELD.match(name):
                    rec.files.append(
                        RecordedFile(
                            name, part.filename, part.headers.get("Content-Type"), bytes(data)
                        )
                    )
                else:
                    rec.form[name] = data.decode()
            rec.body = b"".join(chunks)
            return
        rec.body = await request.read()
        if rec.body and "json" in ctype:
            rec.json = json.loads(rec.body)

    async def _handle_api(self, request: web.Request) -> web.StreamResponse:
        m = re.match(r"^/api/v(\d+)(/.*)$", request.path)
        version, path = (int(m.group(1)), m.group(2)) if m else (0, request.path[4:])
        rec = RecordedRequest(
            index=len(self.requests),
            method=request.method,
            path=path,
            query=dict(request.query),
            headers=dict(request.headers),
            body=b"",
            api_version=version,
            time=self._now(),
        )
        self.requests.append(rec)
        reply: Reply
        decision_headers: dict[str, str] = {}
        try:
            await self._read_body(request, rec)
        except (ValueError, UnicodeDecodeError):
            reply = self._error_reply(
                DiscordError(400, 50109, "The request body contains invalid JSON.")
            )
            return await self._finish(rec, reply, {})
        route, params, other_method = self._match(rec.method, path)
        if route is not None:
            rec.route = route.key
            rec.params = params
        injected = self._take_injection(rec)
        if injected is not None:
            rec.injected = True
            if not injected.passthrough:
                return await self._finish(rec, self._fake_reply(injected), {})
        if version not in (9, 10):
            reply = Reply(404, payloads.error_body(0, "404: Not Found"))
        elif route is None:
            status = 405 if other_method else 404
            text = "405: Method Not Allowed" if other_method else "404: Not Found"
            reply = Reply(status, payloads.error_body(0, text))
        else:
            major = ":".join(
                params[k]
                for k in ("channel_id", "guild_id", "webhook_id", "webhook_token")
                if k in params
            )
            decision = self.limiter.check(route.key, major, global_exempt=route.global_exempt)
            decision_headers = decision.headers
            if decision.limited:
                rec.rate_limited = True
                reply = Reply(
                    429,
                    {
                        "message": "You are being rate limited.",
                        "retry_after": decision.retry_after,
                        "global": decision.is_global,
                        "code": 0,
                    },
                )
            elif route.auth and request.headers.get("Authorization") != f"Bot {self.token}":
                reply = Reply(401, payloads.error_body(0, "401: Unauthorized"))
            else:
                try:
                    reply = await route.handler(Ctx(rec, params))
                except DiscordError as exc:
                    reply = self._error_reply(exc)
                except Exception as exc:  # a bug in the fake: make it loud, not a retry loop
                    log.exception("fake Discord handler crashed on %s %s", rec.method, path)
                    self.internal_errors.append(exc)
                    reply = Reply(400, payloads.error_body(0, f"fake Discord crashed: {exc!r}"))
        if injected is not None:  # passthrough: side effects done, answer with the fake
            fake = self._fake_reply(injected)
            if fake.body is None:
                fake.body = reply.body
            reply = fake
        return await self._finish(rec, reply, decision_headers)

    @staticmethod
    def _error_reply(exc: DiscordError) -> Reply:
        return Reply(exc.status, exc.body())

    @staticmethod
    def _fake_reply(fake: FakeResponse) -> Reply:
        headers = dict(fake.headers)
        if fake.content_type is not None:
            headers["Content-Type"] = fake.content_type
        return Reply(fake.status, copy.deepcopy(fake.body), headers)

    async def _finish(
        self, rec: RecordedRequest, reply: Reply, ratelimit_headers: dict[str, str]
    ) -> web.StreamResponse:
        headers: dict[str, str] = {"Via": "1.1 google", **ratelimit_headers, **reply.headers}
        if headers.pop("X-No-Via", None) is not None:
            headers.pop("Via", None)
        if reply.status == 429 and not rec.rate_limited:
            self.limiter.stats.rate_limited_responses += 1
        rec.status = reply.status
        rec.response = reply.body
        body: bytes | None
        if reply.status == 204 or reply.body is None:
            body = None
            headers.pop("Content-Type", None)
        elif isinstance(reply.body, str) and "Content-Type" in headers:
            body = reply.body.encode()
        elif isinstance(reply.body, str):
            body = reply.body.encode()
            headers["Content-Type"] = "text/plain"
        else:
            body = json.dumps(reply.body, separators=(",", ":")).encode()
            # discord.py only parses JSON when the header is exactly this (no charset).
            headers["Content-Type"] = "application/json"
        rec.response_headers = headers
        self._notify(rec)
        return web.Response(status=reply.status, body=body, headers=headers)

    async def _serve_file(self, request: web.Request) -> web.StreamResponse:
        aid = request.match_info["attachment_id"]
        data = self.attachments.get(int(aid)) if aid.isdigit() else None
        if data is None:
            return web.Response(status=404, text="Not Found")
        ctype = mimetypes.guess_type(request.match_info["filename"])[0]
        return web.Response(body=data, content_type=ctype or "application/octet-stream")

    # ------------------------------------------------- lookups for handlers
    def _channel(self, channel_id: int) -> FakeChannel:
        ch = self.world.find_channel(channel_id)
        if ch is None or ch.deleted:
            raise DiscordError(404, 10003, "Unknown Channel")
        return ch

    def _require(self, ch: FakeChannel, *perms: int) -> int:
        have = self.world.bot_permissions(ch)
        if not have & Perm.VIEW_CHANNEL:
            raise DiscordError(403, 50001, "Missing Access")
        for p in perms:
            if have & p != p:
                raise DiscordError(403, 50013, "Missing Permissions")
        return have

    def _message(self, ch: FakeChannel, message_id: int) -> JSON:
        msg = self.world.messages.get(ch.id, {}).get(message_id)
        if msg is None:
            raise DiscordError(404, 10008, "Unknown Message")
        return msg

    def _guild(self, guild_id: int) -> FakeGuild:
        g = self.world.guilds.get(guild_id)
        if g is None:
            raise DiscordError(404, 10004, "Unknown Guild")
        return g
