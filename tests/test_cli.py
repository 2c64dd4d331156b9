"""The command line, run as a person would: ``python -m bot ...`` in a subprocess."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"
ROOT = Path(__file__).resolve().parent.parent
TOKEN = "MTIzNDU2Nzg5MDEyMzQ1Njc4OQ.GAbCdE.abcdefghijklmnopqrstuvwxyz012345678"


def run(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("PAPERBOT_", "DISCORD_"))}
    full_env.update(
        {
            "PAPERBOT_DATABASE": str(tmp_path / "db" / "paperbot.db"),
            "PAPERBOT_DATA_DIR": str(tmp_path / "data"),
            "PAPERBOT_REFRESH": "false",
        }
    )
    full_env.update(env)
    (tmp_path / "empty.env").touch()  # no settings file: only the environment above
    return subprocess.run(
        [sys.executable, "-m", "bot", "--env-file", str(tmp_path / "empty.env"), *args],
        cwd=ROOT,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    data.mkdir()
    (data / "trending.txt").write_bytes((FIXTURES / "trending-may-28.txt").read_bytes())
    return data


def test_load_search_and_stats(tmp_path: Path, data_dir: Path) -> None:
    first = run(tmp_path, "load")
    assert first.returncode == 0, first.stderr
    assert "trending.txt (hf-page): 64 new, 0 updated, 0 unchanged, 0 rejected" in first.stdout
    assert "the store now holds 64 papers" in first.stdout

    again = run(tmp_path, "load")
    assert "unchanged since the last import, skipped" in again.stdout

    snapshot = tmp_path / "snap.jsonl.gz"
    snapshot.write_bytes(
        gzip.compress((FIXTURES / "arxiv-metadata-oai-snapshot.200.jsonl").read_bytes())
    )
    loaded = run(tmp_path, "load", str(snapshot))
    assert loaded.returncode == 0, loaded.stderr
    assert "(arxiv-snapshot): 200 new" in loaded.stdout

    found = run(tmp_path, "search", "diphoton", "production", "--json")
    assert found.returncode == 0, found.stderr
    results = json.loads(found.stdout)
    assert results[0]["id"] == "0704.0001"
    assert {"id", "title", "score"} <= set(results[0])

    text = run(tmp_path, "search", "ROICtrl", "--limit", "1")
    assert text.stdout.startswith("1. ROICtrl: Boosting Instance Control for Visual Generation")

    stats = run(tmp_path, "stats", "--json")
    data = json.loads(stats.stdout)
    assert data["total"] == 264
    assert data["by_source"] == {"hf-page": 64, "arxiv-snapshot": 200}


def test_bad_input_gives_one_clear_line_and_a_nonzero_exit(tmp_path: Path, data_dir: Path) -> None:
    garbage = tmp_path / "garbage.bin"
    garbage.write_bytes(bytes(range(256)) * 10)
    result = run(tmp_path, "load", str(garbage))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "garbage.bin" in result.stderr and "hf-page" in result.stderr  # names known formats

    missing = run(tmp_path, "load", str(tmp_path / "nope.json"))
    assert missing.returncode == 1 and "no such file" in missing.stderr

    bad_limit = run(tmp_path, "search", "x", "--limit", "0")
    assert bad_limit.returncode == 2 and "--limit" in bad_limit.stderr

    no_data = run(tmp_path, "stats", PAPERBOT_DATA_DIR=str(tmp_path / "absent"))
    assert no_data.returncode == 1
    assert no_data.stderr.strip().count("\n") == 0 and "PAPERBOT_DATA_DIR" in no_data.stderr


def test_hostile_search_is_safe(tmp_path: Path, data_dir: Path) -> None:
    assert run(tmp_path, "load").returncode == 0
    for query in ['"', "NEAR(", "a*b -c:d", "AND OR NOT", "x" * 10_000]:
        result = run(tmp_path, "search", query, "--json")
        assert result.returncode == 0, (query, result.stderr)
        assert isinstance(json.loads(result.stdout), list)


def test_run_without_a_token_says_what_to_do(tmp_path: Path, data_dir: Path) -> None:
    result = run(tmp_path, "run")
    assert result.returncode == 2
    assert "DISCORD_TOKEN is not set" in result.stderr and "Traceback" not in result.stderr
    bad = run(tmp_path, "run", DISCORD_TOKEN="Bot " + TOKEN)
    assert bad.returncode == 2 and TOKEN not in bad.stderr + bad.stdout


def test_run_with_an_unwritable_database_stops_before_connecting(
    tmp_path: Path, data_dir: Path
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    result = run(tmp_path, "run", DISCORD_TOKEN=TOKEN, PAPERBOT_DATABASE=str(blocker / "x.db"))
    assert result.returncode == 1
    assert "PAPERBOT_DATABASE" in result.stderr and TOKEN not in result.stderr


def test_sync_dry_run_prints_the_command_payload(tmp_path: Path, data_dir: Path) -> None:
    result = run(tmp_path, "sync", "--dry-run")
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    names = {cmd["name"] for cmd in payload}
    assert {"search", "paper", "trending", "random", "about", "saved", "daily", "alerts"} <= names
    assert all(len(cmd["description"]) <= 100 for cmd in payload if cmd.get("type", 1) == 1)
    assert "Find papers" in names  # the message action (a context menu has no description)


def test_help_lists_the_subcommands(tmp_path: Path) -> None:
    result = run(tmp_path, "--help")
    assert result.returncode == 0
    for name in ("run", "load", "search", "stats", "sync", "fetch", "doctor", "backup"):
        assert name in result.stdout


async def _run_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, token: str) -> str:
    """``python -m bot run`` in-process (so discord.py can be pointed at a local server)."""
    import bot.__main__ as cli

    (tmp_path / "data").mkdir(exist_ok=True)
    monkeypatch.setenv("DISCORD_TOKEN", token)
    monkeypatch.setenv("PAPERBOT_DATABASE", str(tmp_path / "pb.db"))
    monkeypatch.setenv("PAPERBOT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("PAPERBOT_REFRESH", "false")
    monkeypatch.setenv("PAPERBOT_WEB_PORT", "0")  # the web site on a free port
    monkeypatch.setattr(cli, "setup_logging", lambda level: None)
    (tmp_path / "empty.env").touch()
    args = cli.build_parser().parse_args(["--env-file", str(tmp_path / "empty.env"), "run"])
    with pytest.raises(cli.CliError) as info:
        await cli.cmd_run(args, cli._settings(args))
    return str(info.value)


async def test_run_with_a_rejected_token_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.fakediscord import FakeDiscord
    from tests.fakediscord.client import patch_discord

    other = TOKEN.replace("abcdef", "zyxwvu")
    async with FakeDiscord(token=TOKEN) as fake:
        with patch_discord(fake):
            message = await _run_command(tmp_path, monkeypatch, other)
    assert "Discord rejected DISCORD_TOKEN" in message and other not in message


async def test_run_without_network_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import discord

    monkeypatch.setattr(discord.http.Route, "BASE", "http://127.0.0.1:9/api/v10")
    message = await _run_command(tmp_path, monkeypatch, TOKEN)
    assert message.startswith("cannot reach Discord") and TOKEN not in message


async def test_run_imports_data_connects_and_stops_cleanly_on_sigterm(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncio
    import re
    import signal

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
    monkeypatch.setenv("PAPERBOT_WEB_PORT", "0")  # the web site on a free port
    monkeypatch.setattr(cli, "setup_logging", lambda level: None)
    (tmp_path / "empty.env").touch()
    args = cli.build_parser().parse_args(["--env-file", str(tmp_path / "empty.env"), "run"])
    async with FakeDiscord(token=TOKEN) as fake:
        with patch_discord(fake):
            running = asyncio.create_task(cli.cmd_run(args, cli._settings(args)))
            await fake.wait_for_request(
                "PUT", re.compile(r"/applications/\d+/commands"), timeout=20
            )
            await fake.gateway.wait_for(event="GUILD_CREATE", timeout=10)
            os.kill(os.getpid(), signal.SIGTERM)
            assert await asyncio.wait_for(running, 10) == cli.EXIT_OK
    # The data folder was imported before connecting, and the database was closed cleanly
    # (no WAL left behind means the last connection checkpointed and closed).
    assert not (tmp_path / "pb.db-wal").exists()
    import sqlite3

    with sqlite3.connect(tmp_path / "pb.db") as conn:
        assert conn.execute("SELECT count(*) FROM papers").fetchone()[0] == 64


def _write_the_issues_bad_files(data: Path) -> None:
    """The three files of issue 9 that stopped the bot from starting."""
    (data / "nbsp.txt").write_bytes("\u00a0\u00a0\u00a0\n\u00a0".encode())
    (data / "upvotes.jsonl").write_text(
        '{"id": "2401.00001", "title": "Kept one"}\n'
        '{"id": "2401.00002", "title": "Kept two"}\n'
        '{"id": "2401.00003", "title": "Too many upvotes", "upvotes": 10000000000000000000}\n'
    )
    (data / "deep.jsonl").write_text(
        '{"id": "2401.00004", "title": "Kept three"}\n' + "[" * 100_000 + "]" * 100_000 + "\n"
    )


def test_load_survives_the_files_that_stopped_the_bot(tmp_path: Path, data_dir: Path) -> None:
    _write_the_issues_bad_files(data_dir)
    result = run(tmp_path, "load")
    assert "Traceback" not in result.stderr + result.stdout
    assert result.returncode == 1  # one file could not be imported at all
    out = result.stdout
    assert "trending.txt (hf-page): 64 new" in out
    assert "nbsp.txt: not imported:" in out and "empty file" in out
    assert "upvotes.jsonl (jsonl): 2 new, 0 updated, 0 unchanged, 1 rejected" in out
    assert (
        "upvotes.jsonl:3: 'upvotes' 10000000000000000000 is out of range (0 to 1,000,000,000)"
        in out
    )
    assert "deep.jsonl (jsonl): 1 new" in out
    assert "deep.jsonl:2: invalid JSON: nested too deeply" in out
    assert "the store now holds 67 papers" in out


def test_load_of_several_files_goes_on_after_an_unexpected_error(
    tmp_path: Path, data_dir: Path
) -> None:
    import sqlite3

    assert run(tmp_path, "load").returncode == 0
    with sqlite3.connect(tmp_path / "db" / "paperbot.db") as conn:
        conn.execute(
            "CREATE TRIGGER poison BEFORE INSERT ON papers WHEN NEW.title = 'Poison pill' "
            "BEGIN SELECT RAISE(ABORT, 'the disk is on fire'); END"
        )
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"title": "Fine"}\n{"title": "Poison pill"}\n')
    good = tmp_path / "good.jsonl"
    good.write_text('{"title": "After the poison"}\n')
    result = run(tmp_path, "load", str(bad), str(good))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error: ") and "bad.jsonl" in line and "the disk is on fire" in line
    assert "good.jsonl (jsonl): 1 new" in result.stdout
    assert "the store now holds 65 papers" in result.stdout


async def test_run_starts_despite_the_files_that_stopped_the_bot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncio
    import re
    import signal
    import sqlite3

    import bot.__main__ as cli
    from tests.fakediscord import FakeDiscord
    from tests.fakediscord.client import patch_discord

    data = tmp_path / "data"
    data.mkdir()
    (data / "trending.txt").write_bytes((FIXTURES / "trending-may-28.txt").read_bytes())
    _write_the_issues_bad_files(data)
    monkeypatch.setenv("DISCORD_TOKEN", TOKEN)
    monkeypatch.setenv("PAPERBOT_DATABASE", str(tmp_path / "pb.db"))
    monkeypatch.setenv("PAPERBOT_DATA_DIR", str(data))
    monkeypatch.setenv("PAPERBOT_REFRESH", "false")
    monkeypatch.setenv("PAPERBOT_WEB_PORT", "0")  # the web site on a free port
    monkeypatch.setattr(cli, "setup_logging", lambda level: None)
    (tmp_path / "empty.env").touch()
    args = cli.build_parser().parse_args(["--env-file", str(tmp_path / "empty.env"), "run"])
    async with FakeDiscord(token=TOKEN) as fake:
        with patch_discord(fake):
            running = asyncio.create_task(cli.cmd_run(args, cli._settings(args)))
            await fake.gateway.wait_for(event="GUILD_CREATE", timeout=20)
            os.kill(os.getpid(), signal.SIGTERM)
            assert await asyncio.wait_for(running, 10) == cli.EXIT_OK
    with sqlite3.connect(tmp_path / "pb.db") as conn:
        assert conn.execute("SELECT count(*) FROM papers").fetchone()[0] == 64 + 3
        files = dict(conn.execute("SELECT path, rejected FROM imported_files").fetchall())
    assert {Path(p).name: n for p, n in files.items()} == {
        "trending.txt": 0,
        "upvotes.jsonl": 1,
        "deep.jsonl": 1,
    }
    assert not re.search("nbsp", " ".join(files))  # not imported: retried on the next start


def test_doctor_warns_about_a_readable_env_file(tmp_path: Path, data_dir: Path) -> None:
    env = tmp_path / "bot.env"
    env.write_text(f"DISCORD_TOKEN={TOKEN}\n")
    env.chmod(0o644)
    result = subprocess.run(
        [sys.executable, "-m", "bot", "--env-file", str(env), "doctor"],
        cwd=ROOT,
        env={
            **{k: v for k, v in os.environ.items() if not k.startswith(("PAPERBOT_", "DISCORD_"))},
            "PAPERBOT_DATABASE": str(tmp_path / "db" / "paperbot.db"),
            "PAPERBOT_DATA_DIR": str(data_dir),
            "PAPERBOT_REFRESH_HF": "false",
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr  # a warning fails nothing
    (line,) = [x for x in result.stdout.splitlines() if x.startswith("[warn]")]
    assert str(env) in line and "0644" in line and line.endswith(f"-> chmod 600 {env}")
    assert TOKEN not in result.stdout


def test_an_env_file_that_does_not_exist_is_a_usage_error(tmp_path: Path, data_dir: Path) -> None:
    # Named on purpose: a typo must not run the bot on the environment alone.
    missing = tmp_path / "typo.env"
    result = subprocess.run(
        [sys.executable, "-m", "bot", "--env-file", str(missing), "stats"],
        cwd=ROOT,
        env={
            **{k: v for k, v in os.environ.items() if not k.startswith(("PAPERBOT_", "DISCORD_"))},
            "PAPERBOT_DATABASE": str(tmp_path / "db" / "paperbot.db"),
            "PAPERBOT_DATA_DIR": str(data_dir),
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2, result.stdout
    assert f"--env-file {missing}: no such file" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "db").exists()  # nothing was opened or made
