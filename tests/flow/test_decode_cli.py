"""`ribflow decode`: the real command in a subprocess, checked against tshark."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import orjson
import pytest

from ribflow.flow.pcap import Datagram, iter_datagrams
from tests.flow.netflow_support import LAB, LOGSTASH, record_errors
from tests.flow.pcapwriter import write_pcap
from tests.flow.tshark import project, tshark_view

pytestmark = pytest.mark.integration


def ribflow_decode(*args: str | Path) -> tuple[int, list[dict[str, Any]], str]:
    proc = subprocess.run(
        [sys.executable, "-m", "ribflow", "decode", *map(str, args)],
        capture_output=True,
        timeout=120,
        check=False,
    )
    lines = [orjson.loads(line) for line in proc.stdout.splitlines()]
    return proc.returncode, lines, proc.stderr.decode()


def test_lab_captures_match_tshark() -> None:
    files = [LAB / "flows-v5.pcap", LAB / "flows-v9.pcap", LAB / "flows-ipfix.pcap"]
    rc, records, err = ribflow_decode(*files)
    assert rc == 0, err
    expected = [
        r
        for f, port in zip(files, (9997, 9995, 9996), strict=True)
        for r in tshark_view(f, (port,)).records
    ]
    assert len(records) == len(expected) == 67
    assert [project(r) for r in records] == [project(r) for r in expected]
    assert all(record_errors(r) == [] for r in records)
    assert "records: 67" in err and "errors: none" in err
    assert "packets: 5 decoded-by-protocol: ipfix=2 v5=1 v9=2" in err


def test_templates_are_learnt_across_files_in_order(tmp_path: Path) -> None:
    src = LOGSTASH / "netflow_9_macaddress.pcap"
    pkts = list(iter_datagrams(src))
    assert len(pkts) == 2
    first, second = tmp_path / "templates.pcap", tmp_path / "data.pcap"
    write_pcap(first, pkts[:1])
    write_pcap(second, pkts[1:])
    rc, alone, err = ribflow_decode(second)
    assert rc == 0 and alone == [] and "missing-template=" in err
    rc, both, err = ribflow_decode(first, second)
    expected = tshark_view(src).records
    assert rc == 0 and len(both) == len(expected) == 29
    assert [project(r) for r in both] == [project(r) for r in expected]


def test_unreadable_file_fails_but_others_are_decoded(tmp_path: Path) -> None:
    junk = tmp_path / "junk.pcap"
    junk.write_bytes(b"this is not a capture")
    rc, records, err = ribflow_decode(junk, LAB / "flows-v5.pcap", tmp_path / "missing.pcap")
    assert rc == 1
    assert len(records) == 19
    assert "cannot read" in err and "(2 unreadable)" in err


def test_bad_packets_do_not_fail_the_run(tmp_path: Path) -> None:
    pcap = tmp_path / "mixed.pcap"
    good = next(iter(iter_datagrams(LAB / "flows-v5.pcap")))
    write_pcap(
        pcap,
        [
            Datagram(1, "192.0.2.1", 1, "192.0.2.2", 2055, b"\x00\x63garbage-garbage-garbage"),
            replace(good, ts_ms=2),
            Datagram(3, "192.0.2.1", 1, "192.0.2.2", 2055, good.payload[:30]),
        ],
    )
    rc, records, err = ribflow_decode(pcap)
    assert rc == 0 and len(records) == 19
    assert "unknown-version=1" in err and "bad-count=1" in err


def test_port_filter(tmp_path: Path) -> None:
    rc, records, err = ribflow_decode(
        "--ports", "9995,9996", LAB / "flows-v5.pcap", LAB / "flows-v9.pcap"
    )
    assert rc == 0 and {r["version"] for r in records} == {9} and len(records) == 24
    assert "skipped-by-port: 1" in err
