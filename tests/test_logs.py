import io
import logging

import pytest

from bot.logs import register_secret, setup_logging

TOKEN = "MTIzNDU2Nzg5MDEyMzQ1Njc4OQ.GAbCdE.abcdefghijklmnopqrstuvwxyz012345678"


@pytest.fixture
def stream(monkeypatch: pytest.MonkeyPatch) -> io.StringIO:
    out = io.StringIO()
    monkeypatch.setattr("sys.stderr", out)
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    setup_logging("INFO")
    yield out
    root.handlers[:], level = saved
    root.setLevel(level)


def test_the_token_is_redacted_from_any_log_line(stream: io.StringIO) -> None:
    register_secret(TOKEN)
    logging.getLogger("bot.test").warning("header was Authorization: Bot %s", TOKEN)
    logging.getLogger("discord.http").error("failed with %r", {"token": TOKEN})
    try:
        raise RuntimeError(f"login failed for {TOKEN}")
    except RuntimeError:
        logging.getLogger("bot.test").exception("with a traceback")
    text = stream.getvalue()
    assert TOKEN not in text
    assert text.count("[token redacted]") == 3  # message, dict, exception text in the traceback


def test_voice_library_warnings_are_dropped(stream: io.StringIO) -> None:
    logging.getLogger("discord.client").warning(
        "PyNaCl is not installed, voice will NOT be supported"
    )
    logging.getLogger("discord.client").warning("something else")
    text = stream.getvalue()
    assert "PyNaCl" not in text and "something else" in text
