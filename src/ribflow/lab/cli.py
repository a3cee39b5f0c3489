"""`ribflow lab up | status | tail | down`: the whole pipeline on loopback, no Docker needed.

Internal sub-commands used by the lab itself and by compose.yaml: `exporter` (the softflowd
loop), `router` (gobgpd in the foreground with its table loaded), `probe` (healthchecks).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

import orjson
from pydantic import ValidationError

from ribflow.errors import RibflowError
from ribflow.lab.kafkaview import tail
from ribflow.lab.settings import LabSettings
from ribflow.lab.state import LabState
from ribflow.logs import setup_logging
from ribflow.settings import command_parser, load

# option -> settings env name (the options override the environment)
UP_OPTIONS: dict[str, tuple[str, type, str]] = {
    "--broker": ("Quix__Broker__Address", str, "Kafka bootstrap servers (default 127.0.0.1:9092)"),
    "--kafka": ("LAB_KAFKA", str, "auto | managed | external"),
    "--partitions": ("PARTITIONS", int, "partitions of the router-keyed topics"),
    "--router": ("LAB_ROUTER_ADDRESS", str, "router BGP address (default 127.0.0.3)"),
    "--router-as": ("LAB_ROUTER_AS", int, "lab AS (default 65001)"),
    "--router-id": ("LAB_ROUTER_ID", str, "router BGP id (default 10.0.0.3)"),
    "--grpc-port": ("LAB_ROUTER_GRPC_PORT", int, "router gRPC port (default 50051)"),
    "--exabgp": ("LAB_EXABGP_ADDRESS", str, "ExaBGP address (default 127.0.0.2)"),
    "--collector": ("LAB_COLLECTOR_ADDRESS", str, "collector address (default 127.0.0.1)"),
    "--netflow-port": ("LAB_NETFLOW_PORT", int, "NetFlow/IPFIX UDP port (default 2055)"),
    "--sflow-port": ("LAB_SFLOW_PORT", int, "sFlow UDP port (default 6343)"),
    "--exporter-address": ("LAB_EXPORTER_ADDRESS", str, "source address of the exports"),
    "--table": ("LAB_TABLE", str, "ris (default) | generated"),
    "--ris-dump": ("LAB_RIS_DUMP", str, "TABLE_DUMP file of the RIS table"),
    "--table-v4": ("LAB_TABLE_V4", int, "generated IPv4 routes"),
    "--table-v6": ("LAB_TABLE_V6", int, "generated IPv6 routes"),
    "--traffic-flows": ("LAB_TRAFFIC_FLOWS", int, "flows per exporter pass"),
    "--traffic-interval": ("LAB_TRAFFIC_INTERVAL", float, "seconds between passes"),
    "--netflow-version": ("LAB_NETFLOW_VERSION", int, "5 | 9 | 10"),
    "--rib-dump-interval": ("LAB_RIB_DUMP_INTERVAL", int, "seconds between RIB dumps"),
    "--topic-prefix": ("LAB_TOPIC_PREFIX", str, "prefix of every topic name"),
    "--metrics-port-base": ("LAB_METRICS_PORT_BASE", int, "first /metrics port (0: none)"),
    "--timeout": ("LAB_TIMEOUT", float, "seconds to wait for each process"),
    "--seed": ("LAB_SEED", int, "seed of generated table and traffic"),
}


def _add_dir(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dir", type=Path, help="lab directory (default ~/.local/state/ribflow/lab)")


def _parser() -> argparse.ArgumentParser:
    p = command_parser("lab", __doc__)
    sub = p.add_subparsers(dest="action", required=True)
    up = sub.add_parser("up", help="start the lab and wait until every process is healthy")
    _add_dir(up)
    for opt, (_, typ, help_) in UP_OPTIONS.items():
        up.add_argument(opt, type=typ, help=help_)
    up.add_argument("--no-install", action="store_true", help="do not apt-get install")
    up.add_argument(
        "--keep-on-failure", action="store_true", help="leave processes running if up fails"
    )
    st = sub.add_parser("status", help="processes, pids, health, topic sizes, consumer lag")
    _add_dir(st)
    st.add_argument("--json", action="store_true", help="machine-readable output")
    tl = sub.add_parser("tail", help="print enriched flows as they arrive (JSON lines)")
    _add_dir(tl)
    tl.add_argument("--count", type=int, default=0, help="stop after N records (0: never)")
    tl.add_argument("--timeout", type=float, default=0, help="stop after S seconds (0: never)")
    tl.add_argument("--from-beginning", action="store_true", help="start at the oldest record")
    tl.add_argument("--topic", help="another topic than the lab's flows-enriched")
    tl.add_argument("--broker", help="read this broker instead of the lab's (no lab dir needed)")
    dn = sub.add_parser("down", help="stop every lab process by its recorded pid")
    _add_dir(dn)
    for name in ("exporter", "router", "probe"):
        sub.add_parser(name, add_help=False, help=f"(internal) {name}")
    p.add_argument("--log-level", default="WARNING", help=argparse.SUPPRESS)
    return p


def up_settings(args: argparse.Namespace) -> LabSettings:
    overrides: dict[str, Any] = {}
    for opt, (env, _, _) in UP_OPTIONS.items():
        value = getattr(args, opt.lstrip("-").replace("-", "_"))
        if value is not None:
            overrides[env] = value
    if args.dir is not None:
        overrides["LAB_DIR"] = args.dir
    if args.no_install:
        overrides["LAB_INSTALL"] = False
    return load(LabSettings, "ribflow lab up", **overrides)


def _lab_dir(args: argparse.Namespace) -> Path:
    return args.dir if args.dir is not None else load(LabSettings, "ribflow lab").lab_dir


def _load(args: argparse.Namespace) -> LabState | None:
    state = LabState.load(_lab_dir(args))
    if state is None:
        print(f"no lab in {_lab_dir(args)} (start one with `ribflow lab up`)", file=sys.stderr)
    return state


def cmd_up(args: argparse.Namespace) -> int:
    from ribflow.lab.lab import Lab

    settings = up_settings(args)
    Lab(settings).up(keep_on_failure=args.keep_on_failure)
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from ribflow.lab.lab import Lab

    state = _load(args)
    if state is None:
        return 3
    lab = Lab(state.lab_settings())
    st = lab.status(state)
    if args.json:
        data = dataclasses.asdict(st)
        data["ok"] = st.ok
        print(json.dumps(data, indent=1, default=str))
        return 0 if st.ok else 1
    uptime = time.time() - state.started
    kafka_owner = "started by the lab" if st.kafka.started_by_lab else "external"
    print(f"lab {st.lab_dir} (up {uptime / 60:.0f} min); table {state.table.get('source', '?')}")
    answers = "answers" if st.kafka_answers else "DOWN"
    print(f"  {'kafka':<11} {st.kafka.pid or '-':>7}  {answers:<8}  {st.kafka.address} "
          f"({kafka_owner})")
    for p in st.processes:
        state_txt = "healthy" if p.healthy else ("alive" if p.alive else "DEAD")
        print(f"  {p.name:<11} {p.pid:>7}  {state_txt:<8}  {p.detail}")
    if st.topics:
        print("topics:")
        for t in st.topics.values():
            print(f"  {t.name:<28} {t.partitions:>3} partitions {t.messages:>12,} messages")
    if st.lags:
        print("consumer groups:")
        for g in st.lags:
            print(f"  {g.group:<36} {g.state:<12} lag {g.lag:>10,}  ({', '.join(g.topics)})")
    for problem in st.problems:
        print(f"problem: {problem}")
    return 0 if st.ok else 1


def cmd_tail(args: argparse.Namespace) -> int:
    if args.broker:  # any broker, e.g. the compose.yaml deployment
        broker = args.broker
        topic = args.topic or load(LabSettings, "ribflow lab tail").flows_enriched_topic
    else:
        state = _load(args)
        if state is None:
            return 3
        s = state.lab_settings()
        broker, topic = s, args.topic or s.topic(s.flows_enriched_topic)

    def emit(record: dict[str, Any]) -> None:
        sys.stdout.buffer.write(orjson.dumps(record) + b"\n")
        sys.stdout.flush()

    timeout = args.timeout or float("inf")
    try:
        n = tail(broker, topic, count=args.count, timeout=timeout,
                 from_beginning=args.from_beginning, emit=emit)
    except KeyboardInterrupt:
        return 0
    print(f"{n} records from {topic}", file=sys.stderr)
    return 0 if (n >= args.count if args.count else n > 0) else 1


def cmd_down(args: argparse.Namespace) -> int:
    from ribflow.lab.lab import Lab

    state = LabState.load(_lab_dir(args))
    if state:
        settings = state.lab_settings()
    else:
        settings = load(LabSettings, "ribflow lab down", LAB_DIR=_lab_dir(args))
    Lab(settings).down()
    return 0


def main(argv: list[str]) -> int:
    if argv and argv[0] in ("exporter", "router", "probe"):
        return _internal(argv[0], argv[1:])
    args = _parser().parse_args(argv)
    setup_logging(args.log_level)
    logging.getLogger("ribflow.lab").setLevel(logging.INFO)
    handlers = {"up": cmd_up, "status": cmd_status, "tail": cmd_tail, "down": cmd_down}
    try:
        return handlers[args.action](args)
    except (RibflowError, ValidationError) as exc:
        print(f"ribflow lab {args.action}: {exc}", file=sys.stderr)
        return 2


def _internal(name: str, argv: list[str]) -> int:
    if name == "exporter":
        from ribflow.lab.exporter import main as exporter_main

        return exporter_main(argv)
    if name == "router":
        from ribflow.lab.foreground import router_main

        return router_main(argv)
    from ribflow.lab.probes import main as probe_main

    return probe_main(argv)
