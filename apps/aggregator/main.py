"""Quix app entry point of the aggregation stage (settings: app.yaml variables / environment).

Everything lives in ribflow.aggregate; this file only hands over to `ribflow aggregator`.
"""

import sys

from ribflow.aggregate.app import main

if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
