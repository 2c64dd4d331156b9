"""Fixtures shared by the whole test suite.

pytest reads ``pytest_plugins`` only from this top-level conftest, so the fake Discord's
fixtures (``fake_discord``, ``fake_discord_options``, ``connect_client``) are registered
here once for every test module.
"""

pytest_plugins = ("tests.fakediscord.fixtures",)
