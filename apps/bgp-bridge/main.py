"""Quix app entry point of the BGP collector: only wiring, the work is in ribflow.bgp.

Renders ExaBGP's configuration from the settings (environment / .env, see README.md) and runs
ExaBGP (EXABGP_PROCESSES of them); each runs the bridge, `ribflow bridge`, as its API process,
which produces every BGP event to BGP_UPDATES_TOPIC.
"""

import sys

from ribflow.bgp.exabgp_cli import main

if __name__ == "__main__":
    sys.exit(main(["run", *sys.argv[1:]]))
