"""Nothing reads outside the repository: no machine paths in the tree, and a clone elsewhere works.

A test, benchmark or script that reads ``/work/...``, ``../shared`` or a home directory passes on
the machine it was written on and fails on every other one. The first test greps every tracked text
file for such paths; the second clones the committed tree into a temporary directory (nothing else
of this checkout beside it) and runs tests that read data files there.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

# absolute paths of a developer machine, and the sibling folder the shared test data lives in
MACHINE_PATH = re.compile(r"(?<![\w.:/-])(/work/|/home/|/root/|/Users/)|\.\./shared\b")

# tests that read data files from tests/data and the pmacct harness from benchmarks/
IN_CLONE = [
    "tests/mrt/test_convert.py",
    "tests/flow/test_agentmap.py::test_parses_the_lab_file",
    "tests/core/test_self_contained.py::test_no_machine_paths_in_the_tree",
]


def tracked_text_files(repo: Path) -> list[Path]:
    out = subprocess.run(
        ["git", "-C", str(repo), "ls-files", "-z"], capture_output=True, check=True
    ).stdout
    files = []
    for name in out.decode().split("\0"):
        path = repo / name
        if not name or not path.is_file():
            continue
        head = path.read_bytes()[:8192]
        if b"\0" in head:  # binary (pcap, gzip, ...)
            continue
        files.append(path)
    return files


def machine_paths(repo: Path) -> list[str]:
    found = []
    for path in tracked_text_files(repo):
        if path.name == Path(__file__).name and path.parent.name == "core":
            continue  # this file names the patterns it looks for
        text = path.read_text(errors="replace")
        for n, line in enumerate(text.splitlines(), 1):
            if MACHINE_PATH.search(line):
                found.append(f"{path.relative_to(repo)}:{n}: {line.strip()[:120]}")
    return found


def test_the_pattern_catches_machine_paths() -> None:
    for bad in (
        'RIS = Path("/work/shared/testdata/mrt/x.gz")',
        "open('/home/me/data.pcap')",
        "python3 ../shared/bench-pmacct/flowgen.py",
        "cp /root/.cache/x .",
    ):
        assert MACHINE_PATH.search(bad), bad
    for good in ("https://example.org/work/x", "tests/data/rib/x.gz", "/tmp/lab2", "a/work/b"):
        assert not MACHINE_PATH.search(good), good


def test_no_machine_paths_in_the_tree() -> None:
    found = machine_paths(REPO)
    assert not found, "machine paths in tracked files:\n" + "\n".join(found)


def test_a_clone_elsewhere_runs_the_data_reading_tests(tmp_path: Path) -> None:
    clone = tmp_path / "ribflow"
    subprocess.run(
        ["git", "clone", "--quiet", "--no-hardlinks", str(REPO), str(clone)],
        check=True,
        capture_output=True,
    )
    env = {**os.environ, "PYTHONPATH": str(clone / "src"), "PYTHONDONTWRITEBYTECODE": "1"}
    where = subprocess.run(
        [sys.executable, "-c", "import ribflow; print(ribflow.__file__)"],
        cwd=clone,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert Path(where).is_relative_to(clone), f"ribflow imported from {where}, not the clone"
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *IN_CLONE],
        cwd=clone,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert " passed" in run.stdout and "skipped" not in run.stdout, run.stdout[-2000:]
