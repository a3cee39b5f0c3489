"""ExaBGP configuration rendered from settings; ExaBGP itself validates it (integration)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ribflow.bgp.errors import NeighborConfigError
from ribflow.bgp.exabgp_config import render
from ribflow.bgp.settings import BridgeSettings


def write_neighbours(path: Path, count: int) -> Path:
    lines = ["neighbors:"]
    for i in range(count):
        lines.append(f"  - address: 10.{i // 250}.{i % 250}.1")
        if i % 3 == 0:
            lines.append(f"    peer_as: {4200000000 + i}")
        if i % 5 == 0:
            lines.append("    md5_password: 'pa$$-word'")
        if i % 7 == 0:
            lines.append("    hold_time: 30\n    families: [ipv4 unicast]\n    add_path: false")
        if i % 11 == 0:
            lines.append("    passive: true")
    path.write_text("\n".join(lines) + "\n")
    return path


def test_render_has_one_full_block_per_neighbour(tmp_path: Path) -> None:
    s = BridgeSettings(
        BGP_LOCAL_ADDRESS="127.0.0.20",
        BGP_NEIGHBORS_FILE=str(write_neighbours(tmp_path / "n.yaml", 120)),
        BGP_GRACEFUL_RESTART=0,
        BGP_WIRE_ASPATH=False,
    )
    out = render(s)
    conf = out.configs[0]
    assert conf.count("\nneighbor ") == 120
    assert conf.count('md5-password "pa$$-word";') == 24
    assert conf.count("peer-as 4200000000;") == 1 and conf.count("peer-as 65001;") == 80
    assert conf.count("hold-time 30;") == 18 and conf.count("hold-time 90;") == 102
    assert conf.count("add-path disable;") == 18 and conf.count("add-path receive;") == 102
    assert conf.count("graceful-restart disable;") == 120
    assert "consolidate" not in conf
    assert f"run {sys.executable} -m ribflow bridge;" in conf
    # a neighbour is passive: ExaBGP must listen on the local address
    assert (
        "bind = '127.0.0.20'" in out.env
        and "user = 'root'" in out.env
        and "drop = false" in out.env
    )
    assert "cli = false" in out.env and "statistics = false" in out.env


def test_several_processes_split_neighbours_and_tell_the_bridge(tmp_path: Path) -> None:
    s = BridgeSettings(
        BGP_LOCAL_ADDRESS="127.0.0.20",
        BGP_NEIGHBORS="192.0.2.1,192.0.2.2,192.0.2.3",
        EXABGP_PROCESSES=2,
    )
    out = render(s)
    assert len(out.configs) == 2
    assert "neighbor 192.0.2.1 " in out.configs[0] and "neighbor 192.0.2.3 " in out.configs[0]
    assert "neighbor 192.0.2.2 " in out.configs[1]
    assert "ribflow bridge --instance 1;" in out.configs[1]
    paths = out.write(tmp_path)
    assert [p.name for p in paths] == ["exabgp-0.conf", "exabgp-1.conf"]
    assert {p.stat().st_mode & 0o777 for p in paths} == {0o600}  # may hold MD5 passwords
    assert (tmp_path / "exabgp.env").read_text() == out.env


@pytest.mark.parametrize(
    "env",
    [
        {"BGP_NEIGHBORS": ""},
        {"BGP_NEIGHBORS": "192.0.2.1", "BGP_MD5_PASSWORD": 'a"b'},
        {"BGP_NEIGHBORS": "192.0.2.1", "BGP_PASSIVE": "true"},  # listening needs an address
    ],
)
def test_render_refuses_what_exabgp_would_misread(env: dict[str, str]) -> None:
    with pytest.raises(NeighborConfigError):
        render(BridgeSettings(BGP_ROUTER_ID="10.0.0.20", **env))


def exabgp_validate(env_file: Path, conf: Path) -> subprocess.CompletedProcess[str]:
    """ExaBGP's own check of one configuration file."""
    cmd = [sys.executable, "-m", "exabgp", "--env-file", str(env_file), "validate", "-n", str(conf)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


@pytest.mark.integration
def test_exabgp_accepts_a_120_neighbour_configuration(tmp_path: Path) -> None:
    s = BridgeSettings(
        BGP_LOCAL_ADDRESS="127.0.0.20",
        BGP_NEIGHBORS_FILE=str(write_neighbours(tmp_path / "n.yaml", 120)),
        EXABGP_PROCESSES=2,
    )
    out = render(s)
    env_file = tmp_path / "exabgp" / "exabgp.env"
    for conf in out.write(tmp_path / "exabgp"):
        result = exabgp_validate(env_file, conf)
        assert result.returncode == 0, result.stdout + result.stderr
    # a broken file is refused: the check can fail
    bad = tmp_path / "bad.conf"
    bad.write_text(out.configs[0].replace("hold-time 90;", "hold-time ninety;", 1))
    result = exabgp_validate(env_file, bad)
    assert result.returncode != 0


def test_the_example_in_the_repository_is_what_the_renderer_writes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    example = Path(__file__).resolve().parents[2] / "exabgp" / "example"
    monkeypatch.chdir(example.parents[1])
    s = BridgeSettings(
        BGP_LOCAL_ADDRESS="127.0.0.2",
        BGP_ROUTER_ID="10.0.0.2",
        BGP_NEIGHBORS_FILE="exabgp/example/neighbors.yaml",
        EXABGP_BRIDGE_COMMAND="/usr/local/bin/ribflow-bridge",
    )
    out = render(s)
    assert (example / "exabgp-0.conf").read_text() == out.configs[0]
    assert (example / "exabgp.env").read_text() == out.env


@pytest.mark.integration
def test_exabgp_accepts_vpn_families_with_extended_next_hop(tmp_path: Path) -> None:
    s = BridgeSettings(
        BGP_LOCAL_ADDRESS="127.0.4.20",
        BGP_NEIGHBORS="192.0.2.1",
        BGP_FAMILIES="ipv4 unicast,ipv4 mpls-vpn,ipv6 mpls-vpn,ipv4 nlri-mpls",
    )
    out = render(s)
    conf = out.configs[0]
    for entry in ("ipv4 unicast ipv6;", "ipv4 mpls-vpn ipv6;", "ipv4 nlri-mpls ipv6;"):
        assert entry in conf
    env_file = tmp_path / "exabgp" / "exabgp.env"
    (path,) = out.write(tmp_path / "exabgp")
    result = exabgp_validate(env_file, path)
    assert result.returncode == 0, result.stdout + result.stderr
