"""Session-wide fixtures: one real Kafka broker per test session, unique topics per test; every
unit test of the RIB, the enricher and the replay on both prefix-table implementations.

Broker choice, in order: ``Quix__Broker__Address`` if set; else compose.yaml through pytest-docker
when a Docker engine answers (``docker info``); else the managed local Kafka (``ribflow kafka``)
on a free port with its own data directory, stopped at the end of the session.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.rib.lpm_impl import use_impl

pytest_plugins = ["tests.fixtures.kafka"]

TESTS = Path(__file__).resolve().parent
# the packages whose tests build RIBs: their unit tests run once on the pure-Python reference and
# once on the compiled core (integration tests run the compiled core, as operators do)
BOTH_IMPLS = {"enrich", "rib", "replay"}
_CHOOSE_THEMSELVES = {"lpm_impl", "record_impl"}  # tests that already run on both


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if _CHOOSE_THEMSELVES & set(metafunc.fixturenames):
        return
    if metafunc.definition.get_closest_marker("integration") is not None:
        return
    try:
        package = Path(str(metafunc.definition.path)).resolve().relative_to(TESTS).parts[0]
    except ValueError:
        return
    if package in BOTH_IMPLS:
        metafunc.fixturenames.append("rib_impl")
        metafunc.parametrize("rib_impl", ["pure", "compiled"], indirect=True)


@pytest.fixture
def rib_impl(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """The prefix-table implementation this run of the test uses (``RIBFLOW_PURE_LPM``)."""
    impl = str(request.param)
    use_impl(impl, monkeypatch)
    return impl
