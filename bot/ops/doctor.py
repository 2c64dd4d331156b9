"""``python -m bot doctor``: is everything in place to run the bot? One check per line.

Nothing here changes anything: the database is opened read-only (never migrated), the token
is only looked at for its shape (never printed), sources get one small GET each.
"""

from __future__ import annotations

import asyncio
import logging
import os
import stat
import zoneinfo
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import aiohttp

from bot.config import Settings, check_token
from bot.fetch.http import (
    Fetcher,
    FetchError,
    RetryPolicy,
    build_url,
    new_session,
    shared_pacer,
    user_agent,
)
from bot.fetch.refresh import ARXIV_INTERVAL
from bot.store import StoreError
from bot.store.health import inspect_database

log = logging.getLogger(__name__)

ZONES = ("UTC", "Europe/Berlin", "America/New_York", "Asia/Tokyo", "Australia/Sydney")
SOURCE_TIMEOUT = 10.0


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""
    warning: bool = False  # ok (the bot runs), but worth fixing: shown with its fix

    def line(self) -> str:
        mark = "FAIL" if not self.ok else "warn" if self.warning else "ok  "
        text = f"[{mark}] {self.name}: {self.detail}"
        if (not self.ok or self.warning) and self.fix:
            text += f" -> {self.fix}"
        return text


def check_token_shape(settings: Settings) -> Check:
    why = check_token(settings.token.get())
    if why is None:
        return Check("token", True, "DISCORD_TOKEN is set and shaped like a bot token")
    detail, _, fix = why.partition(": ")
    return Check("token", False, detail, fix)


def check_env_file(path: Path) -> Check:
    """The settings file holds the bot token: no user outside its owner and group may read it.

    (deploy/paperbot.service makes it ``root:paperbot`` 0640 on purpose: the group reads it.)
    """
    try:
        st = path.stat()
    except FileNotFoundError:
        return Check("settings file", True, f"no {path}; settings come from the environment")
    except OSError as exc:
        return Check("settings file", False, f"{path}: {exc.strerror}", "fix its permissions")
    perms = stat.S_IMODE(st.st_mode)
    if perms & 0o007:
        # Someone else's file (root's, shared with a group): close it to others only.
        fix = f"chmod 600 {path}" if st.st_uid == os.getuid() else f"chmod o-rwx {path}"
        return Check(
            "settings file",
            True,
            f"{path} can be read by any user on this machine (mode {perms:04o}) and holds "
            "the bot token",
            fix,
            warning=True,
        )
    return Check("settings file", True, f"{path} is closed to other users (mode {perms:04o})")


async def check_database(settings: Settings) -> list[Check]:
    path = settings.database
    try:
        health = await inspect_database(path)
    except StoreError as exc:
        return [Check("database", False, str(exc), "restore a backup or set PAPERBOT_DATABASE")]
    if not health.exists:
        if health.writable:
            return [Check("database", True, f"{path} will be created on the first run")]
        return [
            Check(
                "database",
                False,
                f"{path} does not exist and its folder is not writable",
                "set PAPERBOT_DATABASE to a writable path (in Docker: a file under /data)",
            )
        ]
    checks = []
    if health.writable:
        checks.append(Check("database", True, f"{path} is writable"))
    else:
        checks.append(
            Check(
                "database",
                False,
                f"{path} (or its folder) is not writable by this user",
                "fix the file's owner/permissions or set PAPERBOT_DATABASE",
            )
        )
    if health.version is None:
        checks.append(
            Check(
                "schema",
                False,
                f"not a readable SQLite database: {health.integrity}",
                "restore a backup (python -m bot backup makes them)",
            )
        )
        return checks
    if health.version > health.latest:
        checks.append(
            Check(
                "schema",
                False,
                f"version {health.version} is newer than this PaperBot understands "
                f"({health.latest})",
                "upgrade PaperBot, or use a backup made by this version",
            )
        )
    elif health.version < health.latest:
        checks.append(
            Check(
                "schema",
                True,
                f"version {health.version}; migrations up to {health.latest} are applied "
                "on the next start",
            )
        )
    else:
        papers = f", {health.papers:,} papers" if health.papers is not None else ""
        checks.append(Check("schema", True, f"version {health.version} (latest){papers}"))
    if health.integrity == "ok":
        checks.append(Check("integrity", True, "PRAGMA integrity_check: ok"))
    else:
        checks.append(
            Check(
                "integrity",
                False,
                f"PRAGMA integrity_check: {health.integrity}",
                "stop the bot and restore the latest backup",
            )
        )
    return checks


def check_data_dir(settings: Settings) -> Check:
    data = settings.data_dir
    if not data.exists():
        return Check(
            "data folder",
            False,
            f"{data} does not exist",
            "create it (it may stay empty) or set PAPERBOT_DATA_DIR",
        )
    if not data.is_dir() or not os.access(data, os.R_OK | os.X_OK):
        return Check(
            "data folder",
            False,
            f"{data} is not a readable folder",
            "fix its permissions or set PAPERBOT_DATA_DIR",
        )
    try:
        files = sum(1 for p in data.iterdir() if p.is_file() and not p.name.startswith("."))
    except OSError as exc:
        return Check("data folder", False, f"{data}: {exc.strerror}", "fix its permissions")
    return Check("data folder", True, f"{data} is readable ({files} file(s))")


