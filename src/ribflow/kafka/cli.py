"""`ribflow kafka up | down | status`: the managed local broker."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from ribflow.errors import EnvironmentProblem
from ribflow.kafka.local import BrokerConfig, LocalKafka, broker_answers
from ribflow.kafka.settings import ENV
from ribflow.settings import command_parser

BROKER_ENV = "Quix__Broker__Address"
USER_ENV, PASSWORD_ENV = ENV["sasl_username"], ENV["sasl_password"]


def _parser() -> argparse.ArgumentParser:
    p = command_parser("kafka", __doc__)
    p.add_argument("action", choices=["up", "down", "status"])
    p.add_argument("--host", default="127.0.0.1", help="listener address (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=9092, help="client port (default 9092)")
    p.add_argument("--controller-port", type=int, default=0, help="KRaft port (default port+1)")
    p.add_argument("--data-dir", type=Path, default=None, help="storage, logs and pid file")
    p.add_argument("--cache-dir", type=Path, default=None, help="where the jars are cached")
    p.add_argument("--heap", default="768m", help="Java heap (default 768m)")
    p.add_argument(
        "--sasl-ssl-port",
        type=int,
        default=0,
        help="also listen with SASL_SSL (SCRAM-SHA-256/512, PLAIN) on this port, with a local CA; "
        "the user is KAFKA_SASL_USERNAME with KAFKA_SASL_PASSWORD (created when the data "
        "directory is first formatted)",
    )
    p.add_argument(
        "--local", action="store_true", help=f"manage the local broker even if {BROKER_ENV} is set"
    )
    return p


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    given = os.environ.get(BROKER_ENV)
    if given and not args.local:
        if args.action == "status":
            ok = broker_answers(given)
            print(f"broker {given} ({BROKER_ENV}): {'answers' if ok else 'does not answer'}")
            return 0 if ok else 1
        print(f"{BROKER_ENV}={given} is set: using that broker, nothing to {args.action}")
        return 0
    cfg = BrokerConfig(
        host=args.host, port=args.port, controller_port=args.controller_port, heap=args.heap
    )
    if args.sasl_ssl_port:
        user, password = os.environ.get(USER_ENV), os.environ.get(PASSWORD_ENV)
        if not user or not password:
            print(f"ribflow kafka: --sasl-ssl-port needs {USER_ENV} and {PASSWORD_ENV} (the "
                  "user the broker creates)", file=sys.stderr)  # fmt: skip
            return 2
        cfg.sasl_ssl_port = args.sasl_ssl_port
        cfg.sasl_users = {user: password}
    if args.data_dir:
        cfg.data_dir = args.data_dir.resolve()
    if args.cache_dir:
        cfg.cache_dir = args.cache_dir.resolve()
    kafka = LocalKafka(cfg)
    try:
        if args.action == "up":
            pid, started = kafka.up()
            state = "started" if started else "already running"
            print(f"Kafka {state}: pid {pid}, {cfg.address}, data {cfg.data_dir}")
            if cfg.sasl_ssl_port:
                print(f"SASL_SSL on {cfg.secure_address}: Quix__Broker__Address="
                      f"{cfg.secure_address} KAFKA_SECURITY_PROTOCOL=SASL_SSL "
                      f"KAFKA_SASL_MECHANISM=SCRAM-SHA-512 KAFKA_SSL_CA_LOCATION={cfg.ca_file} "
                      f"({USER_ENV} and {PASSWORD_ENV} as set)")  # fmt: skip
            return 0
        if args.action == "down":
            stopped = kafka.down()
            print("Kafka stopped" if stopped else "Kafka was not running")
            return 0
        running = kafka.running_pid()
        if kafka.answers():
            print(f"Kafka answers on {cfg.address}" + (f" (pid {running})" if running else ""))
            return 0
        print(
            f"Kafka does not answer on {cfg.address}"
            + (f" (pid {running} alive)" if running else "")
        )
        return 1
    except EnvironmentProblem as exc:
        print(f"ribflow kafka {args.action}: {exc}", file=sys.stderr)
        return 2
