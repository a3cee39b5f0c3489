"""Quix app entry point of the flow collector: only wiring, the work is in ribflow.flow.app.

Settings come from the environment (and a .env file, as `quix run` writes it from app.yaml);
see README.md for every variable.
"""

import sys

from ribflow.flow.app import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
