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

Paths in the file are relative to the file and must stay inside its folder (symbolic links are
followed first), unless the operator passes ``--allow-outside-files``: whoever can write the
announcement file should not be able to broadcast ``../keystore.json``. A file that holds
credentials is refused whatever the flags (:mod:`worker.secret_files`). Files are bounded in
size, YAML aliases are refused (an alias bomb grows a few lines into gigabytes), and every
mistake is an ``InvalidAnnouncement`` whose message names the field (and the file), so the CLI
prints it as one line.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from worker.bots import any_user_id
from worker.broadcast.service import Audience, InvalidAnnouncement
from worker.recipient_files import (
    ImportAborted,
    RowProblem,
    parse_user_id,
)
from worker.secret_files import CredentialFile, refuse_credentials
from worker.timezones import shown
from worker.user_id_lists import read_user_id_list

# An announcement file, a post or a payload: a message is at most 64 KB (spec), so 1 MiB is
# already far more than any real one and small enough to read whole.
MAX_FILE_BYTES = 1 << 20

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
        "endpoint",
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
    endpoint: str | None = None


class _NoAliasLoader(yaml.SafeLoader):
    """YAML without aliases: ``*name`` may expand to exponentially many nodes (a "billion laughs"
    bomb grew to 1.3 GB in 20 s); an announcement file never needs one."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(
                None, None, "aliases (*name) are not allowed", event.start_mark
            )
        return super().compose_node(parent, index)


def read_spec_file(path: Path) -> dict[str, Any]:
    """The fields of a JSON or YAML announcement file; unknown keys are refused."""
    raw = read_text(path, "file")
    try:
        data = json.loads(raw) if path.suffix.lower() == ".json" else yaml.load(raw, _NoAliasLoader)
    except (json.JSONDecodeError, yaml.YAMLError) as error:
        first = str(error).splitlines()[0]
        raise InvalidAnnouncement(f"{path}: not valid JSON/YAML: {first}") from None
    except RecursionError:
        raise InvalidAnnouncement(f"{path}: not valid JSON/YAML: nested too deeply") from None
    if not isinstance(data, dict):
        raise InvalidAnnouncement(f"{path}: must hold an object of fields (title, text, …)")
    unknown = sorted((str(k) for k in set(data) - FILE_KEYS), key=str)
    if unknown:
        raise InvalidAnnouncement(
            f"{path}: unknown field {unknown[0][:40]!r} (known: {', '.join(sorted(FILE_KEYS))})"
        )
    return data


@dataclass(frozen=True)
class Files:
    """Where paths written in an announcement file lead: relative to ``base``, and inside it
    unless ``confined`` is False. Paths given as ``Path`` (from the command line) are taken as
    they are: the operator typed them."""

    base: Path = Path(".")
    confined: bool = False

    def resolve(self, value: Any, what: str) -> Path:
        if isinstance(value, Path):
            return value
        if not isinstance(value, str) or not value.strip():
            raise InvalidAnnouncement(f"{what}: must be a file path")
        path = self.base / value
        if self.confined:
            folder = os.path.realpath(self.base)
            real = os.path.realpath(path)
            if os.path.commonpath([folder, real]) != folder:
                raise InvalidAnnouncement(
                    f"{what}: {value[:80]!r} is outside the announcement file's folder "
                    "(pass --allow-outside-files to allow it)"
                )
        return path


def build_draft(spec: dict[str, Any], *, files: Files | None = None) -> Draft:
    """A Draft from file fields and/or flags (already merged, flags over file)."""
    files = files or Files()
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
    draft.content = _content(kind, spec[kind], files)
    draft.title = str(spec.get("title") or "") or _post_title(draft)
    draft.audience = parse_audience(spec.get("audience"), files)
    draft.at = str(spec["at"]) if spec.get("at") is not None else None
    draft.time_zone = str(spec.get("time_zone") or "UTC")
    draft.priority = _integer(spec.get("priority"), "priority", 0)
    rate = spec.get("rate")
    draft.rate_per_minute = _integer(rate, "rate", 0) if rate is not None else None
    draft.key = str(spec["key"]) if spec.get("key") else None
    draft.endpoint = str(spec["endpoint"]).strip() if spec.get("endpoint") else None
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


def _content(kind: str, value: Any, files: Files) -> str | dict[str, Any] | list[Any]:
    if kind == "post_file":
        return read_text(files.resolve(value, "post_file"), "post")
    if kind == "data_file":
        return _json_file(files.resolve(value, "data_file"))
    if kind == "data":
        if isinstance(value, dict | list):
            return value
        raise InvalidAnnouncement("data: must be a JSON object or array (or use data_file)")
    # Text: the message itself, or for a JSON category the payload's JSON text, which
    # build_payload parses and checks.
    return str(value)


def read_text(path: Path, what: str) -> str:
    """The UTF-8 text of a file the operator named, bounded and refused if it holds credentials."""
    try:
        if not path.is_file():
            raise InvalidAnnouncement(f"{what}: not a file: {path}")
        if path.stat().st_size > MAX_FILE_BYTES:
            raise InvalidAnnouncement(f"{what}: {path} is larger than {MAX_FILE_BYTES >> 20} MiB")
        text = path.read_bytes()[: MAX_FILE_BYTES + 1].decode("utf-8")
    except FileNotFoundError:
        raise InvalidAnnouncement(f"{what}: file not found: {path}") from None
    except UnicodeDecodeError:
        raise InvalidAnnouncement(f"{what}: {path} is not UTF-8 text") from None
    except OSError as error:
        raise InvalidAnnouncement(f"{what}: cannot read {path}: {error.strerror}") from None
    try:
        refuse_credentials(path, text, what)
    except CredentialFile as error:
        raise InvalidAnnouncement(str(error)) from None
    return text


def _json_file(path: Path) -> dict[str, Any] | list[Any]:
    text = read_text(path, "data")
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise InvalidAnnouncement(
            f"data: {path} is not valid JSON (line {error.lineno}, column {error.colno})"
        ) from None
    except RecursionError:
        raise InvalidAnnouncement(f"data: {path} is nested too deeply") from None
    if not isinstance(value, dict | list):
        raise InvalidAnnouncement(f"data: {path} must hold a JSON object or array")
    return value


def _integer(value: Any, name: str, default: int) -> int:
    if value is None:
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        raise InvalidAnnouncement(f"{name}: {shown(value)} is not a whole number") from None


def parse_audience(value: Any, files: Files | None = None) -> Audience:
    """``all`` (default), ``tags:a,b``, ``file:ids.txt``, or the file forms
    ``{tags: [...]}``, ``{users: [...]}``, ``{users_file: path}``."""
    files = files or Files()
    if value is None or value == "all":
        return Audience.everyone()
    if isinstance(value, str):
        kind, _, rest = value.partition(":")
        if kind == "tags" and rest:
            return Audience.with_tags([t.strip() for t in rest.split(",") if t.strip()])
        if kind == "file" and rest:
            return Audience.users(read_user_ids(files.resolve(rest, "audience")))
    if isinstance(value, dict) and len(value) == 1:
        ((kind, rest),) = value.items()
        if kind == "tags" and isinstance(rest, list):
            return Audience.with_tags([str(t) for t in rest])
        if kind == "users" and isinstance(rest, list):
            return Audience.users([_user_id(u, f"audience.users[{i}]") for i, u in enumerate(rest)])
        if kind == "users_file":
            return Audience.users(read_user_ids(files.resolve(rest, "audience.users_file")))
    raise InvalidAnnouncement(
        f"audience: {shown(value)} is not one of all, tags:a,b, file:PATH "
        "(in a file: all, {tags: [...]}, {users: [...]}, {users_file: PATH})"
    )


def read_user_ids(path: Path) -> list[str]:
    """The user ids of an audience file (see ``user_id_lists.read_user_id_list``): ids of any
    provider here, since the bot is not known yet; its provider checks them at creation."""
    if not path.is_file():
        raise InvalidAnnouncement(f"audience: file not found: {path}")
    try:
        return read_user_id_list(path, any_user_id)
    except (ImportAborted, CredentialFile) as error:
        raise InvalidAnnouncement(f"audience: {error}") from None


def _user_id(value: Any, where: str) -> str:
    try:
        return parse_user_id(value, any_user_id)
    except RowProblem as problem:
        raise InvalidAnnouncement(f"{where}: {problem}") from None
