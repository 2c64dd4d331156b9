"""``/healthz``: can the database be read, is the Discord gateway connected, how old is the
last refresh of each live source. 200 when healthy, 503 when not (Docker's health check)."""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web

from bot.store.health import probe
from bot.web.api import json_response
from bot.web.context import CONTEXT

log = logging.getLogger(__name__)


async def healthz(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    state = await probe(ctx.store)
    database = state.readable
    if ctx.gateway is None:
        gateway = "not running"  # python -m bot web: no bot in this process
        gateway_ok = True
    else:
        try:
            connected = bool(ctx.gateway())
        except Exception:
            log.warning("health check: asking the gateway failed", exc_info=True)
            connected = False
        gateway = "connected" if connected else "disconnected"
        gateway_ok = connected
    now = ctx.now()
    refresh: dict[str, Any] = {
        source: {
            "last_success": when.isoformat(timespec="seconds"),
            "age_seconds": max(0, int((now - when).total_seconds())),
        }
        for source, when in state.refreshed.items()
    }
    healthy = database and gateway_ok
    return json_response(
        {
            "status": "ok" if healthy else "unhealthy",
            "database": "readable" if database else "unreadable",
            "gateway": gateway,
            "refresh": refresh,
        },
        200 if healthy else 503,
    )
