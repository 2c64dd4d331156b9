"""The daily trending post: due-time math (timecalc), the pick (picker), the loop (runner, on
the exactly-once runner of leased runs it shares with the For you digest: leased), arming,
resuming and turning off a schedule (service), its watchdog (supervisor) and the pacing of
requests (ratelimit). No discord import here: the Discord side is the package
``bot/cogs/daily/``, which calls the service and is injected into the runner as a Poster."""
