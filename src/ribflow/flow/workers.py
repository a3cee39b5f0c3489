"""COLLECTOR_WORKERS > 1: several collector processes sharing every UDP port (SO_REUSEPORT).

Why: decoding is CPU-bound Python, so one collector process uses one core at most.

How: the parent binds every listener (address, port) once per worker, all with SO_REUSEPORT,
*before* any worker starts, then starts ``ribflow collector --worker I --fds ...`` children; each
inherits its own socket of every listener and makes its own Kafka producer. The parent keeps no
socket open, so only the workers' sockets form each reuseport group, and that group never changes
while they run.

Exporter state: the kernel picks the socket of a datagram by a hash of its 4-tuple (source
address and port, destination address and port), so one exporter socket always lands on the
same worker (tests/flow/test_workers.py checks it). NetFlow v9/IPFIX templates and sampling
state are keyed by exporter, so they live in the worker that receives that exporter. Template
persistence stays consistent: every worker restores the whole flow-templates table at start (it
only ever uses its own exporters' entries) and writes the changes of its own exporters only, so
no two workers write the same key.

Caveats (COLLECTOR_WORKERS's description says so too):
- an exporter that sends from several source ports (some line-card designs) can have its
  templates on one worker and its data on another: the data is held, then counted as
  missing-template, until that worker sees the template too; run such exporters with 1 worker;
- if a worker dies its socket leaves the group and the kernel re-hashes exporters onto the other
  workers, whose template copies were restored at start and may be stale; so the parent then
  stops every worker and exits 1 for the service manager to restart the whole set (a fresh
  start restores current state from the topic).

Shutdown: SIGTERM/SIGINT to the parent sends SIGTERM to every worker (each stops reading,
flushes its producer, exits) and waits; a worker still alive STOP_FLUSH_S + 10 s later is killed.
Workers ask the kernel for SIGTERM when the parent dies (PR_SET_PDEATHSIG): no orphans.
"""

from __future__ import annotations

import ctypes
import logging
import os
import select
import signal
import subprocess
import sys
import threading
import time
from types import FrameType

from ribflow.flow.settings import CollectorSettings
from ribflow.flow.udp import Listener, open_listener
from ribflow.flow.workers_metrics import serve_worker_metrics, worker_metrics_port

log = logging.getLogger("ribflow.collector")

PR_SET_PDEATHSIG = 1
READY_MARGIN_S = 60.0  # beyond the workers' own start-up waits (templates, bgp catch-up)
KILL_MARGIN_S = 10.0


