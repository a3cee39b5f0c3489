"""The lab exporter: softflowd replaying the traffic plan in a loop, retimed to now each pass.

softflowd has no rate control and, reading a capture (`-r`), stamps flows with the capture's
own packet times; so each pass writes a fresh capture whose packets end "now", runs
`softflowd -r FILE -n COLLECTOR -v VERSION -d` (never `-c` with `-r`: it then blocks), waits
for it to flush and exit, and sleeps until the next pass. Progress goes to a small JSON status
file that `ribflow lab status` and the health check read.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from types import FrameType

from ribflow.lab.packets import write_pcap
from ribflow.lab.traffic import load_factor, load_plan, merge, render_each, retimed, selected
from ribflow.logs import setup_logging
from ribflow.settings import command_parser

log = logging.getLogger(__name__)
PASS_TIMEOUT = 120.0


@dataclass
class ExporterStatus:
    """What the exporter has done so far (written at its start and after every pass).

    ``pid`` is the exporter process that wrote it: the lab trusts a status only from the process
    it started, never a file left by an earlier lab in the same directory."""

    pid: int = 0
    passes: int = 0
    failures: int = 0
    flows_per_pass: int = 0
    packets_per_pass: int = 0
    last_pass_end: float = 0.0
    last_error: str = ""
    last_softflowd_pid: int = 0

    @classmethod
    def read(cls, path: Path) -> ExporterStatus | None:
        try:
            return cls(**json.loads(path.read_text()))
        except (OSError, ValueError, TypeError):
            return None

    def write(self, path: Path) -> None:
        tmp = path.with_name(path.name + ".partial")
        tmp.write_text(json.dumps(asdict(self)))
        tmp.replace(path)


def softflowd_command(capture: Path, target: str, version: int, pidfile: Path) -> list[str]:
    exe = shutil.which("softflowd")
    if not exe:
        raise FileNotFoundError("softflowd not found (apt-get install softflowd)")
    return [exe, "-r", str(capture), "-n", target, "-v", str(version), "-d", "-p", str(pidfile)]


class Exporter:
    """Runs passes until stopped (``stop()``, SIGTERM or SIGINT) or ``max_passes`` is reached."""

    def __init__(
        self,
        plan: Path,
        target: str,
        version: int,
        interval: float,
        workdir: Path,
        vary: bool = False,
    ) -> None:
        self.flows = load_plan(plan)
        self.per_flow = render_each(self.flows)
        self.frames = merge(self.per_flow)
        self.target = target
        self.version = version
        self.interval = interval
        self.workdir = workdir
        self.status_file = workdir / "exporter.json"
        self.status = ExporterStatus(pid=os.getpid(), flows_per_pass=len(self.flows),
                                     packets_per_pass=len(self.frames))
        self.vary = vary
        self._stop = threading.Event()
        self._child: subprocess.Popen[bytes] | None = None

    def stop(self, *_: object) -> None:
        self._stop.set()
        child = self._child
        if child is not None and child.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                child.terminate()

    def pass_frames(self) -> list[tuple[float, bytes]]:
        """The frames of the next pass: the whole plan, or (``vary``) a varying share of it."""
        if not self.vary:
            return self.frames
        n = self.status.passes + self.status.failures
        keep = selected(len(self.per_flow), n, load_factor(n))
        return merge([self.per_flow[i] for i in keep])

    def one_pass(self) -> bool:
        capture = self.workdir / "pass.pcap"
        write_pcap(capture, retimed(self.pass_frames(), time.time()))
        cmd = softflowd_command(capture, self.target, self.version, self.workdir / "softflowd.pid")
        self._child = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL)
        self.status.last_softflowd_pid = self._child.pid
        try:
            out, _ = self._child.communicate(timeout=PASS_TIMEOUT)
        except subprocess.TimeoutExpired:
            self._child.kill()
            out, _ = self._child.communicate()
            self.status.last_error = f"softflowd did not finish within {PASS_TIMEOUT:.0f}s"
            return False
        finally:
            rc = self._child.returncode
            self._child = None
        if rc != 0 and not self._stop.is_set():
            tail = out.decode(errors="replace").strip().splitlines()[-1:] if out else []
            self.status.last_error = f"softflowd exited with {rc}: {' '.join(tail)}"
            return False
        return rc == 0

    def run(self, max_passes: int = 0) -> int:
        self.status.write(self.status_file)  # replaces what an earlier exporter left
        while not self._stop.is_set():
            started = time.monotonic()
            ok = self.one_pass()
            if self._stop.is_set():
                break
            if ok:
                self.status.passes += 1
                self.status.last_pass_end = time.time()
                self.status.last_error = ""
            else:
                self.status.failures += 1
                log.error("export pass failed: %s", self.status.last_error)
            self.status.write(self.status_file)
            if max_passes and self.status.passes + self.status.failures >= max_passes:
                break
            self._stop.wait(max(0.0, self.interval - (time.monotonic() - started)))
        return 0 if self.status.failures == 0 or self.status.passes > 0 else 1


def plan_from_settings(workdir: Path) -> Path:
    """Plan traffic from the table the LAB_* settings describe (the exporter container of
    compose.yaml builds the same table as the router container: same settings, same seed)."""
    from ribflow.lab.foreground import lab_table
    from ribflow.lab.settings import LabSettings
    from ribflow.lab.traffic import plan_flows, save_plan
    from ribflow.settings import load

    s = load(LabSettings, "ribflow lab exporter")
    table = lab_table(s, workdir)
    path = workdir / "traffic.json"
    save_plan(path, plan_flows(table.prefixes, s.traffic_flows, s.seed))
    return path


def _parser() -> argparse.ArgumentParser:
    p = command_parser("lab exporter", __doc__)
    p.add_argument(
        "--plan", type=Path, help="traffic plan (JSON); default: plan one from the LAB_* table"
    )
    p.add_argument("--target", required=True, help="collector host:port")
    p.add_argument("--version", type=int, choices=(5, 9, 10), default=9)
    p.add_argument("--interval", type=float, default=5.0, help="seconds between passes")
    p.add_argument("--workdir", type=Path, required=True, help="capture and status directory")
    p.add_argument("--passes", type=int, default=0, help="stop after N passes (0: never)")
    p.add_argument(
        "--vary", action="store_true", help="send a slowly varying share of the plan per pass"
    )
    p.add_argument("--log-level", default="INFO")
    return p


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    setup_logging(args.log_level)
    args.workdir.mkdir(parents=True, exist_ok=True)
    plan = args.plan or plan_from_settings(args.workdir)
    exporter = Exporter(
        plan, args.target, args.version, args.interval, args.workdir, vary=args.vary
    )

    def on_signal(signum: int, frame: FrameType | None) -> None:
        exporter.stop()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    log.info("exporting %d flows (%d packets) to %s every %.1fs (NetFlow v%d)",
             len(exporter.flows), len(exporter.frames), args.target, args.interval, args.version)
    return exporter.run(args.passes)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
