"""The subset of Discord's request validation that bots trip over most often.

Each validator returns a list of :class:`FieldError`; the server turns a non-empty list into
``400 {"code": 50035, "message": "Invalid Form Body", "errors": {...}}`` exactly as Discord
nests them, so discord.py raises ``HTTPException`` with the same text a real run would show.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

JSON = dict[str, Any]

COMMAND_NAME_RE = re.compile(r"^[-_'\w]{1,32}$", re.UNICODE)


@dataclass(frozen=True)
class FieldError:
    path: tuple[str | int, ...]
    code: str
    message: str


def errors_to_json(errors: Sequence[FieldError]) -> JSON:
    root: JSON = {}
    for err in errors:
        node = root
        for part in err.path:
            node = node.setdefault(str(part), {})
        node.setdefault("_errors", []).append({"code": err.code, "message": err.message})
    return root


def _length(
    errors: list[FieldError],
    path: tuple[str | int, ...],
    value: Any,
    maximum: int,
    minimum: int = 0,
) -> None:
    if value is None:
        return
    if not isinstance(value, str):
        errors.append(FieldError(path, "BASE_TYPE_STRING", "This field must be a string."))
        return
    if not minimum <= len(value) <= maximum:
        errors.append(
            FieldError(
                path,
                "BASE_TYPE_BAD_LENGTH",
                f"Must be between {minimum} and {maximum} in length.",
            )
        )


def embed_errors(embed: JSON, path: tuple[str | int, ...]) -> tuple[list[FieldError], int]:
    """Validate one embed; returns the errors and the embed's character count."""
    errors: list[FieldError] = []
    total = 0
    for key, limit in (("title", 256), ("description", 4096)):
        value = embed.get(key)
        _length(errors, (*path, key), value, limit)
        total += len(value) if isinstance(value, str) else 0
    if "url" in embed and embed["url"] is not None:
        url = embed["url"]
        if not isinstance(url, str) or not re.match(r"^https?://", url):
            errors.append(
                FieldError((*path, "url"), "URL_TYPE_INVALID_URL", "Not a well formed URL.")
            )
    fields = embed.get("fields") or []
    if len(fields) > 25:
        errors.append(
            FieldError((*path, "fields"), "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")
        )
    for i, f in enumerate(fields):
        name, value = f.get("name"), f.get("value")
        if name is None or name == "":
            errors.append(
                FieldError(
                    (*path, "fields", i, "name"), "BASE_TYPE_REQUIRED", "This field is required"
                )
            )
        if value is None or value == "":
            errors.append(
                FieldError(
                    (*path, "fields", i, "value"), "BASE_TYPE_REQUIRED", "This field is required"
                )
            )
        _length(errors, (*path, "fields", i, "name"), name, 256)
        _length(errors, (*path, "fields", i, "value"), value, 1024)
        total += len(name or "") + len(value or "")
    footer = embed.get("footer")
    if footer:
        _length(errors, (*path, "footer", "text"), footer.get("text"), 2048)
        total += len(footer.get("text") or "")
    author = embed.get("author")
    if author:
        _length(errors, (*path, "author", "name"), author.get("name"), 256)
        total += len(author.get("name") or "")
    return errors, total


