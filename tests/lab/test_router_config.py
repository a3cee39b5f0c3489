"""The one gobgpd.toml renderer (RouterConfig): what each kind of peer gets, and gobgpd agrees."""

from __future__ import annotations

import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest

from ribflow.lab.router import Peer, RouterConfig, gobgpd_argv

ROUTER = "127.0.0.98"  # the lab tests' share: 127.0.0.80-99


def mixed() -> RouterConfig:
    peers = (
        Peer("127.0.0.97", hold_time=9, add_paths_send=8, description="speaker"),
        Peer("127.0.0.96", passive=False, graceful_restart=False, connect_retry=2),
        Peer("127.0.0.95", rr_client=False),
    )
    return RouterConfig(ROUTER, "10.0.0.98", 65001, peers, families=("ipv4-unicast",))


def neighbour(conf: dict[str, Any], address: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = [
        n for n in conf["neighbors"] if n["config"]["neighbor-address"] == address
    ]
    assert len(found) == 1, f"{address}: {len(found)} neighbour sections"
    return found[0]


def test_each_peer_gets_exactly_its_options() -> None:
    conf = tomllib.loads(mixed().toml())
    assert conf["global"]["config"] == {
        "as": 65001,
        "router-id": "10.0.0.98",
        "port": 179,
        "local-address-list": [ROUTER],
    }
    speaker = neighbour(conf, "127.0.0.97")
    assert speaker["config"] == {
        "neighbor-address": "127.0.0.97",
        "peer-as": 65001,
        "description": "speaker",
    }
    assert speaker["transport"]["config"] == {"local-address": ROUTER, "passive-mode": True}
    assert speaker["timers"]["config"] == {"hold-time": 9, "keepalive-interval": 3}
    assert speaker["add-paths"]["config"] == {"send-max": 8}
    assert speaker["graceful-restart"]["config"] == {"enabled": True, "restart-time": 120}
    assert speaker["route-reflector"]["config"]["route-reflector-cluster-id"] == "10.0.0.98"
    assert [f["config"]["afi-safi-name"] for f in speaker["afi-safis"]] == ["ipv4-unicast"]
    assert speaker["afi-safis"][0]["mp-graceful-restart"]["config"] == {"enabled": True}

    active = neighbour(conf, "127.0.0.96")
    assert active["transport"]["config"]["passive-mode"] is False
    assert active["timers"]["config"] == {"connect-retry": 2}
    assert "graceful-restart" not in active and "add-paths" not in active
    assert "mp-graceful-restart" not in active["afi-safis"][0]

    plain = neighbour(conf, "127.0.0.95")
    assert "route-reflector" not in plain and "timers" not in plain


def test_comment_is_a_toml_comment() -> None:
    text = RouterConfig(ROUTER, "10.0.0.98", 65001, (), comment="hello").toml()
    assert text.startswith("# hello\n")
    assert "neighbors" not in tomllib.loads(text)


@pytest.mark.integration
def test_gobgpd_accepts_every_option(tmp_path: Path) -> None:
    path = tmp_path / "gobgpd.toml"
    path.write_text(mixed().toml())
    argv = gobgpd_argv(path, f"{ROUTER}:50198", log_level="info")
    assert argv[1:6] == ["-f", str(path), "-t", "toml", "-p"]
    dry = subprocess.run([argv[0], "-f", str(path), "-t", "toml", "-d"], capture_output=True,
                         text=True, timeout=30)  # fmt: skip
    assert dry.returncode == 0, dry.stdout + dry.stderr
