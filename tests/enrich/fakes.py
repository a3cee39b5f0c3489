"""In-process fakes for unit tests of the enricher engine (integration tests use real Kafka)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson

from ribflow.enrich.engine import Enricher, EnricherConfig, Topics
from ribflow.enrich.journal import parse_journal_key, read_record
from ribflow.enrich.pmacct import FormatOptions
from ribflow.enrich.state_sink import Messages
from ribflow.mrt.tables import read_rib
from tests.fixtures.producer import FakeProducer

DATA = Path(__file__).resolve().parents[1] / "data" / "enrich"
TOPICS = Topics(
    enriched="flows-enriched",
    rib_dump="bgp-rib-dump",
    rib_table="bgp-rib",
    bgp_dlq="bgp-updates-dlq",
    flows_dlq="flows-dlq",
)


class DictState:
    """A per-router slice of a key-value store, like Quix's State."""

    def __init__(self, store: dict[bytes, bytes], prefix: bytes) -> None:
        self._store, self._prefix = store, prefix

    def set_bytes(self, key: bytes, value: bytes) -> None:
        self._store[self._prefix + b"|" + key] = value

    def delete(self, key: bytes) -> None:
        self._store.pop(self._prefix + b"|" + key, None)


class Harness:
    """An Enricher over a dict store and a list output (one partition)."""

    def __init__(self, options: FormatOptions | None = None, **config: Any) -> None:
        self.out = FakeProducer(capacity=1 << 62)  # the output (never polled): all it produced
        self.store: dict[bytes, bytes] = {}
        self.config = EnricherConfig(TOPICS, options or FormatOptions(writer_id="test/1"), **config)
        self.enricher = Enricher(self.config)

    def send(self, messages: Messages) -> int:
        """Produce what the enricher returned (the app's part); returns its records."""
        return messages.send(self.out)

    def bgp(self, key: str, msg: Any, partition: int = 0) -> None:
        raw = msg if isinstance(msg, bytes) else orjson.dumps(msg)
        state = DictState(self.store, key.encode())
        self.send(self.enricher.on_bgp(partition, key.encode(), raw, state, None))

    def flows(self, key: str, msg: Any, partition: int = 0) -> int:
        raw = msg if isinstance(msg, bytes) else orjson.dumps(msg)
        out = self.enricher.on_flows(partition, key.encode(), raw, 1_700_000_000_000)
        return self.send(out)

    def scan(self) -> list[tuple[bytes, bytes, bytes]]:
        items = []
        for raw_key in sorted(self.store):
            prefix, _, key = raw_key.partition(b"|")
            items.append((prefix, key, self.store[raw_key]))
        return items

    def stored_routes(self, router: str) -> dict[tuple[str, int, int, int, int], bytes]:
        """The router's paths as its journal records in the store say, replayed in key order:
        ``(rd, afi, network, length, path_id) -> attribute-set key``."""
        routes: dict[tuple[str, int, int, int, int], bytes] = {}
        prefix = router.encode() + b"|"
        for raw_key in sorted(k for k in self.store if k.startswith(prefix)):
            if parse_journal_key(raw_key[len(prefix) :]) is None:
                continue
            for rd, attrs, afi, _, entries in read_record(self.store[raw_key]):
                for length, net, pid in entries:
                    network = net if isinstance(net, int) else int.from_bytes(net, "big")
                    if attrs:
                        routes[(rd, afi, network, length, pid)] = attrs
                    else:
                        routes.pop((rd, afi, network, length, pid), None)
        return routes


def inject_routes_updates() -> list[tuple[str, str, dict[str, Any]]]:
    """The lab's hand-made routes (inject-routes.sh) as (prefix, next hop, attrs)."""
    named = {"no-export": "65535:65281", "no-advertise": "65535:65282"}
    out = []
    for line in (DATA / "inject-routes.sh").read_text().splitlines():
        if " add " not in line:
            continue
        words = line.split(" add ", 1)[1].split()
        prefix, opts = words[0], dict(zip(words[1::2], words[2::2], strict=False))
        attrs: dict[str, Any] = {
            "origin": opts["origin"],
            "as_path": [
                {"type": "as-sequence", "asns": [int(a) for a in opts["aspath"].split(",")]}
            ],
            "local_pref": int(opts["local-pref"]),
        }
        if "med" in opts:
            attrs["med"] = int(opts["med"])
        if "community" in opts:
            attrs["communities"] = [named.get(c, c) for c in opts["community"].split(",")]
        if "large-community" in opts:
            attrs["large_communities"] = opts["large-community"].split(",")
        out.append((prefix, opts["nexthop"], attrs))
    return out


def generated_routes(
    tmp: Path, n4: int = 300, n6: int = 10
) -> list[tuple[str, str, dict[str, Any]]]:
    """The lab's bulk table (gen_mrt.py, same attributes per index), read back from MRT."""
    mrt = tmp / "rib.mrt"
    subprocess.run(
        [sys.executable, str(DATA / "gen_mrt.py"), str(mrt), str(n4), str(n6)],
        check=True,
        capture_output=True,
    )
    seen: dict[str, tuple[str, str, dict[str, Any]]] = {}
    for e in read_rib(mrt):
        seen[e.prefix] = (e.prefix, e.next_hop or "", e.attrs)
    return list(seen.values())