def component_errors(components: Sequence[JSON], flags: int) -> list[FieldError]:
    errors: list[FieldError] = []
    if flags & (1 << 15):  # components v2: no structural checks beyond ids
        return errors
    if len(components) > 5:
        errors.append(
            FieldError(("components",), "BASE_TYPE_MAX_LENGTH", "Must be 5 or fewer in length.")
        )
    seen: set[str] = set()
    for r, row in enumerate(components):
        children = row.get("components") or []
        if row.get("type") != 1:
            errors.append(
                FieldError(
                    ("components", r, "type"), "UNION_TYPE_CHOICES", "Value must be one of {1}."
                )
            )
            continue
        if not 1 <= len(children) <= 5:
            errors.append(
                FieldError(
                    ("components", r, "components"),
                    "BASE_TYPE_BAD_LENGTH",
                    "Must be between 1 and 5 in length.",
                )
            )
        for c, comp in enumerate(children):
            p = ("components", r, "components", c)
            custom_id = comp.get("custom_id")
            if custom_id is not None:
                _length(errors, (*p, "custom_id"), custom_id, 100, 1)
                if custom_id in seen:
                    errors.append(
                        FieldError(
                            (*p, "custom_id"),
                            "COMPONENT_CUSTOM_ID_DUPLICATED",
                            "Component custom id cannot be duplicated",
                        )
                    )
                seen.add(custom_id)
            if comp.get("type") == 2:
                _length(errors, (*p, "label"), comp.get("label"), 80)
                if comp.get("style") == 5 and not comp.get("url"):
                    errors.append(
                        FieldError((*p, "url"), "BASE_TYPE_REQUIRED", "This field is required")
                    )
                _length(errors, (*p, "url"), comp.get("url"), 512)  # link buttons
            if comp.get("type") == 3:
                options = comp.get("options") or []
                if not 1 <= len(options) <= 25:
                    errors.append(
                        FieldError(
                            (*p, "options"),
                            "BASE_TYPE_BAD_LENGTH",
                            "Must be between 1 and 25 in length.",
                        )
                    )
                for o, opt in enumerate(options):
                    _length(errors, (*p, "options", o, "label"), opt.get("label"), 100, 1)
                    _length(errors, (*p, "options", o, "value"), opt.get("value"), 100, 1)
                    _length(errors, (*p, "options", o, "description"), opt.get("description"), 100)
                _length(errors, (*p, "placeholder"), comp.get("placeholder"), 150)
    return errors


def message_errors(payload: JSON) -> list[FieldError]:
    """Validate a message create/edit body (50035 Invalid Form Body when non-empty)."""
    errors: list[FieldError] = []
    content = payload.get("content")
    _length(errors, ("content",), content, 2000)
    embeds = payload.get("embeds") or []
    if len(embeds) > 10:
        errors.append(
            FieldError(("embeds",), "BASE_TYPE_MAX_LENGTH", "Must be 10 or fewer in length.")
        )
    total = 0
    for i, embed in enumerate(embeds):
        errs, count = embed_errors(embed, ("embeds", i))
        errors.extend(errs)
        total += count
    if total > 6000:
        errors.append(
            FieldError(
                ("embeds",), "MAX_EMBED_SIZE_EXCEEDED", "Embed size exceeds maximum size of 6000"
            )
        )
    errors.extend(component_errors(payload.get("components") or [], int(payload.get("flags") or 0)))
    return errors


def is_empty_message(payload: JSON, *, has_files: bool) -> bool:
    return not (
        payload.get("content")
        or payload.get("embeds")
        or payload.get("components")
        or payload.get("sticker_ids")
        or payload.get("poll")
        or has_files
    )


def _option_errors(
    options: Sequence[JSON], path: tuple[str | int, ...], depth: int
) -> list[FieldError]:
    errors: list[FieldError] = []
    if len(options) > 25:
        errors.append(FieldError(path, "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length."))
    seen_optional = False
    names: set[str] = set()
    for i, opt in enumerate(options):
        p = (*path, i)
        name = opt.get("name")
        if not isinstance(name, str) or not COMMAND_NAME_RE.match(name) or name != name.lower():
            errors.append(
                FieldError(
                    (*p, "name"),
                    "APPLICATION_COMMAND_INVALID_NAME",
                    f"Command name is invalid: {name!r}",
                )
            )
        elif name in names:
            errors.append(
                FieldError(
                    (*p, "name"),
                    "APPLICATION_COMMAND_OPTIONS_NAME_ALREADY_EXISTS",
                    "Option names must be unique",
                )
            )
        names.add(str(name))
        _length(errors, (*p, "description"), opt.get("description"), 100, 1)
        otype = opt.get("type")
        if otype in (1, 2):
            if depth >= 2 or (otype == 2 and depth >= 1):
                errors.append(
                    FieldError(
                        (*p, "type"),
                        "APPLICATION_COMMAND_OPTION_INVALID_SUBCOMMAND",
                        "Sub-command groups can only be nested one level deep",
                    )
                )
            errors.extend(_option_errors(opt.get("options") or [], (*p, "options"), depth + 1))
            continue
        if opt.get("required"):
            if seen_optional:
                errors.append(
                    FieldError(
                        (*p, "required"),
                        "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID",
                        "Required options must be placed before non-required options",
                    )
                )
        else:
            seen_optional = True
        choices = opt.get("choices") or []
        if len(choices) > 25:
            errors.append(
                FieldError(
                    (*p, "choices"), "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length."
                )
            )
        if choices and opt.get("autocomplete"):
            errors.append(
                FieldError(
                    (*p, "autocomplete"),
                    "APPLICATION_COMMAND_OPTION_CHOICES_AUTOCOMPLETE",
                    "Autocomplete cannot be set if choices are present",
                )
            )
    return errors


