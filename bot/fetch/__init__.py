"""Live sources: fresh papers from Hugging Face and arXiv, and keyword alerts about them.

No Discord here: the cogs (``bot/cogs/refresh.py``, ``bot/cogs/alerts.py``) run these
functions and hand alerts to a sender they implement.
"""

from bot.fetch.refresh import SOURCE_NAMES, RefreshReport, parse_since, run_refresh

__all__ = ["SOURCE_NAMES", "RefreshReport", "parse_since", "run_refresh"]
