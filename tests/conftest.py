"""Fixtures shared by the whole test suite.

pytest reads ``pytest_plugins`` only from this top-level conftest, so the fake Discord's
fixtures (``fake_discord``, ``fake_discord_options``, ``connect_client``) are registered
here once for every test module, and so are ``todays_sources`` (a local Hugging Face and
arXiv stand-in, :mod:`tests.fakesources`) and the ``open_store`` and ``start_bot`` factories
(:mod:`tests.stores`).
"""

pytest_plugins = ("tests.fakediscord.fixtures", "tests.fakesources", "tests.stores")
