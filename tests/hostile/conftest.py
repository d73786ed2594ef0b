"""The hostile-input campaign: what a stranger can send through each edge blazecast owns.

Every test here is marked ``hostile``. The default run (``pytest``) runs each property with a few
examples and leaves out the cases marked ``hostile_full``; ``pytest -m hostile`` runs the whole
campaign with many examples per property. A property holds for any input: a clean result or one
line naming the field or row, never another exception, and nothing already stored is lost.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, settings

# Examples per property: a quick sample in the normal suite, a real search in the campaign.
settings.register_profile(
    "hostile-fast",
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
settings.register_profile(
    "hostile-campaign",
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def campaign_mode(config: pytest.Config) -> bool:
    """True when the run selected the campaign (``-m hostile``)."""
    expression = config.getoption("markexpr") or ""
    return "hostile" in expression and "not hostile" not in expression


def pytest_configure(config: pytest.Config) -> None:
    settings.load_profile("hostile-campaign" if campaign_mode(config) else "hostile-fast")


@pytest.hookimpl(tryfirst=True)  # before -m selects: the marker is added here
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = __file__.rsplit("/", 1)[0]
    kept, dropped = [], []
    for item in items:
        if str(item.fspath).startswith(here):
            item.add_marker(pytest.mark.hostile)
        if item.get_closest_marker("hostile_full") and not campaign_mode(config):
            dropped.append(item)
        else:
            kept.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


# ``blazecast`` run in-process against the test engines, as in tests/cli.
from tests.cli.conftest import cli  # noqa: E402, F401