def check_time_zones() -> Check:
    missing = []
    for name in ZONES:
        try:
            zoneinfo.ZoneInfo(name)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            missing.append(name)
    if missing:
        return Check(
            "time zones",
            False,
            f"cannot load {', '.join(missing)}",
            "install the tzdata package (pip install tzdata) or the system tzdata",
        )
    offset = datetime.now(UTC).astimezone(zoneinfo.ZoneInfo("Europe/Berlin")).strftime("%z")
    return Check("time zones", True, f"{len(ZONES)} zones load (Europe/Berlin is UTC{offset})")


async def check_semantic_model(settings: Settings) -> Check:
    """Whether the embedding model of search by meaning loads (from the installed package)."""
    if not settings.semantic:
        return Check("search by meaning", True, "off (PAPERBOT_SEMANTIC=false)")
    from bot.semantic.model import Embedder, ModelUnavailable

    try:
        embedder = await asyncio.to_thread(Embedder.load)
    except ModelUnavailable as exc:
        return Check(
            "search by meaning",
            False,
            f"the model does not load: {exc}",
            "reinstall PaperBot's dependencies, or set PAPERBOT_SEMANTIC=false",
        )
    vector = embedder.embed(["a test sentence about graphs"])[0]
    return Check(
        "search by meaning",
        True,
        f"{embedder.name} loads ({embedder.dim} dimensions, norm {float((vector**2).sum()):.2f})",
    )


async def check_sources(
    settings: Settings,
    *,
    session: aiohttp.ClientSession | None = None,
    request_timeout: float = SOURCE_TIMEOUT,
) -> list[Check]:
    """One small GET per enabled source, no retries, a short timeout."""
    targets: list[tuple[str, str, str]] = []
    if settings.refresh_hf:
        targets.append(
            (
                "source hf",
                build_url(settings.hf_api_base, "/api/daily_papers", {"limit": 1}),
                "PAPERBOT_HF_API",
            )
        )
    if settings.refresh_arxiv:
        params: dict[str, str | int] = {
            "search_query": f"cat:{(settings.arxiv_categories or ('cs.LG',))[0]}",
            "max_results": 1,
        }
        targets.append(
            (
                "source arxiv",
                build_url(settings.arxiv_api_base, "/api/query", params),
                "PAPERBOT_ARXIV_API",
            )
        )
    if not targets:
        return [Check("sources", True, "no live source enabled (PAPERBOT_REFRESH_HF/_ARXIV)")]
    own = session is None
    http = session or new_session()
    policy = RetryPolicy(timeout=request_timeout, connect_timeout=request_timeout, attempts=1)
    fetcher = Fetcher(http, agent=user_agent(settings), policy=policy)
    try:
        results = []
        for name, url, env in targets:
            pacer = (
                shared_pacer(settings.arxiv_api_base, ARXIV_INTERVAL)
                if name == "source arxiv"
                else None
            )
            loop = asyncio.get_running_loop()
            began = loop.time()
            try:
                resp = await fetcher.get(url, pacer=pacer)
            except FetchError as exc:
                results.append(
                    Check(
                        name,
                        False,
                        f"{url}: {exc.reason}",
                        f"check the network, or {env} if you changed it",
                    )
                )
                continue
            ms = (loop.time() - began) * 1000
            if resp.status != 200:
                results.append(Check(name, False, f"{url}: HTTP {resp.status}", f"check {env}"))
            elif "html" in resp.content_type.lower():
                results.append(
                    Check(
                        name,
                        False,
                        f"{url}: answered with an HTML page, not data",
                        f"check {env} (a proxy or captive portal?)",
                    )
                )
            else:
                results.append(Check(name, True, f"reachable ({ms:.0f} ms)"))
        return results
    finally:
        if own:
            await http.close()


async def run_doctor(
    settings: Settings,
    *,
    session: aiohttp.ClientSession | None = None,
    source_timeout: float = SOURCE_TIMEOUT,
    env_file: Path | None = None,
) -> list[Check]:
    """Every check, in a stable order. The CLI prints :meth:`Check.line` for each and exits
    non-zero when any is not ok (warnings do not count). *env_file*: the settings file to
    check the permissions of (the CLI passes the one it read)."""
    checks = [check_token_shape(settings)]
    if env_file is not None:
        checks.append(check_env_file(env_file))
    checks.extend(await check_database(settings))
    checks.append(check_data_dir(settings))
    checks.append(check_time_zones())
    checks.append(await check_semantic_model(settings))
    checks.extend(await check_sources(settings, session=session, request_timeout=source_timeout))
    for check in checks:
        log.debug("doctor %s", check.line())
    return checks
