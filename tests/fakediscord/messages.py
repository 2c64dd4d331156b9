"""Messages as Discord stores them: create (permissions, validation, nonces,
mentions, attachments, interaction metadata), edit, delete, and the gateway events they
echo (MESSAGE_CREATE/UPDATE/DELETE with the intents and MESSAGE_CONTENT rules).

Shared by the channel routes (:mod:`.channels`) and the interaction responses
(:mod:`.webhooks`).
"""

from __future__ import annotations

import mimetypes
import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from . import payloads
from .gateway import GatewaySession, intents_for_message
from .payloads import InteractionType, MessageFlag
from .recording import RecordedFile
from .rest import FILE_FIELD, DiscordError, RestApi, invalid_form
from .validation import FieldError, is_empty_message, message_errors
from .world import ChannelType, FakeChannel, FakeUser, Intent, Perm

if TYPE_CHECKING:
    from .interactions import InteractionRecord

JSON = dict[str, Any]

MAX_UPLOAD = 10 * 1024 * 1024
_MENTION_USER = re.compile(r"<@!?(\d+)>")
_MENTION_ROLE = re.compile(r"<@&(\d+)>")
EDITABLE_FLAGS = MessageFlag.SUPPRESS_EMBEDS | MessageFlag.IS_COMPONENTS_V2
CREATE_FLAGS = EDITABLE_FLAGS | MessageFlag.SUPPRESS_NOTIFICATIONS


