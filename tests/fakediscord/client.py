"""Pointing discord.py at the fake, and running a client against it."""

# The wait helpers deliberately take `timeout=` (their documented API).
# ruff: noqa: ASYNC109

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, TypeVar

import discord
import discord.gateway
import discord.http
import yarl

if TYPE_CHECKING:
    from .server import FakeDiscord

ClientT = TypeVar("ClientT", bound=discord.Client)


@contextlib.contextmanager
def patch_discord(server: FakeDiscord) -> Iterator[None]:
    """Point ``discord.http.Route.BASE`` and ``DiscordWebSocket.DEFAULT_GATEWAY`` at ``server``.

    Both are class attributes read when a request/connection is made, so patch before the
    client logs in. The previous values are restored on exit (even on error).
    """
    route_cls = discord.http.Route
    ws_cls = discord.gateway.DiscordWebSocket
    old_base = route_cls.BASE
    old_gateway = ws_cls.DEFAULT_GATEWAY
    route_cls.BASE = server.api_url
    ws_cls.DEFAULT_GATEWAY = yarl.URL(server.gateway_url)
    try:
        yield
    finally:
        route_cls.BASE = old_base
        ws_cls.DEFAULT_GATEWAY = old_gateway


async def start_client(
    client: ClientT,
    server: FakeDiscord,
    *,
    token: str | None = None,
    wait_ready: bool = True,
    timeout: float = 10.0,
    guild_ready_timeout: float | None = 0.05,
) -> asyncio.Task[None]:
    """Run ``client.start(token)`` in a task and wait until it is ready.

    ``guild_ready_timeout`` overrides the client's wait after the last GUILD_CREATE
    (discord.py defaults to 2 s; the fake sends all guilds at once, so 0.05 s is plenty).
    Pass None to keep the client's own value. Raises whatever the client raised if it
    dies before becoming ready.
    """
    if guild_ready_timeout is not None:
        client._connection.guild_ready_timeout = guild_ready_timeout
    task = asyncio.create_task(client.start(token or server.token), name="fakediscord-client")
    if not wait_ready:
        return task
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not client.is_ready():
        if task.done():
            task.result()  # re-raise the client's error
            raise RuntimeError("client.start() returned before the client became ready")
        if loop.time() > deadline:
            await stop_client(client, task)
            raise TimeoutError(f"client not ready after {timeout}s")
        await asyncio.sleep(0.005)
    return task


async def stop_client(
    client: discord.Client,
    task: asyncio.Task[None],
    timeout: float = 5.0,
) -> None:
    """``client.close()`` then wait for the start task; re-raises its exception, if any."""
    await client.close()
    done, _ = await asyncio.wait({task}, timeout=timeout)
    if not done:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        raise TimeoutError("client task did not finish after close()")
    exc = task.exception()
    if exc is not None:
        raise exc


@contextlib.asynccontextmanager
async def running_client(
    client: ClientT,
    server: FakeDiscord,
    *,
    token: str | None = None,
    wait_ready: bool = True,
    timeout: float = 10.0,
    guild_ready_timeout: float | None = 0.05,
) -> AsyncIterator[ClientT]:
    """``async with running_client(bot, server) as bot:`` — started, ready, closed on exit."""
    task = await start_client(
        client,
        server,
        token=token,
        wait_ready=wait_ready,
        timeout=timeout,
        guild_ready_timeout=guild_ready_timeout,
    )
    try:
        yield client
    finally:
        await stop_client(client, task)
