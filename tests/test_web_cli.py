"""``python -m bot run`` serves the web site beside the bot; ``python -m bot web`` serves it
alone. Both as a person starts them (the real CLI), on free ports of 127.0.0.1."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.test_cli import FIXTURES, ROOT, TOKEN

WEB_LINE = re.compile(r"web site on http://127\.0\.0\.1:(\d+)/")


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


async def aget(url: str) -> tuple[int, str]:
    return await asyncio.to_thread(get, url)


def empty_env(folder: Path) -> Path:
    """An empty settings file: only the environment counts (a named file must exist)."""
    path = folder / "empty.env"
    path.touch()
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_run_serves_the_site_and_healthz_follows_the_gateway(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import bot.__main__ as cli
    from tests.fakediscord import FakeDiscord
    from tests.fakediscord.client import patch_discord

    data = tmp_path / "data"
    data.mkdir()
    (data / "trending.txt").write_bytes((FIXTURES / "trending-may-28.txt").read_bytes())
    monkeypatch.setenv("DISCORD_TOKEN", TOKEN)
    monkeypatch.setenv("PAPERBOT_DATABASE", str(tmp_path / "pb.db"))
    monkeypatch.setenv("PAPERBOT_DATA_DIR", str(data))
    monkeypatch.setenv("PAPERBOT_REFRESH", "false")
    monkeypatch.setenv("PAPERBOT_WEB_PORT", "0")
    monkeypatch.setattr(cli, "setup_logging", lambda level: None)
    caplog.set_level("INFO", logger="bot.web.server")
    args = cli.build_parser().parse_args(["--env-file", str(empty_env(tmp_path)), "run"])
    async with FakeDiscord(token=TOKEN) as fake:
        with patch_discord(fake):
            running = asyncio.create_task(cli.cmd_run(args, cli._settings(args)))
            try:
                await fake.gateway.wait_for(event="GUILD_CREATE", timeout=20)
                ports = {m.group(1) for m in map(WEB_LINE.search, caplog.messages) if m}
                assert len(ports) == 1, caplog.messages
                port = ports.pop()
                base = f"http://127.0.0.1:{port}"
                deadline = time.monotonic() + 15
                while (health := await aget(f"{base}/healthz"))[0] != 200:
                    assert time.monotonic() < deadline, health
                    await asyncio.sleep(0.1)
                assert '"gateway":"connected"' in health[1]
                status, body = await aget(f"{base}/search?q=ROICtrl")
                assert status == 200 and "ROICtrl: Boosting Instance Control" in body
                os.kill(os.getpid(), signal.SIGTERM)
                assert await asyncio.wait_for(running, 10) == cli.EXIT_OK
            finally:
                if not running.done():  # a failed check: stop the bot, or the test hangs
                    os.kill(os.getpid(), signal.SIGTERM)
                    await asyncio.wait({running}, timeout=10)
    with pytest.raises(OSError):  # the site stopped with the bot
        socket.create_connection(("127.0.0.1", int(port)), timeout=1).close()


async def test_run_stops_before_connecting_when_the_port_is_taken(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import bot.__main__ as cli

    (tmp_path / "data").mkdir()
    monkeypatch.setenv("DISCORD_TOKEN", TOKEN)
    monkeypatch.setenv("PAPERBOT_DATABASE", str(tmp_path / "pb.db"))
    monkeypatch.setenv("PAPERBOT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("PAPERBOT_REFRESH", "false")
    monkeypatch.setattr(cli, "setup_logging", lambda level: None)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        monkeypatch.setenv("PAPERBOT_WEB_PORT", str(port))
        args = cli.build_parser().parse_args(["--env-file", str(empty_env(tmp_path)), "run"])
        with pytest.raises(cli.CliError) as info:
            await cli.cmd_run(args, cli._settings(args))
    message = str(info.value)
    assert message.startswith(f"cannot serve the web site on 127.0.0.1:{port}")
    assert "PAPERBOT_WEB_PORT" in message and "PAPERBOT_WEB=off" in message


def _web_process(tmp_path: Path, port: int, **env: str) -> subprocess.Popen[str]:
    data = tmp_path / "data"
    data.mkdir(exist_ok=True)
    (data / "trending.txt").write_bytes((FIXTURES / "trending-may-28.txt").read_bytes())
    full_env: dict[str, Any] = {
        k: v for k, v in os.environ.items() if not k.startswith(("PAPERBOT_", "DISCORD_"))
    }
    full_env.update(
        {
            "PAPERBOT_DATABASE": str(tmp_path / "db" / "pb.db"),
            "PAPERBOT_DATA_DIR": str(data),
            **env,
        }
    )
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bot",
            "--env-file",
            str(empty_env(tmp_path)),
            "web",
            "--port",
            str(port),
        ],
        cwd=ROOT,
        env=full_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_web_alone_serves_the_store_without_a_token_and_stops_on_sigterm(tmp_path: Path) -> None:
    load = subprocess.run(
        [
            sys.executable,
            "-m",
            "bot",
            "--env-file",
            str(empty_env(tmp_path)),
            "load",
            str(FIXTURES / "trending-may-28.txt"),
        ],
        cwd=ROOT,
        env={
            **{k: v for k, v in os.environ.items() if not k.startswith(("PAPERBOT_", "DISCORD_"))},
            "PAPERBOT_DATABASE": str(tmp_path / "db" / "pb.db"),
            "PAPERBOT_DATA_DIR": str(FIXTURES),
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "trending-may-28.txt (hf-page): 64 new" in load.stdout, load.stderr
    port = free_port()
    proc = _web_process(tmp_path, port)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                status, body = get(f"http://127.0.0.1:{port}/healthz")
                break
            except OSError:
                assert proc.poll() is None, proc.communicate()
                assert time.monotonic() < deadline
                time.sleep(0.1)
        assert status == 200 and '"gateway":"not running"' in body
        status, body = get(f"http://127.0.0.1:{port}/api/trending?limit=1")
        assert status == 200 and "ROICtrl" in body
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=15)
        assert proc.returncode == 0, err
        assert "Traceback" not in err and "web site on http://127.0.0.1:" in err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def test_web_alone_with_bad_settings_says_what_to_fix(tmp_path: Path) -> None:
    proc = _web_process(tmp_path, free_port(), PAPERBOT_WEB_RATE_LIMIT="lots")
    _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 2 and "Traceback" not in err
    assert "PAPERBOT_WEB_RATE_LIMIT must look like 60/60 (requests/seconds) or off" in err
