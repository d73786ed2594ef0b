"""``blazecast bots``: bots as rows, each with its own audience; bad input is one line and
changes nothing."""

from __future__ import annotations

import json
import os
from pathlib import Path

from sqlalchemy import func, select

from models import Announcement, Bot, Recipient
from simulator import SimConfig, Simulator
from tests.cli.conftest import Cli
from worker.db import Database


def _keystores(tmp_path: Path, count: int) -> list[Path]:
    sim = Simulator(SimConfig(users=0, bots=count))
    return [
        identity.write_keystore(tmp_path / f"bot{i}.json")
        for i, identity in enumerate(sim.identities)
    ]


def _bots(database: Database) -> list[tuple[str, str | None]]:
    with database.session() as session:
        return list(session.execute(select(Bot.name, Bot.credentials).order_by(Bot.id)).all())


def test_add_list_show_and_each_bot_has_its_own_audience(
    cli: Cli, clean_db: Database, tmp_path: Path
) -> None:
    shop, news = _keystores(tmp_path, 2)
    assert "added bot shop" in cli.ok(
        "bots", "add", "shop", "--keystore", str(shop), "--quota", "20000"
    )
    cli.env["NEWS_KEYSTORE"] = news.read_text()
    cli.ok("bots", "add", "news", "--keystore-env", "NEWS_KEYSTORE", "--transport", "http")

    listed = [json.loads(line) for line in cli.ok("bots", "list", "--json").splitlines()]
    assert [(b["name"], b["quota_per_minute"], b["transport"]) for b in listed] == [
        ("shop", 20000, "blaze"),
        ("news", 100000, "http"),
    ]
    # Only the reference is stored and shown, never the key.
    assert _bots(clean_db) == [("shop", f"file:{shop.resolve()}"), ("news", "env:NEWS_KEYSTORE")]
    secret = json.loads(shop.read_text())["session_private_key"]
    assert secret not in cli.ok("bots", "show", "shop") + cli.ok("bots", "list")

    users = tmp_path / "users.csv"
    users.write_text("user_id\n7b3f0c8e-2f41-4a8e-9a55-0d7c6f1f4b11\n")
    cli.ok("users", "import", str(users), "--bot", "shop")
    cli.ok("users", "import", str(users), "--bot", "news")  # the same person: a second recipient
    cli.ok("announce", "create", "--text", "Sale", "--bot", "shop", "--draft")
    with clean_db.session() as session:
        per_bot = dict(
            session.execute(
                select(Bot.name, func.count(Recipient.id))
                .join(Recipient, Recipient.bot_id == Bot.id)
                .group_by(Bot.name)
            ).all()
        )
        owner = session.execute(
            select(Bot.name).join(Announcement, Announcement.bot_id == Bot.id)
        ).scalar_one()
    assert per_bot == {"shop": 1, "news": 1}
    assert owner == "shop"


def test_with_several_bots_a_command_must_name_one(cli: Cli, tmp_path: Path) -> None:
    shop, news = _keystores(tmp_path, 2)
    cli.ok("bots", "add", "shop", "--keystore", str(shop))
    cli.ok("announce", "create", "--text", "only one bot: no --bot needed", "--draft")
    cli.ok("bots", "add", "news", "--keystore", str(news))
    assert cli.fails("announce", "create", "--text", "Hi", "--draft") == (
        "error: there are several bots (shop, news): name one with --bot"
    )
    assert cli.fails("announce", "create", "--text", "Hi", "--bot", "nope") == (
        "error: bot 'nope': no such bot (bots: news, shop)"
    )


def test_bad_bots_are_refused_in_one_line_and_change_nothing(
    cli: Cli, clean_db: Database, tmp_path: Path
) -> None:
    (shop,) = _keystores(tmp_path, 1)
    cli.ok("bots", "add", "shop", "--keystore", str(shop))
    missing = tmp_path / "missing.json"
    unreadable = tmp_path / "unreadable.json"
    unreadable.write_text("{not json")
    garbled = tmp_path / "garbled.json"
    garbled.write_bytes(b"\xff\xfe\x00")

    assert cli.fails("bots", "add", "other", "--keystore", str(missing)) == (
        f"error: bot other: credentials file:{missing}: cannot read it (No such file or directory)"
    )
    assert "not valid JSON" in cli.fails("bots", "add", "other", "--keystore", str(unreadable))
    assert "not UTF-8" in cli.fails("bots", "add", "other", "--keystore", str(garbled))
    assert cli.fails("bots", "add", "twin", "--keystore", str(shop)).startswith(
        "error: bot twin: bot shop already uses this keystore"
    )
    assert cli.fails("bots", "add", "shop", "--keystore", str(shop)) == (
        "error: bot shop: a bot with this name exists already"
    )
    assert "use 1-64 letters" in cli.fails("bots", "add", "bad name", "--keystore", str(shop))
    assert cli.fails("bots", "add", "env", "--keystore-env", "UNSET_VARIABLE_X") == (
        "error: bot env: credentials env:UNSET_VARIABLE_X: the variable is not set"
    )
    assert _bots(clean_db) == [("shop", f"file:{shop.resolve()}")]


def test_a_bot_with_announcements_sending_is_not_disabled(
    cli: Cli, clean_db: Database, tmp_path: Path
) -> None:
    (shop,) = _keystores(tmp_path, 1)
    cli.ok("bots", "add", "shop", "--keystore", str(shop))
    created = json.loads(cli.ok("announce", "create", "--text", "Hi", "--json"))
    refused = cli.fails("bots", "disable", "shop")
    assert refused.startswith("error: bot shop has announcements scheduled, sending or paused")
    assert created["id"][:8] in refused
    assert cli.fails("bots", "disable", "nope") == "error: bot 'nope': no such bot"
    cli.ok("announce", "cancel", created["id"], "--yes")
    assert cli.ok("bots", "disable", "shop").strip() == "bot shop is disabled"
    assert cli.fails("announce", "create", "--text", "Hi", "--bot", "shop") == (
        "error: bot shop is disabled"
    )


