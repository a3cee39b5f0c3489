"""Benchmark results as committed JSON: one file per benchmark run, read by the README generator.

Every benchmark that prints a side-by-side table also calls :func:`write_result`, which writes
``benchmarks/results/<name>.json`` (the newest run of that benchmark; git keeps the history):

    {"benchmark": "enricher", "date": "2026-12-06T04:10:00Z", "git_revision": "98c8603",
     "load_average": [1.9, 2.3, 2.1], "cpus": 2, "command": "benchmarks/bench_enricher.py ...",
     "figures": [{"measure": "enriched flows per CPU-second", "unit": "flows/CPU-s",
                  "value": 65400.0, "reference": "nfacctd with BGP", "reference_value": 140800.0,
                  "ratio": 0.46, "target": ">= 1.5x"}],
     "notes": "..."}

``reference``/``reference_value``/``ratio`` are given when the reference was measured in the same
run; ``target`` is the goal as the issue states it (never a gate). No figure reaches the README
without a producing benchmark: the README's figures table is generated from these files only.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


@dataclass(frozen=True)
class Figure:
    """One measured figure, with the reference measured in the same run when there is one."""

    measure: str
    unit: str
    value: float
    reference: str | None = None
    reference_value: float | None = None
    target: str | None = None

    @property
    def ratio(self) -> float | None:
        if self.reference_value in (None, 0):
            return None
        assert self.reference_value is not None
        return round(self.value / self.reference_value, 3)


def _git_revision() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=RESULTS.parent,
            capture_output=True,
            text=True,
            timeout=10,
        )
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def write_result(
    name: str, figures: Sequence[Figure], *, notes: str = "", directory: Path | None = None
) -> Path:
    """Write ``<directory>/<name>.json`` (default benchmarks/results) and return its path."""
    out_dir = directory or RESULTS
    out_dir.mkdir(parents=True, exist_ok=True)
    doc = {
        "benchmark": name,
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "git_revision": _git_revision(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "cpus": os.cpu_count(),
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "figures": [{**asdict(f), "ratio": f.ratio} for f in figures],
        "notes": notes,
    }
    path = out_dir / f"{name}.json"
    path.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    return path
