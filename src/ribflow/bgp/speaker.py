"""Run the ExaBGP speaker process(es) from rendered configuration (each one runs its bridge).

ExaBGP uses one core at most, so ``EXABGP_PROCESSES=N`` starts N ExaBGP processes with the
neighbours split between them. They live and die together: when one exits, the others are
stopped and the exit code is passed on, so the supervisor (systemd, a container restart policy,
``ribflow lab``) restarts the whole speaker and every table is re-learnt under new epochs.
"""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType

from ribflow.bgp.exabgp_config import render
from ribflow.bgp.settings import BridgeSettings

log = logging.getLogger(__name__)


def exabgp_command(env_file: Path, config: Path) -> list[str]:
    """The command line of one ExaBGP server (ExaBGP from this Python environment, with
    ribflow's next-hop fix: see exabgp_main.py)."""
    cmd = [sys.executable, "-m", "ribflow.bgp.exabgp_main", "--env-file", str(env_file)]
    return [*cmd, "server", str(config)]


def render_to(settings: BridgeSettings, directory: Path) -> tuple[Path, list[Path]]:
    """Render every file into ``directory``; returns (env file, configuration files)."""
    configs = render(settings).write(directory)
    return directory / "exabgp.env", configs


def run_speakers(settings: BridgeSettings, directory: Path, poll: float = 0.5) -> int:
    """Render, start every ExaBGP process, wait; stop them all when one ends or on SIGTERM."""
    env_file, configs = render_to(settings, directory)
    procs = [subprocess.Popen(exabgp_command(env_file, c)) for c in configs]
    log.info("started %d ExaBGP process(es): pids %s", len(procs), [p.pid for p in procs])
    stopping = False

    def _stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    code = 0
    while not stopping:
        ended = [p for p in procs if p.poll() is not None]
        if ended:
            code = ended[0].returncode or 0
            log.warning("ExaBGP pid %d exited with %s: stopping the others", ended[0].pid, code)
            break
        time.sleep(poll)
    for p in procs:
        if p.poll() is None:
            p.terminate()
    for p in procs:
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    return code
