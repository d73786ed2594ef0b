"""Fault injection: what goes wrong, how often, and the draw that decides each request.

A `FaultPlan` is set per run (`SimConfig.faults`, `--faults`) or at any time through
`POST /_sim/faults`; each new plan replaces the previous one. Example of the JSON form:

    {"error_rate": {"500": 0.05, "7000": 0.01}, "drop_reply_rate": 0.01,
     "slow_reply_rate": 0.0, "slow_reply_seconds": 6, "cut_connection_rate": 0.0,
     "bare_http_500_rate": 0.0, "storm": {"code": 429, "seconds": 3},
     "ws_auth_mode": "error_frame", "seed": 1}

Message-sending requests (CREATE_MESSAGE, CREATE_PLAIN_MESSAGES, POST /messages) draw one fault:
an error reply (nothing accepted), a connection cut before the reply (the batch accepted with
probability `cut_accept_rate`, so clients meet both retry and idempotency), a dropped reply (the
batch IS accepted, no answer), or a slow reply (accepted, answered late). A bare HTTP 500 with a
non-JSON body, as a web front would send, can hit any HTTP API request and websocket upgrade.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from simulator.fault_draws import (
    SeededDraws,
    check_durations,
    check_rates,
    plan_kwargs,
    rates_by_code,
    rates_by_code_json,
)

FaultKind = Literal["none", "error", "cut", "drop", "slow"]
WS_AUTH_MODES = ("error_frame", "http_401")


@dataclass(frozen=True)
class Storm:
    """Every sending request fails with `code` for `seconds` after the plan is set."""

    code: int = 429
    seconds: float = 3.0


@dataclass(frozen=True)
class FaultPlan:
    """Rates are probabilities per request, between 0 and 1; the default injects nothing."""

    error_rate: Mapping[int, float] = field(default_factory=dict)
    drop_reply_rate: float = 0.0
    # How long an HTTP request whose reply is dropped is held open before the socket is closed.
    drop_reply_hold_seconds: float = 30.0
    slow_reply_rate: float = 0.0
    slow_reply_seconds: float = 6.0
    cut_connection_rate: float = 0.0
    cut_accept_rate: float = 0.5
    bare_http_500_rate: float = 0.0
    storm: Storm | None = None
    ws_auth_mode: Literal["error_frame", "http_401"] = "error_frame"
    seed: int = 1

    def __post_init__(self) -> None:
        rates = {
            "drop_reply_rate": self.drop_reply_rate,
            "slow_reply_rate": self.slow_reply_rate,
            "cut_connection_rate": self.cut_connection_rate,
            "cut_accept_rate": self.cut_accept_rate,
            "bare_http_500_rate": self.bare_http_500_rate,
        }
        rates.update({f"error_rate.{code}": rate for code, rate in self.error_rate.items()})
        check_rates(rates)
        exclusive = (
            sum(self.error_rate.values())
            + self.drop_reply_rate
            + self.slow_reply_rate
            + self.cut_connection_rate
        )
        if exclusive > 1.0:
            raise ValueError("faults: error, cut, drop and slow rates add up to more than 1")
        if self.ws_auth_mode not in WS_AUTH_MODES:
            raise ValueError(f"faults: ws_auth_mode must be one of {', '.join(WS_AUTH_MODES)}")
        check_durations(self.slow_reply_seconds, self.drop_reply_hold_seconds)

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> FaultPlan:
        """Build a plan from its JSON form, naming any unknown or ill-typed key."""
        return cls(**plan_kwargs(raw, cls.__dataclass_fields__, _convert))

    def to_dict(self) -> dict[str, Any]:
        """The JSON form, as `GET /_sim/faults` shows it."""
        data = asdict(self)
        data["error_rate"] = rates_by_code_json(self.error_rate)
        return data


def _convert(key: str, value: Any) -> Any:
    """One value of the JSON form, typed as `FaultPlan` wants it."""
    if key == "error_rate":
        return rates_by_code(value)
    if key == "storm":
        return None if value is None else Storm(**dict(value))
    if key == "ws_auth_mode":
        return str(value)
    if key == "seed":
        return int(value)
    return float(value)


@dataclass(frozen=True)
class Fault:
    """The outcome of one draw. `accept` says whether the batch is stored despite the fault."""

    kind: FaultKind
    code: int = 0
    accept: bool = True
    seconds: float = 0.0


NO_FAULT = Fault("none")
_CUT = Fault("cut")


class FaultInjector(SeededDraws):
    """Draws faults from a seeded generator so that a run with the same plan is repeatable."""

    plan: FaultPlan
    _storm_until: float

    def __init__(self, plan: FaultPlan) -> None:
        super().__init__()
        self.replace(plan)

    def replace(self, plan: FaultPlan) -> None:
        """Install a new plan; a storm in it starts now."""
        self.plan = plan
        self._reseed(plan.seed)
        self._storm_until = time.monotonic() + plan.storm.seconds if plan.storm else 0.0

    def for_send(self) -> Fault:
        """The fault (possibly none) for one message-sending request."""
        plan = self.plan
        if plan.storm is not None and time.monotonic() < self._storm_until:
            return self._count(Fault("error", code=plan.storm.code, accept=False))
        choices = [
            (rate, Fault("error", code=code, accept=False))
            for code, rate in plan.error_rate.items()
        ]
        choices += [
            (plan.cut_connection_rate, _CUT),
            (plan.drop_reply_rate, Fault("drop", seconds=plan.drop_reply_hold_seconds)),
            (plan.slow_reply_rate, Fault("slow", seconds=plan.slow_reply_seconds)),
        ]
        fault = self._pick(choices)
        if fault is None:
            return NO_FAULT
        if fault is _CUT:
            # A second draw, only for a cut: whether the batch was stored before the cut.
            fault = Fault("cut", accept=self._rng.random() < plan.cut_accept_rate)
        return self._count(fault)

    def bare_http_500(self) -> bool:
        """Whether this HTTP request (or websocket upgrade) gets a bare, non-JSON 500."""
        rate = self.plan.bare_http_500_rate
        if rate > 0.0 and self._rng.random() < rate:
            self._tally("bare_http_500")
            return True
        return False

    def _count(self, fault: Fault) -> Fault:
        self._tally(f"error_{fault.code}" if fault.kind == "error" else fault.kind)
        return fault
