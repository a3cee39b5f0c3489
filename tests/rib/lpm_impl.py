"""Which prefix-table implementation a test runs: :func:`require_compiled` and :func:`use_impl`.

The choice is made through ``RIBFLOW_PURE_LPM``, which :func:`ribflow.rib.lpm.new_table` reads
whenever a RIB is built. Without the compiled module a "compiled" run is skipped on a developer
machine but FAILS under CI (``CI`` set), so a broken build cannot silently fall back.
"""

from __future__ import annotations

import os

import pytest

from ribflow.rib import lpm


def require_compiled() -> None:
    """Skip (or, under CI, fail) when the ``ribflow_lpm`` extension is not importable."""
    if lpm.COMPILED is None:
        msg = f"compiled ribflow_lpm not importable: {lpm.COMPILED_ERROR}"
        if os.environ.get("CI"):
            pytest.fail(msg + " (CI must build it: ./dev.sh setup)")
        pytest.skip(msg)


def use_impl(impl: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make every RIB built from now on use ``impl`` ("pure" or "compiled")."""
    if impl == "compiled":
        require_compiled()
    monkeypatch.setenv(lpm.PURE_ENV, "1" if impl == "pure" else "0")
