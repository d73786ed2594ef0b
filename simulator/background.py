"""`BackgroundServer`: one aiohttp app served on its own event loop in a daemon thread.

Both fakes (`Simulator`, `ImRestSimulator`) are used from synchronous tests and CLIs, so each
runs its app here: `start` returns once the port is listening, `call` runs a function on the
server's loop and waits for its answer (so all server state is touched by one thread only), and
`stop` closes the port and ends the thread.

    server: BackgroundServer[ImRestCore] = BackgroundServer("imrest-simulator")
    server.start(lambda: ImRestCore(config), build_app, host="127.0.0.1", port=0)
    server.call(lambda core: core.snapshot())
    server.stop()
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Generic, Self, TypeVar

from aiohttp import web

T = TypeVar("T")
Core = TypeVar("Core")
START_TIMEOUT = 30.0
CALL_TIMEOUT = 30.0
# Handlers still running at shutdown (a slow, held or dropped reply) are cancelled after this long.
SHUTDOWN_GRACE = 1.0


class BackgroundServer(Generic[Core]):
    """Serves one core's app per `start`, in a thread named `name`; `stop` is idempotent."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.port = 0
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._core: Core | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None

    def start(
        self,
        make_core: Callable[[], Core],
        make_app: Callable[[Core], web.Application],
        *,
        host: str,
        port: int,
        on_listening: Callable[[], None] | None = None,
        before_close: Callable[[Core], Awaitable[None]] | None = None,
    ) -> None:
        """Serve `make_app(make_core())` on `host:port`; both run on the server's loop.

        Returns once the port is listening; `self.port` is then the bound port (useful with 0).
        `on_listening` runs on the loop right after binding, before any request is handled;
        `before_close` runs on the loop before the port closes, also when starting failed.
        A failure to start (a busy port: OSError) is raised here.
        """
        if self._thread is not None:
            raise RuntimeError("the simulator is already running")
        ready: concurrent.futures.Future[None] = concurrent.futures.Future()
        hooks = _Hooks(make_core, make_app, host, port, on_listening, before_close)
        self._thread = threading.Thread(
            target=self._serve, args=(hooks, ready), name=self.name, daemon=True
        )
        self._thread.start()
        try:
            ready.result(timeout=START_TIMEOUT)
        except BaseException:
            self._thread.join(timeout=START_TIMEOUT)
            self._thread = None
            raise

    def stop(self) -> None:
        """Close every connection and the port, and end the thread; idempotent."""
        thread, loop = self._thread, self._loop
        if thread is not None and loop is not None and thread.is_alive():
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=START_TIMEOUT)
        self._thread = None

    def call(self, function: Callable[[Core], T]) -> T:
        """Run `function(core)` on the server's loop and return its result (or raise its error)."""
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
        return answer.result(timeout=CALL_TIMEOUT)

    # -- on the server's thread -------------------------------------------------------------

    def _serve(self, hooks: _Hooks[Core], ready: concurrent.futures.Future[None]) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._open(hooks))
        except BaseException as error:  # reported to start(), which re-raises it
            loop.run_until_complete(self._close(hooks))
            loop.close()
            ready.set_exception(error)
            return
        ready.set_result(None)
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(self._close(hooks))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def _open(self, hooks: _Hooks[Core]) -> None:
        self._core = None  # a core of an earlier start is not closed twice if this one fails
        self._core = hooks.make_core()
        app = hooks.make_app(self._core)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=SHUTDOWN_GRACE)
        await self._runner.setup()
        site = web.TCPSite(self._runner, hooks.host, hooks.port)
        await site.start()
        self.port = self._runner.addresses[0][1]
        if hooks.on_listening is not None:
            hooks.on_listening()

    async def _close(self, hooks: _Hooks[Core]) -> None:
        if hooks.before_close is not None and self._core is not None:
            await hooks.before_close(self._core)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


class StartsAndStops:
    """`with fake:` starts the fake, and stops it however the block ends."""

    def start(self) -> Self:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()


@dataclass(frozen=True)
class _Hooks(Generic[Core]):
    """What one `start` was given, carried to the server's thread."""

    make_core: Callable[[], Core]
    make_app: Callable[[Core], web.Application]
    host: str
    port: int
    on_listening: Callable[[], None] | None
    before_close: Callable[[Core], Awaitable[None]] | None
