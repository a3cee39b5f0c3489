"""Fixtures of the RIB tests."""

from __future__ import annotations

import pytest

from tests.rib.lpm_impl import use_impl


@pytest.fixture(params=["pure", "compiled"])
def lpm_impl(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run the test once with the pure-Python and once with the compiled prefix table."""
    impl = str(request.param)
    use_impl(impl, monkeypatch)
    return impl
