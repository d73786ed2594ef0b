"""The mechanism both fault plans share; each fake keeps its own vocabulary of faults.

A plan is a frozen dataclass of rates (probabilities per request) whose JSON form is what
`POST /_sim/faults` takes; an injector draws from a generator seeded by the plan, so a run with
the same plan is repeatable. What goes wrong, and how it is named, is each fake's `faults` module.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

T = TypeVar("T")


def check_rates(rates: Mapping[str, float]) -> None:
    """Raise ValueError naming the first rate outside [0, 1]."""
    for name, rate in rates.items():
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"faults: {name} must be between 0 and 1, got {rate}")


def check_durations(*seconds: float) -> None:
    if any(value < 0 for value in seconds):
        raise ValueError("faults: durations must not be negative")


def plan_kwargs(
    raw: Mapping[str, Any], known: Iterable[str], convert: Callable[[str, Any], Any]
) -> dict[str, Any]:
    """A plan's constructor arguments from its JSON form, naming any unknown or ill-typed key.

    `convert(key, value)` types one value; its TypeError or ValueError names the key.
    """
    unknown = sorted(set(raw) - set(known))
    if unknown:
        raise ValueError(f"faults: unknown key(s) {', '.join(unknown)}")
    kwargs: dict[str, Any] = {}
    key = ""
    try:
        for key, value in raw.items():
            kwargs[key] = convert(key, value)
    except (TypeError, ValueError) as error:
        raise ValueError(f"faults: bad value for {key!r}: {error}") from None
    return kwargs


def rates_by_code(value: Any) -> dict[int, float]:
    """`{"500": 0.1}` (JSON keys are strings) as `{500: 0.1}`."""
    return {int(code): float(rate) for code, rate in dict(value).items()}


def rates_by_code_json(rates: Mapping[int, float]) -> dict[str, float]:
    return {str(code): rate for code, rate in rates.items()}


class SeededDraws:
    """A seeded generator, one draw over mutually exclusive outcomes, and a tally by name."""

    _rng: random.Random

    def __init__(self) -> None:
        self.injected: dict[str, int] = {}

    def _reseed(self, seed: int) -> None:
        self._rng = random.Random(seed)

    def _pick(self, choices: Iterable[tuple[float, T]]) -> T | None:
        """One draw: the outcome whose slice of [0, 1) it falls in, or None past them all."""
        draw = self._rng.random()
        for rate, outcome in choices:
            if draw < rate:
                return outcome
            draw -= rate
        return None

    def _tally(self, name: str) -> None:
        self.injected[name] = self.injected.get(name, 0) + 1
