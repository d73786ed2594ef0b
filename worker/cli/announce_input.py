"""What ``blazecast announce create`` sends, from flags or from one JSON/YAML file.

A file holds the same things as the flags (flags win over the file)::

    title: Spring sale
    category: PLAIN_POST          # default PLAIN_TEXT
    post_file: sale.md            # or text: "…", post: "# Markdown…", data: {…}, data_file: card.json
    audience: {tags: [vip, beta]} # or all, {users: [id, …]}, {users_file: ids.txt}
    at: 2026-05-01 09:00
    time_zone: Europe/Paris
    priority: 5
    rate: 3000                    # messages per minute, at most
    key: spring-sale-2026         # idempotency key

Paths in the file are relative to the file. Every mistake is an ``InvalidAnnouncement`` whose
message names the field (and the file), so the CLI prints it as one line.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from worker.broadcast.service import Audience, InvalidAnnouncement
from worker.recipient_files import (
    ImportAborted,
    RowProblem,
    parse_user_id,
    read_user_id_list,
)

FILE_KEYS = frozenset(
    {
        "title",
        "category",
        "text",
        "post",
        "post_file",
        "data",
        "data_file",
        "audience",
        "at",
        "time_zone",
        "priority",
        "rate",
        "key",
    }
)


@dataclass
class Draft:
    """Everything ``service.create_announcement`` needs, gathered from flags and a file."""

    category: str = "PLAIN_TEXT"
    content: str | dict[str, Any] | list[Any] | None = None
    title: str = ""
    audience: Audience = field(default_factory=Audience.everyone)
    at: str | None = None
    time_zone: str = "UTC"
    priority: int = 0
    rate_per_minute: int | None = None
    key: str | None = None


def read_spec_file(path: Path) -> dict[str, Any]:
    """The fields of a JSON or YAML announcement file; unknown keys are refused."""
    raw = path.read_text(encoding="utf-8")
    try:
        data = json.loads(raw) if path.suffix.lower() == ".json" else yaml.safe_load(raw)
    except (json.JSONDecodeError, yaml.YAMLError) as error:
        first = str(error).splitlines()[0]
        raise InvalidAnnouncement(f"{path}: not valid JSON/YAML: {first}") from None
    if not isinstance(data, dict):
        raise InvalidAnnouncement(f"{path}: must hold an object of fields (title, text, …)")
    unknown = sorted(set(data) - FILE_KEYS)
    if unknown:
        raise InvalidAnnouncement(
            f"{path}: unknown field {unknown[0]!r} (known: {', '.join(sorted(FILE_KEYS))})"
        )
    return data


def build_draft(spec: dict[str, Any], *, base: Path = Path(".")) -> Draft:
    """A Draft from file fields and/or flags (already merged, flags over file)."""
    draft = Draft()
    contents = [k for k in ("text", "post", "post_file", "data", "data_file") if spec.get(k)]
    if len(contents) != 1:
        raise InvalidAnnouncement(
            "content: give exactly one of --text, --post, --data (or text, post, data in the file)"
            + (f"; got {', '.join(contents)}" if contents else "")
        )
    kind = contents[0]
    if kind in ("post", "post_file"):
        draft.category = "PLAIN_POST"
    category = spec.get("category")
    if category:
        draft.category = str(category).strip().upper()
    draft.content = _content(kind, spec[kind], base)
    draft.title = str(spec.get("title") or "") or _post_title(draft)
    draft.audience = parse_audience(spec.get("audience"), base)
    draft.at = str(spec["at"]) if spec.get("at") is not None else None
    draft.time_zone = str(spec.get("time_zone") or "UTC")
    draft.priority = _integer(spec.get("priority"), "priority", 0)
    rate = spec.get("rate")
    draft.rate_per_minute = _integer(rate, "rate", 0) if rate is not None else None
    draft.key = str(spec["key"]) if spec.get("key") else None
    return draft


def _post_title(draft: Draft) -> str:
    """A Markdown post's first line without its markup ("# Big news" reads "Big news")."""
    if draft.category != "PLAIN_POST" or not isinstance(draft.content, str):
        return ""
    for line in draft.content.splitlines():
        plain = line.strip().lstrip("#>-*_ ").rstrip("*_ ").strip()
        if plain:
            return plain[:80]
    return ""


def _content(kind: str, value: Any, base: Path) -> str | dict[str, Any] | list[Any]:
    if kind == "post_file":
        return _read(base / str(value), "post")
    if kind == "data_file":
        return _json_file(base / str(value))
    if kind == "data":
        if isinstance(value, dict | list):
            return value
        raise InvalidAnnouncement("data: must be a JSON object or array (or use data_file)")
    # Text: the message itself, or for a JSON category the payload's JSON text, which
    # build_payload parses and checks.
    return str(value)


def _read(path: Path, what: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InvalidAnnouncement(f"{what}: file not found: {path}") from None
    except UnicodeDecodeError:
        raise InvalidAnnouncement(f"{what}: {path} is not UTF-8 text") from None


def _json_file(path: Path) -> dict[str, Any] | list[Any]:
    text = _read(path, "data")
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise InvalidAnnouncement(
            f"data: {path} is not valid JSON (line {error.lineno}, column {error.colno})"
        ) from None
    if not isinstance(value, dict | list):
        raise InvalidAnnouncement(f"data: {path} must hold a JSON object or array")
    return value


def _integer(value: Any, name: str, default: int) -> int:
    if value is None:
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        raise InvalidAnnouncement(f"{name}: {value!r} is not a whole number") from None


def parse_audience(value: Any, base: Path = Path(".")) -> Audience:
    """``all`` (default), ``tags:a,b``, ``file:ids.txt``, or the file forms
    ``{tags: [...]}``, ``{users: [...]}``, ``{users_file: path}``."""
    if value is None or value == "all":
        return Audience.everyone()
    if isinstance(value, str):
        kind, _, rest = value.partition(":")
        if kind == "tags" and rest:
            return Audience.with_tags([t.strip() for t in rest.split(",") if t.strip()])
        if kind == "file" and rest:
            return Audience.users(read_user_ids(base / rest))
    if isinstance(value, dict) and len(value) == 1:
        ((kind, rest),) = value.items()
        if kind == "tags" and isinstance(rest, list):
            return Audience.with_tags([str(t) for t in rest])
        if kind == "users" and isinstance(rest, list):
            return Audience.users([_user_id(u, f"audience.users[{i}]") for i, u in enumerate(rest)])
        if kind == "users_file":
            return Audience.users(read_user_ids(base / str(rest)))
    raise InvalidAnnouncement(
        f"audience: {value!r} is not one of all, tags:a,b, file:PATH "
        "(in a file: all, {tags: [...]}, {users: [...]}, {users_file: PATH})"
    )


def read_user_ids(path: Path) -> list[str]:
    """The user ids of an audience file (see ``recipient_files.read_user_id_list``)."""
    if not path.is_file():
        raise InvalidAnnouncement(f"audience: file not found: {path}")
    try:
        return [str(u) for u in read_user_id_list(path)]
    except ImportAborted as error:
        raise InvalidAnnouncement(f"audience: {error}") from None


def _user_id(value: Any, where: str) -> str:
    try:
        return str(parse_user_id(value))
    except RowProblem as problem:
        raise InvalidAnnouncement(f"{where}: {problem}") from None
