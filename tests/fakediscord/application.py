"""The application's routes: application commands (global and per server: list and bulk
overwrite, validated like Discord), application info and GET /gateway/bot with the shard
recommendation.
"""

from __future__ import annotations

from typing import Any

from . import payloads
from .rest import Ctx, DiscordError, Reply, RestApi, invalid_form
from .validation import FieldError, command_errors

JSON = dict[str, Any]


class ApplicationRoutes(RestApi):
    """``/applications/...``, ``/oauth2/applications/@me``, ``/gateway/bot`` (a part of
    ``FakeDiscord``)."""

    guilds_per_shard: int
    max_concurrency: int

    def _application_routes(self) -> None:
        r = self._route
        r("GET", "/oauth2/applications/@me", self.h_app_info)
        r("GET", "/gateway/bot", self.h_gateway_bot)
        # application commands
        for base in (
            "/applications/{application_id}/commands",
            "/applications/{application_id}/guilds/{guild_id}/commands",
        ):
            r("GET", base, self.h_list_commands)
            r("PUT", base, self.h_put_commands)

    async def h_app_info(self, ctx: Ctx) -> Reply:
        world = self.world
        app = world.application
        return Reply(body=payloads.application_info(app, world.users[app.owner_id], world.bot))

    @property
    def recommended_shards(self) -> int:
        """What GET /gateway/bot recommends: one shard per ``guilds_per_shard`` servers."""
        return max(1, -(-len(self.world.guilds) // max(1, self.guilds_per_shard)))

    async def h_gateway_bot(self, ctx: Ctx) -> Reply:
        return Reply(
            body={
                "url": self.gateway_url,
                "shards": self.recommended_shards,
                "session_start_limit": {
                    "total": 1000,
                    "remaining": max(0, 1000 - self.gateway.identify_count),
                    "reset_after": 86_400_000,
                    "max_concurrency": self.max_concurrency,
                },
            }
        )

    # ------------------------------------------------- application commands
    def _command_scope(self, ctx: Ctx) -> int | None:
        if ctx.id("application_id") != self.world.application.id:
            raise DiscordError(
                403, 20012, "You are not authorized to perform this action on this application"
            )
        if "guild_id" not in ctx.params:
            return None
        gid = ctx.id("guild_id")
        if gid not in self.world.guilds:
            raise DiscordError(403, 50001, "Missing Access")
        if not self.world.guilds[gid].applications_commands_scope:
            raise DiscordError(403, 50001, "Missing Access")
        return gid

    def _store_command(self, gid: int | None, data: JSON, existing: JSON | None) -> JSON:
        world = self.world
        cmd: JSON = {
            "id": existing["id"] if existing else str(world.snowflakes.next()),
            "application_id": str(world.application.id),
            "version": str(world.snowflakes.next()),
            "type": int(data.get("type", 1)),
            "name": data["name"],
            "name_localizations": data.get("name_localizations"),
            "description": data.get("description", ""),
            "description_localizations": data.get("description_localizations"),
            "default_member_permissions": data.get("default_member_permissions"),
            "nsfw": bool(data.get("nsfw", False)),
            "contexts": data.get("contexts"),
            "integration_types": data.get("integration_types") or [0],
            "options": data.get("options") or [],
        }
        if gid is not None:
            cmd["guild_id"] = str(gid)
        else:
            cmd["dm_permission"] = data.get("dm_permission", True)
        return cmd

    async def h_list_commands(self, ctx: Ctx) -> Reply:
        gid = self._command_scope(ctx)
        return Reply(body=list(self.world.commands.get(gid, {}).values()))

    async def h_put_commands(self, ctx: Ctx) -> Reply:
        gid = self._command_scope(ctx)
        body = ctx.req.json
        if not isinstance(body, list):
            raise invalid_form([FieldError((), "BASE_TYPE_ARRAY", "Must be an array.")])
        errors = command_errors(body)
        if errors:
            raise invalid_form(errors)
        old = self.world.commands.get(gid, {})
        new: dict[tuple[str, int], JSON] = {}
        for data in body:
            key = (str(data["name"]), int(data.get("type", 1)))
            new[key] = self._store_command(gid, data, old.get(key))
        self.world.commands[gid] = new
        return Reply(body=list(new.values()))
