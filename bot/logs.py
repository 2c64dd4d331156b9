"""Logging set-up for the bot and the CLI: one format, quiet libraries, no secrets."""

from __future__ import annotations

import logging
import sys

_SECRETS: set[str] = set()


class RedactingFormatter(logging.Formatter):
    """Replace any registered secret (the bot token) in the final text of a log line,
    tracebacks and exception messages included."""

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        for secret in _SECRETS:
            text = text.replace(secret, "[token redacted]")
        return text


class DropVoiceWarnings(logging.Filter):
    """discord.py warns at start-up that voice libraries are missing; PaperBot has no voice."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (
            record.name == "discord.client"
            and record.getMessage().endswith("voice will NOT be supported")
        )


def register_secret(value: str) -> None:
    if len(value) >= 8:
        _SECRETS.add(value)


def setup_logging(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        RedactingFormatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%Y-%m-%d %H:%M:%S")
    )
    handler.addFilter(DropVoiceWarnings())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # discord.http logs every request at DEBUG and rate limits at WARNING; keep INFO readable.
    logging.getLogger("discord.http").setLevel(max(logging.INFO, logging.getLevelName(level)))
    logging.getLogger("discord.gateway").setLevel(max(logging.INFO, logging.getLevelName(level)))
