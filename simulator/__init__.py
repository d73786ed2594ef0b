"""A local Mixin Messenger server for tests and laptop runs: Blaze websocket, HTTP API, receipts.

It follows the 'Simulator checklist' of specs/mixin-protocol.md and imports nothing from
`worker/`, so that a misreading of the spec is not mirrored on both sides.
"""

from simulator.config import SimConfig, UserBehaviour
from simulator.faults import FaultPlan, Storm
from simulator.server import Simulator

__all__ = ["FaultPlan", "SimConfig", "Simulator", "Storm", "UserBehaviour"]
