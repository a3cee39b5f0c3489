"""Lab pieces run in the foreground, one per container (compose.yaml): the router.

`ribflow lab router` builds the table, renders gobgpd's configuration from the LAB_* settings,
runs gobgpd as its child, loads the table once the gRPC API answers, and then lives as long as
gobgpd does (SIGTERM/SIGINT are passed on).
"""

from __future__ import annotations

import logging
import signal
import subprocess
import time
from pathlib import Path
from types import FrameType

from ribflow.lab.router import Gobgp, gobgpd_command, render_gobgpd
from ribflow.lab.settings import LabSettings
from ribflow.lab.table import Table, build_table
from ribflow.logs import setup_logging
from ribflow.settings import command_parser, load

log = logging.getLogger(__name__)


def lab_table(s: LabSettings, workdir: Path) -> Table:
    return build_table(
        s.table,
        workdir / "table.mrt",
        ris_dump=s.ris_dump,
        n4=s.table_v4,
        n6=s.table_v6,
        seed=s.seed,
        router_as=s.router_as,
        router_id=s.router_id,
    )


def router_main(argv: list[str]) -> int:
    p = command_parser("lab router", __doc__)
    p.add_argument("--workdir", type=Path, default=Path("/tmp/ribflow-router"))
    p.add_argument("--api-host", help="gRPC listen host (default: the router address)")
    args = p.parse_args(argv)
    setup_logging("INFO")
    s = load(LabSettings, "ribflow lab router")
    args.workdir.mkdir(parents=True, exist_ok=True)
    table = lab_table(s, args.workdir)
    conf = args.workdir / "gobgpd.toml"
    conf.write_text(render_gobgpd(s))
    cmd = gobgpd_command(s, conf)
    if args.api_host:
        cmd[cmd.index("--api-hosts") + 1] = f"{args.api_host}:{s.router_grpc_port}"
    child = subprocess.Popen(cmd)

    def forward(signum: int, frame: FrameType | None) -> None:
        child.send_signal(signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    gobgp = Gobgp(args.api_host or s.router_address, s.router_grpc_port)
    deadline = time.monotonic() + 60
    while child.poll() is None and not gobgp.answers():
        if time.monotonic() > deadline:
            log.error("gobgpd's gRPC API did not answer within 60s")
            child.terminate()
            return 1
        time.sleep(0.5)
    if child.poll() is None:
        gobgp.inject_mrt(table.path)
        log.info("table %s loaded: %d v4 + %d v6 routes", table.source,
                 gobgp.rib_count("ipv4"), gobgp.rib_count("ipv6"))
    return child.wait()
