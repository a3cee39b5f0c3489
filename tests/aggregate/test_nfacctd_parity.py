"""Parity with nfacctd's print plugin on the lab traffic, for the seed's aggregate list.

softflowd exports the lab capture (NetFlow v9, three passes so that keys really aggregate) to
nfacctd (print plugin, JSON, refresh 2 s, 1 minute history) while tshark captures the export.
tshark decodes that capture into flows-enriched-shaped records, which ribflow's aggregator
reads from Kafka with the same settings. Both sides must give the same sums per key and bin.
The seed's BGP primitives are left out (no BGP here): its flow primitives are kept.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.aggregate.fixtures import AggregatorFactory, TopicReader, produce
from tests.aggregate.flows import closers
from tests.fixtures.kafka import TopicFactory
from tests.fixtures.ports import free_port
from tests.fixtures.procs import interrupt
from tests.fixtures.waiting import wait_for

pytestmark = pytest.mark.integration

TRAFFIC = Path(__file__).resolve().parents[1] / "data" / "aggregate" / "traffic.pcap"
NFACCTD_IP = "127.0.0.60"
PASSES = 3

# The seed's aggregate line without its BGP primitives (src_as, dst_as, peer_src_as,
# peer_dst_as, peer_dst_ip, local_pref, as_path); nfacctd also gets "flows" to print the count.
SEED_FLOW_LIST = ("src_host, dst_host, in_iface, out_iface, timestamp_start, timestamp_end, "
                  "src_port, dst_port, proto, tos, tcpflags, tag, peer_src_ip")  # fmt: skip
COARSE_LIST = "src_host, dst_host, proto"
PROTO_NAMES = {1: "icmp", 6: "tcp", 17: "udp", 58: "ipv6-icmp"}
NOT_KEYS = {"event_type", "stamp_inserted", "stamp_updated", "flows", "packets", "bytes",
            "writer_id"}  # fmt: skip


def need(tool: str) -> str:
    path = shutil.which(tool)
    assert path, f"{tool} is required for this test (Debian package) and is not installed"
    return path


@contextmanager
def daemon(args: list[str], log: Path, ready: str, timeout: float = 30) -> Iterator[int]:
    """Start a process, wait for ``ready`` in its log, stop it by pid whatever happens."""
    with log.open("wb") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)
    try:

        def up() -> bool:
            text = log.read_text(errors="replace")
            assert proc.poll() is None, f"{args[0]} exited:\n{text}"
            return ready in text

        wait_for(f"{args[0]} to be ready", up, timeout, every=0.1)
        yield proc.pid
    finally:
        interrupt(proc)


def nfacctd_conf(tmp: Path, port: int) -> Path:
    lines = [
        "daemonize: false",
        f"logfile: {tmp}/nfacctd.log",
        f"pidfile: {tmp}/nfacctd.pid",
        f"nfacctd_ip: {NFACCTD_IP}",
        f"nfacctd_port: {port}",
        "nfacctd_time_new: true",
        "timestamps_utc: true",
        "plugins: print[seed], print[coarse]",
    ]
    for name, spec in (("seed", SEED_FLOW_LIST), ("coarse", COARSE_LIST)):
        lines += [
            f"aggregate[{name}]: {spec}, flows",
            f"print_output[{name}]: json",
            f"print_output_file[{name}]: {tmp}/{name}.json",
            f"print_output_file_append[{name}]: true",
            f"print_refresh_time[{name}]: 2",
            f"print_history[{name}]: 1m",
            f"print_history_roundoff[{name}]: m",
        ]
    conf = tmp / "nfacctd.conf"
    conf.write_text("\n".join(lines) + "\n")
    return conf


def read_json_lines(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip().startswith("{")]


def flows_in(records: list[dict[str, Any]]) -> int:
    return sum(r["flows"] for r in records if r.get("event_type") == "purge")


def epoch(text: str) -> int:
    """A pmacct timestamp (with or without microseconds), as epoch seconds."""
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp())


def stamp_text(epoch_s: int) -> str:
    return datetime.fromtimestamp(epoch_s, UTC).strftime("%Y-%m-%d %H:%M:%S")


def switched(unix_secs: int, uptime_ms: int, since_boot_s: str) -> str:
    """A NetFlow v9 first/last switched time as text: unix_secs - (SysUptime - switched)/1000,
    the difference a signed 32-bit ms count (softflowd -r sends uptime 0 and switched times
    "before boot"), the division truncated, as nfacctd computes it."""
    delta_ms = (uptime_ms - round(float(since_boot_s) * 1000)) % 2**32
    delta_ms -= 2**32 if delta_ms >= 2**31 else 0
    return stamp_text(unix_secs - int(delta_ms / 1000))


def decode_export(pcap: Path, port: int) -> list[dict[str, Any]]:
    """tshark's decode of the captured NetFlow v9 export, as flows-enriched records."""
    out = subprocess.run(
        ["tshark", "-r", str(pcap), "-d", f"udp.port=={port},cflow", "-T", "json",
         "--no-duplicate-keys"],
        capture_output=True, check=True, timeout=60,
    ).stdout  # fmt: skip
    records = []
    for frame in json.loads(out):
        layers = frame["_source"]["layers"]
        cflow = layers.get("cflow")
        if not cflow:
            continue
        unix_secs = int(cflow["cflow.timestamp_tree"]["cflow.unix_secs"])
        uptime_ms = round(float(cflow["cflow.sysuptime"]) * 1000)
        arrival = float(layers["frame"]["frame.time_epoch"])
        for name, flowset in cflow.items():
            if not name.startswith("FlowSet") or not isinstance(flowset, dict):
                continue
            for fname, f in flowset.items():
                if not fname.startswith("Flow ") or "cflow.packets" not in f:
                    continue
                times = f["cflow.timedelta_tree"]
                proto = int(f["cflow.protocol"])
                records.append({
                    "peer_ip_src": layers["ip"]["ip.src"],
                    "iface_in": int(f["cflow.inputint"]),
                    "iface_out": int(f["cflow.outputint"]),
                    "ip_src": f.get("cflow.srcaddr") or f["cflow.srcaddrv6"],
                    "ip_dst": f.get("cflow.dstaddr") or f["cflow.dstaddrv6"],
                    "port_src": int(f.get("cflow.srcport", 0)),
                    "port_dst": int(f.get("cflow.dstport", 0)),
                    "tcp_flags": str(int(f.get("cflow.tcpflags", "0x00"), 16)),
                    "ip_proto": PROTO_NAMES.get(proto, str(proto)),
                    "tos": int(f["cflow.tos"], 16),
                    "timestamp_start": switched(unix_secs, uptime_ms, times["cflow.timestart"]),
                    "timestamp_end": switched(unix_secs, uptime_ms, times["cflow.timeend"]),
                    "timestamp_arrival": arrival,
                    "packets": int(f["cflow.packets"]),
                    "bytes": int(f["cflow.octets"]),
                })  # fmt: skip
    return records


