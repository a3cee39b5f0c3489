"""Speaker/bridge settings: neighbour lists, hot routers, validation."""

from __future__ import annotations

from pathlib import Path

import pytest

from ribflow.bgp.errors import NeighborConfigError
from ribflow.bgp.settings import BridgeSettings
from ribflow.settings import load
from ribflow.settings_groups import parse_hot_routers


def test_inline_and_file_neighbours(tmp_path: Path) -> None:
    f = tmp_path / "n.yaml"
    f.write_text(
        "neighbors:\n"
        "  - address: 192.0.2.10\n    peer_as: 4200000001\n"
        "    md5_password: s3cret\n    shards: 4\n"
        "  - 2001:db8::1\n"
    )
    s = BridgeSettings(BGP_NEIGHBORS="192.0.2.1, 192.0.2.2@65002", BGP_NEIGHBORS_FILE=str(f))
    got = [(n.address, n.peer_as, n.md5_password, n.shards) for n in s.neighbors()]
    assert got == [
        ("192.0.2.1", None, None, None),
        ("192.0.2.2", 65002, None, None),
        ("192.0.2.10", 4200000001, "s3cret", 4),
        ("2001:db8::1", None, None, None),
    ]


def test_neighbours_are_split_between_exabgp_processes() -> None:
    addrs = ",".join(f"192.0.2.{i}" for i in range(1, 8))
    s = BridgeSettings(BGP_NEIGHBORS=addrs, EXABGP_PROCESSES=3)
    parts = [[n.address for n in s.neighbors_of(i)] for i in range(3)]
    assert parts == [
        ["192.0.2.1", "192.0.2.4", "192.0.2.7"],
        ["192.0.2.2", "192.0.2.5"],
        ["192.0.2.3", "192.0.2.6"],
    ]
    with pytest.raises(NeighborConfigError):
        s.neighbors_of(3)


@pytest.mark.parametrize(
    "neighbors",
    ["192.0.2.1,192.0.2.1", "not-an-ip", "192.0.2.1@zero", "192.0.2.1@0"],
)
def test_bad_inline_neighbours(neighbors: str) -> None:
    with pytest.raises(NeighborConfigError):
        BridgeSettings(BGP_NEIGHBORS=neighbors).neighbors()


def test_bad_neighbour_file(tmp_path: Path) -> None:
    f = tmp_path / "n.yaml"
    f.write_text("- address: 192.0.2.1\n  hold_time: 2\n")
    with pytest.raises(NeighborConfigError, match="hold time"):
        BridgeSettings(BGP_NEIGHBORS_FILE=str(f)).neighbors()
    f.write_text("- address: 192.0.2.1\n  colour: blue\n")
    with pytest.raises(NeighborConfigError):
        BridgeSettings(BGP_NEIGHBORS_FILE=str(f)).neighbors()
    with pytest.raises(NeighborConfigError):
        BridgeSettings(BGP_NEIGHBORS_FILE=str(tmp_path / "missing.yaml")).neighbors()


def test_hot_routers() -> None:
    assert parse_hot_routers("10.0.0.3=4, 127.0.0.3=2") == {"10.0.0.3": 4, "127.0.0.3": 2}
    assert parse_hot_routers("") == {}
    for bad in ("10.0.0.3", "10.0.0.3=0", "=3", "10.0.0.3=x"):
        with pytest.raises(ValueError):
            parse_hot_routers(bad)


@pytest.mark.parametrize(
    ("env", "value"),
    [
        ("BGP_ROUTER_KEY", "hostname"),
        ("BGP_SHARDS", "0"),
        ("BGP_FAMILIES", "ipv4 unicast, ipx spx"),
        ("BGP_ROUTER_ID", "2001:db8::1"),
        ("BGP_HOT_ROUTERS", "10.0.0.1=999"),
        ("BRIDGE_BUFFER_MESSAGES", "10"),
        ("BRIDGE_COMPRESSION", "brotli"),
    ],
)
def test_invalid_settings_are_refused(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], env: str, value: str
) -> None:
    monkeypatch.setenv(env, value)
    with pytest.raises(SystemExit) as exited:
        load(BridgeSettings, "ribflow bridge")
    assert exited.value.code == 2
    assert f"ribflow bridge: {env}={value!r}: " in capsys.readouterr().err


def test_router_id_defaults_to_the_ipv4_local_address() -> None:
    assert BridgeSettings(BGP_LOCAL_ADDRESS="127.0.0.20").router_id() == "127.0.0.20"
    assert (
        BridgeSettings(BGP_LOCAL_ADDRESS="auto", BGP_ROUTER_ID="10.0.0.20").router_id()
        == "10.0.0.20"
    )
    with pytest.raises(NeighborConfigError):
        BridgeSettings(BGP_LOCAL_ADDRESS="2001:db8::20").router_id()
    # 'auto': the address the kernel uses towards the first IPv4 neighbour
    auto = BridgeSettings(BGP_LOCAL_ADDRESS="auto", BGP_NEIGHBORS="2001:db8::1,127.0.0.98")
    assert auto.router_id() == "127.0.0.1"


def test_the_app_readme_documents_every_bgp_setting() -> None:
    from ribflow.bgp.settings import BridgeSettings
    from ribflow.settings import AppSettings, settings_rows

    readme = (Path(__file__).resolve().parents[2] / "apps" / "bgp-bridge" / "README.md").read_text()
    shared = {env for env, _, _ in settings_rows(AppSettings)}
    missing = [
        env
        for env, _, _ in settings_rows(BridgeSettings)
        if env not in shared and f"| `{env}` |" not in readme
    ]
    assert missing == []


def test_an_empty_peer_as_means_the_local_as(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BGP_PEER_AS", "")  # what an app.yaml default of "" gives
    assert BridgeSettings().bgp_peer_as is None
