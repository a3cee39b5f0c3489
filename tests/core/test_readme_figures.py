"""The README's figures table is generated from benchmarks/results/*.json, and is current.

Every figure in it comes from a results file, and every results file from a benchmark script that
writes it: no hand-typed figure, no figure without a producing benchmark.
"""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parents[2]
BENCH = REPO / "benchmarks"


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"_bench_{name}", BENCH / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


figures = load("readme_figures")
results = load("results")


def test_readme_table_matches_the_results() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    table = figures.render(figures.load_results())
    assert figures.replace(readme, table) == readme, (
        "README figures are stale: run .venv/bin/python benchmarks/readme_figures.py --write"
    )


def test_every_result_has_a_producing_benchmark() -> None:
    docs = figures.load_results()
    for path in sorted((BENCH / "results").glob("*.json")):
        doc = json.loads(path.read_text(encoding="utf-8"))
        name = doc["benchmark"]
        assert path.stem == name, f"{path.name} holds results of {name}"
        script = figures.producer(name)
        assert script.is_file(), f"{path.name}: no benchmark {script.name} produces it"
        source = script.read_text(encoding="utf-8")
        assert re.search(rf"write_result\(\s*['\"]{re.escape(name)}['\"]", source), (
            f"{script.name} does not write_result({name!r}, ...)"
        )
        assert doc["figures"], f"{path.name} has no figures"
        for f in doc["figures"]:
            assert isinstance(f["value"], int | float), f
            if f.get("reference_value") is not None:
                assert f.get("reference"), f"{path.name}: a reference value without its name"
    assert len(docs) == len(list((BENCH / "results").glob("*.json")))


def test_a_written_result_reaches_the_table(tmp_path: Path) -> None:
    fig = results.Figure("decode only, v9", "records/CPU-s", 362203.0, "PyPI netflow", 122312.0)
    results.write_result("decode", [fig], notes="3 CPU-s", directory=tmp_path)
    table = figures.render(figures.load_results(tmp_path))
    row = "| `bench_decode` | decode only, v9 | 362,203 records/CPU-s | PyPI netflow 122,312 "
    assert row + "records/CPU-s | 2.96 |  |" in table
    assert "3 CPU-s" in table
    readme = f"a\n{figures.BEGIN}\nold\n{figures.END}\nb\n"
    assert figures.replace(readme, table) == f"a\n{figures.BEGIN}\n{table}\n{figures.END}\nb\n"


def test_the_readme_promises_only_what_ships() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    # no ClickHouse table schema or Kafka-engine DDL ships, so the README does not offer one
    assert "ClickHouse" not in readme
    # the figures a benchmark once printed but none writes any more
    for gone in ("nfacctd 441", "8 us", "1.5 us", "zlib"):
        assert gone not in readme, gone
