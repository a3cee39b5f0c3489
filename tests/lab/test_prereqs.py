"""Prerequisites: which Debian packages a missing tool needs, how they get installed."""

from __future__ import annotations

import pytest

from ribflow.lab import prereqs
from ribflow.lab.errors import PrerequisiteMissing
from ribflow.lab.prereqs import Tool


def only(*present: str) -> prereqs.Which:
    return lambda name: f"/usr/bin/{name}" if name in present else None


def test_missing_tools_map_to_their_packages() -> None:
    tools = prereqs.needed_tools(start_kafka=True, kafka_jars_cached=False)
    missing = prereqs.missing_tools(tools, which=only("gobgp", "java", "tshark"))
    assert {t.binary for t in missing} == {
        "gobgpd", "softflowd", "mvn", "kcat", "bird", "nfacctd"
    }
    assert prereqs.packages_for(missing) == [
        "bird2", "gobgpd", "kcat", "maven", "pmacct", "softflowd"
    ]
    required = {t.binary for t in missing if t.required}
    assert required == {"gobgpd", "softflowd", "mvn"}


def test_kafka_tools_only_when_the_lab_starts_kafka() -> None:
    names = {t.binary for t in prereqs.needed_tools(False, False)}
    assert "java" not in names and "mvn" not in names
    names = {t.binary for t in prereqs.needed_tools(True, True)}
    assert "java" in names and "mvn" not in names  # jars cached: no Maven needed


def test_apt_command_as_root_with_sudo_or_not_at_all() -> None:
    pkgs = ["gobgpd", "softflowd"]
    apt = ["apt-get", "install", "-y", "--no-install-recommends", *pkgs]
    assert prereqs.apt_command(pkgs, euid=0, which=only("apt-get")) == apt
    assert prereqs.apt_command(pkgs, euid=1000, which=only("apt-get", "sudo")) == ["sudo", "-n",
                                                                                   *apt]
    assert prereqs.apt_command(pkgs, euid=1000, which=only("apt-get")) is None
    assert prereqs.apt_command(pkgs, euid=0, which=only()) is None
    assert prereqs.apt_command([], euid=0, which=only("apt-get")) is None


def test_check_without_install_names_the_packages(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(prereqs, "missing_tools",
                        lambda tools, which=None: [Tool("softflowd", "softflowd")])
    with pytest.raises(PrerequisiteMissing, match=r"softflowd.*rerun without --no-install"):
        prereqs.check(False, True, allow_install=False)


@pytest.mark.integration
def test_the_real_machine_has_what_the_lab_needs() -> None:
    # the tools CI installs (dev.sh) are all there
    report = prereqs.check(start_kafka=True, kafka_jars_cached=True, allow_install=False)
    assert report.missing_required == []
    major = prereqs.java_major()
    assert major is not None and major >= 17
    assert prereqs.exabgp_executable() is not None
