"""Quix app entry point of the enricher: only wiring, the work is in ribflow.enrich.

Settings come from the environment (and a .env file, as `quix run` writes it from app.yaml);
see README.md for every variable.
"""

import sys

from ribflow.enrich.app import main

if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
