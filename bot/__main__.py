"""Command line: ``python -m bot {run,web,load,search,stats,sync,fetch,doctor,backup}``.

Every failure a person can fix ends with one clear line on stderr and a non-zero exit code,
never a traceback (those go to the log at DEBUG level).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from bot.config import Settings, SettingsError, env_file_path, load_settings
from bot.logs import register_secret, setup_logging
from bot.models import Paper

log = logging.getLogger("bot")

EXIT_OK, EXIT_ERROR, EXIT_USAGE = 0, 1, 2


class CliError(Exception):
    """A failure with a message meant for the person at the terminal."""

    def __init__(self, message: str, code: int = EXIT_ERROR) -> None:
        super().__init__(message)
        self.code = code


# -- argument parsing ---------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bot",
        description="PaperBot: research papers in your Discord server.",
        epilog="Settings come from the environment and .env (see .env.example).",
    )
    parser.add_argument(
        "--env-file", type=Path, help="read settings from this file instead of ./.env"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    sub.add_parser(
        "run",
        help="import changed files in the data folder, then run the bot (and the web site "
        "unless PAPERBOT_WEB=off)",
    )

    p = sub.add_parser("web", help="serve the read-only web site alone (no Discord)")
    p.add_argument("--host", help="address to listen on (default: PAPERBOT_WEB_HOST, 127.0.0.1)")
    p.add_argument("--port", type=int, help="port to listen on (default: PAPERBOT_WEB_PORT, 8080)")

    p = sub.add_parser("load", help="import paper files into the store")
    p.add_argument("paths", nargs="*", type=Path, help="files to import (default: the data folder)")
    p.add_argument("--format", dest="fmt", help="skip detection and read the files as this format")
    p.add_argument("--quiet", action="store_true", help="no progress line")
    p.add_argument(
        "--no-vectors",
        action="store_true",
        help="skip making vectors for search by meaning (the bot makes them in the background)",
    )

    p = sub.add_parser("search", help="search the store from the terminal")
    p.add_argument("query", nargs="+", help="words, an author, an arXiv id or URL")
    p.add_argument("--limit", type=int, default=5, help="how many results (default 5, max 100)")
    p.add_argument("--offset", type=int, default=0, help="skip this many results (paging)")
    p.add_argument("--sort", choices=("relevance", "newest", "trending"), default="relevance")
    p.add_argument("--json", action="store_true", help="print a JSON array for scripts")

    p = sub.add_parser("stats", help="how many papers the store holds, in total and by source")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("sync", help="sync slash commands with Discord now")
    p.add_argument("--guild", type=int, help="sync to this server only (appears instantly)")
    p.add_argument("--dry-run", action="store_true", help="print the JSON payload, send nothing")

    p = sub.add_parser("fetch", help="import new papers from live sources now")
    p.add_argument(
        "source", nargs="?", choices=("hf", "arxiv"), help="one source (default: all enabled)"
    )
    p.add_argument("--since", help="first day to fetch, YYYY-MM-DD (default: since the last run)")

    sub.add_parser("doctor", help="check settings, database, data folder, time zones and sources")

    p = sub.add_parser("backup", help="a consistent copy of the live database")
    # A str, not a Path: a trailing slash (a folder to create) must survive.
    p.add_argument("path", help="where to write the copy (a folder gets a dated file)")
    return parser


# -- helpers --------------------------------------------------------------------------------


def _settings(args: argparse.Namespace, *, require_token: bool = False) -> Settings:
    try:
        settings = load_settings(env_file=args.env_file, require_token=require_token)
    except SettingsError as exc:
        raise CliError(str(exc), EXIT_USAGE) from None
    if settings.token:
        register_secret(settings.token.get())
    return settings


def check_paths(settings: Settings) -> None:
    """Fail early, with what to fix, on an unwritable database or unreadable data folder."""
    db_dir = settings.database.parent
    try:
        db_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CliError(
            f"cannot create the database folder {db_dir} ({exc.strerror}); "
            "set PAPERBOT_DATABASE to a writable path"
        ) from None
    if settings.database.exists() and not os.access(settings.database, os.W_OK):
        raise CliError(
            f"the database {settings.database} is not writable; fix its permissions or set PAPERBOT_DATABASE"
        )
    if not os.access(db_dir, os.W_OK):
        raise CliError(
            f"the database folder {db_dir} is not writable; set PAPERBOT_DATABASE to a writable path"
        )
    data = settings.data_dir
    if not data.exists():
        raise CliError(f"the data folder {data} does not exist; create it or set PAPERBOT_DATA_DIR")
    if not data.is_dir() or not os.access(data, os.R_OK | os.X_OK):
        raise CliError(f"the data folder {data} is not a readable folder; set PAPERBOT_DATA_DIR")


async def _open_store(settings: Settings) -> Any:
    from bot.store import Store, StoreError

    check_paths(settings)
    try:
        return await Store.open(settings.database, readers=settings.db_readers)
    except StoreError as exc:
        raise CliError(str(exc)) from None


class Progress:
    """A one-line progress report on a terminal: papers done, rate, ETA."""

    def __init__(self, stream: TextIO, label: str) -> None:
        self.stream = stream
        self.label = label
        self.start = time.monotonic()
        self.last = 0.0
        self.enabled = stream.isatty()

    def __call__(self, done: int, read: int, total: int) -> None:
        now = time.monotonic()
        if not self.enabled or now - self.last < 0.25:
            return
        self.last = now
        elapsed = max(now - self.start, 1e-6)
        rate = done / elapsed
        line = f"\r{self.label}: {done:,} papers · {rate:,.0f}/s"
        if total > 0 and read > 0:
            frac = min(read / total, 1.0)
            eta = elapsed * (1 - frac) / frac if frac > 0 else 0
            line += f" · {frac:5.1%} · ETA {_duration(eta)}"
        self.stream.write(line.ljust(78))
        self.stream.flush()

    def finish(self) -> None:
        if self.enabled and self.last:
            self.stream.write("\r" + " " * 78 + "\r")
            self.stream.flush()


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def print_report(report: Any, out: TextIO) -> None:
    name = report.path.name
    if report.failed:
        out.write(f"{name}: not imported: {report.failed} (nothing from this file was stored)\n")
        return
    if report.skipped:
        out.write(f"{name}: unchanged since the last import, skipped\n")
        return
    out.write(
        f"{name} ({report.format}): {report.new:,} new, {report.updated:,} updated, "
        f"{report.unchanged:,} unchanged, {report.rejected:,} rejected in {report.seconds:.1f}s\n"
    )
    for err in report.errors[:20]:
        out.write(f"  {name}:{err.line}: {err.reason}\n")
    if report.rejected > min(len(report.errors), 20):
        out.write(
            f"  ... {report.rejected - min(len(report.errors), 20):,} more rejected records\n"
        )


def format_card(paper: Paper, score: float | None = None) -> str:
    lines = [paper.title]
    meta = []
    if paper.arxiv_id:
        meta.append(f"arXiv {paper.arxiv_id}")
    if paper.published:
        meta.append(paper.published.isoformat())
    if paper.categories:
        meta.append(", ".join(paper.categories[:3]))
    if score is not None:
        meta.append(f"score {score:.2f}")
    if meta:
        lines.append("  " + " · ".join(meta))
    if paper.authors:
        authors = ", ".join(paper.authors[:5]) + (" et al." if len(paper.authors) > 5 else "")
        lines.append(f"  {authors}")
    if paper.abstract:
        abstract = (
            paper.abstract
            if len(paper.abstract) <= 280
            else paper.abstract[:279].rsplit(" ", 1)[0] + "…"
        )
        lines.append(f"  {abstract}")
    link = paper.url_abs or paper.url_hf or paper.url_project or paper.url_code
    if link:
        lines.append(f"  {link}")
    return "\n".join(lines)


# -- commands -------------------------------------------------------------------------------


async def cmd_load(args: argparse.Namespace, settings: Settings) -> int:
    from bot.ingest import IngestError, UnknownFormatError
    from bot.store.loader import load_data_dir, load_file

    store = await _open_store(settings)
    failed = 0
    try:
        if not args.paths:
            progress = None if args.quiet else Progress(sys.stderr, "data")
            reports = await load_data_dir(store, settings.data_dir, progress=progress)
            if progress:
                progress.finish()
            for report in reports:
                print_report(report, sys.stdout)
                failed += 1 if report.failed else 0
            if not reports:
                print(f"no paper files in {settings.data_dir}")
        for path in args.paths:
            if not path.is_file():
                print(f"error: {path}: no such file", file=sys.stderr)
                failed += 1
                continue
            progress = None if args.quiet else Progress(sys.stderr, path.name)
            try:
                report = await load_file(store, path, fmt=args.fmt, progress=progress)
            except Exception as exc:
                if progress:
                    progress.finish()
                if isinstance(exc, IngestError | UnknownFormatError):
                    why = str(exc)
                else:  # a bug or a store error: one line here, the traceback in the log
                    log.debug("loading %s failed", path, exc_info=True)
                    why = f"{path}: {type(exc).__name__}: {str(exc).strip()[:300]}"
                    why = " ".join(why.split())
                print(f"error: {why} (nothing from this file was stored)", file=sys.stderr)
                failed += 1
                continue
            if progress:
                progress.finish()
            print_report(report, sys.stdout)
        total = await store.papers.count()
        print(f"the store now holds {total:,} papers")
        if settings.semantic and not args.no_vectors:
            await make_vectors(store, quiet=args.quiet)
    finally:
        await store.close()
    return EXIT_ERROR if failed else EXIT_OK


async def make_vectors(store: Any, *, quiet: bool) -> None:
    """Give every paper without a vector one (search by meaning), with a progress line."""
    from bot.semantic.backfill import Progress as VectorProgress
    from bot.semantic.backfill import fill_vectors, prepare_model
    from bot.semantic.model import Embedder, ModelUnavailable

    try:
        embedder = await asyncio.to_thread(Embedder.load)
    except ModelUnavailable as exc:
        print(f"warning: no vectors made, search by meaning is off: {exc}", file=sys.stderr)
        return
    await prepare_model(store, embedder)
    line = None if quiet else Progress(sys.stderr, "vectors")

    def report(state: VectorProgress) -> None:
        if line is not None:
            line(state.done, state.done, state.total)

    # Every core: nothing else runs (a running bot keeps to one, in the background).
    made = await fill_vectors(store, embedder, report=report, workers=os.cpu_count() or 1)
    if line is not None:
        line.finish()
    done, total = await store.vectors.counts()
    print(f"vectors: {made:,} made; {done:,} of {total:,} papers can be found by meaning")


async def cmd_search(args: argparse.Namespace, settings: Settings) -> int:
    from bot.search import SearchEngine

    if not 1 <= args.limit <= 100:
        raise CliError("--limit must be between 1 and 100", EXIT_USAGE)
    if args.offset < 0:
        raise CliError("--offset must not be negative", EXIT_USAGE)
    store = await _open_store(settings)
    try:
        engine = SearchEngine(store.db, meaning=await _meaning(store, settings))
        query = " ".join(args.query)
        result = await engine.search(query, sort=args.sort, limit=args.limit, offset=args.offset)
    finally:
        await store.close()
    if args.json:
        payload = [
            {
                "id": hit.paper.id,
                "title": hit.paper.title,
                "score": round(hit.score, 4),
                **_json_extra(hit.paper),
            }
            for hit in result.hits
        ]
        json.dump(payload, sys.stdout, ensure_ascii=False, indent=2)
        sys.stdout.write("\n")
        return EXIT_OK
    if result.corrected:
        print(f"no match for “{query}”; showing results for “{result.corrected}”\n")
    if not result.hits:
        print(f"no papers match “{query}”")
        return EXIT_OK
    for i, hit in enumerate(result.hits, start=args.offset + 1):
        print(f"{i}. {format_card(hit.paper, hit.score)}\n")
    return EXIT_OK


async def _meaning(store: Any, settings: Settings) -> Any:
    """Search by meaning over the vectors already made (none made here), or None."""
    if not settings.semantic:
        return None
    from bot.semantic.model import Embedder, ModelUnavailable
    from bot.semantic.search import MeaningIndex

    if await store.vectors.model() is None:
        return None
    try:
        embedder = await asyncio.to_thread(Embedder.load)
    except ModelUnavailable:
        return None
    if await store.vectors.model() != embedder.name:
        return None
    meaning = MeaningIndex(embedder)
    await store.db.read(meaning.sync, snapshot=False)
    return meaning


def _json_extra(paper: Paper) -> dict[str, Any]:
    data = paper.to_dict()
    return {k: v for k, v in data.items() if k not in ("id", "title")}


async def cmd_stats(args: argparse.Namespace, settings: Settings) -> int:
    store = await _open_store(settings)
    try:
        total = await store.papers.count()
        by_source = await store.papers.count_by_source()
        latest = await store.papers.latest_added_at()
        version = await store.db.schema_version()
    finally:
        await store.close()
    if args.json:
        json.dump(
            {
                "total": total,
                "by_source": by_source,
                "last_import": latest.isoformat() if latest else None,
                "database": str(settings.database),
                "schema_version": version,
            },
            sys.stdout,
            indent=2,
        )
        sys.stdout.write("\n")
        return EXIT_OK
    print(f"{total:,} papers in {settings.database}")
    width = max((len(s) for s in by_source), default=0)
    for source, count in sorted(by_source.items(), key=lambda kv: -kv[1]):
        print(f"  {source:<{width}}  {count:>10,}")
    if latest:
        print(f"last import: {latest:%Y-%m-%d %H:%M} UTC")
    return EXIT_OK


TOKEN_REJECTED = "Discord rejected DISCORD_TOKEN; reset it in the developer portal and update .env"


def _unreachable(exc: Exception) -> CliError:
    """The one line for Discord out of reach (`run`, `sync`)."""
    return CliError(
        f"cannot reach Discord ({exc.__class__.__name__}: {exc}); "
        "check this machine's network connection and try again"
    )


async def cmd_sync(args: argparse.Namespace, settings: Settings) -> int:
    import aiohttp
    import discord

    from bot.app import PaperBot

    settings_ = settings if args.dry_run else _settings(args, require_token=True)
    if args.guild:
        from dataclasses import replace

        settings_ = replace(settings_, dev_guild_id=args.guild)
    store = await _open_store(settings_)
    bot = PaperBot(settings_, store, auto_sync=False)
    try:
        if args.dry_run:
            await bot.load_extensions()
            guild = discord.Object(args.guild) if args.guild else None
            if guild is not None:
                bot.tree.copy_global_to(guild=guild)
            json.dump(bot.command_payload(guild), sys.stdout, indent=2, ensure_ascii=False)
            sys.stdout.write("\n")
            return EXIT_OK
        try:
            await bot.login(settings_.token.get())
            await bot.sync_commands(force=True)
        except discord.LoginFailure:
            raise CliError(TOKEN_REJECTED) from None
        except discord.Forbidden as exc:
            guild_id = settings_.dev_guild_id
            if guild_id is None:
                raise CliError(f"Discord refused the sync ({exc.status}: {exc.text})") from None
            raise CliError(
                f"Discord refused to sync to server {guild_id} ({exc.text}): check the id and "
                "that the bot was invited there with the applications.commands scope"
            ) from None
        except discord.HTTPException as exc:
            raise CliError(
                f"Discord refused the sync ({exc.status}: {exc.text}); try again later"
            ) from None
        except (aiohttp.ClientError, OSError) as exc:
            raise _unreachable(exc) from None
        where = (
            f"server {args.guild}"
            if args.guild
            else "all servers (global commands can take up to an hour to appear)"
        )
        print(f"synced {len(bot.tree.get_commands())} command(s) to {where}")
        return EXIT_OK
    finally:
        await bot.close()
        await store.close()


async def cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    from bot.app import PaperBot
    from bot.store.loader import load_data_dir

    settings = _settings(args, require_token=True)
    setup_logging(settings.log_level)
    store = await _open_store(settings)
    try:
        for report in await load_data_dir(store, settings.data_dir):
            if report.failed:
                log.error("could not import %s: %s", report.path.name, report.failed)
            elif report.skipped:
                log.info("%s unchanged since the last import", report.path.name)
            else:
                log.info(
                    "imported %s: %d new, %d updated, %d unchanged, %d rejected",
                    report.path.name,
                    report.new,
                    report.updated,
                    report.unchanged,
                    report.rejected,
                )
        bot = PaperBot(settings, store)
        site = await _start_web(settings, store, bot) if settings.web_enabled else None
        try:
            return await _run_bot(bot, settings)
        finally:
            if site is not None:
                await site.stop()
    finally:
        await store.close()


async def _start_web(settings: Settings, store: Any, bot: Any) -> Any:
    """The web site beside the bot, sharing its search engine and trending caches."""
    from bot.web import WebContext, WebStartError, start_site

    ctx = WebContext(store, bot.search, bot.trends, settings, gateway=bot.gateway_connected)
    try:
        return await start_site(ctx)
    except WebStartError as exc:
        raise CliError(str(exc)) from None


async def _run_bot(bot: Any, settings: Settings) -> int:
    import aiohttp
    import discord

    from bot.app import ShardsTaken

    loop = asyncio.get_running_loop()
    closing: list[asyncio.Task[None]] = []

    def _stop(signame: str) -> None:
        if not closing:
            log.info("received %s, shutting down", signame)
            closing.append(loop.create_task(bot.close()))

    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, _stop, sig.name)
    try:
        async with bot:
            await bot.start(settings.token.get())
    except discord.LoginFailure:
        raise CliError(TOKEN_REJECTED) from None
    except (aiohttp.ClientError, OSError) as exc:
        raise _unreachable(exc) from None
    except ShardsTaken as exc:
        raise CliError(str(exc), EXIT_USAGE) from None
    except discord.PrivilegedIntentsRequired:
        raise CliError(
            "Discord refused an intent; PaperBot needs no privileged intents, please report this"
        ) from None
    log.info("stopped")
    return EXIT_OK


async def cmd_web(args: argparse.Namespace, settings: Settings) -> int:
    from bot.search import SearchEngine
    from bot.trending import Trending
    from bot.web import WebContext, WebStartError, start_site

    if args.port is not None and not 0 <= args.port <= 65535:
        raise CliError("--port must be between 0 and 65535", EXIT_USAGE)
    setup_logging(settings.log_level)
    store = await _open_store(settings)
    engine = SearchEngine(store.db, meaning=await _meaning(store, settings))
    try:
        trends = Trending(store.signals, store.social, engine.candidates)
        ctx = WebContext(store, engine, trends, settings)
        try:
            site = await start_site(ctx, args.host, args.port)
        except WebStartError as exc:
            raise CliError(str(exc)) from None
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        try:
            await stop.wait()
            log.info("shutting down the web site")
        finally:
            await site.stop()
        return EXIT_OK
    finally:
        await engine.close()
        await store.close()


async def cmd_fetch(args: argparse.Namespace, settings: Settings) -> int:
    from bot.fetch import run_refresh

    store = await _open_store(settings)
    try:
        try:
            reports = await run_refresh(
                store, settings, sources=[args.source] if args.source else None, since=args.since
            )
        except ValueError as exc:
            raise CliError(str(exc), EXIT_USAGE) from None
        if settings.semantic and any(r.new or r.updated for r in reports):
            await make_vectors(store, quiet=True)
    finally:
        await store.close()
    for report in reports:
        print(report.summary())
    if not reports:
        print("no live source is enabled (PAPERBOT_REFRESH_HF / PAPERBOT_REFRESH_ARXIV)")
    return EXIT_OK if all(r.ok for r in reports) else EXIT_ERROR


async def cmd_doctor(args: argparse.Namespace, settings: Settings) -> int:
    from bot.ops.doctor import run_doctor

    # Not through _open_store: the doctor looks without creating folders or migrating.
    checks = await run_doctor(settings, env_file=env_file_path(args.env_file))
    for check in checks:
        print(check.line())
    return EXIT_OK if all(c.ok for c in checks) else EXIT_ERROR


async def cmd_backup(args: argparse.Namespace, settings: Settings) -> int:
    from bot.ops.backup import backup
    from bot.store import StoreError

    try:
        info = await backup(settings.database, args.path)
    except StoreError as exc:
        raise CliError(str(exc)) from None
    print(info.summary())
    return EXIT_OK


COMMANDS = {
    "run": cmd_run,
    "web": cmd_web,
    "load": cmd_load,
    "search": cmd_search,
    "stats": cmd_stats,
    "sync": cmd_sync,
    "fetch": cmd_fetch,
    "doctor": cmd_doctor,
    "backup": cmd_backup,
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = _settings(args)
        if args.command not in ("run", "web"):
            setup_logging("WARNING" if settings.log_level == "INFO" else settings.log_level)
        return asyncio.run(COMMANDS[args.command](args, settings))
    except CliError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
