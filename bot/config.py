"""Settings: one typed object built once from the environment (and a ``.env`` file).

Every problem is collected and reported together, so a self-hoster fixes their ``.env`` in
one go. The token is kept in a :class:`Secret` that never shows its value in a repr or log.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from dotenv import dotenv_values

from bot.shards import ShardSet, format_shard_ids, parse_shard_ids

log = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA_DIR = PROJECT_ROOT / "data"
DEFAULT_DB_PATH = PROJECT_ROOT / "var" / "paperbot.db"
PROJECT_URL = "https://github.com/paperbot/paperbot"

# A bot token is three base64url parts: user id, timestamp, HMAC.
_TOKEN_SHAPE = re.compile(r"^[A-Za-z0-9_-]{20,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{20,}$")
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class SettingsError(ValueError):
    """Invalid settings. ``problems`` lists every one, each a line a person can act on."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid settings:\n" + "\n".join(f"  - {p}" for p in problems))


class Secret:
    """A string that does not reveal itself in ``repr``/``str`` (tokens in logs, tracebacks)."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def get(self) -> str:
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __repr__(self) -> str:
        return "Secret('********')" if self._value else "Secret('')"

    __str__ = __repr__


@dataclass(frozen=True, slots=True)
class Settings:
    token: Secret = field(default_factory=lambda: Secret(""))
    database: Path = DEFAULT_DB_PATH
    data_dir: Path = DEFAULT_DATA_DIR
    dev_guild_id: int | None = None
    log_level: str = "INFO"
    search_cooldown_seconds: float = 3.0
    search_cooldown_uses: int = 5
    # Live refresh of the store (see bot/fetch). Base URLs are settings so tests stay local.
    refresh_enabled: bool = True
    refresh_interval_minutes: int = 60
    refresh_hf: bool = True
    refresh_arxiv: bool = False
    arxiv_categories: tuple[str, ...] = ("cs.LG", "cs.CL", "cs.CV", "cs.AI")
    hf_api_base: str = "https://huggingface.co"
    arxiv_api_base: str = "https://export.arxiv.org"
    alerts_daily_cap: int = 20
    contact: str = ""  # appended to the User-Agent, as arXiv asks
    semantic: bool = True  # search by meaning (bot/semantic); off for tiny hosts
    db_readers: int = 3  # read-only database connections (threads) for searches and reads
    # Sharding: None = Discord's recommended count (GET /gateway/bot) and every shard here.
    shard_count: int | None = None
    shard_ids: tuple[int, ...] | None = None  # the shards this process runs (None: all)

    @property
    def shard_set(self) -> ShardSet | None:
        """The shards of this process when it runs only some of them, else None."""
        if self.shard_ids is None or self.shard_count is None:
            return None
        if len(self.shard_ids) == self.shard_count:
            return None
        return ShardSet(self.shard_count, self.shard_ids)

    # The read-only web site (bot/web): pages, JSON API, Atom feeds, /healthz.
    web_enabled: bool = True
    web_host: str = "127.0.0.1"
    web_port: int = 8080
    web_url: str = "http://127.0.0.1:8080"  # the public base URL, for feed links
    web_rate_requests: int = 60  # per client: a bucket of this many requests...
    web_rate_seconds: float = 60.0  # ...refilled over this many seconds (0 requests: off)
    web_trusted_proxies: tuple[str, ...] = ()  # addresses/networks whose X-Forwarded-For counts


def _env(source: Mapping[str, str | None], name: str) -> str | None:
    value = source.get(name)
    if value is None:
        return None
    value = value.strip()
    return value or None


def _bool(raw: str, name: str, problems: list[str]) -> bool:
    low = raw.lower()
    if low in ("1", "true", "yes", "on"):
        return True
    if low in ("0", "false", "no", "off"):
        return False
    problems.append(f"{name} must be true or false, not {raw!r}")
    return False


def _int(
    raw: str, name: str, problems: list[str], *, minimum: int = 0, maximum: int | None = None
) -> int | None:
    """*raw* as a whole number within the bounds; None (and a problem said) when it is not."""
    try:
        value = int(raw)
    except ValueError:
        problems.append(f"{name} must be a whole number, not {raw!r}")
        return None
    if value < minimum:
        problems.append(f"{name} must be at least {minimum}, not {value}")
        return None
    if maximum is not None and value > maximum:
        problems.append(f"{name} must be at most {maximum}, not {value}")
        return None
    return value


MAX_SHARDS = 100_000  # far above any bot's need; catches a typo of a few extra digits


def _shards(env: Mapping[str, str | None], values: dict[str, object], problems: list[str]) -> None:
    """PAPERBOT_SHARD_COUNT (the total, across every process) and PAPERBOT_SHARDS (the ids
    this process runs, e.g. 0-3). Without either, one process runs Discord's recommended
    number of shards."""
    count: int | None = None
    if raw := _env(env, "PAPERBOT_SHARD_COUNT"):
        count = _int(raw, "PAPERBOT_SHARD_COUNT", problems, minimum=1)
        if count is not None and count > MAX_SHARDS:
            problems.append(f"PAPERBOT_SHARD_COUNT must be at most {MAX_SHARDS:,}, not {count:,}")
            count = None
        if count is not None:
            values["shard_count"] = count
    raw = _env(env, "PAPERBOT_SHARDS")
    if raw is None:
        return
    try:
        ids = parse_shard_ids(raw)
    except ValueError as exc:
        problems.append(f"PAPERBOT_SHARDS: {exc}")
        return
    if count is None:
        if _env(env, "PAPERBOT_SHARD_COUNT") is None:
            problems.append(
                "PAPERBOT_SHARDS needs PAPERBOT_SHARD_COUNT, the total number of shards across "
                f"all processes (e.g. PAPERBOT_SHARDS={format_shard_ids(ids)} "
                f"PAPERBOT_SHARD_COUNT={max(ids) + 1})"
            )
        return
    beyond = [i for i in ids if i >= count]
    if beyond:
        problems.append(
            f"PAPERBOT_SHARDS has shard {', '.join(map(str, beyond[:5]))} but "
            f"PAPERBOT_SHARD_COUNT is {count}: shard ids run from 0 to {count - 1}"
        )
        return
    values["shard_ids"] = ids


def check_token(token: str) -> str | None:
    """Why *token* cannot be a bot token, or None when its shape is right. Never echoes it."""
    if not token:
        return (
            "DISCORD_TOKEN is not set: copy .env.example to .env and paste your bot's token "
            "(Discord developer portal > your application > Bot > Reset Token)"
        )
    if token.lower().startswith("bot "):
        return "DISCORD_TOKEN must be the bare token, without the 'Bot ' prefix"
    if not _TOKEN_SHAPE.match(token):
        return (
            "DISCORD_TOKEN does not look like a bot token (three dot-separated parts); "
            "copy it again from the developer portal's Bot page"
        )
    return None


def env_file_path(env_file: Path | None = None) -> Path:
    """The settings file read: *env_file* (``--env-file``), else ``.env`` in the current folder
    (what ``--help`` says; installed with ``pip install .``, the package's own folder is
    site-packages), else ``.env`` in the project folder (a checkout run from elsewhere)."""
    if env_file is not None:
        return env_file
    try:
        here = Path.cwd() / ".env"
    except OSError:  # the current folder was removed
        here = None
    if here is not None and here.is_file():
        return here
    return PROJECT_ROOT / ".env"


def load_settings(
    env: Mapping[str, str | None] | None = None,
    *,
    env_file: Path | None = None,
    require_token: bool = False,
) -> Settings:
    """Build :class:`Settings` from *env* (default: ``.env`` overlaid by ``os.environ``).
    *env_file* (``--env-file``) must exist; the default ``.env`` may be absent.

    Raises :class:`SettingsError` listing every problem found.
    """
    if env is None:
        merged: dict[str, str | None] = {}
        path = env_file_path(env_file)
        if env_file is not None and not path.exists():
            # Named on purpose (--env-file): a typo must not start the bot without it.
            raise SettingsError([f"--env-file {path}: no such file"])
        if env_file is not None and path.is_dir():
            raise SettingsError([f"--env-file {path} is a folder; name the settings file"])
        if env_file is not None or path.is_file():
            try:
                merged.update(dotenv_values(path))
            except OSError as exc:
                problem = f"cannot read the settings file {path} ({exc.strerror})"
                raise SettingsError([problem]) from None
        merged.update(os.environ)
        env = merged
    problems: list[str] = []
    values: dict[str, object] = {}

    token = _env(env, "DISCORD_TOKEN") or ""
    if require_token and (why := check_token(token)):
        problems.append(why)
    values["token"] = Secret(token)

    for name, key in (("PAPERBOT_DATABASE", "database"), ("PAPERBOT_DATA_DIR", "data_dir")):
        if raw := _env(env, name):
            try:
                values[key] = Path(raw).expanduser()
            except RuntimeError:  # ~user of no such user, or no home directory at all
                problems.append(f"{name}: cannot find the home folder in {raw!r}; use a full path")
    if raw := _env(env, "PAPERBOT_DEV_GUILD_ID"):
        guild = _int(raw, "PAPERBOT_DEV_GUILD_ID", problems, minimum=1)
        if guild is not None:
            values["dev_guild_id"] = guild
    if raw := _env(env, "PAPERBOT_LOG_LEVEL"):
        level = raw.upper()
        if level not in _LOG_LEVELS:
            problems.append(
                f"PAPERBOT_LOG_LEVEL must be one of {', '.join(_LOG_LEVELS)}, not {raw!r}"
            )
        else:
            values["log_level"] = level
    if raw := _env(env, "PAPERBOT_SEARCH_COOLDOWN"):
        # "uses/seconds", e.g. 5/3 = five searches per three seconds per member
        m = re.fullmatch(r"(\d+)\s*/\s*(\d+(?:\.\d+)?)", raw)
        if not m or int(m.group(1)) < 1:
            problems.append(
                f"PAPERBOT_SEARCH_COOLDOWN must look like 5/3 (uses/seconds), not {raw!r}"
            )
        else:
            values["search_cooldown_uses"] = int(m.group(1))
            values["search_cooldown_seconds"] = float(m.group(2))

    for name, key in (
        ("PAPERBOT_SEMANTIC", "semantic"),
        ("PAPERBOT_REFRESH", "refresh_enabled"),
        ("PAPERBOT_REFRESH_HF", "refresh_hf"),
        ("PAPERBOT_REFRESH_ARXIV", "refresh_arxiv"),
    ):
        if raw := _env(env, name):
            values[key] = _bool(raw, name, problems)
    if raw := _env(env, "PAPERBOT_REFRESH_MINUTES"):
        minutes = _int(raw, "PAPERBOT_REFRESH_MINUTES", problems, minimum=5)
        if minutes is not None:
            values["refresh_interval_minutes"] = minutes
    if raw := _env(env, "PAPERBOT_ARXIV_CATEGORIES"):
        cats = tuple(c for c in re.split(r"[\s,]+", raw) if c)
        bad = [c for c in cats if not re.fullmatch(r"[a-z-]+(\.[A-Za-z-]+)?", c)]
        if bad:
            problems.append(
                f"PAPERBOT_ARXIV_CATEGORIES has invalid categories: {', '.join(bad)} (e.g. cs.LG)"
            )
        elif not cats:  # "," or " , ": arXiv is always asked for some categories
            problems.append(
                f"PAPERBOT_ARXIV_CATEGORIES lists no category ({raw!r}); name at least one, "
                "e.g. cs.LG,cs.CL, or remove the line for the default"
            )
        else:
            values["arxiv_categories"] = cats
    for name, key in (("PAPERBOT_HF_API", "hf_api_base"), ("PAPERBOT_ARXIV_API", "arxiv_api_base")):
        if raw := _env(env, name):
            if not re.match(r"^https?://[^\s/]+", raw):
                problems.append(f"{name} must be an http(s) URL, not {raw!r}")
            else:
                values[key] = raw.rstrip("/")
    if raw := _env(env, "PAPERBOT_ALERTS_DAILY_CAP"):
        cap = _int(raw, "PAPERBOT_ALERTS_DAILY_CAP", problems, minimum=1)
        if cap is not None:
            values["alerts_daily_cap"] = cap
    if raw := _env(env, "PAPERBOT_CONTACT"):
        # It goes into the User-Agent header, where a line break or other control character
        # (a "\n" in a double-quoted .env value) would make every request fail.
        if any(unicodedata.category(c) == "Cc" for c in raw):
            problems.append(
                f"PAPERBOT_CONTACT must be one line (an email or URL) without control "
                f"characters, not {raw!r}"
            )
        else:
            values["contact"] = raw
    if raw := _env(env, "PAPERBOT_DB_READERS"):
        readers = _int(raw, "PAPERBOT_DB_READERS", problems, minimum=1, maximum=32)
        if readers is not None:
            values["db_readers"] = readers
    _shards(env, values, problems)

    _web_settings(env, values, problems)

    if problems:
        raise SettingsError(problems)
    return Settings(**values)  # type: ignore[arg-type]


def _web_settings(
    env: Mapping[str, str | None], values: dict[str, object], problems: list[str]
) -> None:
    """PAPERBOT_WEB, _WEB_HOST, _WEB_PORT, _WEB_URL, _WEB_RATE_LIMIT, _WEB_TRUSTED_PROXIES."""
    if raw := _env(env, "PAPERBOT_WEB"):
        values["web_enabled"] = _bool(raw, "PAPERBOT_WEB", problems)
    if raw := _env(env, "PAPERBOT_WEB_HOST"):
        try:
            ipaddress.ip_address(raw)
        except ValueError:
            if not re.fullmatch(r"[A-Za-z0-9](?:[A-Za-z0-9.-]{0,252}[A-Za-z0-9])?", raw):
                problems.append(
                    f"PAPERBOT_WEB_HOST must be an address or a host name (e.g. 127.0.0.1), "
                    f"not {raw!r}"
                )
        values["web_host"] = raw
    if raw := _env(env, "PAPERBOT_WEB_PORT"):
        port = _int(raw, "PAPERBOT_WEB_PORT", problems, minimum=0, maximum=65535)
        if port is not None:
            values["web_port"] = port
    if raw := _env(env, "PAPERBOT_WEB_URL"):
        parts = urlsplit(raw)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.query:
            problems.append(
                f"PAPERBOT_WEB_URL must be the site's http(s) address, e.g. "
                f"https://papers.example.org, not {raw!r}"
            )
        else:
            values["web_url"] = raw.rstrip("/")
    elif "web_host" in values or "web_port" in values:
        host = str(values.get("web_host", "127.0.0.1"))
        if host in ("0.0.0.0", "::"):  # every address: the URL needs a real one
            host = "127.0.0.1"
        if ":" in host:
            host = f"[{host}]"
        values["web_url"] = f"http://{host}:{values.get('web_port', 8080)}"
    if raw := _env(env, "PAPERBOT_WEB_RATE_LIMIT"):
        # "requests/seconds", e.g. 60/60; "off" (or 0) for no limit
        m = re.fullmatch(r"(\d+)\s*/\s*(\d+(?:\.\d+)?)", raw)
        if raw.lower() in ("off", "0", "false", "no"):
            values["web_rate_requests"] = 0
        elif not m or int(m.group(1)) < 1 or float(m.group(2)) <= 0:
            problems.append(
                f"PAPERBOT_WEB_RATE_LIMIT must look like 60/60 (requests/seconds) or off, "
                f"not {raw!r}"
            )
        else:
            values["web_rate_requests"] = int(m.group(1))
            values["web_rate_seconds"] = float(m.group(2))
    if raw := _env(env, "PAPERBOT_WEB_TRUSTED_PROXIES"):
        proxies = tuple(p for p in re.split(r"[\s,]+", raw) if p)
        bad = []
        for proxy in proxies:
            try:
                ipaddress.ip_network(proxy, strict=False)
            except ValueError:
                bad.append(proxy)
        if bad:
            problems.append(
                "PAPERBOT_WEB_TRUSTED_PROXIES must list IP addresses or networks "
                f"(e.g. 127.0.0.1, 172.16.0.0/12), not {', '.join(bad)}"
            )
        else:
            values["web_trusted_proxies"] = proxies
