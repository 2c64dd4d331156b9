"""Interaction responses: POST .../callback (validated per interaction type, 3 s ack
deadline, one ack), deferred "thinking" messages, follow-ups and the
``/webhooks/{app}/{token}/messages/@original|{id}`` routes.
"""

from __future__ import annotations

from typing import Any

from . import payloads
from .interactions import InteractionRecord
from .messages import CREATE_FLAGS, MessageStore
from .payloads import CallbackType, InteractionType, MessageFlag
from .rest import Ctx, DiscordError, Reply, invalid_form
from .validation import FieldError, autocomplete_errors
from .world import FakeChannel

JSON = dict[str, Any]

INTERACTION_TOKEN_TTL = 15 * 60.0
ALLOWED_CALLBACKS: dict[int, set[int]] = {
    InteractionType.PING: {CallbackType.PONG},
    InteractionType.APPLICATION_COMMAND: {4, 5, 9, 10, 12},
    InteractionType.MESSAGE_COMPONENT: {4, 5, 6, 7, 9, 10, 12},
    InteractionType.APPLICATION_COMMAND_AUTOCOMPLETE: {8},
    InteractionType.MODAL_SUBMIT: {4, 5, 6, 7, 10, 12},
}


class InteractionRoutes(MessageStore):
    """Interaction callback and webhook routes (a part of ``FakeDiscord``)."""

    interactions: dict[int, InteractionRecord]
    interaction_ack_deadline: float | None

    def _interaction_routes(self) -> None:
        r = self._route
        # interactions & follow-ups (no bot auth, not in the global limit)
        r(
            "POST",
            "/interactions/{interaction_id}/{interaction_token}/callback",
            self.h_interaction_callback,
            auth=False,
            global_exempt=True,
        )
        wh = "/webhooks/{webhook_id}/{webhook_token}"
        r("POST", wh, self.h_followup, auth=False, global_exempt=True)
        for verb, h in (
            ("GET", self.h_webhook_get_message),
            ("PATCH", self.h_webhook_edit_message),
            ("DELETE", self.h_webhook_delete_message),
        ):
            r(verb, wh + "/messages/{message_id}", h, auth=False, global_exempt=True)

    def _interaction_by_token(self, ctx: Ctx) -> InteractionRecord:
        if ctx.id("webhook_id") != self.world.application.id:
            raise DiscordError(404, 10015, "Unknown Webhook")
        token = ctx.params["webhook_token"]
        rec = next((r for r in self.interactions.values() if r.token == token), None)
        if rec is None:
            raise DiscordError(404, 10015, "Unknown Webhook")
        if self._now() - rec.created > INTERACTION_TOKEN_TTL:
            raise DiscordError(401, 50027, "Invalid Webhook Token")
        if not rec.responded:
            raise DiscordError(404, 10015, "Unknown Webhook")
        return rec

    def _interaction_channel(self, rec: InteractionRecord) -> FakeChannel:
        if rec.channel_id is None:
            raise DiscordError(404, 10003, "Unknown Channel")
        ch = self.world.find_channel(rec.channel_id)
        if ch is None:
            raise DiscordError(404, 10003, "Unknown Channel")
        return ch

    async def h_interaction_callback(self, ctx: Ctx) -> Reply:
        iid = ctx.id("interaction_id")
        rec = self.interactions.get(iid)
        if rec is None or rec.token != ctx.params["interaction_token"]:
            raise DiscordError(404, 10062, "Unknown interaction")
        if rec.responded:
            raise DiscordError(400, 40060, "Interaction has already been acknowledged.")
        deadline = self.interaction_ack_deadline
        if deadline is not None and self._now() - rec.created > deadline:
            raise DiscordError(404, 10062, "Unknown interaction")
        body = ctx.body
        cb_type = body.get("type")
        if not isinstance(cb_type, int) or cb_type not in ALLOWED_CALLBACKS.get(rec.type, set()):
            raise invalid_form(
                [
                    FieldError(
                        ("type",),
                        "INTERACTION_RESPONSE_TYPE_INVALID",
                        "Invalid interaction response type",
                    )
                ]
            )
        data = body.get("data") or {}
        files = ctx.req.files
        world = self.world
        message: JSON | None = None
        if cb_type == CallbackType.CHANNEL_MESSAGE_WITH_SOURCE:
            ch = self._interaction_channel(rec)
            flags = int(data.get("flags") or 0) & (CREATE_FLAGS | MessageFlag.EPHEMERAL)
            message = await self._create_message(
                ch, world.bot, data, files, check_permissions=False, interaction=rec, flags=flags
            )
            rec.original_message_id = int(message["id"])
        elif cb_type == CallbackType.DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE:
            ch = self._interaction_channel(rec)
            flags = MessageFlag.LOADING | (int(data.get("flags") or 0) & MessageFlag.EPHEMERAL)
            message = await self._create_loading_message(ch, rec, flags)
            rec.original_message_id = int(message["id"])
        elif cb_type in (CallbackType.DEFERRED_UPDATE_MESSAGE, CallbackType.UPDATE_MESSAGE):
            rec.original_message_id = rec.message_id
            message = None if rec.message_id is None else world.find_message(rec.message_id)
            if cb_type == CallbackType.UPDATE_MESSAGE and message is not None:
                ch = self._interaction_channel(rec)
                message = await self._edit_message(ch, message, data, files)
        elif cb_type == CallbackType.APPLICATION_COMMAND_AUTOCOMPLETE_RESULT:
            errors = autocomplete_errors(data)
            if errors:
                raise invalid_form(errors)
        elif cb_type == CallbackType.MODAL:
            missing = [k for k in ("custom_id", "title", "components") if not data.get(k)]
            if missing:
                raise invalid_form(
                    [
                        FieldError(("data", k), "BASE_TYPE_REQUIRED", "This field is required")
                        for k in missing
                    ]
                )
        rec.responded = True
        rec.response_type = cb_type
        if rec.original_message_id is not None:
            rec.message_ids.append(rec.original_message_id)
        if not ctx.flag("with_response"):
            return Reply(204)
        interaction: JSON = {"id": str(rec.id), "type": rec.type}
        resource: JSON = {"type": cb_type}
        if message is not None:
            interaction.update(
                response_message_id=message["id"],
                response_message_loading=bool(message["flags"] & MessageFlag.LOADING),
                response_message_ephemeral=bool(message["flags"] & MessageFlag.EPHEMERAL),
            )
            resource["message"] = message
        return Reply(200, {"interaction": interaction, "resource": resource})

    async def _create_loading_message(
        self, ch: FakeChannel, rec: InteractionRecord, flags: int
    ) -> JSON:
        """The "Bot is thinking..." message a deferred response creates."""
        world = self.world
        message_id = world.snowflakes.next()
        meta_user = (rec.payload.get("member") or {}).get("user") or rec.payload.get("user")
        msg = payloads.message(
            message_id=message_id,
            channel_id=ch.id,
            author=world.bot,
            flags=flags,
            message_type=20 if rec.type == InteractionType.APPLICATION_COMMAND else 0,
            webhook_id=world.application.id,
            application_id=world.application.id,
            interaction_metadata={"id": str(rec.id), "type": rec.type, "user": meta_user},
        )
        if flags & MessageFlag.EPHEMERAL:
            world.ephemeral_messages[message_id] = msg
        else:
            world.messages.setdefault(ch.id, {})[message_id] = msg
            await self._echo("MESSAGE_CREATE", msg, ch, message_author_id=world.bot.id)
        return msg

    async def h_followup(self, ctx: Ctx) -> Reply:
        rec = self._interaction_by_token(ctx)
        ch = self._interaction_channel(rec)
        body = ctx.body
        original = (
            None
            if rec.original_message_id is None
            else self.world.find_message(rec.original_message_id)
        )
        if (
            rec.response_type == CallbackType.DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE
            and original is not None
            and original["flags"] & MessageFlag.LOADING
        ):
            # The first follow-up after a deferred response replaces the "thinking" message.
            message = await self._edit_message(ch, original, body, ctx.req.files)
        else:
            flags = int(body.get("flags") or 0) & (CREATE_FLAGS | MessageFlag.EPHEMERAL)
            message = await self._create_message(
                ch,
                self.world.bot,
                body,
                ctx.req.files,
                check_permissions=False,
                interaction=rec,
                flags=flags,
            )
            rec.message_ids.append(int(message["id"]))
        return Reply(200, message) if ctx.flag("wait") else Reply(204)

    def _webhook_message(self, ctx: Ctx) -> tuple[InteractionRecord, FakeChannel, JSON]:
        rec = self._interaction_by_token(ctx)
        ref = ctx.params["message_id"]
        mid = (
            rec.original_message_id if ref == "@original" else (int(ref) if ref.isdigit() else None)
        )
        if mid is None or (ref != "@original" and mid not in rec.message_ids):
            raise DiscordError(404, 10008, "Unknown Message")
        msg = self.world.find_message(mid)
        if msg is None:
            raise DiscordError(404, 10008, "Unknown Message")
        return rec, self._interaction_channel(rec), msg

    async def h_webhook_get_message(self, ctx: Ctx) -> Reply:
        return Reply(body=self._webhook_message(ctx)[2])

    async def h_webhook_edit_message(self, ctx: Ctx) -> Reply:
        _, ch, msg = self._webhook_message(ctx)
        return Reply(body=await self._edit_message(ch, msg, ctx.body, ctx.req.files))

    async def h_webhook_delete_message(self, ctx: Ctx) -> Reply:
        _, ch, msg = self._webhook_message(ctx)
        await self._delete_message(ch, int(msg["id"]))
        return Reply(204)