class MessageStore(RestApi):
    """Message side effects (a part of ``FakeDiscord``)."""

    _nonces: dict[tuple[int, int, str], int]

    async def _echo(
        self,
        event: str,
        data: JSON,
        ch: FakeChannel,
        *,
        message_author_id: int | None = None,
    ) -> None:
        if not self.echo_events or not self.world.bot_present(ch):
            return  # the bot user only hears of channels it is in
        guild_id = ch.guild_id
        bot_id = self.world.bot.id

        def strip_content(session: GatewaySession, payload: JSON) -> JSON:
            if (
                guild_id is None
                or message_author_id in (None, bot_id)
                or session.intents & Intent.MESSAGE_CONTENT
                or any(u.get("id") == str(bot_id) for u in payload.get("mentions", []))
            ):
                return payload
            blank = dict(payload)
            blank.update(content="", embeds=[], attachments=[], components=[])
            blank.pop("poll", None)
            return blank

        if event in ("MESSAGE_CREATE", "MESSAGE_UPDATE"):
            data = self._gateway_message(data, ch)
        await self.gateway.dispatch(
            event,
            data,
            guild_id=guild_id,
            intent=intents_for_message(guild_id),
            transform=strip_content if event in ("MESSAGE_CREATE", "MESSAGE_UPDATE") else None,
        )

    def _gateway_message(self, msg: JSON, ch: FakeChannel) -> JSON:
        """REST message + the extra MESSAGE_CREATE fields (guild_id, member, mention members)."""
        guild = self.world.guild_of(ch)
        if guild is None:
            return msg
        data = dict(msg)
        data["guild_id"] = str(guild.id)
        author = guild.members.get(int(msg["author"]["id"]))
        if author is not None and "webhook_id" not in msg:
            data["member"] = payloads.member(author, None)
        mentions = []
        for u in msg.get("mentions", []):
            m = guild.members.get(int(u["id"]))
            mentions.append({**u, "member": payloads.member(m, None)} if m else u)
        data["mentions"] = mentions
        return data

    def _build_attachments(
        self,
        ch: FakeChannel,
        body: JSON,
        files: Sequence[RecordedFile],
        existing: Sequence[JSON] = (),
    ) -> list[JSON]:
        by_index: dict[int, RecordedFile] = {}
        for file in files:
            m = FILE_FIELD.match(file.field_name)
            by_index[int(m.group(1)) if m else len(by_index)] = file
        specs = body.get("attachments")
        if specs is None:
            specs = [{"id": i, "filename": up.filename} for i, up in by_index.items()]
            keep: list[JSON] = list(existing) if not files else []
        else:
            keep = []
        old = {a["id"]: a for a in existing}
        result: list[JSON] = list(keep)
        for spec in specs:
            sid = str(spec.get("id"))
            if sid in old:
                result.append(old[sid])
                continue
            upload = by_index.get(int(sid)) if sid.isdigit() else None
            if upload is None:
                raise invalid_form(
                    [FieldError(("attachments", sid), "ATTACHMENT_NOT_FOUND", "Unknown attachment")]
                )
            if len(upload.data) > MAX_UPLOAD:
                raise DiscordError(413, 40005, "Request entity too large")
            aid = self.world.snowflakes.next()
            filename = spec.get("filename") or upload.filename or "file"
            self.attachments[aid] = upload.data
            url = f"{self.base_url}/attachments/{ch.id}/{aid}/{filename}"
            att: JSON = {
                "id": str(aid),
                "filename": filename,
                "size": len(upload.data),
                "url": url,
                "proxy_url": url,
                "content_type": mimetypes.guess_type(filename)[0] or "application/octet-stream",
            }
            if spec.get("description"):
                att["description"] = spec["description"]
            result.append(att)
        return result

    def _mentions(
        self, ch: FakeChannel, author_id: int, body: JSON, content: str
    ) -> tuple[list[JSON], list[int], bool]:
        world = self.world
        guild = world.guild_of(ch)
        allowed = body.get("allowed_mentions")
        parse = None if allowed is None else set(allowed.get("parse") or [])
        allowed_users = set() if allowed is None else {str(u) for u in allowed.get("users") or []}
        allowed_roles = set() if allowed is None else {str(r) for r in allowed.get("roles") or []}
        users: list[JSON] = []
        seen: set[int] = set()

        def add_user(uid: int) -> None:
            if uid in seen or uid not in world.users:
                return
            seen.add(uid)
            users.append(payloads.user(world.users[uid]))

        for raw in _MENTION_USER.findall(content):
            if parse is None or "users" in parse or raw in allowed_users:
                add_user(int(raw))
        roles: list[int] = []
        if guild is not None:
            for raw in _MENTION_ROLE.findall(content):
                if int(raw) in guild.roles and (
                    parse is None or "roles" in parse or raw in allowed_roles
                ):
                    roles.append(int(raw))
        everyone = bool(
            ("@everyone" in content or "@here" in content)
            and (parse is None or "everyone" in parse)
            and world.permissions_for(author_id, ch) & Perm.MENTION_EVERYONE
        )
        return users, roles, everyone

    @staticmethod
    def _normalize_embeds(embeds: Iterable[JSON]) -> list[JSON]:
        out = []
        for e in embeds:
            e = dict(e)
            e.setdefault("type", "rich")
            e.setdefault("content_scan_version", 0)
            out.append(e)
        return out

    async def _create_message(
        self,
        ch: FakeChannel,
        author: FakeUser,
        body: JSON,
        files: Sequence[RecordedFile],
        *,
        check_permissions: bool = True,
        interaction: InteractionRecord | None = None,
        flags: int | None = None,
    ) -> JSON:
        world = self.world
        guild = world.guild_of(ch)
        has_files = bool(files)
        perms = world.permissions_for(author.id, ch)
        if check_permissions:
            if ch.type == ChannelType.GUILD_CATEGORY or ch.type == ChannelType.GUILD_VOICE:
                raise DiscordError(400, 50008, "Cannot send messages in a non-text channel")
            if ch.type == ChannelType.DM:
                other = next((world.users[u] for u in ch.recipients if u in world.users), None)
                if other is not None and not other.accepts_dms:
                    raise DiscordError(403, 50007, "Cannot send messages to this user")
            else:
                needed = Perm.SEND_MESSAGES_IN_THREADS if ch.is_thread else Perm.SEND_MESSAGES
                perms = self._require(ch, needed)
                if has_files:
                    self._require(ch, Perm.ATTACH_FILES)
                if ch.is_thread and ch.archived:
                    raise DiscordError(400, 50083, "Thread is archived")
        errors = message_errors(body)
        if errors:
            raise invalid_form(errors)
        if is_empty_message(body, has_files=has_files):
            raise DiscordError(400, 50006, "Cannot send an empty message")
        nonce = body.get("nonce")
        if nonce is not None and body.get("enforce_nonce"):
            known = self._nonces.get((ch.id, author.id, str(nonce)))
            if known is not None and known in world.messages.get(ch.id, {}):
                return world.messages[ch.id][known]
        content = str(body.get("content") or "")
        mentions, mention_roles, everyone = self._mentions(ch, author.id, body, content)
        embeds = body.get("embeds") or []
        if guild is not None and check_permissions and not perms & Perm.EMBED_LINKS:
            embeds = []  # Discord drops embeds silently without EMBED_LINKS
        msg_flags = (int(body.get("flags") or 0) & CREATE_FLAGS) if flags is None else flags
        message_type = 0
        interaction_metadata = None
        if interaction is not None:
            meta_user = (interaction.payload.get("member") or {}).get(
                "user"
            ) or interaction.payload.get("user")
            interaction_metadata = {
                "id": str(interaction.id),
                "type": interaction.type,
                "user": meta_user,
                "authorizing_integration_owners": interaction.payload.get(
                    "authorizing_integration_owners", {}
                ),
            }
            if interaction.type == InteractionType.APPLICATION_COMMAND:
                message_type = 20
                interaction_metadata["name"] = interaction.payload["data"]["name"]
                interaction_metadata["command_type"] = interaction.payload["data"].get("type", 1)
        message_id = world.snowflakes.next()
        msg = payloads.message(
            message_id=message_id,
            channel_id=ch.id,
            author=author,
            content=content,
            embeds=self._normalize_embeds(embeds),
            components=body.get("components") or [],
            attachments=self._build_attachments(ch, body, files),
            flags=msg_flags,
            tts=bool(body.get("tts")) and bool(perms & Perm.SEND_TTS_MESSAGES),
            message_type=message_type,
            nonce=nonce,
            webhook_id=world.application.id if interaction is not None else None,
            application_id=world.application.id if interaction is not None else None,
            interaction_metadata=interaction_metadata,
            mentions=mentions,
            mention_roles=mention_roles,
            mention_everyone=everyone,
            poll=body.get("poll"),
        )
        if msg_flags & MessageFlag.EPHEMERAL:
            world.ephemeral_messages[message_id] = msg
            return msg
        world.messages.setdefault(ch.id, {})[message_id] = msg
        ch.last_message_id = message_id
        if ch.is_thread:
            ch.message_count += 1
        if nonce is not None:
            self._nonces[(ch.id, author.id, str(nonce))] = message_id
        await self._echo("MESSAGE_CREATE", msg, ch, message_author_id=author.id)
        return msg

    async def _edit_message(
        self, ch: FakeChannel, msg: JSON, body: JSON, files: Sequence[RecordedFile]
    ) -> JSON:
        errors = message_errors(body)
        if errors:
            raise invalid_form(errors)
        was_loading = bool(msg["flags"] & MessageFlag.LOADING)
        updated = dict(msg)
        if "content" in body:
            updated["content"] = body["content"] or ""
        if "embeds" in body:
            updated["embeds"] = self._normalize_embeds(body["embeds"] or [])
        if "components" in body:
            updated["components"] = body["components"] or []
        if body.get("flags") is not None:
            updated["flags"] = (msg["flags"] & ~EDITABLE_FLAGS) | (
                int(body["flags"]) & EDITABLE_FLAGS
            )
        if "attachments" in body or files:
            updated["attachments"] = self._build_attachments(ch, body, files, msg["attachments"])
        if "content" in body or "allowed_mentions" in body:
            author_id = int(msg["author"]["id"])
            users, roles, everyone = self._mentions(ch, author_id, body, updated["content"])
            updated.update(mentions=users, mention_roles=[str(r) for r in roles])
            updated["mention_everyone"] = everyone
        updated["flags"] = updated["flags"] & ~MessageFlag.LOADING
        if not was_loading:
            updated["edited_timestamp"] = payloads.iso()
        if is_empty_message(updated, has_files=bool(updated["attachments"])):
            raise DiscordError(400, 50006, "Cannot send an empty message")
        msg.clear()
        msg.update(updated)
        if not msg["flags"] & MessageFlag.EPHEMERAL:
            await self._echo("MESSAGE_UPDATE", msg, ch, message_author_id=int(msg["author"]["id"]))
        return msg

    async def _delete_message(self, ch: FakeChannel, message_id: int) -> None:
        world = self.world
        if world.ephemeral_messages.pop(message_id, None) is not None:
            return
        world.messages.get(ch.id, {}).pop(message_id, None)
        data: JSON = {"id": str(message_id), "channel_id": str(ch.id)}
        if ch.guild_id is not None:
            data["guild_id"] = str(ch.guild_id)
        await self._echo("MESSAGE_DELETE", data, ch)
