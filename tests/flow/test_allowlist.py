"""The exporter allowlist (ribflow.flow.allowlist): pmacct's nfacctd_allow_file format, the
matcher, reloads, the bounded metric labels, and the collector dropping denied packets before
decoding (never enriched with the fallback router, never in flows, never dead-lettered).

Files on disk are real; the gate's clock is injected so "re-read within 5 s" needs no waiting.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from ribflow.agentmap import RouterResolver
from ribflow.errors import ConfigError
from ribflow.flow import metrics as m
from ribflow.flow.allowlist import (
    OTHER,
    ExporterGate,
    load_allow_list,
    parse_allow_list,
    parse_networks,
)
from ribflow.flow.settings import CollectorSettings
from ribflow.metrics import BAD_INPUT
from tests.flow.test_collector import FakeProducer, make, sflow_datagrams

# pmacct's own example file (examples/allow.lst.example) with its comment lines un-commented,
# plus what a hand-written file tends to contain
ALLOW_TEXT = "\n".join(
    ["!", "! routers of site A", "192.168.0.1", "  192.168.1.254 \t", "192.168.2.0/24", "",
     "2001:db8:10::/48", "2001:db8::7", "10.9.0.0 / 16"]
)  # fmt: skip


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def bad_input(reason: str) -> float:
    return float(BAD_INPUT.labels(component="allowlist", reason=reason)._value.get())


def denied(label: str) -> float:
    return float(m.DENIED.labels(label)._value.get())


def _write(path: Path, text: str, bump_ns: int = 0) -> None:
    path.write_text(text)
    if bump_ns:  # a visible change even on coarse-mtime file systems
        st = path.stat()
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + bump_ns))


def test_parse_addresses_prefixes_comments_and_spaces() -> None:
    allow = parse_allow_list(ALLOW_TEXT)
    assert [str(n) for n in allow.networks] == [
        "192.168.0.1/32", "192.168.1.254/32", "192.168.2.0/24", "2001:db8:10::/48",
        "2001:db8::7/128", "10.9.0.0/16",
    ]  # fmt: skip
    assert allow.bad_lines == ()


def test_bad_lines_are_skipped_counted_and_not_fatal(tmp_path: Path) -> None:
    path = tmp_path / "allow.lst"
    _write(path, "192.0.2.1\nrouter-a\n# a hash is not a comment in pmacct\n10.0.0.0/33\n")
    before = bad_input("bad_allow_line")
    allow = load_allow_list(path)
    assert [str(n) for n in allow.networks] == ["192.0.2.1/32"]
    assert [n for n, _ in allow.bad_lines] == [2, 3, 4]
    assert bad_input("bad_allow_line") == before + 3


def test_host_bits_and_mapped_addresses_as_pmacct_reads_them() -> None:
    (net,) = parse_allow_list("192.0.2.77/24").networks
    assert str(net) == "192.0.2.0/24"
    (mapped,) = parse_allow_list("::ffff:198.51.100.0/120").networks
    assert str(mapped) == "198.51.100.0/24"


def test_empty_file_denies_everything_but_a_file_of_only_bad_lines_is_refused(
    tmp_path: Path,
) -> None:
    empty = tmp_path / "empty.lst"
    _write(empty, "! nobody yet\n\n")
    gate = ExporterGate.from_settings("", str(empty))
    assert not gate.open
    assert not gate.allows("192.0.2.1") and not gate.allows("::1")
    junk = tmp_path / "junk.lst"
    _write(junk, "bgp_ip=10.0.0.1 ip=192.0.2.1\n")  # an agent map by mistake
    with pytest.raises(ConfigError, match="none of its 1 lines"):
        ExporterGate.from_settings("", str(junk))
    with pytest.raises(ConfigError, match="cannot read"):
        ExporterGate.from_settings("", str(tmp_path / "missing.lst"))


def test_no_setting_means_open_and_setting_plus_file_is_a_union(tmp_path: Path) -> None:
    assert ExporterGate.from_settings("", "").open
    assert ExporterGate().allows("203.0.113.9")
    path = tmp_path / "allow.lst"
    _write(path, ALLOW_TEXT)
    gate = ExporterGate.from_settings("198.51.100.0/24, 2001:db8:ffff::1", str(path))
    allowed = ["192.168.0.1", "192.168.2.200", "2001:db8:10::abcd", "2001:db8::7", "10.9.3.4",
               "198.51.100.9", "2001:db8:ffff::1", "::ffff:192.168.0.1"]  # fmt: skip
    denied_ = ["192.168.0.2", "192.168.3.1", "2001:db8:11::1", "2001:db8::8", "10.10.0.1",
               "2001:db8:ffff::2", "127.0.0.1", "::1", "not-an-address"]  # fmt: skip
    assert [a for a in allowed if not gate.allows(a)] == []
    assert [a for a in denied_ if gate.allows(a)] == []
    assert "2 from ALLOWED_EXPORTERS" in gate.describe() and str(path) in gate.describe()


def test_setting_is_validated() -> None:
    assert [str(n) for n in parse_networks("192.0.2.1;2001:db8::/32 10.0.0.0/8")] == [
        "192.0.2.1/32", "2001:db8::/32", "10.0.0.0/8",
    ]  # fmt: skip
    with pytest.raises(ValidationError, match="not an IP address or prefix"):
        CollectorSettings(ALLOWED_EXPORTERS="192.0.2.1,router-a")  # type: ignore[call-arg]


def test_the_file_is_followed_and_a_broken_version_keeps_the_last_good_list(
    tmp_path: Path,
) -> None:
    path = tmp_path / "allow.lst"
    _write(path, "192.0.2.1\n")
    clock = Clock()
    gate = ExporterGate.from_settings("", str(path), reload_interval=5.0, clock=clock)
    assert gate.allows("192.0.2.1") and not gate.allows("192.0.2.2")

    _write(path, "192.0.2.2\n2001:db8::/32\n", bump_ns=1_000_000_000)
    clock.now += 4.0  # not due yet: the cached answers stay
    assert gate.allows("192.0.2.1") and not gate.allows("192.0.2.2")
    clock.now += 1.5
    assert not gate.allows("192.0.2.1") and gate.allows("192.0.2.2")
    assert gate.allows("2001:db8::5")

    before = bad_input("bad_allow_file")
    _write(path, "garbage\n", bump_ns=2_000_000_000)  # nothing valid: refused
    for _ in range(3):  # the same broken version is reported once
        clock.now += 5.0
        assert gate.allows("192.0.2.2") and not gate.allows("192.0.2.1")
    path.unlink()
    clock.now += 5.0
    assert gate.allows("192.0.2.2")
    assert bad_input("bad_allow_file") == before + 2

    _write(path, "! emptied on purpose: deny all\n", bump_ns=3_000_000_000)
    clock.now += 5.0
    assert not gate.allows("192.0.2.2")


def test_denied_labels_are_bounded() -> None:
    gate = ExporterGate(parse_networks("192.0.2.1"), max_labels=3)
    labels = [gate.label(f"203.0.113.{i}") for i in range(6)]
    assert labels == ["203.0.113.0", "203.0.113.1", "203.0.113.2", OTHER, OTHER, OTHER]
    assert gate.label("203.0.113.1") == "203.0.113.1"  # still its own


def test_collector_drops_denied_packets_before_decoding() -> None:
    """A denied source's packets never reach the decoder, the fallback router, flows or the
    DLQ; they are counted under their source; the allowed source's packets are untouched."""
    producer = FakeProducer()
    decoded: list[str] = []

    class Spy:
        def __init__(self, inner: Any) -> None:
            self.inner = inner

        def decode(self, data: bytes, source: str, now_ms: int) -> Any:
            decoded.append(source)
            return self.inner.decode(data, source, now_ms)

    from ribflow.flow.sflow import SflowDecoder

    gate = ExporterGate(parse_networks("127.0.0.1"), max_labels=1)
    c = make(producer, Spy(SflowDecoder()), RouterResolver(fallback="10.9.9.9"), gate=gate)
    before = denied("192.0.2.66"), denied(OTHER)
    packets = sflow_datagrams()
    for p in packets[:5]:
        c.process(p, "192.0.2.66", 1)
        c.process(p, "192.0.2.67", 1)
        c.process(b"\x00\x09garbage", "192.0.2.66", 1)  # would be dead-lettered if decoded
    assert decoded == [] and producer.sent == []
    for p in packets[:2]:
        c.process(p, "127.0.0.1", 2)
    assert decoded == ["127.0.0.1", "127.0.0.1"]
    flows = producer.values("flows")
    assert len(flows) == 2 and {f["exporter"] for f in flows} == {"127.0.0.1"}
    assert producer.values("flows-dlq") == []
    c.tallies.publish()
    assert (denied("192.0.2.66"), denied(OTHER)) == (before[0] + 10, before[1] + 5)
    assert c.denied_packets == 15
