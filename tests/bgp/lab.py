"""Real daemons for the BGP integration tests: gobgpd, BIRD, the ExaBGP speaker, kcat.

Loopback addresses of this test area only: ExaBGP 127.0.0.20, gobgpd 127.0.0.21 (gRPC port
50121), BIRD 127.0.0.22 (never the lab's 127.0.0.2/.3). Every process started here is stopped by
its pid (terminate, then kill), also when the test fails.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from ribflow.lab.router import Peer, RouterConfig, gobgpd_argv
from tests.fixtures.waiting import wait_for

EXA = "127.0.0.20"
GOBGP = "127.0.0.21"
GOBGP_GRPC = 50121
BIRD = "127.0.0.22"


def need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.fail(f"{tool} is not installed (integration tests need the real one)")
    return path


class Daemon:
    """A child process with its log file, stopped by pid."""

    def __init__(
        self, name: str, cmd: Sequence[str], log: Path, env: dict[str, str] | None = None
    ) -> None:
        self.name = name
        self.log = log
        self._log = log.open("ab")
        self.proc = subprocess.Popen(
            list(cmd), stdout=self._log, stderr=subprocess.STDOUT, env=env, stdin=subprocess.DEVNULL
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, timeout: float = 15.0) -> int | None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._log.close()
        return self.proc.returncode

    def tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def children(pid: int) -> list[int]:
    """Direct children of a process (from /proc)."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == pid:
            out.append(int(entry.name))
    return out


# ---------------------------------------------------------------- kcat (the independent reader)
def kcat_read(broker: str, topic: str) -> list[dict[str, Any]]:
    """Every message of ``topic`` as kcat reports it (-J envelope; payload parsed as JSON)."""
    result = subprocess.run(
        [need("kcat"), "-b", broker, "-t", topic, "-C", "-e", "-q", "-J", "-o", "beginning"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if result.returncode != 0 and "Unknown topic" not in result.stderr:
        raise AssertionError(f"kcat failed: {result.stderr}")
    out = []
    for line in result.stdout.splitlines():
        env = json.loads(line)
        env["value"] = json.loads(env["payload"]) if env.get("payload") else None
        out.append(env)
    out.sort(key=lambda m: (m["partition"], m["offset"]))
    return out


# ---------------------------------------------------------------- gobgpd
def gobgpd_toml(hold: int = 90) -> str:
    """The test router: ExaBGP is its passive route-reflector client, with ADD-PATH (send 8)."""
    exa = Peer(EXA, hold_time=hold, add_paths_send=8)
    return RouterConfig(GOBGP, "10.0.0.21", 65001, (exa,)).toml()


def start_gobgpd(workdir: Path, hold: int = 90) -> Daemon:
    conf = workdir / "gobgpd.toml"
    conf.write_text(gobgpd_toml(hold))
    need("gobgpd")
    d = Daemon("gobgpd", gobgpd_argv(conf, f"{GOBGP}:{GOBGP_GRPC}"), workdir / "gobgpd.log")
    wait_for("gobgpd's API", lambda: gobgp("global", check=False).returncode == 0, 30)
    return d


def gobgp(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    cmd = [need("gobgp"), "-u", GOBGP, "-p", str(GOBGP_GRPC), *args]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)}: {result.stdout}{result.stderr}")
    return result


# ---------------------------------------------------------------- BIRD
BIRD_CONF = """
router id 10.0.0.22;
log "{log}" all;
protocol device {{ }}
protocol static s4 {{
  ipv4 {{ import all; }};
  route 203.0.113.0/24 blackhole {{
    bgp_origin = ORIGIN_IGP; bgp_path.prepend(65020); bgp_path.prepend(65010); bgp_med = 55;
    bgp_local_pref = 210; bgp_community.add((65001,100)); bgp_large_community.add((65001,5,5));
  }};
  route 192.0.2.128/25 blackhole {{
    bgp_origin = ORIGIN_INCOMPLETE; bgp_path.prepend(4200000001); bgp_local_pref = 90;
    bgp_community.add((65535,65281)); bgp_ext_community.add((rt, 65001, 9));
  }};
}}
protocol static s6 {{
  ipv6 {{ import all; }};
  route 2001:db8:300::/48 blackhole {{
    bgp_path.prepend(65060); bgp_path.prepend(65061); bgp_local_pref = 300;
    bgp_large_community.add((65001,3,3));
  }};
}}
protocol bgp exabgp {{
  local {bird} as 65001;
  neighbor {exa} as 65001;
  rr client;
  rr cluster id 10.0.0.22;
  passive on;
  strict bind on;
  graceful restart on;
  ipv4 {{ import all; export all; next hop address 192.0.2.5; }};
  ipv6 {{ import all; export all; next hop address 2001:db8::5; }};
}}
"""


def start_bird(workdir: Path) -> Daemon:
    conf = workdir / "bird.conf"
    conf.write_text(BIRD_CONF.format(log=workdir / "bird.log", bird=BIRD, exa=EXA))
    cmd = [need("bird"), "-f", "-c", str(conf), "-s", str(workdir / "bird.ctl")]
    d = Daemon("bird", cmd, workdir / "bird.out")
    wait_for("BIRD's control socket", lambda: (workdir / "bird.ctl").exists() or not d.alive(), 30)
    if not d.alive():
        pytest.fail(f"BIRD did not start:\n{d.tail()}")
    return d


# ---------------------------------------------------------------- the speaker (ExaBGP + bridge)
def speaker_env(broker: str, topic: str, workdir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BGP_", "BRIDGE_", "EXABGP_"))}
    env.update(
        {
            "Quix__Broker__Address": broker,
            "BGP_UPDATES_TOPIC": topic,
            "PARTITIONS": "4",
            "BGP_LOCAL_ADDRESS": EXA,
            "BGP_ROUTER_ID": "10.0.0.20",
            "BGP_HOLD_TIME": "30",
            "EXABGP_CONFIG_DIR": str(workdir / "exabgp"),
            "LOG_LEVEL": "INFO",
        }
    )
    env.update(extra)
    return env


def start_speaker(env: dict[str, str], workdir: Path) -> Daemon:
    cmd = [sys.executable, "-m", "ribflow", "exabgp", "run"]
    return Daemon("speaker", cmd, workdir / "speaker.log", env=env)
