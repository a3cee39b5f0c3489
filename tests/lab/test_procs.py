"""Process supervision by recorded pid: start detached, recognise, stop the whole group."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from ribflow.lab import procs
from ribflow.lab.procs import ProcRecord, ProcSpec


def test_start_alive_stop(tmp_path: Path) -> None:
    spec = ProcSpec("sleeper", ["sleep", "60"], tmp_path / "s.log", tmp_path, marker="sleep 60")
    rec = procs.start(spec)
    try:
        assert procs.alive(rec)
        assert os.getpgid(rec.pid) == rec.pid  # its own session and group
        assert procs.stop(rec, timeout=5)
        assert not procs.alive(rec) and not procs.pid_alive(rec.pid)
        assert not procs.stop(rec)  # stopping twice is a no-op
    finally:
        if procs.pid_alive(rec.pid):
            os.kill(rec.pid, 9)


def test_stop_reaches_children_and_survives_term_ignorers(tmp_path: Path) -> None:
    # a shell that ignores SIGTERM and has a child: both must be gone after stop()
    script = "trap '' TERM; sleep 300 & echo $! > child.pid; wait"
    rec = procs.start(ProcSpec("stubborn", ["sh", "-c", script], tmp_path / "x.log", tmp_path,
                               marker="trap"))
    deadline = time.monotonic() + 10
    while not (tmp_path / "child.pid").exists() or not (tmp_path / "child.pid").read_text():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    child = int((tmp_path / "child.pid").read_text())
    try:
        assert procs.pid_alive(child)
        assert procs.stop(rec, timeout=1.0)
        assert not procs.pid_alive(rec.pid) and not procs.pid_alive(child)
    finally:
        for pid in (rec.pid, child):
            if procs.pid_alive(pid):
                os.kill(pid, 9)


def test_a_recycled_pid_is_never_signalled(tmp_path: Path) -> None:
    # a record whose pid now belongs to another program (here: a process we own) is "not alive"
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        rec = ProcRecord("gone", other.pid, ["x"], "", "ribflow collector", time.time())
        assert not procs.alive(rec)
        assert not procs.stop(rec)
        assert other.poll() is None  # untouched
    finally:
        other.kill()
        other.wait()


def test_exit_of_own_child_is_seen_even_before_reaping(tmp_path: Path) -> None:
    rec = procs.start(ProcSpec("quick", ["true"], tmp_path / "q.log", tmp_path, marker="true"))
    deadline = time.monotonic() + 10
    while procs.alive(rec):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert procs.exit_code(rec) == 0
    assert "--- " in (tmp_path / "q.log").read_text()


def test_log_tail(tmp_path: Path) -> None:
    log = tmp_path / "l.log"
    log.write_text("".join(f"line {i}\n" for i in range(30)))
    assert procs.log_tail(log, 3) == "line 27\nline 28\nline 29"
    assert procs.log_tail(tmp_path / "missing.log") == ""
