"""Errors that carry a message for people, shared by the core and the Discord layer.

No discord.py here: the store raises :class:`PaperNotFound`, cogs raise their
:class:`UserFacingError` subclasses, and :mod:`bot.interactions` turns either into a short
private answer (the log keeps the traceback of anything else).
"""

from __future__ import annotations


class UserFacingError(Exception):
    """An error whose message is meant for the member who asked (said as it is, privately)."""


class PaperNotFound(UserFacingError, LookupError):
    """A paper named by id (a button's, a command's) is not in the store (any more)."""

    def __init__(self, paper_id: str) -> None:
        super().__init__("That paper is no longer in the store.")
        self.paper_id = paper_id
