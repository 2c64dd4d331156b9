"""The Dockerfile, docker-compose.yml and the systemd unit refer to things that exist.

No Docker engine or systemd runs here, so these read the files and check them against the
repository and the CLI parser: paths copied exist, the command run is a real subcommand, the
database path is on the volume, nothing runs as root, secrets stay out of the image.
"""

from __future__ import annotations

import configparser
import importlib.util
import json
import re
import shlex
from pathlib import Path, PurePosixPath

import pytest

from bot.__main__ import build_parser

ROOT = Path(__file__).resolve().parent.parent


def dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = (ROOT / "Dockerfile").read_text()
    text = re.sub(r"\\\n", " ", text)
    out = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        op, _, rest = line.partition(" ")
        out.append((op.upper(), rest.strip()))
    return out


def instructions(op: str) -> list[str]:
    return [rest for o, rest in dockerfile() if o == op]


def exec_form(value: str) -> list[str]:
    parsed = json.loads(value)
    assert isinstance(parsed, list), f"{value!r} should be the exec (JSON array) form"
    return [str(x) for x in parsed]


def docker_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for rest in instructions("ENV"):
        for part in shlex.split(rest):
            key, sep, value = part.partition("=")
            assert sep, f"ENV {part!r} should use KEY=value"
            env[key] = value
    return env


def test_base_image_is_python_311_slim() -> None:
    assert instructions("FROM") == ["python:3.11-slim"]


def test_copied_paths_exist_in_the_repository() -> None:
    copies = instructions("COPY")
    assert copies
    for rest in copies:
        parts = shlex.split(rest)
        assert not any(p.startswith("--from") for p in parts)
        for src in parts[:-1]:
            assert (ROOT / src).exists(), f"COPY {src}: no such path in the repository"
    copied = {src for rest in copies for src in shlex.split(rest)[:-1]}
    # What `pip install .` needs, and the package itself.
    assert {"pyproject.toml", "README.md", "bot"} <= copied


def test_entrypoint_and_cmd_run_a_real_cli_subcommand() -> None:
    (entry,) = instructions("ENTRYPOINT")
    (cmd,) = instructions("CMD")
    argv = exec_form(entry) + exec_form(cmd)
    assert argv[:3] == ["python", "-m", "bot"]
    assert importlib.util.find_spec("bot.__main__") is not None
    args = build_parser().parse_args(argv[3:])
    assert args.command == "run"
    # The other documented one-off commands parse too.
    assert build_parser().parse_args(["doctor"]).command == "doctor"
    assert build_parser().parse_args(["backup", "/data/backups/"]).command == "backup"


def test_database_default_is_on_the_volume_and_owned_by_the_app_user() -> None:
    env = docker_env()
    db = PurePosixPath(env["PAPERBOT_DATABASE"])
    (volume,) = instructions("VOLUME")
    volumes = [PurePosixPath(v) for v in exec_form(volume)]
    assert any(db.is_relative_to(v) for v in volumes), (db, volumes)
    run = " ".join(instructions("RUN"))
    (user,) = instructions("USER")
    assert user not in ("root", "0")
    assert re.search(rf"useradd\b[^&]*\b{user}\b", run), "the USER must be created"
    assert f"chown {user}:{user} {volumes[0]}" in run, "the volume must be writable by USER"


def test_data_dir_in_the_image_is_the_copied_data_folder() -> None:
    env = docker_env()
    (workdir,) = instructions("WORKDIR")
    data_copy = [shlex.split(r) for r in instructions("COPY") if shlex.split(r)[0] == "data"]
    assert data_copy, "the sample data folder is shipped"
    target = PurePosixPath(workdir) / data_copy[0][-1]
    assert PurePosixPath(env["PAPERBOT_DATA_DIR"]) == target


def test_dockerignore_keeps_secrets_and_local_state_out() -> None:
    ignored = (ROOT / ".dockerignore").read_text().split()
    for entry in (".env", ".venv", ".git", "var/", "*.db"):
        assert entry in ignored
    # ...but never what the Dockerfile copies.
    for rest in instructions("COPY"):
        for src in shlex.split(rest)[:-1]:
            assert src not in ignored


def test_compose_uses_env_file_and_the_image_volume() -> None:
    text = (ROOT / "docker-compose.yml").read_text()
    assert re.search(r"^\s+build:\s*\.\s*$", text, re.M)
    assert re.search(r"^\s+env_file:\s*\.env\s*$", text, re.M)
    (volume,) = instructions("VOLUME")
    data_volume = exec_form(volume)[0]
    mounts = re.findall(r"^\s+-\s+([\w.-]+):(/\S+)\s*$", text, re.M)
    assert (
        "paperbot-data",
        data_volume,
    ) in mounts, f"the named volume must be mounted at {data_volume}"
    assert re.search(r"^volumes:\s*\n\s+paperbot-data:", text, re.M)
    db = re.search(r"PAPERBOT_DATABASE:\s*(\S+)", text)
    assert db and PurePosixPath(db.group(1)).is_relative_to(data_volume)
    assert db.group(1) == docker_env()["PAPERBOT_DATABASE"]
    assert re.search(r"^\s+restart:\s*unless-stopped\s*$", text, re.M)


