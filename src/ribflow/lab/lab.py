"""The local lab: start every process in order, wait until each is healthy, report, stop.

Order of `up`: Kafka (reused when one answers), topics, the router with its table, the enricher,
the aggregator, the collector, ExaBGP with the bridge as its API process, and the exporter. The
state file is written after every start, so a failed `up` is cleaned up by itself (or later by
`down`) without guessing which processes belong to the lab.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from ribflow.kafka.local import BrokerConfig, LocalKafka, broker_answers, default_data_dir
from ribflow.lab import components as comp
from ribflow.lab import prereqs, procs
from ribflow.lab.errors import LabError, StartFailed
from ribflow.lab.exabgp import render_bridge_script, speaker_command
from ribflow.lab.kafkaview import GroupLag, TopicSize, group_lags, topic_sizes
from ribflow.lab.procs import ProcRecord, ProcSpec
from ribflow.lab.readiness import end_offsets, wait_caught_up, wait_for_eor
from ribflow.lab.router import Gobgp, gobgpd_command, render_gobgpd
from ribflow.lab.settings import LabSettings
from ribflow.lab.state import KafkaState, LabState, settings_snapshot
from ribflow.lab.table import Table, build_table
from ribflow.lab.traffic import plan_flows, save_plan
from ribflow.settings import DEFAULT_BROKER
from ribflow.topics_cli import create_all, topic_specs

log = logging.getLogger(__name__)
STOP_ORDER = ("exporter", "exabgp", "bridge", "collector", "aggregator", "enricher", "router")


@dataclass
class ProcStatus:
    name: str
    pid: int
    alive: bool
    healthy: bool
    detail: str


@dataclass
class LabStatus:
    lab_dir: str
    kafka: KafkaState
    kafka_answers: bool
    processes: list[ProcStatus]
    topics: dict[str, TopicSize]
    lags: list[GroupLag]
    problems: list[str]

    @property
    def ok(self) -> bool:
        return self.kafka_answers and all(p.alive for p in self.processes) and not self.problems


class Lab:
    """One lab, living in ``settings.lab_dir``."""

    def __init__(self, settings: LabSettings, out: TextIO | None = None) -> None:
        self.s = settings
        self.paths = comp.LabPaths(settings.lab_dir)
        self.out = out or sys.stdout

    def say(self, msg: str) -> None:
        print(msg, file=self.out, flush=True)

    # -- up --------------------------------------------------------------------------------
    def up(self, keep_on_failure: bool = False) -> LabState:
        existing = LabState.load(self.paths.root)
        if existing is not None:
            running = [p for p in existing.processes if procs.alive(p)]
            if running and len(running) == len(existing.processes):
                self.say(f"lab already up in {self.paths.root} (`ribflow lab status` for details)")
                return existing
            if running:
                names = ", ".join(p.name for p in running)
                raise LabError(
                    f"a lab is partly running in {self.paths.root} ({names}): "
                    "run `ribflow lab down` first"
                )
        self.paths.make()
        kafka = self._kafka_plan()
        cache_done = LocalKafka(self._broker_config()).cfg.cache_dir / ".complete"
        report = prereqs.check(kafka.started_by_lab, cache_done.exists(), self.s.install)
        if report.installed:
            self.say(f"installed Debian packages: {' '.join(report.installed)}")
        state = LabState(settings_snapshot(self.s), kafka)
        state.save(self.paths.root)
        try:
            self._start_kafka(state)
            self._topics()
            table = self._table(state)
            self._router(state, table)
            for app in ("enricher", "aggregator"):
                self._app(state, app, comp.app_health(self.s, app))
            self._app(state, "collector", comp.collector_health(self.s))
            self._exabgp(state)
            self._exporter(state)
        except BaseException:
            if not keep_on_failure:
                with contextlib.suppress(Exception):
                    self.down(quiet=True)
            raise
        self.say(self.summary(state))
        return state

    def _broker_config(self) -> BrokerConfig:
        host, _, port = self.s.broker_address.split(",")[0].rpartition(":")
        data_dir = (
            default_data_dir()
            if self.s.broker_address == DEFAULT_BROKER
            else self.paths.root / "kafka"
        )
        return BrokerConfig(host=host or "127.0.0.1", port=int(port), data_dir=data_dir)

    def _kafka_plan(self) -> KafkaState:
        address = self.s.broker_address
        if comp.secured_kafka(self.s):
            return KafkaState(address=address, started_by_lab=False)
        if broker_answers(self.s, timeout=5.0):
            return KafkaState(address=address, started_by_lab=False)
        if self.s.kafka_mode == "external":
            raise LabError(f"no Kafka broker answers at {address} (LAB_KAFKA=external)")
        cfg = self._broker_config()
        return KafkaState(address=address, started_by_lab=True, data_dir=str(cfg.data_dir))

    def _start_kafka(self, state: LabState) -> None:
        if not state.kafka.started_by_lab:
            self.say(f"kafka      reusing the broker at {state.kafka.address}")
            return
        self.say(f"kafka      starting the managed broker on {state.kafka.address} ...")
        pid, started = LocalKafka(self._broker_config()).up()
        state.kafka.pid = pid
        state.kafka.started_by_lab = started
        state.save(self.paths.root)
        self.say(f"kafka      up (pid {pid})")

    def _topics(self) -> None:
        created = create_all(self.s, prefix=self.s.topic_prefix)
        total = len(topic_specs(self.s, self.s.topic_prefix))
        self.say(f"topics     {len(created)} created, {total - len(created)} already there")

    def _table(self, state: LabState) -> Table:
        t0 = time.monotonic()
        table = build_table(
            self.s.table,
            self.paths.table,
            ris_dump=self.s.ris_dump,
            n4=self.s.table_v4,
            n6=self.s.table_v6,
            seed=self.s.seed,
            router_as=self.s.router_as,
            router_id=self.s.router_id,
        )
        flows = plan_flows(table.prefixes, self.s.traffic_flows, self.s.seed)
        save_plan(self.paths.plan, flows)
        state.table = {"source": table.source, "v4": table.count_v4, "v6": table.count_v6}
        state.save(self.paths.root)
        self.say(
            f"table      {table.source}: {table.count_v4} v4 + {table.count_v6} v6 routes "
            f"({time.monotonic() - t0:.1f}s); traffic plan of {len(flows)} flows"
        )
        return table

    def _start(self, state: LabState, spec: ProcSpec) -> ProcRecord:
        rec = procs.start(spec)
        state.replace(rec)
        state.save(self.paths.root)
        return rec

    def _wait(
        self, rec: ProcRecord, check: Callable[[ProcRecord], tuple[bool, str]], what: str = ""
    ) -> str:
        """Wait until ``check`` passes; fail at once when the process exits."""
        deadline = time.monotonic() + self.s.start_timeout
        detail = ""
        while True:
            if not procs.alive(rec):
                code = procs.exit_code(rec)
                raise StartFailed(
                    f"{rec.name} exited"
                    + (f" with code {code}" if code is not None else "")
                    + f" while starting; last lines of {rec.log}:\n{procs.log_tail(rec.log)}"
                )
            ok, detail = check(rec)
            if ok:
                return detail
            if time.monotonic() > deadline:
                raise StartFailed(
                    f"{what or rec.name} not healthy after {self.s.start_timeout:.0f}s ({detail}); "
                    f"last lines of {rec.log}:\n{procs.log_tail(rec.log)}"
                )
            time.sleep(0.5)

    def _router(self, state: LabState, table: Table) -> None:
        conf = self.paths.conf / "gobgpd.toml"
        conf.write_text(render_gobgpd(self.s))
        spec = ProcSpec(
            "router",
            gobgpd_command(self.s, conf),
            self.paths.logs / "gobgpd.log",
            self.paths.root,
            marker=str(conf),
        )
        rec = self._start(state, spec)
        gobgp = Gobgp(self.s.router_address, self.s.router_grpc_port)
        self._wait(rec, lambda r: (gobgp.answers(), "gRPC API not answering"), "router gRPC")
        t0 = time.monotonic()
        gobgp.inject_mrt(table.path)

        def loaded(_: ProcRecord) -> tuple[bool, str]:
            v4, v6 = gobgp.rib_count("ipv4"), gobgp.rib_count("ipv6")
            return v4 >= table.count_v4 and v6 >= table.count_v6, f"{v4} v4 + {v6} v6 routes"

        detail = self._wait(rec, loaded, "router table")
        self.say(
            f"router     gobgpd pid {rec.pid}, BGP {self.s.router_address} AS {self.s.router_as},"
            f" gRPC {self.s.grpc_target}; {detail} loaded in "
            f"{time.monotonic() - t0:.1f}s"
        )

    def _app(self, state: LabState, app: str, health: comp.Health) -> None:
        if app == "collector":
            self.paths.agent_map.write_text(comp.agent_map_text(self.s))
        rec = self._start(state, comp.app_spec(self.s, self.paths, app))
        detail = self._wait(rec, health)
        self.say(f"{app:<10} pid {rec.pid}: {detail}")

    def _exabgp(self, state: LabState) -> None:
        script = self.paths.bridge_script
        self.paths.bridge_pid.unlink(missing_ok=True)
        bridge_log = self.paths.logs / "bridge.log"
        script.write_text(render_bridge_script(self.paths.bridge_pid, bridge_log))
        script.chmod(0o755)
        spec = ProcSpec(
            "exabgp",
            speaker_command(self.paths.exabgp_conf),
            self.paths.logs / "exabgp.log",
            self.paths.root,
            env=comp.app_env(self.s, self.paths, "bridge"),
            marker=str(self.paths.exabgp_conf),
        )
        bridge_topic = self.s.topic(self.s.bgp_updates_topic)
        start = end_offsets(self.s, bridge_topic)
        before = sum(start.values())
        rec = self._start(state, spec)
        gobgp = Gobgp(self.s.router_address, self.s.router_grpc_port)

        def established(_: ProcRecord) -> tuple[bool, str]:
            try:
                st = gobgp.neighbor_state(self.s.exabgp_address)
            except LabError as exc:
                return False, str(exc)
            return st == "established", f"BGP session {st}"

        self._wait(rec, established, "ExaBGP session")

        def bridge_up(_: ProcRecord) -> tuple[bool, str]:
            bridge = comp.bridge_record(self.paths)
            if bridge is None:
                return False, "bridge not started by ExaBGP yet"
            if not procs.alive(bridge):
                raise StartFailed(
                    f"the bridge (pid {bridge.pid}) exited; last lines of {bridge.log}:\n"
                    + procs.log_tail(bridge.log)
                )
            n = self._topic_messages(bridge_topic) - before
            return n > 0, f"{n} new messages in {bridge_topic}"

        detail = self._wait(rec, bridge_up, "bridge")
        bridge = comp.bridge_record(self.paths)
        self.say(
            f"exabgp     pid {rec.pid} on {self.s.exabgp_address}: session established; "
            f"bridge pid {bridge.pid if bridge else '?'}: {detail}"
        )
        self._table_delivered(bridge_topic, start)

    def _table_delivered(self, topic: str, start: dict[int, int]) -> None:
        """Wait until the router's whole table is in the enricher (End-of-RIB, then its lag)."""
        broker, timeout = self.s, self.s.start_timeout
        families = ("ipv4 unicast", "ipv6 unicast")
        eor = wait_for_eor(broker, topic, start, self.s.router_key, families, timeout)
        targets = end_offsets(broker, topic)
        group = comp.enricher_group(self.s, self.paths)
        lag = wait_caught_up(broker, group, topic, targets, start, timeout)
        routes = sum(targets.values()) - sum(start.values())
        self.say(
            f"table      End-of-RIB after {eor:.1f}s; enricher caught up with {routes} "
            f"bgp-updates messages {lag:.1f}s later"
        )

    def _topic_messages(self, topic: str) -> int:
        return sum(end_offsets(self.s, topic).values())

    def _exporter(self, state: LabState) -> None:
        rec = self._start(state, comp.exporter_spec(self.s, self.paths))
        detail = self._wait(rec, comp.exporter_health(self.paths), "exporter")
        rate = self.s.traffic_flows / self.s.traffic_interval
        self.say(
            f"exporter   pid {rec.pid}: softflowd -> {self.s.collector_address}:"
            f"{self.s.netflow_port} NetFlow v{self.s.netflow_version}, ~{rate:.0f} flows/s; "
            f"{detail}"
        )

    def summary(self, state: LabState) -> str:
        s = self.s
        return (
            f"\nlab up in {self.paths.root} ({time.time() - state.started:.0f}s)\n"
            f"  kafka {s.broker_address}; topics {s.topic(s.flows_enriched_topic)}, ...\n"
            f"  router gobgpd {s.router_address} AS {s.router_as}; change routes live with\n"
            f"    gobgp -u {s.router_address} -p {s.router_grpc_port} global rib add "
            f"PREFIX aspath A,B nexthop NH\n"
            f"  collector UDP {s.collector_address}:{s.netflow_port} (NetFlow/IPFIX), "
            f":{s.sflow_port} (sFlow); exports from {s.exporter_address} -> router "
            f"{s.router_key}\n"
            "next: `ribflow lab tail`, `ribflow top`, `ribflow lab status`, `ribflow lab down`"
        )

    # -- status ----------------------------------------------------------------------------
    def status(self, state: LabState) -> LabStatus:
        s = state.lab_settings()
        problems: list[str] = []
        health: dict[str, comp.Health] = {
            "collector": comp.collector_health(s),
            "enricher": comp.app_health(s, "enricher"),
            "aggregator": comp.app_health(s, "aggregator"),
            "exporter": comp.exporter_health(self.paths),
        }
        rows = []
        records = list(state.processes)
        bridge = comp.bridge_record(self.paths)
        if bridge is not None and state.record("exabgp") is not None:
            records.append(bridge)
        for rec in records:
            is_alive = procs.alive(rec)
            healthy, detail = (is_alive, "running" if is_alive else "exited")
            if is_alive and rec.name in health:
                healthy, detail = health[rec.name](rec)
            elif is_alive and rec.name == "router":
                with contextlib.suppress(LabError):
                    g = Gobgp(s.router_address, s.router_grpc_port, timeout=10)
                    detail = f"{g.rib_count('ipv4')} v4 + {g.rib_count('ipv6')} v6 routes"
                    detail += f", ExaBGP session {g.neighbor_state(s.exabgp_address)}"
            rows.append(ProcStatus(rec.name, rec.pid, is_alive, healthy, detail))
        answers = broker_answers(s, timeout=5.0)
        topics: dict[str, TopicSize] = {}
        lags: list[GroupLag] = []
        if answers:
            try:
                names = [spec.name for spec in topic_specs(s, s.topic_prefix)]
                topics = topic_sizes(s, names)
                lags = group_lags(s, s.group_prefix)
            except Exception as exc:  # the report goes on without these numbers
                problems.append(f"cannot read topics/lag: {exc}")
        return LabStatus(str(self.paths.root), state.kafka, answers, rows, topics, lags, problems)

    # -- down ------------------------------------------------------------------------------
    def down(self, quiet: bool = False) -> list[str]:
        """Stop every recorded process (and Kafka if this lab started it); returns their names."""
        state = LabState.load(self.paths.root)
        if state is None:
            if not quiet:
                self.say(f"no lab in {self.paths.root}")
            return []
        stopped: list[str] = []
        records = {p.name: p for p in state.processes}
        bridge = comp.bridge_record(self.paths)
        if bridge is not None:
            records.setdefault("bridge", bridge)
        order = [n for n in STOP_ORDER if n in records] + [
            n for n in records if n not in STOP_ORDER
        ]
        for name in order:
            rec = records[name]
            if procs.stop(rec):
                stopped.append(f"{name} (pid {rec.pid})")
        managed = state.kafka.started_by_lab and state.kafka.data_dir
        if managed and LocalKafka(BrokerConfig(data_dir=Path(state.kafka.data_dir))).down():
            stopped.append(f"kafka (pid {state.kafka.pid})")
        left = [r for r in records.values() if procs.alive(r)]
        if left:
            names = ", ".join(f"{r.name} {r.pid}" for r in left)
            raise LabError(f"still running after down: {names}")
        with contextlib.suppress(OSError):
            LabState.path_in(self.paths.root).unlink()
        self.paths.bridge_pid.unlink(missing_ok=True)
        if not quiet:
            what = ", ".join(stopped) if stopped else "nothing (no process was running)"
            self.say(f"stopped {what}")
        return stopped

