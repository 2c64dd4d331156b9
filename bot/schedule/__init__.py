"""The daily trending post: due-time math (timecalc), the pick (picker), the loop (runner),
its watchdog (supervisor) and the pacing of requests (ratelimit). No discord import here: the Discord side is
``bot/cogs/daily.py``, injected into the runner as a Poster."""
