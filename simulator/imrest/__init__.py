"""A local fake of the IM REST message API of seed 004, for tests and laptop runs.

It follows the 'Simulator checklist' of specs/im-rest-protocol.md §6 and imports nothing from
`worker/`, so that a misreading of the spec is not mirrored on both sides. Modules: `config`
(settings and switches), `auth`, `validation`, `dedup`, `bucket` (optional 429s), `messages`
and `store` (messages, status, keyset pages), `core` (sending), `conversations` (read, ack,
recall, delete, unread), `faults`, `stats`, `http_api` and `control` (routes), `server`
(`ImRestSimulator`), `cli` (`simulator-imrest`).
"""

from simulator.imrest.config import ImRestConfig, RecipientBehaviour
from simulator.imrest.faults import FaultPlan
from simulator.imrest.server import ImRestSimulator

__all__ = ["FaultPlan", "ImRestConfig", "ImRestSimulator", "RecipientBehaviour"]
