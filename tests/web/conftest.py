"""The web side's store and running site, for every module here: the web sample store
(:func:`tests.web_support.make_web_store`) on a real SQLite file, served on a free port."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.store import Store
from tests.web_support import Site, make_context, make_web_store, serve


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    opened = await make_web_store(tmp_path)
    yield opened
    await opened.close()


@pytest.fixture
async def site(store: Store) -> AsyncIterator[Site]:
    async with serve(make_context(store)) as running:
        yield running
