"""The lab's processes: how each is started (command, settings env) and when it is healthy.

The ribflow apps run as `python -m ribflow <command>` with their settings in the environment
(the names of ribflow.settings.AppSettings and each app's own settings class); the lab never
imports them. A health check returns (healthy, detail) and never raises.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ribflow.kafka.client import check_connection
from ribflow.lab import probes
from ribflow.lab.exabgp import speaker_env
from ribflow.lab.exporter import ExporterStatus
from ribflow.lab.procs import ProcRecord, ProcSpec, alive
from ribflow.lab.settings import LabSettings

Health = Callable[[ProcRecord], tuple[bool, str]]
APPS = ("enricher", "aggregator", "collector", "bridge")
MIN_UPTIME = 3.0  # an app must survive this long (settings and broker checks) to count as up


@dataclass(frozen=True)
class LabPaths:
    """Files and directories inside the lab directory."""

    root: Path

    @property
    def conf(self) -> Path:
        return self.root / "conf"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def run(self) -> Path:
        return self.root / "run"

    @property
    def state(self) -> Path:
        return self.root / "state"

    @property
    def table(self) -> Path:
        return self.root / "table.mrt"

    @property
    def plan(self) -> Path:
        return self.root / "traffic.json"

    @property
    def agent_map(self) -> Path:
        return self.conf / "bgp_agent.map"

    @property
    def bridge_pid(self) -> Path:
        return self.run / "bridge.pid"

    @property
    def bridge_script(self) -> Path:
        return self.run / "bridge.sh"

    @property
    def exabgp_conf(self) -> Path:
        return self.conf / "exabgp"

    @property
    def exporter_dir(self) -> Path:
        return self.run / "exporter"

    def make(self) -> None:
        for d in (self.conf, self.logs, self.run, self.state, self.exporter_dir):
            d.mkdir(parents=True, exist_ok=True)


def metrics_port(s: LabSettings, app: str) -> int:
    return s.metrics_port_base + APPS.index(app) if s.metrics_port_base else 0


def topic_env(s: LabSettings) -> dict[str, str]:
    """Topic names (with the lab's prefix) under the env names every app reads."""
    return {
        "BGP_UPDATES_TOPIC": s.topic(s.bgp_updates_topic),
        "FLOWS_TOPIC": s.topic(s.flows_topic),
        "FLOWS_ENRICHED_TOPIC": s.topic(s.flows_enriched_topic),
        "BGP_RIB_DUMP_TOPIC": s.topic(s.bgp_rib_dump_topic),
        "BGP_RIB_TOPIC": s.topic(s.bgp_rib_topic),
        "FLOW_TEMPLATES_TOPIC": s.topic(s.flow_templates_topic),
        "SFLOW_COUNTERS_TOPIC": s.topic(s.sflow_counters_topic),
        "FLOWS_AGGREGATED_TOPIC": s.topic(s.flows_aggregated_topic),
        "DLQ_SUFFIX": s.dlq_suffix,
    }


def secured_kafka(s: LabSettings) -> bool:
    """Whether the settings ask for TLS, SASL or Quix Cloud: such a Kafka is external (the lab
    starts PLAINTEXT brokers only), checked here: a refusal raises KafkaAccessError, no answer
    KafkaUnreachable, each one line naming the setting."""
    if s.security_protocol == "PLAINTEXT" and s.quix_sdk_token is None:
        return False
    check_connection(s, timeout=15.0)
    return True


def app_env(s: LabSettings, paths: LabPaths, app: str) -> dict[str, str]:
    """Environment of one ribflow app in the lab (each app appends its own group suffix)."""
    env = {
        **s.connection_env(),  # address, TLS and SASL settings, secrets included
        "Quix__Broker__Address": s.broker_address,
        "Quix__Consumer__Group": s.group_prefix,
        "Quix__State__Dir": str(paths.state / app),
        "PARTITIONS": str(s.partitions),
        "REPLICATION_FACTOR": str(s.replication_factor),
        "LOG_LEVEL": s.log_level,
        "METRICS_PORT": str(metrics_port(s, app)),
        "METRICS_HOST": "127.0.0.1",
        **topic_env(s),
    }
    if app == "collector":
        env.update(collector_env(s, paths))
    if app == "enricher":
        env["RIB_DUMP_INTERVAL"] = str(s.rib_dump_interval)
    if app == "bridge":
        env.update(speaker_env(s, paths.exabgp_conf, paths.bridge_script))
    return env


def collector_env(s: LabSettings, paths: LabPaths) -> dict[str, str]:
    """Listen address and ports and the agent map of the collector."""
    return {
        "LISTEN_HOSTS": s.collector_address,
        "LISTEN_PORTS": f"{s.netflow_port},{s.sflow_port}",
        "AGENT_MAP_FILE": str(paths.agent_map),
    }


def enricher_group(s: LabSettings, paths: LabPaths) -> str:
    """Consumer group of the lab's enricher, as the enricher's own settings name it."""
    from ribflow.enrich.settings import EnricherSettings

    env: dict[str, Any] = dict(app_env(s, paths, "enricher"))
    return EnricherSettings(**env).group_id


def agent_map_text(s: LabSettings) -> str:
    """pmacct-style agent map: exports from the exporter address belong to the lab router."""
    return (
        "! ribflow lab: flows exported from the exporter address are enriched with the RIB of\n"
        "! the lab router (router key = its BGP address as ExaBGP sees it)\n"
        f"bgp_ip={s.router_key}\tip={s.exporter_address}\n"
    )


def app_spec(s: LabSettings, paths: LabPaths, app: str) -> ProcSpec:
    return ProcSpec(
        name=app,
        argv=[sys.executable, "-m", "ribflow", app],
        log=paths.logs / f"{app}.log",
        cwd=paths.root,
        env=app_env(s, paths, app),
        marker=f"ribflow {app}",
    )


def exporter_spec(s: LabSettings, paths: LabPaths) -> ProcSpec:
    argv = [
        sys.executable, "-m", "ribflow", "lab", "exporter",
        "--plan", str(paths.plan),
        "--target", f"{s.collector_address}:{s.netflow_port}",
        "--version", str(s.netflow_version),
        "--interval", str(s.traffic_interval),
        "--workdir", str(paths.exporter_dir),
        "--vary",
    ]
    return ProcSpec("exporter", argv, paths.logs / "exporter.log", paths.root,
                    marker=str(paths.exporter_dir))


# -- health ------------------------------------------------------------------------------------
def _uptime_ok(rec: ProcRecord) -> tuple[bool, str]:
    if not alive(rec):
        return False, "exited"
    up = time.time() - rec.started
    if up < MIN_UPTIME:
        return False, f"starting ({up:.0f}s)"
    return True, f"up {up:.0f}s"


def app_health(s: LabSettings, app: str) -> Health:
    def check(rec: ProcRecord) -> tuple[bool, str]:
        ok, detail = _uptime_ok(rec)
        if not ok:
            return ok, detail
        port = metrics_port(s, app)
        if port and not probes.http_ok(f"http://127.0.0.1:{port}/metrics"):
            return False, f"/metrics on :{port} not answering"
        return True, detail

    return check


def collector_health(s: LabSettings) -> Health:
    base = app_health(s, "collector")

    def check(rec: ProcRecord) -> tuple[bool, str]:
        ok, detail = base(rec)
        if not ok:
            return ok, detail
        for port in (s.netflow_port, s.sflow_port):
            if not probes.udp_bound(s.collector_address, port):
                return False, f"UDP {s.collector_address}:{port} not bound yet"
        return True, f"listening on UDP {s.collector_address}:{s.netflow_port},{s.sflow_port}"

    return check


def exporter_health(paths: LabPaths) -> Health:
    def check(rec: ProcRecord) -> tuple[bool, str]:
        if not alive(rec):
            return False, "exited"
        st = ExporterStatus.read(paths.exporter_dir / "exporter.json")
        if st is None or st.pid != rec.pid:  # none yet, or left by an earlier exporter
            return False, "no status from this exporter yet"
        if st.passes == 0:
            why = f": {st.last_error}" if st.last_error else ""
            return False, "no export pass finished yet" + why
        return True, f"{st.passes} passes of {st.flows_per_pass} flows"

    return check


def bridge_record(paths: LabPaths) -> ProcRecord | None:
    """The bridge process ExaBGP started (its wrapper script records the pid)."""
    try:
        pid = int(paths.bridge_pid.read_text().strip())
    except (OSError, ValueError):
        return None
    started = paths.bridge_pid.stat().st_mtime
    log = str(paths.logs / "bridge.log")
    return ProcRecord("bridge", pid, ["ribflow", "bridge"], log, "ribflow bridge", started)