def test_the_keystore_setting_alone_is_the_default_bot(
    cli: Cli, clean_db: Database, tmp_path: Path
) -> None:
    (key,) = _keystores(tmp_path, 1)
    cli.env["BLAZECAST_KEYSTORE"] = str(key)
    cli.ok("announce", "create", "--text", "Hello", "--draft")
    assert _bots(clean_db) == [("default", None)]
    listed = json.loads(cli.ok("bots", "list", "--json"))
    assert (listed["name"], listed["credentials"]) == ("default", "BLAZECAST_KEYSTORE")
    # A second bot with the same key as the default one is refused.
    assert cli.fails("bots", "add", "copy", "--keystore", str(key)).startswith(
        "error: bot copy: bot default already uses this keystore"
    )
    assert os.environ.get("BLAZECAST_KEYSTORE") != str(key)  # the test changed only the CLI's env


def _imrest(*extra: str) -> list[str]:
    return [
        "--provider",
        "imrest",
        "--base-url",
        "https://im.example.com",
        "--app-id",
        "shop-app",
        "--from-user-id",
        "1099511627001",
        *extra,
    ]


def test_an_imrest_bot_stores_only_where_its_token_is(
    cli: Cli, clean_db: Database, tmp_path: Path
) -> None:
    token = tmp_path / "im.token"
    token.write_text("eyJhbGciOiJIUzUxMiJ9.secret-token\n")
    said = cli.ok("bots", "add", "notices", *_imrest("--token-file", str(token)))
    assert said.strip() == (
        "added bot notices (imrest, imrest:shop-app:1099511627001, 600 requests/min over http)"
    )
    shown = cli.ok("bots", "show", "notices", "--json")
    assert json.loads(shown)["quota_unit"] == "requests"
    assert "secret-token" not in shown + cli.ok("bots", "list")
    with clean_db.session() as session:
        bot = session.execute(select(Bot).where(Bot.name == "notices")).scalar_one()
        assert bot.credentials == f"file:{token.resolve()}"
        assert bot.options == {
            "base_url": "https://im.example.com",
            "app_id": "shop-app",
            "from_user_id": 1099511627001,
        }
        assert "secret-token" not in json.dumps(bot.options)


def test_bad_imrest_bots_are_refused_in_one_line_and_change_nothing(
    cli: Cli, clean_db: Database, tmp_path: Path
) -> None:
    token = tmp_path / "im.token"
    token.write_text("token")
    empty = tmp_path / "empty.token"
    empty.write_text("\n")
    assert cli.fails("bots", "add", "im", *_imrest()) == (
        "error: give exactly one of --token-file FILE or --token-env VARIABLE "
        "(see 'blazecast bots add --help')"
    )
    assert cli.fails("bots", "add", "im", *_imrest("--token-env", "UNSET_TOKEN_X")) == (
        "error: bot im: credentials env:UNSET_TOKEN_X: the variable is not set"
    )
    assert cli.fails("bots", "add", "im", *_imrest("--token-file", str(empty))) == (
        "error: bot im: access_token must not be empty"
    )
    without_app = [
        a for a in _imrest("--token-file", str(token)) if a not in ("--app-id", "shop-app")
    ]
    assert cli.fails("bots", "add", "im", *without_app) == (
        "error: bot im: app_id: required for an IM REST bot"
    )
    secret_url = _imrest("--token-file", str(token))
    secret_url[secret_url.index("https://im.example.com")] = "https://u:pw@im.example.com"
    refused = cli.fails("bots", "add", "im", *secret_url)
    assert refused == (
        "error: bot im: base_url: must not carry credentials; the token has its own reference"
    )
    assert "pw" not in refused
    assert cli.fails("bots", "add", "im", "--token-file", str(token), "--app-id", "x") == (
        "error: --app-id is an IM REST option; add --provider imrest "
        "(see 'blazecast bots add --help')"
    )
    cli.ok("bots", "add", "im", *_imrest("--token-file", str(token)))
    assert cli.fails("bots", "add", "im2", *_imrest("--token-file", str(token))).startswith(
        "error: bot im2: bot im already uses this app and sending account"
    )
    assert _bots(clean_db) == [("im", f"file:{token.resolve()}")]


def test_a_category_an_imrest_bot_cannot_carry_is_refused_naming_it_and_the_bot(
    cli: Cli, clean_db: Database, tmp_path: Path
) -> None:
    token = tmp_path / "im.token"
    token.write_text("token")
    cli.ok("bots", "add", "im", *_imrest("--token-file", str(token)))
    card = tmp_path / "card.json"
    card.write_text('{"app_id": "x", "title": "t", "description": "d", "action": "https://x"}')
    assert cli.fails(
        "announce", "create", "--bot", "im", "--category", "APP_CARD", "--data", str(card)
    ) == (
        "error: bot im: category APP_CARD: IM REST bots carry only PLAIN_TEXT, PLAIN_IMAGE, "
        "PLAIN_AUDIO, PLAIN_VIDEO, PLAIN_DATA"
    )
    assert "created announcement" in cli.ok(
        "announce", "create", "--bot", "im", "--text", "Hello", "--endpoint", "notify", "--draft"
    )
    with clean_db.session() as session:
        stored = session.execute(select(Announcement.data_base64)).scalar_one()
    assert json.loads(stored)["endpoint"] == "notify"
