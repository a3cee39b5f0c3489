"""The `ribflow` command: one sub-command per area, each imported only when used."""

from __future__ import annotations

import importlib
import sys

# sub-command -> (module with `main(argv) -> int`, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "kafka": ("ribflow.kafka.cli", "start/stop/check the managed local Apache Kafka (KRaft)"),
    "topics": ("ribflow.topics_cli", "create ribflow's topics with the right partitions/configs"),
    "decode": ("ribflow.flow.cli", "decode NetFlow/IPFIX/sFlow captures (pcap/pcapng) to JSONL"),
    "collector": ("ribflow.flow.app", "run the UDP flow collector (-> topic flows)"),
    "bridge": ("ribflow.bgp.app", "run the ExaBGP -> Kafka bridge (reads ExaBGP JSON on stdin)"),
    "exabgp": ("ribflow.bgp.exabgp_cli", "render | validate | run the ExaBGP speaker config"),
    "enricher": ("ribflow.enrich.app", "run the Quix Streams enricher (RIB + flow join)"),
    "aggregator": ("ribflow.aggregate.app", "run the pmacct-style aggregation stage"),
    "lab": ("ribflow.lab.cli", "the local lab: up | status | tail | down"),
    "top": ("ribflow.top.cli", "live terminal view of flows-enriched"),
    "replay": ("ribflow.replay.app", "point-in-time re-enrichment of a time window"),
}


def _usage() -> str:
    lines = ["usage: ribflow COMMAND [ARGS...]", "", "commands:"]
    lines += [f"  {name:<11} {help_}" for name, (_, help_) in COMMANDS.items()]
    lines += ["", "Run `ribflow COMMAND --help` for a command's options."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        print(_usage())
        return 0
    if args[0] == "--version":
        from ribflow import __version__

        print(__version__)
        return 0
    name = args[0]
    if name not in COMMANDS:
        print(f"ribflow: unknown command {name!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    module_name, _ = COMMANDS[name]
    module = importlib.import_module(module_name)
    result: int = module.main(args[1:])
    return result
