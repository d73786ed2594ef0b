"""`Simulator`: the websocket and HTTP API on one loopback port, served from a background thread.

    with Simulator(SimConfig(port=0, users=100, behaviour=UserBehaviour.fast())) as sim:
        sim.http_url, sim.blaze_url, sim.keystore_path, sim.bot_id, sim.user_ids
        sim.user_says(sim.user_ids[0], "/stop")
        sim.stats()["visible_messages"]

The server runs on its own event loop in a daemon thread; the methods called from other threads
(`stats`, `set_faults`, `user_says`, …) hop onto that loop and wait for the answer, so all state
is touched by one thread only.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

from aiohttp import WSCloseCode, web

from simulator import control, http_api
from simulator.background import BackgroundServer, StartsAndStops
from simulator.blaze import handle_blaze
from simulator.config import SimConfig
from simulator.core import SimulatorCore
from simulator.identity import BotIdentity, KeystoreFormat
from simulator.population import Population
from simulator.responses import CORE_KEY, URLS_KEY


class Simulator(StartsAndStops):
    """A local Mixin server: Blaze websocket at `/`, HTTP API beside it, `/_sim/` controls."""

    def __init__(self, config: SimConfig | None = None) -> None:
        self.config = config or SimConfig()
        cfg = self.config
        self.identities = [
            BotIdentity.derive(cfg.seed, index, with_rsa=cfg.accept_rs512)
            for index in range(cfg.bots)
        ]
        bot_ids = [identity.bot_id for identity in self.identities]
        if cfg.users_file is not None:
            self.population = Population.load(bot_ids, cfg.behaviour, cfg.seed, cfg.users_file)
        else:
            self.population = Population.generate(bot_ids, cfg.behaviour, cfg.seed, cfg.users)
        # The users known at start; users met later (user_says) are not added here.
        self.user_ids: list[str] = self.population.user_ids
        self._server: BackgroundServer[SimulatorCore] = BackgroundServer("mixin-simulator")
        self._urls: dict[str, str] = {}
        self._temporary_dir: Path | None = None
        self.keystore_path: Path = self._keystore_destination()

    def _keystore_destination(self) -> Path:
        if self.config.keystore_path is not None:
            return self.config.keystore_path
        self._temporary_dir = Path(tempfile.mkdtemp(prefix="blazecast-sim-"))
        return self._temporary_dir / "keystore.json"

    @property
    def bot_id(self) -> str:
        return self.identities[0].bot_id

    @property
    def http_url(self) -> str:
        return f"http://{self._url_host}:{self._server.port}"

    @property
    def blaze_url(self) -> str:
        return f"ws://{self._url_host}:{self._server.port}/"

    @property
    def _url_host(self) -> str:
        host = self.config.host
        return f"[{host}]" if ":" in host else host

    @property
    def port(self) -> int:
        return self._server.port

    @property
    def keystore_paths(self) -> list[Path]:
        """Where `start` writes each bot's keystore: bot 0's at `keystore_path`, the others
        beside it (`keystore-2.json`, `keystore-3.json`, …)."""
        first = self.keystore_path
        return [first] + [
            first.with_name(f"{first.stem}-{index + 1}{first.suffix}")
            for index in range(1, len(self.identities))
        ]

    def write_keystore(
        self, path: Path, keystore_format: KeystoreFormat = "current", bot: int = 0
    ) -> Path:
        """Write a keystore the simulator accepts: current, legacy Ed25519 or legacy RSA."""
        return self.identities[bot].write_keystore(path, keystore_format)

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> Simulator:
        """Serve in a background thread; returns once the port is listening."""
        if self._server.running:
            raise RuntimeError("the simulator is already running")
        for index, path in enumerate(self.keystore_paths):
            self.write_keystore(path, bot=index)
        self._server.start(
            lambda: SimulatorCore(self.config, self.identities, self.population),
            self._build_app,
            host=self.config.host,
            port=self.config.port,
            on_listening=lambda: self._urls.update(
                http_url=self.http_url, blaze_url=self.blaze_url
            ),
            before_close=self._close_connections,
        )
        return self

    def _build_app(self, core: SimulatorCore) -> web.Application:
        self._urls = {}
        # Read bodies well past the batch limit, so that an oversized batch gets its documented
        # 10002 rather than aiohttp's own 413.
        app = web.Application(client_max_size=max(32 * 1024 * 1024, 4 * self.config.max_body_bytes))
        app[CORE_KEY] = core
        app[URLS_KEY] = self._urls
        app.router.add_get("/", handle_blaze)
        http_api.add_routes(app)
        control.add_routes(app)
        http_api.add_not_found(app)
        return app

    @staticmethod
    async def _close_connections(core: SimulatorCore) -> None:
        core.close()
        for connection in list(core.hub.connections):
            with contextlib.suppress(ConnectionError, RuntimeError):
                await connection.ws.close(
                    code=WSCloseCode.GOING_AWAY, message=b"simulator stopping"
                )

    def stop(self) -> None:
        """Close every connection and the port; idempotent."""
        self._server.stop()
        if self._temporary_dir is not None:
            shutil.rmtree(self._temporary_dir, ignore_errors=True)

    # -- calls from other threads ------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        """Exactly what `GET /_sim/stats` returns."""
        # Through JSON, so that the types are those an HTTP client would see.
        return json.loads(json.dumps(self._server.call(lambda core: core.snapshot())))

    def set_faults(self, **plan: Any) -> dict[str, Any]:
        """Replace the fault plan, as `POST /_sim/faults` does; no arguments clears all faults."""
        return self._server.call(lambda core: core.set_faults(plan))

    def reset(self) -> None:
        """Clear the counters, as `POST /_sim/reset` does."""
        self._server.call(lambda core: core.reset())

    def user_says(self, user_id: str, text: str, bot_id: str | None = None) -> list[dict[str, Any]]:
        """A user sends the bot a PLAIN_TEXT (a first contact is greeted with "Hello" first)."""
        return self._server.call(lambda core: core.user_says(user_id, text, bot_id))

    def message(self, message_id: str) -> dict[str, Any] | None:
        """Per-message state, as `GET /_sim/messages/{message_id}` returns it (None if unknown)."""
        return self._server.call(lambda core: core.message_state(message_id))
