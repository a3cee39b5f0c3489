"""``ribflow exabgp render | validate | run``: the ExaBGP side of the BGP collector.

* ``render [--out DIR]`` writes ``exabgp-<i>.conf`` (one per EXABGP_PROCESSES) and ``exabgp.env``.
* ``validate [--out DIR]`` renders, then has ExaBGP itself check each file (``exabgp validate``).
* ``run [--out DIR]`` renders and runs the ExaBGP process(es) in the foreground; each runs the
  bridge as its API process (``ribflow bridge``).
"""

from __future__ import annotations

import argparse
import logging
import subprocess
import sys
from pathlib import Path

from ribflow.bgp.settings import BridgeSettings
from ribflow.bgp.speaker import render_to, run_speakers
from ribflow.errors import ConfigError
from ribflow.logs import setup_logging
from ribflow.settings import command_parser, load

log = logging.getLogger("ribflow.exabgp")


def _parser() -> argparse.ArgumentParser:
    ap = command_parser(
        "exabgp",
        "Render ExaBGP's configuration from the settings (environment), have ExaBGP validate "
        "it, or run ExaBGP (each process runs the bridge as its API process).",
        BridgeSettings,
    )
    ap.add_argument("action", choices=["render", "validate", "run"])
    ap.add_argument(
        "--out", metavar="DIR", help="directory for the files (default EXABGP_CONFIG_DIR)"
    )
    return ap


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    settings = load(BridgeSettings, "ribflow exabgp")
    setup_logging(settings.log_level)
    directory = Path(args.out or settings.exabgp_config_dir)
    try:
        if args.action == "run":
            return run_speakers(settings, directory)
        env_file, configs = render_to(settings, directory)
    except ConfigError as exc:
        print(f"ribflow exabgp: {exc}", file=sys.stderr)
        return 2
    for path in [*configs, env_file]:
        print(path)
    if args.action == "validate":
        for conf in configs:
            cmd = [
                sys.executable,
                "-m",
                "exabgp",
                "--env-file",
                str(env_file),
                "validate",
                str(conf),
            ]
            result = subprocess.run(cmd, capture_output=True, text=True)
            if result.returncode != 0:
                print(
                    f"{conf}: ExaBGP rejects it:\n{result.stdout}{result.stderr}", file=sys.stderr
                )
                return 1
        print(f"ExaBGP accepts {len(configs)} configuration file(s)")
    return 0
