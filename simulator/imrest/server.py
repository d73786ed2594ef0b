"""`ImRestSimulator`: the fake IM REST API on one loopback port, served from a background thread.

    with ImRestSimulator(ImRestConfig(users=20, behaviour=RecipientBehaviour.fast())) as sim:
        sim.base_url, sim.app_id, sim.admin_token, sim.sender_id, sim.user_ids
        sim.set_faults(drop_rate=1.0, limit=1)
        sim.stats()["dedup"]["hits"]

The server runs on its own event loop in a daemon thread; the methods called from other threads
hop onto that loop and wait for the answer, so all state is touched by one thread only.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from simulator.background import BackgroundServer, StartsAndStops
from simulator.imrest import control, http_api
from simulator.imrest.config import SENDER_ID, ImRestConfig
from simulator.imrest.core import ImRestCore


class ImRestSimulator(StartsAndStops):
    """A local IM REST server: the seven `/message/*` operations, and `/_sim/` controls."""

    def __init__(self, config: ImRestConfig | None = None) -> None:
        self.config = config or ImRestConfig()
        self._server: BackgroundServer[ImRestCore] = BackgroundServer("imrest-simulator")

    # -- who is who ---------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        host = self.config.host
        return f"http://{f'[{host}]' if ':' in host else host}:{self._server.port}"

    @property
    def port(self) -> int:
        return self._server.port

    @property
    def app_id(self) -> str:
        return self.config.app_id

    @property
    def admin_token(self) -> str:
        """The app's admin token (a secret on a real server; here, derived from the seed)."""
        return self.config.token(self.config.app_id)

    @property
    def other_app_token(self) -> str:
        """The admin token of another app: with this app's `app_id` it is 10008."""
        return self.config.token(self.config.other_app_id)

    def user_token(self, user_id: int) -> str:
        """A user token of this app, acting as `user_id`."""
        return self.config.token(self.config.app_id, user_id)

    @property
    def sender_id(self) -> int:
        """The sending account: a known user, member of every group in `group_ids`."""
        return SENDER_ID

    @property
    def user_ids(self) -> list[int]:
        return self.config.user_ids

    @property
    def group_ids(self) -> list[int]:
        return self.config.group_ids

    @property
    def foreign_group_ids(self) -> list[int]:
        return self.config.foreign_group_ids

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> ImRestSimulator:
        """Serve in a background thread; returns once the port is listening."""
        self._server.start(
            lambda: ImRestCore(self.config),
            self._build_app,
            host=self.config.host,
            port=self.config.port,
        )
        return self

    def _build_app(self, core: ImRestCore) -> web.Application:
        # Read bodies well past the 128 KB limit, so an oversized body gets its 10002 rather
        # than aiohttp's own 413.
        app = web.Application(client_max_size=max(8 * 1024 * 1024, 4 * self.config.max_body_bytes))
        app[http_api.CORE_KEY] = core
        http_api.add_routes(app)
        control.add_routes(app)
        http_api.add_not_routed(app)
        return app

    def stop(self) -> None:
        """Close the port; idempotent."""
        self._server.stop()

    # -- calls from other threads -------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        """Exactly what `GET /_sim/stats` returns."""
        return json.loads(json.dumps(self._server.call(lambda core: core.snapshot())))

    def requests(self) -> list[dict[str, Any]]:
        """Exactly what `GET /_sim/requests` returns."""
        return json.loads(json.dumps(self._server.call(lambda core: list(core.stats.log))))

    def set_faults(self, **plan: Any) -> dict[str, Any]:
        """Replace the fault plan, as `POST /_sim/faults` does; no arguments clears all faults."""
        return self._server.call(lambda core: core.set_faults(plan))

    def reset(self) -> None:
        """Clear the counters, as `POST /_sim/reset` does (messages and dedup memory stay)."""
        self._server.call(lambda core: core.reset())

    def message(self, msg_id: int) -> dict[str, Any] | None:
        """Per-message state, as `GET /_sim/messages/{msg_id}` returns it (None if unknown)."""
        return self._server.call(lambda core: core.message_state(msg_id))

    def messages_to(self, user_id: int) -> list[dict[str, Any]]:
        """The state of every message addressed to `user_id`, oldest first."""
        return self._server.call(
            lambda core: [m.state(core.clock()) for m in core.store.to_user(user_id)]
        )

    def set_status(self, msg_id: int, status: str) -> dict[str, Any]:
        """Move a message forward to `status` (never back), as a recipient's device would."""
        return self._server.call(lambda core: core.set_status(msg_id, status))

    def set_recipient(self, user_id: int, **changes: Any) -> dict[str, Any]:
        """Change a recipient: `online`, `delivery_delay`, `read_delay` (None: never reads)."""
        return self._server.call(lambda core: core.set_recipient(user_id, **changes))
