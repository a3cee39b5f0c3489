"""What the lab needs on the machine, and installing what is missing (Debian/Ubuntu apt).

Required: gobgpd/gobgp (router), softflowd (exporter), ExaBGP (a Python dependency of ribflow),
Java 17+ and Maven when the managed Kafka has to be started, and ribflow's own components.
Also installed when missing, for poking at the lab: tshark, kcat, BIRD 2 and pmacct (nfacctd).
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from ribflow.lab.errors import PrerequisiteMissing

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Tool:
    """A program the lab runs and the Debian package that provides it."""

    binary: str
    package: str
    required: bool = True


ROUTER_TOOLS = (Tool("gobgpd", "gobgpd"), Tool("gobgp", "gobgpd"))
EXPORTER_TOOLS = (Tool("softflowd", "softflowd"),)
KAFKA_TOOLS = (Tool("java", "openjdk-17-jre-headless"), Tool("mvn", "maven"))
EXTRA_TOOLS = (
    Tool("tshark", "tshark", required=False),
    Tool("kcat", "kcat", required=False),
    Tool("bird", "bird2", required=False),
    Tool("nfacctd", "pmacct", required=False),
)

Which = Callable[[str], str | None]


@dataclass
class Report:
    """Outcome of a prerequisites check."""

    missing: list[Tool] = field(default_factory=list)
    installed: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def missing_required(self) -> list[Tool]:
        return [t for t in self.missing if t.required]


def needed_tools(start_kafka: bool, kafka_jars_cached: bool) -> list[Tool]:
    tools = [*ROUTER_TOOLS, *EXPORTER_TOOLS, *EXTRA_TOOLS]
    if start_kafka:
        tools.append(KAFKA_TOOLS[0])
        if not kafka_jars_cached:
            tools.append(KAFKA_TOOLS[1])
    return tools


def missing_tools(tools: Iterable[Tool], which: Which = shutil.which) -> list[Tool]:
    return [t for t in tools if which(t.binary) is None]


def packages_for(tools: Iterable[Tool]) -> list[str]:
    """Debian packages to install, each once, in a stable order."""
    return sorted({t.package for t in tools})


def apt_command(packages: list[str], euid: int | None = None, which: Which = shutil.which) -> (
    list[str] | None
):
    """apt-get install command for ``packages``: direct as root, via password-less sudo else;
    None when neither apt-get nor a way to become root is available."""
    if not packages or which("apt-get") is None:
        return None
    base = ["apt-get", "install", "-y", "--no-install-recommends", *packages]
    if (os.geteuid() if euid is None else euid) == 0:
        return base
    if which("sudo") is not None:
        return ["sudo", "-n", *base]
    return None


def _run_apt(cmd: list[str]) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=1800)


def install(packages: list[str]) -> tuple[bool, str]:
    """Install Debian packages (apt-get update and one retry if the first attempt fails)."""
    cmd = apt_command(packages)
    if cmd is None:
        return False, "cannot install packages here (no apt-get, or not root and no sudo)"
    log.info("installing %s", " ".join(packages))
    proc = _run_apt(cmd)
    if proc.returncode != 0:
        update = [*cmd[: cmd.index("install")], "update"]
        _run_apt(update)
        proc = _run_apt(cmd)
    if proc.returncode != 0:
        lines = (proc.stderr or proc.stdout).strip().splitlines()
        return False, lines[-1] if lines else f"apt-get exited with {proc.returncode}"
    return True, ""


def java_major(java: str | None = None) -> int | None:
    """Major version of the Java runtime on PATH (or JAVA_HOME), None if there is none."""
    exe = java
    if exe is None:
        home = os.environ.get("JAVA_HOME")
        exe = str(Path(home) / "bin" / "java") if home else shutil.which("java")
    if not exe or not Path(exe).exists():
        return None
    try:
        out = subprocess.run([exe, "-version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    m = re.search(r'version "(\d+)(?:\.(\d+))?', out.stderr + out.stdout)
    if not m:
        return None
    major = int(m.group(1))
    return int(m.group(2) or 0) if major == 1 else major


def exabgp_executable() -> str | None:
    """The `exabgp` script of this Python environment (it is one of ribflow's dependencies)."""
    beside = Path(sys.executable).with_name("exabgp")
    if beside.exists():
        return str(beside)
    return shutil.which("exabgp")


def check(start_kafka: bool, kafka_jars_cached: bool, allow_install: bool) -> Report:
    """Check (and, if allowed, install) what the lab needs; raise when something required is
    still missing afterwards."""
    report = Report()
    if exabgp_executable() is None:
        report.problems.append("exabgp not found (pip install exabgp==5.0.15)")
    tools = needed_tools(start_kafka, kafka_jars_cached)
    report.missing = missing_tools(tools)
    if report.missing and allow_install:
        packages = packages_for(report.missing)
        ok, why = install(packages)
        if ok:
            report.installed = packages
        else:
            report.problems.append(f"installing {' '.join(packages)} failed: {why}")
        report.missing = missing_tools(tools)
    if start_kafka and not any(t.binary == "java" for t in report.missing):
        major = java_major()
        if major is not None and major < 17:
            report.problems.append(f"Java {major} found, Kafka needs 17+ (openjdk-17-jre-headless)")
    required = report.missing_required
    if required or report.problems:
        lines = [f"{t.binary} (Debian package {t.package})" for t in required]
        raise PrerequisiteMissing(
            "the lab cannot start; missing: " + "; ".join(lines + report.problems)
            + ("" if allow_install else " (rerun without --no-install to install them)")
        )
    for tool in report.missing:
        log.warning("optional tool %s missing (Debian package %s)", tool.binary, tool.package)
    return report