#: Discord's application integration types (``integration_types``: 0 server install, 1 user
#: install) and interaction context types (``contexts``: 0 server, 1 the bot's DM, 2 other
#: DMs and group DMs).
INTEGRATION_TYPES = frozenset({0, 1})
CONTEXT_TYPES = frozenset({0, 1, 2})


def _enum_list_errors(
    value: Any, path: tuple[str | int, ...], allowed: frozenset[int]
) -> list[FieldError]:
    """A nullable array of enum values (``integration_types``, ``contexts``)."""
    if value is None:
        return []
    if not isinstance(value, list):
        return [FieldError(path, "BASE_TYPE_ARRAY", "Must be an array.")]
    errors = []
    for i, item in enumerate(value):
        if isinstance(item, bool) or not isinstance(item, int) or item not in allowed:
            errors.append(
                FieldError(
                    (*path, i), "ENUM_TYPE_COERCE", f'Value "{item}" is not a valid enum value.'
                )
            )
    return errors


def command_errors(commands: Sequence[JSON]) -> list[FieldError]:
    """Validate a bulk-overwrite (PUT) command list."""
    errors: list[FieldError] = []
    seen: set[tuple[str, int]] = set()
    chat_inputs = 0
    for i, cmd in enumerate(commands):
        ctype = int(cmd.get("type", 1))
        name = cmd.get("name")
        key = (str(name), ctype)
        if ctype == 1:
            chat_inputs += 1
            if not isinstance(name, str) or not COMMAND_NAME_RE.match(name) or name != name.lower():
                errors.append(
                    FieldError(
                        (i, "name"),
                        "APPLICATION_COMMAND_INVALID_NAME",
                        f"Command name is invalid: {name!r}",
                    )
                )
            _length(errors, (i, "description"), cmd.get("description"), 100, 1)
            errors.extend(_option_errors(cmd.get("options") or [], (i, "options"), 0))
        else:
            _length(errors, (i, "name"), name, 32, 1)
            if cmd.get("description"):
                errors.append(
                    FieldError(
                        (i, "description"),
                        "APPLICATION_COMMAND_CONTEXT_MENU_DESCRIPTION",
                        "Context menu commands cannot have description",
                    )
                )
        errors.extend(
            _enum_list_errors(
                cmd.get("integration_types"), (i, "integration_types"), INTEGRATION_TYPES
            )
        )
        errors.extend(_enum_list_errors(cmd.get("contexts"), (i, "contexts"), CONTEXT_TYPES))
        if key in seen:
            errors.append(
                FieldError(
                    (i, "name"),
                    "APPLICATION_COMMANDS_DUPLICATE_NAME",
                    f"Application command names must be unique: {name}",
                )
            )
        seen.add(key)
    if chat_inputs > 100:
        errors.append(FieldError((), "BASE_TYPE_MAX_LENGTH", "Must be 100 or fewer in length."))
    return errors


def autocomplete_errors(data: JSON) -> list[FieldError]:
    errors: list[FieldError] = []
    choices = data.get("choices")
    if choices is None:
        return [FieldError(("data", "choices"), "BASE_TYPE_REQUIRED", "This field is required")]
    if len(choices) > 25:
        errors.append(
            FieldError(
                ("data", "choices"), "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length."
            )
        )
    for i, choice in enumerate(choices):
        _length(errors, ("data", "choices", i, "name"), choice.get("name"), 100, 1)
        value = choice.get("value")
        if isinstance(value, str):
            _length(errors, ("data", "choices", i, "value"), value, 100)
    return errors
