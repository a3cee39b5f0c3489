"""The agent map file is followed without a restart (ribflow.agentmap.RouterResolver).

Real files on disk; the resolver's clock is injected so "at most every N seconds" is checked
without waiting.
"""

from __future__ import annotations

import os
from pathlib import Path

from ribflow.agentmap import AgentMap, RouterResolver
from ribflow.metrics import BAD_INPUT

EXPORTER = "192.0.2.10"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _write(path: Path, text: str, bump_ns: int = 0) -> None:
    path.write_text(text)
    if bump_ns:  # make sure the change is visible even on coarse-mtime file systems
        st = path.stat()
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + bump_ns))


def _bad_maps() -> float:
    return float(BAD_INPUT.labels(component="agentmap", reason="bad_agent_map")._value.get())


def test_a_changed_file_is_picked_up_after_the_interval(tmp_path: Path) -> None:
    path = tmp_path / "agent.map"
    _write(path, f"bgp_ip=10.0.0.1 ip={EXPORTER}\n")
    clock = Clock()
    resolver = RouterResolver(AgentMap.load(path), reload_interval=5.0, clock=clock)
    assert resolver.router_for(EXPORTER) == "10.0.0.1"

    _write(path, f"! moved\nbgp_ip=10.0.0.2 ip={EXPORTER}\nbgp_ip=10.0.0.3 ip=198.51.100.0/24\n",
           bump_ns=1_000_000_000)  # fmt: skip
    clock.now += 4.0  # not yet due: the cached answer stays
    assert resolver.router_for(EXPORTER) == "10.0.0.1"
    clock.now += 1.5
    assert resolver.router_for(EXPORTER) == "10.0.0.2"
    assert resolver.router_for("198.51.100.7") == "10.0.0.3"
    assert len(resolver.agent_map.entries) == 2


def test_a_broken_or_missing_file_keeps_the_loaded_map_and_is_counted_once(
    tmp_path: Path,
) -> None:
    path = tmp_path / "agent.map"
    _write(path, f"bgp_ip=10.0.0.1 ip={EXPORTER}\n")
    clock = Clock()
    resolver = RouterResolver(AgentMap.load(path), reload_interval=2.0, clock=clock)
    before = _bad_maps()

    _write(path, f"bgp_ip=not-an-address ip={EXPORTER}\n", bump_ns=1_000_000_000)
    for _ in range(3):  # three checks of the same broken version: one report
        clock.now += 2.0
        assert resolver.router_for(EXPORTER) == "10.0.0.1"
    assert _bad_maps() == before + 1

    path.unlink()
    clock.now += 2.0
    assert resolver.router_for(EXPORTER) == "10.0.0.1"
    assert _bad_maps() == before + 2

    _write(path, f"bgp_ip=10.0.0.9 ip={EXPORTER}\n", bump_ns=2_000_000_000)
    clock.now += 2.0
    assert resolver.router_for(EXPORTER) == "10.0.0.9"
    assert _bad_maps() == before + 2


def test_unchanged_file_is_not_parsed_again_and_interval_zero_never_reloads(
    tmp_path: Path,
) -> None:
    path = tmp_path / "agent.map"
    _write(path, f"bgp_ip=10.0.0.1 ip={EXPORTER}\n")
    clock = Clock()
    resolver = RouterResolver(AgentMap.load(path), reload_interval=1.0, clock=clock)
    loaded = resolver.agent_map
    clock.now += 10
    assert resolver.check_reload() is False
    assert resolver.agent_map is loaded

    frozen = RouterResolver(AgentMap.load(path), reload_interval=0, clock=clock)
    _write(path, f"bgp_ip=10.0.0.2 ip={EXPORTER}\n", bump_ns=1_000_000_000)
    clock.now += 1000
    assert frozen.router_for(EXPORTER) == "10.0.0.1"
    assert resolver.router_for(EXPORTER) == "10.0.0.2"


def test_a_map_without_a_file_is_never_checked() -> None:
    clock = Clock()
    resolver = RouterResolver(None, fallback="10.9.9.9", clock=clock)
    clock.now += 1e6
    assert resolver.router_for(EXPORTER) == "10.9.9.9"
    assert resolver.check_reload() is False