def die_with_parent(parent_pid: int) -> None:
    """In a worker: get SIGTERM when the parent dies (Linux prctl); exit if it already has."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
    except (OSError, AttributeError) as exc:  # not Linux: orphans are then possible
        log.warning("cannot ask for the parent's death signal: %s", exc)
    if os.getppid() != parent_pid:
        raise SystemExit(1)


def bind_groups(settings: CollectorSettings, workers: int) -> list[list[Listener]]:
    """``workers`` sockets per listener, all in one reuseport group: [worker][listener]."""
    per_worker: list[list[Listener]] = [[] for _ in range(workers)]
    try:
        for host in settings.hosts():
            for port in settings.ports():
                first = open_listener(host, port, settings.udp_rcvbuf_bytes, reuseport=True)
                per_worker[0].append(first)
                for w in range(1, workers):  # port 0: every worker on the port the first got
                    per_worker[w].append(
                        open_listener(host, first.port, settings.udp_rcvbuf_bytes, True)
                    )
    except OSError:
        for group in per_worker:
            for lst in group:
                lst.close()
        raise
    return per_worker


class Supervisor:
    """Starts the workers, forwards stop signals, stops all when one dies."""

    def __init__(self, settings: CollectorSettings) -> None:
        self.settings = settings
        self.workers = settings.collector_workers
        self.procs: list[subprocess.Popen[bytes]] = []
        self.stop_event = threading.Event()

    def _command(self, index: int, fds: list[int], ready_fd: int) -> list[str]:
        return [
            sys.executable, "-m", "ribflow", "collector", "--worker", str(index),
            "--fds", ",".join(map(str, fds)), "--ready-fd", str(ready_fd),
            "--parent-pid", str(os.getpid()),
        ]  # fmt: skip

    def start(self) -> list[str]:
        """Bind, spawn, wait until every worker is ready; returns the listener labels."""
        groups = bind_groups(self.settings, self.workers)
        labels = [lst.label for lst in groups[0]]
        ready_r, ready_w = os.pipe()
        try:
            for i, group in enumerate(groups):
                fds = [lst.sock.fileno() for lst in group]
                for fd in fds:
                    os.set_inheritable(fd, True)
                self.procs.append(
                    subprocess.Popen(
                        self._command(i, fds, ready_w), pass_fds=[*fds, ready_w], close_fds=True
                    )
                )
                log.info("worker %d started (pid %d)", i, self.procs[-1].pid)
        finally:
            os.close(ready_w)
            for group in groups:  # the workers hold them now
                for lst in group:
                    lst.close()
        try:
            self._wait_ready(ready_r)
        finally:
            os.close(ready_r)
        return labels

    def _wait_ready(self, fd: int) -> None:
        s = self.settings
        deadline = time.monotonic() + s.restore_timeout_s + s.bgp_catchup_timeout_s + READY_MARGIN_S
        ready = 0
        while ready < self.workers:
            if self.stop_event.is_set():
                return
            dead = [p for p in self.procs if p.poll() is not None]
            if dead:
                raise RuntimeError(f"worker pid {dead[0].pid} exited {dead[0].returncode} at start")
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {ready} of {self.workers} workers got ready")
            r, _, _ = select.select([fd], [], [], 0.2)
            if r:
                got = os.read(fd, 64)
                if not got:  # every writer gone
                    continue
                ready += len(got)

    def serve_metrics(self) -> None:
        s = self.settings
        ports = [worker_metrics_port(s.metrics_port, i) for i in range(self.workers)]
        serve_worker_metrics(s.metrics_port, s.metrics_host, ports)

    def wait(self) -> int:
        """Until a stop signal (0 when every worker then exits cleanly) or a worker dies (1)."""
        status = 0
        while not self.stop_event.wait(0.2):
            dead = [p for p in self.procs if p.poll() is not None]
            if dead:
                log.error(
                    "worker pid %d exited %s: stopping every worker (exporters would be "
                    "re-hashed onto workers with stale templates)", dead[0].pid, dead[0].returncode,
                )  # fmt: skip
                status = 1
                break
        return self.stop() or status

    def stop(self) -> int:
        """SIGTERM every live worker, wait, kill what is left; 1 if any exited non-zero."""
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self.settings.stop_flush_s + KILL_MARGIN_S
        status = 0
        for i, p in enumerate(self.procs):
            try:
                p.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.error("worker %d (pid %d) did not stop: killing it", i, p.pid)
                p.kill()
                p.wait(10)
            if p.returncode not in (0, -signal.SIGTERM):
                status = 1
        return status

    def on_signal(self, signum: int, _frame: FrameType | None) -> None:
        log.info("signal %d: stopping %d workers", signum, self.workers)
        self.stop_event.set()


def supervise(settings: CollectorSettings) -> int:
    """Run COLLECTOR_WORKERS workers until a signal; the exit status of the set."""
    sup = Supervisor(settings)
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, sup.on_signal)
        signal.signal(signal.SIGINT, sup.on_signal)
    try:
        labels = sup.start()
    except (OSError, RuntimeError) as exc:
        log.error("cannot start the workers: %s", exc)
        sup.stop()
        return 1
    sup.serve_metrics()
    log.info(
        "collector ready: %d workers on %s -> %s (pids %s)", sup.workers, ", ".join(labels),
        settings.flows_topic, " ".join(str(p.pid) for p in sup.procs),
    )  # fmt: skip
    status = sup.wait()
    log.info("collector stopped (%d workers, exit %d)", sup.workers, status)
    return status
