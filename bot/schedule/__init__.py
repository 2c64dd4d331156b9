"""The daily trending post: due-time math (timecalc), the pick (picker), the loop (runner),
arming, resuming and turning off a schedule (service), its watchdog (supervisor) and the
pacing of requests (ratelimit). No discord import here: the Discord side is the package
``bot/cogs/daily/``, which calls the service and is injected into the runner as a Poster."""
