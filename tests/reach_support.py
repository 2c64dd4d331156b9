"""Shared by the "Reach" end-to-end tests (user install, the "Find papers" action).

The fake Discord's world gets, besides the bot's server "Paper Club": "Other Club" (neither
the bot nor the app), "Bare Club" (the app is installed to the server, its bot user is not
a member), a DM and a group DM between users, and dave, who installed PaperBot to his
account. Answers are checked to have been accepted by the fake (Discord's limits) and to
mention nobody.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tests.fakediscord import FakeDiscord, RecordedRequest
from tests.fakediscord.world import FakeChannel, FakeGuild, FakeUser

CHANNEL_MESSAGE, DEFERRED = 4, 5
EPHEMERAL = 64


@dataclass
class Places:
    dave: FakeUser  # installed PaperBot to his account
    other: FakeGuild  # neither the bot nor the app
    bare: FakeGuild  # the app, without its bot user
    direct: FakeChannel  # a DM between dave and bob
    group: FakeChannel  # a group DM of dave, bob and alice


def add_places(fake: FakeDiscord) -> Places:
    world = fake.world
    dave = world.add_user("dave", global_name="Dave", app_installed=True)
    bob, alice = world.user("bob"), world.user("alice")
    other = world.add_guild("Other Club", owner=dave, members=[bob], channel="lounge")
    bare = world.add_guild(
        "Bare Club", owner=alice, members=[dave], channel="bare-general", app_installed=True
    )
    direct = world.add_private_channel(dave, bob)
    group = world.add_private_channel(dave, bob, alice, name="reading group")
    return Places(dave, other, bare, direct, group)


def quiet(req: RecordedRequest) -> dict[str, Any]:
    """The message of a callback or follow-up, checked: Discord took it (its limits are the
    fake's validation) and it mentions nobody."""
    assert req.status < 300, (req.status, req.response)
    body: dict[str, Any] = req.json.get("data", req.json) if "type" in req.json else req.json
    assert body.get("allowed_mentions") == {"parse": []}, body.get("allowed_mentions")
    return body


async def answer(pending: Any) -> tuple[dict[str, Any], bool]:
    """The answer's message (the follow-up after a deferral) and whether it is private."""
    callback = await pending.wait_callback()
    if callback.json["type"] == DEFERRED:
        private = bool((callback.json.get("data") or {}).get("flags", 0) & EPHEMERAL)
        return quiet(await pending.wait_followup()), private
    body = quiet(callback)
    return body, bool(body.get("flags", 0) & EPHEMERAL)


def message_of(pending: Any) -> dict[str, Any]:
    message: dict[str, Any] | None = pending.original_message
    assert message is not None
    return message
