"""Start detached processes, recognise them later by pid, and stop them (never by name).

Each lab process runs in its own session (so it outlives `ribflow lab up` and a signal to its
process group reaches the children it spawned, such as ExaBGP's API process), with stdout and
stderr in a log file. Its pid is recorded together with a *marker*, a string its command line
must contain: a recycled pid belonging to some other program is never signalled.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class ProcSpec:
    """How to start one process."""

    name: str
    argv: list[str]
    log: Path
    cwd: Path
    env: dict[str, str] = field(default_factory=dict)  # added to the current environment
    marker: str = ""  # substring of the command line; default: the program name


@dataclass
class ProcRecord:
    """A started process, as recorded in the lab's state file."""

    name: str
    pid: int
    argv: list[str]
    log: str
    marker: str
    started: float

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ProcRecord:
        return cls(**data)


def start(spec: ProcSpec) -> ProcRecord:
    """Start ``spec`` detached (new session, stdin /dev/null, output appended to its log)."""
    spec.log.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, **spec.env}
    with open(spec.log, "ab") as out:
        out.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(spec.argv)}\n".encode())
        out.flush()
        proc = subprocess.Popen(
            spec.argv,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=spec.cwd,
            env=env,
            start_new_session=True,
        )
    marker = spec.marker or Path(spec.argv[0]).name
    _children[proc.pid] = proc
    return ProcRecord(spec.name, proc.pid, spec.argv, str(spec.log), marker, time.time())


# Popen objects of the processes this interpreter started, so their exit status is collected
# (an unreaped child would linger as a zombie while `lab up` waits for the others).
_children: dict[int, subprocess.Popen[bytes]] = {}


def _state(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return None


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(
            errors="replace"
        )
    except OSError:
        return ""


def pid_alive(pid: int, marker: str = "") -> bool:
    """True when ``pid`` runs (not a zombie) and, if given, its command line contains marker."""
    if pid <= 0:
        return False
    child = _children.get(pid)
    if child is not None:  # our own child: its exit status is authoritative (and right after
        return child.poll() is None  # the fork its command line is still ours, not its own)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    state = _state(pid)
    if state is None or state == "Z":
        return False
    return not marker or marker in _cmdline(pid)


def alive(rec: ProcRecord) -> bool:
    return pid_alive(rec.pid, rec.marker)


def exit_code(rec: ProcRecord) -> int | None:
    """Exit status of a process this interpreter started, once it has exited."""
    child = _children.get(rec.pid)
    return None if child is None else child.poll()


def group_pids(pgid: int) -> list[int]:
    """Live processes of a process group (the lab process and what it spawned)."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if len(fields) > 2 and int(fields[2]) == pgid and fields[0] != "Z":
            out.append(int(entry.name))
    return out


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        pass
    except PermissionError:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def wait_gone(pids: list[int], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        if not any(pid_alive(p) for p in pids):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.1)


def stop(rec: ProcRecord, timeout: float = 15.0) -> bool:
    """SIGTERM the process group of ``rec`` (then SIGKILL); True if it was running.

    Only a process whose command line still carries the recorded marker is signalled.
    """
    if not alive(rec):
        return False
    members = group_pids(rec.pid) or [rec.pid]
    _signal_group(rec.pid, signal.SIGTERM)
    if not wait_gone(members, timeout):
        _signal_group(rec.pid, signal.SIGKILL)
        for pid in members:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        wait_gone(members, 5.0)
    child = _children.pop(rec.pid, None)
    if child is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.wait(timeout=1)
    return True


def log_tail(path: str | Path, lines: int = 15) -> str:
    """The last lines of a log file, for error messages."""
    try:
        text = Path(path).read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.rstrip().splitlines()[-lines:])
