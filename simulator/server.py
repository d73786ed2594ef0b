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

import asyncio
import concurrent.futures
import contextlib
import json
import shutil
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from aiohttp import WSCloseCode, web

from simulator import control, http_api
from simulator.blaze import handle_blaze
from simulator.config import SimConfig
from simulator.core import SimulatorCore
from simulator.identity import BotIdentity, KeystoreFormat
from simulator.population import Population
from simulator.responses import CORE_KEY, URLS_KEY

T = TypeVar("T")
_START_TIMEOUT = 30.0
_CALL_TIMEOUT = 30.0
# Handlers still running at shutdown (a held, dropped reply) are cancelled after this long.
_SHUTDOWN_GRACE = 1.0


class Simulator:
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
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._core: SimulatorCore | None = None
        self._runner: web.AppRunner | None = None
        self._port = 0
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
        return f"http://{self._url_host}:{self._port}"

    @property
    def blaze_url(self) -> str:
        return f"ws://{self._url_host}:{self._port}/"

    @property
    def _url_host(self) -> str:
        host = self.config.host
        return f"[{host}]" if ":" in host else host

    @property
    def port(self) -> int:
        return self._port

    def write_keystore(
        self, path: Path, keystore_format: KeystoreFormat = "current", bot: int = 0
    ) -> Path:
        """Write a keystore the simulator accepts: current, legacy Ed25519 or legacy RSA."""
        return self.identities[bot].write_keystore(path, keystore_format)

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> Simulator:
        """Serve in a background thread; returns once the port is listening."""
        if self._thread is not None:
            raise RuntimeError("the simulator is already running")
        self.write_keystore(self.keystore_path)
        ready: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._thread = threading.Thread(
            target=self._serve, args=(ready,), name="mixin-simulator", daemon=True
        )
        self._thread.start()
        try:
            ready.result(timeout=_START_TIMEOUT)
        except BaseException:
            self._thread.join(timeout=_START_TIMEOUT)
            self._thread = None
            raise
        return self

    def _serve(self, ready: concurrent.futures.Future[None]) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._start_server())
        except BaseException as error:  # reported to start(), which re-raises it
            loop.run_until_complete(self._stop_server())
            loop.close()
            ready.set_exception(error)
            return
        ready.set_result(None)
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(self._stop_server())
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def _start_server(self) -> None:
        core = SimulatorCore(self.config, self.identities, self.population)
        self._core = core
        urls: dict[str, str] = {}
        # Read bodies well past the batch limit, so that an oversized batch gets its documented
        # 10002 rather than aiohttp's own 413.
        app = web.Application(client_max_size=max(32 * 1024 * 1024, 4 * self.config.max_body_bytes))
        app[CORE_KEY] = core
        app[URLS_KEY] = urls
        app.router.add_get("/", handle_blaze)
        http_api.add_routes(app)
        control.add_routes(app)
        http_api.add_not_found(app)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=_SHUTDOWN_GRACE)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.config.host, self.config.port)
        await site.start()
        self._port = self._runner.addresses[0][1]
        urls.update(http_url=self.http_url, blaze_url=self.blaze_url)

    async def _stop_server(self) -> None:
        if self._core is not None:
            self._core.close()
            for connection in list(self._core.hub.connections):
                with contextlib.suppress(ConnectionError, RuntimeError):
                    await connection.ws.close(
                        code=WSCloseCode.GOING_AWAY, message=b"simulator stopping"
                    )
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def stop(self) -> None:
        """Close every connection and the port; idempotent."""
        thread, loop = self._thread, self._loop
        if thread is not None and loop is not None and thread.is_alive():
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=_START_TIMEOUT)
        self._thread = None
        if self._temporary_dir is not None:
            shutil.rmtree(self._temporary_dir, ignore_errors=True)

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()

    # -- calls from other threads ------------------------------------------------------------

    def _call(self, function: Callable[[SimulatorCore], T]) -> T:
        """Run `function(core)` on the simulator's loop and return its result."""
        loop, core = self._loop, self._core
        if self._thread is None or loop is None or core is None:
            raise RuntimeError("the simulator is not running; call start() first")
        answer: concurrent.futures.Future[T] = concurrent.futures.Future()

        def run() -> None:
            try:
                answer.set_result(function(core))
            except BaseException as error:
                answer.set_exception(error)

        loop.call_soon_threadsafe(run)
        return answer.result(timeout=_CALL_TIMEOUT)

    def stats(self) -> dict[str, Any]:
        """Exactly what `GET /_sim/stats` returns."""
        # Through JSON, so that the types are those an HTTP client would see.
        return json.loads(json.dumps(self._call(lambda core: core.snapshot())))

    def set_faults(self, **plan: Any) -> dict[str, Any]:
        """Replace the fault plan, as `POST /_sim/faults` does; no arguments clears all faults."""
        return self._call(lambda core: core.set_faults(plan))

    def reset(self) -> None:
        """Clear the counters, as `POST /_sim/reset` does."""
        self._call(lambda core: core.reset())

    def user_says(self, user_id: str, text: str, bot_id: str | None = None) -> list[dict[str, Any]]:
        """A user sends the bot a PLAIN_TEXT (a first contact is greeted with "Hello" first)."""
        return self._call(lambda core: core.user_says(user_id, text, bot_id))

    def message(self, message_id: str) -> dict[str, Any] | None:
        """Per-message state, as `GET /_sim/messages/{message_id}` returns it (None if unknown)."""
        return self._call(lambda core: core.message_state(message_id))
