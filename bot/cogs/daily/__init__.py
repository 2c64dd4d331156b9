"""/daily as an extension: the commands (:mod:`._cog`), the Discord poster (:mod:`._poster`)
and the option readers (:mod:`._transformers`). The schedule logic lives in
:mod:`bot.schedule` (no discord there)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.cogs.daily._cog import DailyCog
from bot.cogs.daily._poster import DiscordPoster, missing_permissions, shared_limiter

if TYPE_CHECKING:
    from bot.app import PaperBot

__all__ = ["DailyCog", "DiscordPoster", "missing_permissions", "setup", "shared_limiter"]


async def setup(bot: PaperBot) -> None:
    await bot.add_cog(DailyCog(bot, clock=bot.clock))