def canonical(records: list[dict[str, Any]]) -> dict[tuple[Any, ...], list[int]]:
    """(key values with timestamps as epoch seconds, stamp_inserted) -> summed counters."""
    out: dict[tuple[Any, ...], list[int]] = {}
    for r in records:
        if r.get("event_type") != "purge":
            continue
        key = tuple(
            (k, epoch(v) if k.startswith("timestamp_") else v)
            for k, v in sorted(r.items())
            if k not in NOT_KEYS
        )
        acc = out.setdefault((key, r["stamp_inserted"]), [0, 0, 0])
        for i, c in enumerate(("flows", "packets", "bytes")):
            acc[i] += r[c]
    return out


def test_same_sums_as_nfacctd_on_the_lab_traffic(
    kafka_broker: str, topic_factory: TopicFactory, aggregator: AggregatorFactory, tmp_path: Path
) -> None:
    for tool in ("nfacctd", "softflowd", "tshark"):
        need(tool)
    port = free_port(NFACCTD_IP, "udp")
    conf = nfacctd_conf(tmp_path, port)
    capture = tmp_path / "export.pcapng"
    exported = 0
    tshark = ["tshark", "-i", "lo", "-f", f"udp and dst host {NFACCTD_IP} and dst port {port}",
              "-w", str(capture)]  # fmt: skip
    with (
        daemon(tshark, tmp_path / "tshark.log", "Capturing on"),
        daemon(["nfacctd", "-f", str(conf)], tmp_path / "nfacctd.out", "", 5) as _nf,
    ):
        # flows sent before both plugins run their loop can sit in nfacctd until it exits:
        # wait for each plugin's first (empty) purge
        wait_for(
            "each nfacctd plugin's first purge",
            lambda: all(
                f"( {n}/print ): *** Purging cache - END" in _read(tmp_path / "nfacctd.log")
                for n in ("seed", "coarse")
            ),
            30,
            every=0.1,
        )
        # keep the passes inside one minute bin (both sides bin by arrival time)
        second = datetime.now(UTC).second
        if second >= 45:
            time.sleep(61 - second)
        for _ in range(PASSES):
            sf = subprocess.run(
                ["softflowd", "-r", str(TRAFFIC), "-n", f"{NFACCTD_IP}:{port}", "-v", "9",
                 "-d", "-p", str(tmp_path / "softflowd.pid")],
                capture_output=True, text=True, timeout=60,
            )  # fmt: skip
            found = re.search(r"Flows exported: \d+ \((\d+) records\)", sf.stdout + sf.stderr)
            assert found, sf.stdout + sf.stderr
            exported += int(found.group(1))
        wait_for(
            "nfacctd to print every exported flow",
            lambda: all(
                flows_in(read_json_lines(tmp_path / f"{n}.json")) >= exported
                for n in ("seed", "coarse")
            ),
            30,
            every=0.2,
        )
    reference = {n: read_json_lines(tmp_path / f"{n}.json") for n in ("seed", "coarse")}
    assert {n: flows_in(r) for n, r in reference.items()} == {"seed": exported, "coarse": exported}

    records = decode_export(capture, port)
    assert len(records) == exported  # tshark saw every record nfacctd counted
    source = topic_factory("parity-in", partitions=2)
    produce(kafka_broker, source, [
        (r["peer_ip_src"].encode(), orjson.dumps(r), int(r["timestamp_arrival"] * 1000))
        for r in records
    ])  # fmt: skip
    env = {"REFRESH_TIME": "2", "HISTORY": "1m", "GRACE": "5", "TIME_SOURCE": "arrival"}
    runs = {
        "seed": aggregator(source, topic_factory("parity-seed", 2), AGGREGATE=SEED_FLOW_LIST,
                           **env),
        "coarse": aggregator(source, topic_factory("parity-coarse", 2), AGGREGATE=COARSE_LIST,
                             **env),
    }  # fmt: skip
    for run in runs.values():
        run.wait_consumed(kafka_broker, source)
    produce(kafka_broker, source, closers(max(r["timestamp_arrival"] for r in records) + 600))

    for name, run in runs.items():
        reader = TopicReader(kafka_broker, run.env["FLOWS_AGGREGATED_TOPIC"])
        try:
            ours = reader.read_until(
                lambda recs: flows_in(recs) >= exported, timeout=90, what=f"{name} aggregates"
            )
            ours = reader.drain(quiet=2)
        finally:
            reader.close()
        assert canonical(ours) == canonical(reference[name]), name
        # same keys in the same order as nfacctd's print plugin (which writes no writer_id)
        purge_ref = next(r for r in reference[name] if r["event_type"] == "purge")
        purge_ours = next(r for r in ours if r["event_type"] == "purge")
        assert [k for k in purge_ours if k != "writer_id"] == list(purge_ref)
    # real aggregation happened: the passes repeat flows under the same keys, and the coarse
    # list folds different flows together
    assert max(v[0] for v in canonical(reference["seed"]).values()) >= 2
    assert len(canonical(reference["coarse"])) < exported / PASSES


def _read(path: Path) -> str:
    return path.read_text(errors="replace") if path.exists() else ""
