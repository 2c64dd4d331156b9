"""Run the real command line, ``python -m bot ...``, against a local fake Discord.

For tests and benchmarks that need whole bot processes (several shard processes on one
database): discord.py is pointed at the fake exactly as ``patch_discord`` does in-process,
then :func:`bot.__main__.main` runs unchanged (settings from the environment, data import,
signals, clean shutdown on SIGTERM)::

    python -m tests.run_on_fake http://127.0.0.1:PORT/api/v10 ws://127.0.0.1:PORT/gateway run

Not part of the bot: nothing under ``bot/`` knows about it.
"""

from __future__ import annotations

import sys

import discord.gateway
import discord.http
import yarl


def main(argv: list[str]) -> int:
    if len(argv) < 3:
        print("usage: python -m tests.run_on_fake API_URL GATEWAY_URL COMMAND...", file=sys.stderr)
        return 2
    api_url, gateway_url, *command = argv
    discord.http.Route.BASE = api_url
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(gateway_url)
    from bot.__main__ import main as cli

    return cli(command)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
