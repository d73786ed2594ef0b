"""Fault injection per request (specs/im-rest-protocol.md §6, item 15).

A `FaultPlan` is set per run (`ImRestConfig.faults`, `--faults`) or at any time through
`POST /_sim/faults` or `ImRestSimulator.set_faults(...)`; a new plan replaces the previous one.
Each request to one of the plan's `endpoints` draws at most one fault:

- `server_error`: HTTP 500 with an HTML body, as a web front sends it; nothing is executed;
- `code`: the envelope with an arbitrary code (`codes` maps code → rate); nothing is executed;
- `data_false`: `{"code": 200, "data": false}`; nothing is executed;
- `slow`: executed, answered `slow_seconds` late (longer than a client's timeout);
- `drop`: executed, then the connection is closed without an answer, after `drop_hold_seconds`.

`limit` caps how many faults the plan injects in all, so a test can ask for exactly one.
JSON form: `{"drop_rate": 1.0, "limit": 1, "endpoints": ["send"]}`.
"""

from __future__ import annotations

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

FaultKind = Literal["none", "server_error", "code", "data_false", "slow", "drop"]
#: The operations a plan can target, by short name.
OPERATIONS = ("send", "notify", "recall", "conversation", "delete", "ack", "unread")


@dataclass(frozen=True)
class FaultPlan:
    """Rates are probabilities per request, between 0 and 1; the default injects nothing."""

    server_error_rate: float = 0.0
    codes: Mapping[int, float] = field(default_factory=dict)
    data_false_rate: float = 0.0
    slow_rate: float = 0.0
    slow_seconds: float = 15.0
    drop_rate: float = 0.0
    drop_hold_seconds: float = 0.0
    endpoints: tuple[str, ...] = ("send", "notify")
    limit: int | None = None
    seed: int = 1

    def __post_init__(self) -> None:
        rates = {
            "server_error_rate": self.server_error_rate,
            "data_false_rate": self.data_false_rate,
            "slow_rate": self.slow_rate,
            "drop_rate": self.drop_rate,
        }
        rates.update({f"codes.{code}": rate for code, rate in self.codes.items()})
        check_rates(rates)
        if sum(rates.values()) > 1.0:
            raise ValueError("faults: the rates add up to more than 1")
        if 200 in self.codes:
            raise ValueError("faults: code 200 is success; use data_false_rate")
        unknown = sorted(set(self.endpoints) - set(OPERATIONS))
        if unknown:
            raise ValueError(f"faults: unknown endpoint(s) {', '.join(unknown)}")
        check_durations(self.slow_seconds, self.drop_hold_seconds)
        if self.limit is not None and self.limit < 0:
            raise ValueError("faults: limit must not be negative")

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> FaultPlan:
        """Build a plan from its JSON form, naming any unknown or ill-typed key."""
        return cls(**plan_kwargs(raw, cls.__dataclass_fields__, _convert))

    def to_dict(self) -> dict[str, Any]:
        """The JSON form, as `GET /_sim/faults` shows it."""
        data = asdict(self)
        data["codes"] = rates_by_code_json(self.codes)
        data["endpoints"] = list(self.endpoints)
        return data


def _convert(key: str, value: Any) -> Any:
    """One value of the JSON form, typed as `FaultPlan` wants it."""
    if key == "codes":
        return rates_by_code(value)
    if key == "endpoints":
        if isinstance(value, str):
            raise TypeError("a list of endpoint names is expected")
        return tuple(str(name) for name in value)
    if key in ("limit", "seed"):
        return None if value is None else int(value)
    return float(value)


@dataclass(frozen=True)
class Fault:
    """The outcome of one draw: its kind, the code of a `code` fault, a delay in seconds."""

    kind: FaultKind
    code: int = 0
    seconds: float = 0.0


NO_FAULT = Fault("none")


class FaultInjector(SeededDraws):
    """Draws faults from a seeded generator, so a run with the same plan is repeatable."""

    plan: FaultPlan

    def __init__(self, plan: FaultPlan) -> None:
        super().__init__()
        self.replace(plan)

    def replace(self, plan: FaultPlan) -> None:
        """Install a new plan; its `limit` counts from now."""
        self.plan = plan
        self._reseed(plan.seed)
        self._left = plan.limit

    def draw(self, operation: str) -> Fault:
        """The fault (possibly none) for one request to `operation`."""
        plan = self.plan
        if operation not in plan.endpoints or self._left == 0:
            return NO_FAULT
        choices: list[tuple[float, Fault]] = [(plan.server_error_rate, Fault("server_error"))]
        choices += [(rate, Fault("code", code=code)) for code, rate in plan.codes.items()]
        choices += [
            (plan.data_false_rate, Fault("data_false")),
            (plan.slow_rate, Fault("slow", seconds=plan.slow_seconds)),
            (plan.drop_rate, Fault("drop", seconds=plan.drop_hold_seconds)),
        ]
        fault = self._pick(choices)
        return NO_FAULT if fault is None else self._count(fault)

    def _count(self, fault: Fault) -> Fault:
        if self._left is not None:
            self._left -= 1
        self._tally(f"code_{fault.code}" if fault.kind == "code" else fault.kind)
        return fault