@pytest.fixture
def unit() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string((ROOT / "deploy" / "paperbot.service").read_text())
    return parser


def test_systemd_unit_runs_the_bot_as_a_non_root_user(unit: configparser.ConfigParser) -> None:
    service = unit["Service"]
    assert service["User"] not in ("root", "0")
    assert service["Restart"] == "on-failure"
    assert service["EnvironmentFile"].endswith("/.env")
    argv = shlex.split(service["ExecStart"])
    assert argv[0].endswith("/python") and argv[1:3] == ["-m", "bot"]
    assert build_parser().parse_args(argv[3:]).command == "run"
    # Working directory and interpreter belong to the same checkout.
    assert argv[0].startswith(service["WorkingDirectory"] + "/")
    assert unit["Install"]["WantedBy"] == "multi-user.target"


def test_systemd_database_is_in_the_state_directory(unit: configparser.ConfigParser) -> None:
    service = unit["Service"]
    env_lines = unit.get("Service", "Environment", raw=True)
    # configparser keeps the last Environment= line only when repeated; read them all.
    text = (ROOT / "deploy" / "paperbot.service").read_text()
    envs = dict(m.group(1, 2) for m in re.finditer(r"^Environment=(\w+)=(\S+)$", text, re.M))
    assert env_lines
    db = PurePosixPath(envs["PAPERBOT_DATABASE"])
    assert db.parent == PurePosixPath("/var/lib") / service["StateDirectory"]
    # Exit code 2 (bad settings) is not retried forever.
    from bot.__main__ import EXIT_USAGE

    assert service["RestartPreventExitStatus"] == str(EXIT_USAGE)


def _compose_healthcheck() -> list[str]:
    text = (ROOT / "docker-compose.yml").read_text()
    m = re.search(r"^\s+healthcheck:\s*\n\s+(?:#.*\n\s+)*test:\s*(\[.*\])\s*$", text, re.M)
    assert m, "docker-compose.yml needs a healthcheck with an exec-form test"
    return exec_form(m.group(1))


def test_compose_publishes_the_web_site_on_the_hosts_loopback_only() -> None:
    text = (ROOT / "docker-compose.yml").read_text()
    env = dict(re.findall(r"^\s+(PAPERBOT_WEB\w*):\s*\"?([^\"\s]+)\"?\s*$", text, re.M))
    assert env["PAPERBOT_WEB"] == "true"
    assert env["PAPERBOT_WEB_HOST"] == "0.0.0.0"  # inside the container: reachable by Docker
    port = env["PAPERBOT_WEB_PORT"]
    published = re.findall(r"^\s+-\s+\"?([\d.:]+)\"?\s*$", text, re.M)
    assert published == [f"127.0.0.1:{port}:{port}"], published  # on the host: loopback only
    assert instructions("EXPOSE") == [port]
    assert docker_env()["PAPERBOT_WEB_HOST"] == "0.0.0.0"
    assert docker_env()["PAPERBOT_WEB_PORT"] == port


def test_compose_healthcheck_asks_healthz_with_python_alone() -> None:
    argv = _compose_healthcheck()
    assert argv[:3] == ["CMD", "python", "-c"], "no curl in the slim image: use python"
    code = argv[3]
    assert "urllib.request" in code and "/healthz" in code and "curl" not in code
    text = (ROOT / "docker-compose.yml").read_text()
    port = re.search(r"PAPERBOT_WEB_PORT:\s*\"?(\d+)", text)
    assert port and f"http://127.0.0.1:{port.group(1)}/healthz" in code


@pytest.mark.parametrize("healthy", [True, False])
async def test_the_healthcheck_command_passes_and_fails_with_healthz(
    tmp_path: Path, healthy: bool
) -> None:
    """Run the compose health check's own Python against a real site: exit 0 when /healthz
    says ok, non-zero when it answers 503 (the gateway is down)."""
    import asyncio
    import sys

    from tests.web_support import make_context, make_web_store, serve

    code = _compose_healthcheck()[3]
    store = await make_web_store(tmp_path)
    try:
        async with serve(make_context(store, gateway=lambda: healthy)) as site:
            port = site.server.port
            local = code.replace("127.0.0.1:8080", f"127.0.0.1:{port}")
            assert local != code
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-c", local, stderr=asyncio.subprocess.PIPE
            )
            _, err = await asyncio.wait_for(proc.communicate(), 30)
    finally:
        await store.close()
    assert (proc.returncode == 0) is healthy, err.decode()
    if not healthy:
        assert b"503" in err
