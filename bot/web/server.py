"""Serving the site: started beside the bot (``python -m bot run``) or alone (``... web``)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from aiohttp import web

from bot.web.app import build_app
from bot.web.context import WebContext

log = logging.getLogger(__name__)

SHUTDOWN_TIMEOUT = 5.0


class WebStartError(OSError):
    """The site could not listen on its address (the message says which and how to fix it)."""


@dataclass(slots=True)
class RunningSite:
    runner: web.AppRunner
    host: str
    port: int  # the port bound (PAPERBOT_WEB_PORT=0 picks a free one)

    async def stop(self) -> None:
        await self.runner.cleanup()
        log.info("web site stopped")


async def start_site(
    ctx: WebContext, host: str | None = None, port: int | None = None
) -> RunningSite:
    """Listen on *host*:*port* (default: the settings'). Raises :class:`WebStartError`."""
    host = ctx.settings.web_host if host is None else host
    port = ctx.settings.web_port if port is None else port
    runner = web.AppRunner(
        build_app(ctx), access_log=None, shutdown_timeout=SHUTDOWN_TIMEOUT, handle_signals=False
    )
    await runner.setup()
    site = web.TCPSite(runner, host, port, reuse_address=True)
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        why = exc.strerror or str(exc)
        raise WebStartError(
            f"cannot serve the web site on {host}:{port} ({why}); set PAPERBOT_WEB_HOST / "
            "PAPERBOT_WEB_PORT to a free address, or PAPERBOT_WEB=off"
        ) from None
    # The listening sockets tell which port PAPERBOT_WEB_PORT=0 got.
    bound = next((int(a[1]) for a in runner.addresses if isinstance(a, tuple)), port)
    shown = f"[{host}]" if ":" in host else host
    log.info("web site on http://%s:%d/ (public address %s)", shown, bound, ctx.base_url)
    return RunningSite(runner, host, bound)
