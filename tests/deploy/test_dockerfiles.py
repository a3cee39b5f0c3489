"""The image and the Quix apps' dockerfiles build the compiled core the way ./dev.sh does.

There is no Docker engine on the test machine, so this reads the files: a build stage copies
rust/ribflow-lpm and builds it with pip (maturin, cargo) like dev.sh's `pip install
./rust/ribflow-lpm`, on the same Python base image as the runtime stage (the wheel is abi3 for
that Python); the runtime stage installs that wheel with ribflow and refuses to finish when
ribflow would fall back to the pure-Python table.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.deploy.test_compose import REPO, check_copies

DOCKERFILES = [REPO / "docker" / "Dockerfile", *sorted(REPO.glob("apps/*/dockerfile"))]
CRATE = "rust/ribflow-lpm"


def stages(text: str) -> list[tuple[str, str, str]]:
    """``(base image, stage name, body)`` of every FROM of a Dockerfile."""
    parts = re.split(r"^FROM ", text, flags=re.M)[1:]
    out = []
    for part in parts:
        head, _, body = part.partition("\n")
        words = head.split()
        name = words[2] if len(words) == 3 and words[1].lower() == "as" else ""
        out.append((words[0], name, body))
    return out


def test_dev_sh_builds_the_crate_with_pip() -> None:
    assert re.search(rf"-m pip install -q \./{CRATE}\b", (REPO / "dev.sh").read_text())


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: str(p.relative_to(REPO)))
def test_the_compiled_core_is_built_and_used(dockerfile: Path) -> None:
    text = dockerfile.read_text()
    check_copies(dockerfile)
    all_stages = stages(text)
    builds = [s for s in all_stages if re.search(rf"^COPY {CRATE} (\S+)$", s[2], re.M)]
    assert len(builds) == 1, f"{dockerfile}: no single stage copies {CRATE}"
    base, name, body = builds[0]
    target = re.search(rf"^COPY {CRATE} (\S+)$", body, re.M)[1]  # type: ignore[index]
    wheel = re.search(rf"^RUN python3 -m pip wheel .*-w (\S+) {re.escape(target)}$", body, re.M)
    assert wheel, f"{dockerfile}: the core stage does not build a wheel of {target} with pip"
    assert "cargo" in body and "CARGO_HOME" in body, f"{dockerfile}: no cargo in the core stage"
    runtime_base, _, runtime = all_stages[-1]
    assert runtime_base == base, f"{dockerfile}: core built on {base}, run on {runtime_base}"
    copied = re.search(rf"^COPY --from={name} {wheel[1]} (\S+)$", runtime, re.M)
    assert copied, f"{dockerfile}: the runtime stage does not take the wheels of {name}"
    install = re.search(r"^RUN ((?:.*\\\n)*.*)", runtime[copied.end() :], re.M)
    assert install, dockerfile
    command = install[1]
    assert f"pip install {copied[1]}/*.whl ." in command, command
    assert "assert COMPILED" in command, f"{dockerfile}: no check that the core is importable"
