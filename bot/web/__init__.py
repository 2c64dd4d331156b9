"""The read-only web site: pages, a JSON API, Atom feeds and ``/healthz``.

Core-only (no discord.py): the launcher hands in a :class:`WebContext` holding the store,
the search engine, the trending picker and, when a bot runs in the same process, a callable
telling whether its gateway is connected. :func:`build_app` makes the aiohttp application,
:func:`start_site` serves it.
"""

from bot.web.app import build_app
from bot.web.context import WebContext
from bot.web.server import RunningSite, WebStartError, start_site

__all__ = ["RunningSite", "WebContext", "WebStartError", "build_app", "start_site"]
