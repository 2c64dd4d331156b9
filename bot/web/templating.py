"""The Jinja2 environment: templates from the package, autoescaping always on.

Nothing user-provided is marked safe anywhere: titles, abstracts, authors, the query echoed
back, error messages all go through Jinja's HTML escaping. Links come only from
:func:`bot.web.present.safe_url` (http and https).
"""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Any

import jinja2

SITE_NAME = "PaperBot"


def ago(when: datetime | None, now: datetime) -> str:
    """``3 minutes ago`` / ``2 hours ago`` / ``5 days ago`` (``never`` for None)."""
    if when is None:
        return "never"
    seconds = max(0, int((now - when).total_seconds()))
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            n = seconds // size
            return f"{n} {unit}{'s' if n != 1 else ''} ago"
    return "just now"


@functools.cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("bot.web", "templates"),
        autoescape=True,  # every template, whatever its name
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["site_name"] = SITE_NAME
    return env


def render(name: str, **context: Any) -> str:
    return environment().get_template(name).render(**context)
