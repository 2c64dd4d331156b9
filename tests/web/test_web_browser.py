"""A real browser opens the site: headless Chromium (Debian's package; .ci/run installs it)
loads the home, search and paper pages from a running site and dumps the DOM it built, and the
test reads the page's text from that DOM (and checks no injected element made it into it)."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest

from bot.store import Store
from tests.web_support import (
    HOSTILE,
    HOSTILE_TITLE,
    Site,
    parse_html,
)

CHROMIUM = next((p for p in (shutil.which(n) for n in ("chromium", "chromium-browser")) if p), None)
pytestmark = [
    pytest.mark.skipif(
        CHROMIUM is None,
        reason="headless Chromium is not installed (apt-get install chromium; .ci/run does)",
    ),
    pytest.mark.timeout(120),
]

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
)


async def dump_dom(url: str, profile: Path, *, window: str = "1280,900") -> str:
    """The DOM Chromium built for *url*, serialised (after parsing, styles, any script)."""
    assert CHROMIUM is not None
    proc = await asyncio.create_subprocess_exec(
        CHROMIUM,
        *FLAGS,
        f"--user-data-dir={profile}",
        f"--window-size={window}",
        "--dump-dom",
        url,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), 60)
    except TimeoutError:
        proc.kill()
        await proc.communicate()
        raise
    assert proc.returncode == 0, err.decode(errors="replace")[-2000:]
    return out.decode()


async def test_chromium_shows_the_home_search_and_paper_pages(
    site: Site, store: Store, tmp_path: Path
) -> None:
    top = await store.papers.top_by_source_rank(1)

    home = parse_html(await dump_dom(str(site.url("/")), tmp_path / "profile"))
    text = home.all_text
    assert "266 papers in the store" in text and "Trending today" in text
    assert top[0].title in text

    search = parse_html(
        await dump_dom(str(site.url("/search?q=diffusion&page=2")), tmp_path / "p2")
    )
    expected = await site.ctx.search.search("diffusion", limit=10, offset=10)
    assert f"Results 11–20 of {expected.total}" in search.all_text
    titles = [
        t for t in search.text if t.strip() and t.strip() in {h.paper.title for h in expected.hits}
    ]
    assert [t.strip() for t in titles] == [h.paper.title for h in expected.hits]

    paper = parse_html(
        await dump_dom(str(site.url("/papers/0704.0001")), tmp_path / "p3", window="390,844")
    )
    text = paper.all_text
    assert "Calculation of prompt diphoton production cross sections" in text
    assert "Cite Balázs, C., Berger, E. L., Nadolsky, P. M., & Yuan, C.-P. (2007)." in text
    assert "@article{balazs2007calculation," in text
    assert "Related papers" in text


async def test_chromium_builds_no_element_from_hostile_text(site: Site, tmp_path: Path) -> None:
    for n, path in enumerate(
        (
            f"/papers/{HOSTILE['id']}",
            "/search?q=zebrafish",
            "/search?q=%22%3E%3Cscript%3Ex%3C/script%3E",
        )
    ):
        dom = parse_html(await dump_dom(str(site.url(path)), tmp_path / f"profile{n}"))
        tags = {tag for tag, _ in dom.tags}
        assert not tags & {"script", "img", "svg", "iframe"}, (path, tags)
        assert not any(name.startswith("on") for _, attrs in dom.tags for name in attrs)
    dom = parse_html(await dump_dom(str(site.url(f"/papers/{HOSTILE['id']}")), tmp_path / "last"))
    assert HOSTILE_TITLE in dom.all_text  # shown as the text it is
