"""The aiohttp application: routes, the per-client rate limit, errors, security headers.

The site is read-only: every route is GET (and HEAD); any other method is a 405. Errors are
JSON under ``/api/`` and ``/healthz`` and an HTML page elsewhere, always with a message a
person can act on and the right status code; an unexpected error is logged with its
traceback and answered with a generic 500, never a traceback.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from importlib import resources

from aiohttp import web
from aiohttp.typedefs import Middleware

from bot.search.engine import SearchTooSlow
from bot.web import api, feeds, health, pages, queries
from bot.web.context import CONTEXT, WebContext
from bot.web.ratelimit import (
    IPNetwork,
    TokenBuckets,
    client_address,
    client_key,
    parse_networks,
    retry_after_header,
)

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

SECURITY_HEADERS = {
    # No script may run, no frame may hold the site, styles only from the site itself.
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
        "base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Server": "PaperBot",
}
STATIC_MAX_AGE = 86400
ROBOTS = "User-agent: *\nDisallow: /search\nDisallow: /api/\nDisallow: /feeds/daily/\n"
MAX_BODY = 1024  # read-only: no request needs a body

_REASONS = {
    400: "Bad request",
    404: "Not found",
    405: "Method not allowed",
    413: "Request too large",
    429: "Too many requests",
    500: "Something went wrong",
    503: "Try again",
}
_MESSAGES = {
    404: "There is no page at this address.",
    405: "This site is read-only: only GET requests are answered.",
    413: "This site is read-only: requests carry no body.",
}


def wants_json(request: web.Request) -> bool:
    path = request.path
    return path == "/api" or path.startswith(("/api/", "/healthz"))


def error_response(request: web.Request, status: int, message: str) -> web.Response:
    if wants_json(request):
        return api.error_json(status, message)
    return pages.error_page(
        request.app[CONTEXT], status, _REASONS.get(status, f"Error {status}"), message
    )


@web.middleware
async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except (queries.BadRequest, queries.NotFound) as exc:
        return error_response(request, exc.status, str(exc))
    except SearchTooSlow as exc:
        return error_response(request, 503, str(exc))
    except web.HTTPException as exc:
        if exc.status < 400:  # a redirect
            raise
        message = _MESSAGES.get(exc.status, exc.reason)
        response = error_response(request, exc.status, message)
        if exc.status == 405 and "Allow" in exc.headers:
            response.headers["Allow"] = exc.headers["Allow"]
        return response
    except Exception:
        log.exception("the web page %s failed", request.path)
        return error_response(
            request, 500, "Something went wrong on our side; it has been logged. Try again later."
        )


def rate_limit(buckets: TokenBuckets, proxies: tuple[IPNetwork, ...]) -> Middleware:
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        # Several X-Forwarded-For lines are one list (RFC 9110 5.3): a proxy may add its own
        # line after the client's; reading only the first would believe the client.
        forwarded = ",".join(request.headers.getall("X-Forwarded-For", ())) or None
        addr = client_address(request.remote, forwarded, proxies)
        wait = buckets.allow(client_key(addr))
        if wait > 0:
            response = error_response(
                request,
                429,
                f"Too many requests from your address; try again in {retry_after_header(wait)} s.",
            )
            response.headers["Retry-After"] = retry_after_header(wait)
            return response
        return await handler(request)

    return middleware


async def _security_headers(request: web.Request, response: web.StreamResponse) -> None:
    for name, value in SECURITY_HEADERS.items():
        response.headers[name] = value


@functools.cache
def _stylesheet() -> bytes:
    return resources.files("bot.web").joinpath("static/style.css").read_bytes()


async def stylesheet(request: web.Request) -> web.Response:
    return web.Response(
        body=_stylesheet(),
        content_type="text/css",
        charset="utf-8",
        headers={"Cache-Control": f"public, max-age={STATIC_MAX_AGE}"},
    )


async def robots(request: web.Request) -> web.Response:
    return web.Response(text=ROBOTS, content_type="text/plain")


def build_app(ctx: WebContext, *, buckets: TokenBuckets | None = None) -> web.Application:
    """The site for *ctx*. Rate-limited per client by *buckets*, or by the settings' limit
    (``PAPERBOT_WEB_RATE_LIMIT``; none when it is off)."""
    settings = ctx.settings
    if buckets is None and settings.web_rate_requests > 0:
        buckets = TokenBuckets(
            settings.web_rate_requests, settings.web_rate_seconds, clock=ctx.monotonic
        )
    middlewares: list[Middleware] = [errors]
    if buckets is not None:
        middlewares.append(rate_limit(buckets, parse_networks(settings.web_trusted_proxies)))
    app = web.Application(middlewares=middlewares, client_max_size=MAX_BODY)
    app[CONTEXT] = ctx
    app.on_response_prepare.append(_security_headers)
    app.router.add_get("/", pages.home)
    app.router.add_get("/search", pages.search)
    app.router.add_get("/papers/{paper_id:.+}", pages.paper)
    app.router.add_get("/api", api.index)
    app.router.add_get("/api/", api.index)
    app.router.add_get("/api/search", api.search)
    app.router.add_get("/api/papers/{paper_id:.+}", api.paper)
    app.router.add_get("/api/trending", api.trending)
    app.router.add_get("/feeds/trending.atom", feeds.trending)
    app.router.add_get("/feeds/daily/{token:[A-Za-z0-9_-]{1,64}}.atom", feeds.daily)
    app.router.add_get("/healthz", health.healthz)
    app.router.add_get("/static/style.css", stylesheet)
    app.router.add_get("/robots.txt", robots)
    return app
