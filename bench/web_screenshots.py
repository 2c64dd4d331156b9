"""Screenshots of the web site in headless Chromium, on the sample data of tests/fixtures.

    python -m bench.web_screenshots            # bench/out/web-*.png, and docs/web-home.png

Builds a store from the fixture files (the default trending page, the Hugging Face daily
papers sample, 200 arXiv snapshot records) in a temporary folder, serves the site on a free
port of 127.0.0.1 (the real server, as ``python -m bot web`` runs it) and has Chromium save
the home, search and paper pages, wide and phone-sized.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

from bench.corpus import OUT, ROOT
from bot.config import Settings
from bot.search import SearchEngine
from bot.store import Store
from bot.store.loader import load_file
from bot.trending import Trending
from bot.web import WebContext, start_site

FIXTURES = ROOT / "tests" / "fixtures"
DOCS = ROOT / "docs"
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--hide-scrollbars",
    "--disable-dev-shm-usage",
)
SHOTS = (
    ("web-home.png", "/", "1280,1100"),
    ("web-search.png", "/search?q=video+diffusion", "1280,1100"),
    ("web-paper.png", "/papers/0704.0001", "1280,1100"),
    ("web-home-phone.png", "/", "390,844"),
    ("web-paper-phone.png", "/papers/0704.0001", "390,844"),
)


async def shoot(chromium: str, url: str, path: Path, window: str, profile: Path) -> None:
    proc = await asyncio.create_subprocess_exec(
        chromium,
        *FLAGS,
        f"--user-data-dir={profile}",
        f"--window-size={window}",
        f"--screenshot={path}",
        url,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(proc.communicate(), 120)
    if proc.returncode != 0:
        raise RuntimeError(f"chromium failed on {url}: {err.decode(errors='replace')[-500:]}")


async def shoot_all(chromium: str, out: Path) -> list[Path]:
    saved: list[Path] = []
    with tempfile.TemporaryDirectory() as tmp:
        store = await Store.open(Path(tmp) / "shots.db")
        engine = SearchEngine(store.db)
        try:
            for name in (
                "trending-may-28.txt",
                "daily_papers.sample.json",
                "arxiv-metadata-oai-snapshot.200.jsonl",
            ):
                await load_file(store, FIXTURES / name)
            settings = replace(Settings(), web_rate_requests=0)
            trends = Trending(store.signals, store.social, engine.candidates)
            ctx = WebContext(store, engine, trends, settings)
            site = await start_site(ctx, "127.0.0.1", 0)
            try:
                for n, (name, path, window) in enumerate(SHOTS):
                    target = out / name
                    url = f"http://127.0.0.1:{site.port}{path}"
                    await shoot(chromium, url, target, window, Path(tmp) / f"profile{n}")
                    saved.append(target)
                    print(f"{target.relative_to(ROOT)}  {window}  {path}")
            finally:
                await site.stop()
        finally:
            await engine.close()
            await store.close()
    return saved


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=OUT, help="folder for the PNGs")
    parser.add_argument("--no-docs", action="store_true", help="do not update docs/web-home.png")
    args = parser.parse_args(argv)
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise SystemExit("chromium is not installed: apt-get install chromium")
    args.out.mkdir(parents=True, exist_ok=True)
    saved = asyncio.run(shoot_all(chromium, args.out))
    missing = [p for p in saved if not p.is_file()]
    if missing:
        raise SystemExit(f"chromium saved no picture for {', '.join(map(str, missing))}")
    if not args.no_docs:
        DOCS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(args.out / "web-home.png", DOCS / "web-home.png")
        print(f"{(DOCS / 'web-home.png').relative_to(ROOT)}  (for the README)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
