"""The lab's BGP speaker: `ribflow exabgp run` (ExaBGP + the bridge) set up for the lab router.

The speaker renders ExaBGP's configuration from the BGP settings (BGP_* / EXABGP_* env names of
ribflow.bgp.settings) and runs ExaBGP, which runs the bridge as its API process. ExaBGP puts
that process in its own process group and restarts it if it dies, so the lab starts it through a
small wrapper script that records its pid (for `lab status` and `lab down`) and sends its log
to the lab's logs; stdin/stdout stay ExaBGP's API pipes.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

from ribflow.lab.settings import LabSettings


def speaker_env(s: LabSettings, config_dir: Path, bridge_command: Path) -> dict[str, str]:
    """BGP settings of the speaker and bridge: one iBGP session to the lab router."""
    return {
        "BGP_LOCAL_ADDRESS": s.exabgp_address,
        "BGP_ROUTER_ID": s.exabgp_router_id,
        "BGP_LOCAL_AS": str(s.router_as),
        "BGP_PEER_AS": str(s.router_as),
        "BGP_NEIGHBORS": s.router_address,
        "BGP_HOLD_TIME": "30",
        "BGP_PASSIVE": "false",
        "EXABGP_PROCESSES": "1",
        "EXABGP_CONFIG_DIR": str(config_dir),
        "EXABGP_BRIDGE_COMMAND": str(bridge_command),
    }


def render_bridge_script(pid_file: Path, log_file: Path, python: str = "") -> str:
    """Wrapper ExaBGP runs as its API process: records its pid, then execs the bridge."""
    exe = shlex.quote(python or sys.executable)
    return (
        "#!/bin/sh\n"
        "# ExaBGP API process of the ribflow lab (rendered by `ribflow lab up`)\n"
        f"echo $$ > {shlex.quote(str(pid_file))}\n"
        f'exec {exe} -m ribflow bridge "$@" 2>>{shlex.quote(str(log_file))}\n'
    )


def speaker_command(config_dir: Path) -> list[str]:
    return [sys.executable, "-m", "ribflow", "exabgp", "run", "--out", str(config_dir)]
