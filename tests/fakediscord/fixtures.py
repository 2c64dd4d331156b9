"""pytest fixtures for the fake Discord.

Registered for the whole suite by ``pytest_plugins`` in ``tests/conftest.py`` (pytest reads
``pytest_plugins`` only from the top-level conftest).

* ``fake_discord_options`` — kwargs for :class:`FakeDiscord`; override it in a module or
  class to configure the server (e.g. ``{"heartbeat_interval_ms": 200}``).
* ``fake_discord`` — a started :class:`FakeDiscord` with discord.py patched to use it.
* ``connect_client`` — ``await connect_client(bot)`` starts a client against the fake,
  waits until ready, and closes it at teardown (errors from the client are re-raised).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any, Protocol, TypeVar

import discord
import pytest

from .client import patch_discord, start_client, stop_client
from .server import FakeDiscord

__all__ = ["ConnectClient", "connect_client", "fake_discord", "fake_discord_options"]

ClientT = TypeVar("ClientT", bound=discord.Client)


class ConnectClient(Protocol):
    """Type of the ``connect_client`` fixture (kwargs go to :func:`start_client`)."""

    async def __call__(self, client: ClientT, /, **kwargs: Any) -> ClientT: ...


@pytest.fixture
def fake_discord_options() -> dict[str, Any]:
    return {}


@pytest.fixture
async def fake_discord(fake_discord_options: dict[str, Any]) -> AsyncIterator[FakeDiscord]:
    server = FakeDiscord(**fake_discord_options)
    await server.start()
    try:
        with patch_discord(server):
            yield server
    finally:
        await server.stop()
    assert not server.internal_errors, f"fake Discord crashed: {server.internal_errors!r}"


@pytest.fixture
async def connect_client(fake_discord: FakeDiscord) -> AsyncIterator[ConnectClient]:
    started: list[tuple[discord.Client, asyncio.Task[None]]] = []

    async def connect(client: ClientT, /, **kwargs: Any) -> ClientT:
        task = await start_client(client, fake_discord, **kwargs)
        started.append((client, task))
        return client

    yield connect
    errors: list[BaseException] = []
    for client, task in reversed(started):
        try:
            await stop_client(client, task)
        except BaseException as exc:  # collect, then re-raise the first
            errors.append(exc)
    if errors:
        raise errors[0]
