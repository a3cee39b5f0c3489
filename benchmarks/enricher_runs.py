"""The enricher benchmark's runs (bench_enricher.py): one table through the enricher (load, flows,
NDJSON pass, restore, pass-through), decoder + enricher fed by bench-pmacct's sender, and nfacctd
with its BGP daemon on the same packets. Each returns its raw figures as a dict.

The importing script puts the repository root on sys.path.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from benchmarks.enricher_procs import (
    PARTITIONS,
    Kafka,
    cpu_seconds,
    enricher,
    passthrough,
    rss_bytes,
    stop,
    wait,
)
from benchmarks.enricher_workload import (
    BENCH_PMACCT,
    COLLECTOR,
    GOBGPD,
    NFACCTD,
    REPO,
    SENDER,
    T0,
    Workload,
)
from benchmarks.procstat import group_cpu, wait_quiet
from tests.enrich.daemons import gobgp, gobgpd, gobgpd_config, nfacctd, nfacctd_bgp_conf, started
from tests.fixtures.ports import free_port
from tests.fixtures.waiting import wait_for


# -- one table -----------------------------------------------------------------------------------
def bench_table(
    kafka: Kafka,
    wl: Workload,
    work: Path,
    groups: list[str],
    extra_env: dict[str, str],
    rate: float = 100_000,
) -> dict[str, float]:
    tag = uuid.uuid4().hex[:6]
    t = {k: kafka.topic(f"bench-{k}-{tag}", compact=(k == "rib"))
         for k in ("bgp", "flows", "enriched", "enriched2", "enriched3", "dump", "rib",
                   "pass")}  # fmt: skip
    group = f"bench-enricher-{tag}"
    groups.append(group)
    state = work / f"state-{tag}"
    env = {
        "Quix__Broker__Address": kafka.broker, "Quix__Consumer__Group": group,
        "Quix__State__Dir": str(state), "BGP_UPDATES_TOPIC": t["bgp"], "FLOWS_TOPIC": t["flows"],
        "FLOWS_ENRICHED_TOPIC": t["enriched"], "BGP_RIB_DUMP_TOPIC": t["dump"],
        "BGP_RIB_TOPIC": t["rib"], "RIB_DUMP_INTERVAL": "0", "COMMIT_INTERVAL": "2",
        "LOG_LEVEL": "INFO", "PARTITIONS": str(PARTITIONS), **extra_env,
    }  # fmt: skip
    r: dict[str, float] = {"paths": wl.paths, "flows": wl.n_flows}
    kafka.produce(t["bgp"], ((k, v, T0) for k, v in wl.bgp))
    gid = group + "-enricher"
    log = work / f"enricher-{tag}.log"
    proc = enricher(env, log)
    try:
        time.sleep(0.5)
        cpu0, rss0, t0 = cpu_seconds(proc.pid), rss_bytes(proc.pid), time.perf_counter()
        wait(lambda: kafka.caught_up(gid, t["bgp"]), 3600, "the table load", proc, log)
        r["load_cpu"] = cpu_seconds(proc.pid) - cpu0
        r["load_wall"] = time.perf_counter() - t0
        r["rss_per_path"] = (rss_bytes(proc.pid) - rss0) / wl.paths
        # flows, one JSON per flow
        kafka.produce(t["flows"], ((k, v, T0 + 3_600_000) for k, v in wl.flows))
        cpu0, t0 = cpu_seconds(proc.pid), time.perf_counter()
        wait(lambda: kafka.caught_up(gid, t["flows"]) and kafka.count(t["enriched"]) >= wl.n_flows,
             3600, "the enrichment", proc, log)  # fmt: skip
        r["flows_cpu"] = cpu_seconds(proc.pid) - cpu0
        r["flows_wall"] = time.perf_counter() - t0
        r["enriched"] = kafka.count(t["enriched"])
    finally:
        stop(proc)
    # second pass: NDJSON per batch (same group and state: the RIB comes from local state)
    env2 = {**env, "ENRICHED_BATCH": "true", "FLOWS_ENRICHED_TOPIC": t["enriched2"]}
    log2 = work / f"enricher2-{tag}.log"
    proc = enricher(env2, log2)
    try:
        wait(lambda: "RIB rebuilt" in log2.read_text(), 600, "the warm restart", proc, log2)
        kafka.produce(t["flows"], ((k, v, T0 + 7_200_000) for k, v in wl.flows))
        cpu0 = cpu_seconds(proc.pid)
        wait(lambda: kafka.caught_up(gid, t["flows"]), 3600, "the NDJSON pass", proc, log2)
        r["batch_cpu"] = cpu_seconds(proc.pid) - cpu0
    finally:
        stop(proc)
    if "pool" in wl.extra:  # decoder + enricher: the collector feeds the warm enricher
        env3 = {**env, "FLOWS_ENRICHED_TOPIC": t["enriched3"]}
        r.update(bench_live(kafka, wl, work, env3, gid, t["flows"], t["enriched3"], rate))
    # restore from the changelog after losing the local state
    shutil.rmtree(state)
    log3 = work / f"enricher3-{tag}.log"
    t0 = time.perf_counter()
    proc = enricher(env, log3)
    try:

        def rebuilt() -> bool:
            lines = [ln for ln in log3.read_text().splitlines() if "RIB rebuilt" in ln]
            paths = sum(int(ln.split(" paths")[0].rsplit(" ", 1)[1]) for ln in lines)
            return len(lines) >= PARTITIONS and paths >= wl.paths

        wait(rebuilt, 1800, "the restore from the changelog", proc, log3)
        r["restore_s"] = time.perf_counter() - t0
    finally:
        stop(proc)
    # pass-through over the same flow messages (every pass's)
    pgroup = f"bench-pass-{tag}"
    plog = work / f"pass-{tag}.log"
    proc = passthrough(kafka.broker, t["flows"], t["pass"], pgroup, plog)
    try:
        # from its first message out: the app's imports and start-up are not the messages' cost
        deadline = time.monotonic() + 300
        while (moved0 := kafka.count(t["pass"])) == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        cpu0 = cpu_seconds(proc.pid)
        total = kafka.count(t["flows"])  # every pass's messages (bench passes and collector's)
        wait(lambda: kafka.count(t["pass"]) >= total and
             kafka.caught_up(pgroup, t["flows"]), 3600, "the pass-through", proc, plog)  # fmt: skip
        per_message = (cpu_seconds(proc.pid) - cpu0) / max(total - moved0, 1)
        r["pass_cpu"] = per_message * len(wl.flows)  # the cost of one pass of the bench's messages
    finally:
        stop(proc)
    return r


# -- decoder + enricher ---------------------------------------------------------------------------
def bench_live(
    kafka: Kafka,
    wl: Workload,
    work: Path,
    env: dict[str, str],
    gid: str,
    flows_topic: str,
    enriched_topic: str,
    rate: float,
) -> dict[str, float]:
    """The sender's packets through `ribflow collector` into the warm enricher: flows out per
    CPU-second of both processes (and all their children)."""
    tag = uuid.uuid4().hex[:6]
    side = {k: kafka.topic(f"bench-{k}-{tag}") for k in ("counters", "templates")}
    agent_map = work / "agent.map"
    agent_map.write_text(f"bgp_ip={GOBGPD} ip={SENDER}\n")
    port = free_port(COLLECTOR, "udp")
    cenv = {
        "Quix__Broker__Address": kafka.broker, "LISTEN_HOSTS": COLLECTOR,
        "LISTEN_PORTS": str(port), "FLOWS_TOPIC": flows_topic,
        "SFLOW_COUNTERS_TOPIC": side["counters"], "FLOW_TEMPLATES_TOPIC": side["templates"],
        "FOLLOW_BGP_UPDATES": "false", "AGENT_MAP_FILE": str(agent_map), "METRICS_PORT": "0",
        "PARTITIONS": str(PARTITIONS), "LOG_LEVEL": "INFO",
    }  # fmt: skip
    elog, clog = work / f"enricher-live-{tag}.log", work / f"collector-{tag}.log"
    before = kafka.count(enriched_topic)
    proc = enricher(env, elog)
    coll: subprocess.Popen[bytes] | None = None
    try:
        wait(lambda: "RIB rebuilt" in elog.read_text(), 600, "the warm restart", proc, elog)
        with clog.open("ab") as out:
            coll = subprocess.Popen(
                [sys.executable, "-m", "ribflow", "collector"],
                env={**os.environ, "PYTHONPATH": str(REPO / "src"), **cenv},
                stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        wait(lambda: "collector ready" in clog.read_text(), 90, "the collector", coll, clog)
        time.sleep(1)
        e_cpu0, c_cpu0 = group_cpu(proc.pid), group_cpu(coll.pid)
        t0 = time.perf_counter()
        sent = send_pool(wl, f"{COLLECTOR}:{port}", rate)

        def settled() -> bool:  # every delivered packet read, the output stable for 3 s
            n = kafka.count(enriched_topic)
            time.sleep(3)
            return kafka.caught_up(gid, flows_topic) and kafka.count(enriched_topic) == n > before

        wait(settled, 1800, "the decoder + enricher pass", proc, elog)
        collector_cpu = group_cpu(coll.pid) - c_cpu0
        enricher_cpu = group_cpu(proc.pid) - e_cpu0
        cpu = collector_cpu + enricher_cpu
        wall = time.perf_counter() - t0
        drops = _collector_drops(clog)
    finally:
        if coll is not None:
            stop(coll)
        stop(proc)
    out_n = kafka.count(enriched_topic) - before
    print(f"# decoder + enricher: sent {sent['flows']:,} flows at {sent['flows_per_s']:,.0f}/s, "
          f"{out_n:,} enriched out, CPU {cpu:.2f} s (collector {collector_cpu:.2f}, enricher "
          f"{enricher_cpu:.2f}), wall {wall:.1f} s{drops}", flush=True)  # fmt: skip
    return {"live_sent": sent["flows"], "live_out": out_n, "live_cpu": cpu,
            "live_collector_cpu": collector_cpu, "live_enricher_cpu": enricher_cpu}  # fmt: skip


def _collector_drops(log: Path) -> str:
    lines = [ln for ln in log.read_text(errors="replace").splitlines() if "drop" in ln.lower()]
    return f"; collector log: {lines[-1][-160:]}" if lines else ""


def send_pool(wl: Workload, dst: str, rate: float) -> dict[str, Any]:
    """bench-pmacct's sender: the pool's packets to ``dst`` from SENDER, at ``rate`` flows/s."""
    sent = subprocess.run(
        [sys.executable, str(BENCH_PMACCT / "sender.py"), str(wl.extra["pool"]), "--rate",
         str(rate), "--flows", str(wl.n_flows), "--dst", dst, "--src", SENDER],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    info: dict[str, Any] = orjson.loads(sent.stdout.strip().splitlines()[-1])
    return info


# -- nfacctd ---------------------------------------------------------------------------------------
NFACCTD_REST = """nfacctd_pipe_size: 4194304
plugin_pipe_size: 104857600
plugin_buffer_size: 102400
plugins: print[out]
aggregate[out]: src_host, dst_host, src_port, dst_port, proto, src_as, dst_as, as_path, \
peer_dst_ip, local_pref, std_comm
print_output[out]: json
print_output_file[out]: {d}/out.json
print_output_file_append[out]: true
print_refresh_time[out]: 5
print_cache_entries[out]: 500009
"""


def bench_nfacctd(wl: Workload, work: Path, rate: float) -> dict[str, float]:
    grpc = free_port(GOBGPD)
    d = work / "nfacctd"
    d.mkdir(exist_ok=True)
    (d / "bgp_agent.map").write_text(f"bgp_ip=10.0.0.45\t\tip={SENDER}\n")
    router = gobgpd(d, GOBGPD, grpc, gobgpd_config(GOBGPD, "10.0.0.45", 65001, [], [NFACCTD]))
    collector = nfacctd(d, nfacctd_bgp_conf(d, NFACCTD, "10.0.0.46", 65001, NFACCTD_REST))
    out = d / "out.json"
    with started(router, collector):
        wait_for("gobgpd's API", lambda: _gobgp_ok(grpc), 30)
        gobgp(GOBGPD, grpc, "mrt", "inject", "global", str(wl.extra["mrt"]), timeout=600)
        wait_for("nfacctd to get the table", lambda: _advertised(grpc, NFACCTD) >= wl.paths, 600)
        listening = f"waiting for NetFlow/IPFIX data on {NFACCTD}:2100"
        wait_for(listening, lambda: listening in (d / "nfacctd.log").read_text(), 60)
        # gobgpd's "advertised" is what it sent, not what nfacctd has taken in: its BGP thread
        # can still be parsing the table, and that CPU is not the flows'
        table_cpu = wait_quiet(collector.pid, "nfacctd taking in the table")
        cpu0 = group_cpu(collector.pid)
        info = send_pool(wl, f"{NFACCTD}:2100", rate)

        def flows_out() -> int:
            if not out.exists():
                return 0
            return sum(int(x) for x in _packets_field(out.read_bytes()))

        last = -1
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # until the print plugin stops writing
            time.sleep(6)
            now = flows_out()
            if now == last and now > 0:
                break
            last = now
        cpu = group_cpu(collector.pid) - cpu0
        received = flows_out()
    return {"nf_sent": info["flows"], "nf_out": received, "nf_cpu": cpu, "nf_settle_cpu": table_cpu}


def _packets_field(data: bytes) -> Iterator[bytes]:
    key = b'"packets": '
    pos = data.find(key)
    while pos >= 0:
        end = data.find(b",", pos)
        yield data[pos + len(key) : end]
        pos = data.find(key, end)


def _gobgp_ok(grpc: int) -> bool:
    try:
        gobgp(GOBGPD, grpc, "global", timeout=5)
        return True
    except (AssertionError, subprocess.TimeoutExpired):
        return False


def _advertised(grpc: int, neighbor: str) -> int:
    info = orjson.loads(gobgp(GOBGPD, grpc, "neighbor", neighbor, "-j"))
    return sum(int(af.get("state", {}).get("advertised", 0) or 0)
               for af in info.get("afi_safis", []) or [])  # fmt: skip
