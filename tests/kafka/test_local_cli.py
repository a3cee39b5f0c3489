"""`ribflow kafka up | down | status` as an operator runs it: a separate process, real jars."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.fixtures.ports import free_port

pytestmark = pytest.mark.integration


def ribflow(
    *args: str, env: dict[str, str] | None = None, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k != "Quix__Broker__Address"}
    if env:
        base.update(env)
    return subprocess.run(
        [sys.executable, "-m", "ribflow", "kafka", *args],
        capture_output=True,
        text=True,
        env=base,
        timeout=timeout,
    )


def pid_alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def java_pids_for(data_dir: Path) -> list[int]:
    out = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmd = (proc / "cmdline").read_bytes()
            except OSError:
                continue
            if (
                b"kafka.Kafka" in cmd
                and str(data_dir).encode() in cmd
                and pid_alive(int(proc.name))
            ):
                out.append(int(proc.name))
    return out


def failed_up(
    tmp_path: Path, *extra: str, port: int = 0, env: dict[str, str] | None = None
) -> list[str]:
    """`ribflow kafka up` on ``port`` (default: a free one) that must fail: its stderr lines."""
    res = ribflow(
        "up",
        "--port",
        str(port or free_port()),
        "--controller-port",  # not port+1: connect() takes ports of that parity (flaked in CI)
        str(free_port()),
        "--data-dir",
        str(tmp_path / "d"),
        *extra,
        env=env,
    )
    assert res.returncode != 0
    return res.stderr.strip().splitlines()


def test_up_twice_cached_down_leaves_nothing(tmp_path: Path) -> None:
    port, cport = free_port(), free_port()
    data, cache = tmp_path / "data", tmp_path / "cache"
    common = [
        "--port",
        str(port),
        "--controller-port",
        str(cport),
        "--data-dir",
        str(data),
        "--cache-dir",
        str(cache),
    ]
    try:
        first = ribflow("up", *common)
        assert first.returncode == 0, first.stderr
        assert "started" in first.stdout
        assert (cache / "libs").is_dir() and list((cache / "libs").glob("kafka_2.13-*.jar"))
        assert ribflow("status", "--port", str(port)).returncode == 0

        again = ribflow("up", *common)
        assert again.returncode == 0 and "already running" in again.stdout, again

        pids = java_pids_for(data)
        assert len(pids) == 1
        down = ribflow("down", *common)
        assert down.returncode == 0 and "stopped" in down.stdout
        assert not pid_alive(pids[0]) and java_pids_for(data) == []
        assert ribflow("status", "--port", str(port)).returncode == 1

        # second start from the cache: no Maven on PATH at all, so the jars must come from it
        java_dir = str(
            Path(
                os.path.realpath(subprocess.check_output(["which", "java"], text=True).strip())
            ).parent
        )
        no_mvn = {"PATH": f"{java_dir}:/usr/bin/no-such-dir", "JAVA_HOME": ""}
        second = ribflow("up", *common, env=no_mvn)
        assert second.returncode == 0, second.stderr
        assert ribflow("status", "--port", str(port)).returncode == 0
    finally:
        ribflow("down", *common)
    assert java_pids_for(data) == []


def test_port_taken_gives_one_clear_line(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        lines = failed_up(tmp_path, port=port)
    assert len(lines) == 1 and f"port 127.0.0.1:{port} is already in use" in lines[0]


def test_java_missing_gives_one_clear_line(tmp_path: Path) -> None:
    lines = failed_up(tmp_path, env={"PATH": "/nonexistent", "JAVA_HOME": ""})
    assert len(lines) == 1 and "java not found" in lines[0]


def test_maven_unreachable_gives_one_clear_line(tmp_path: Path) -> None:
    dead = free_port()  # nothing listens there
    settings = tmp_path / "settings.xml"
    settings.write_text(f"""<settings>
  <localRepository>{tmp_path / "m2"}</localRepository>
  <mirrors><mirror><id>dead</id><mirrorOf>*</mirrorOf><url>http://127.0.0.1:{dead}/</url></mirror></mirrors>
</settings>""")
    start = time.monotonic()
    lines = failed_up(
        tmp_path,
        "--cache-dir",
        str(tmp_path / "empty-cache"),
        env={"RIBFLOW_MAVEN_SETTINGS": str(settings)},
    )
    assert len(lines) == 1 and "could not resolve Kafka" in lines[0], lines
    assert time.monotonic() - start < 300


def test_given_broker_address_starts_nothing(tmp_path: Path) -> None:
    res = ribflow(
        "up", "--data-dir", str(tmp_path / "d"), env={"Quix__Broker__Address": "127.0.0.1:1"}
    )
    assert res.returncode == 0 and "nothing to up" in res.stdout
    assert not (tmp_path / "d").exists()
