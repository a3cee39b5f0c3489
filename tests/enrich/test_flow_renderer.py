"""The compiled core's renderer of whole flows messages (``ribflow_lpm.FlowRenderer``) against
the Python renderer it stands in for: same messages, same RIB, byte-identical output.

Two enrichers get the same bgp-updates (IPv4 and IPv6 tables, ADD-PATH prefixes, VRF routes)
and the same flows messages; one renders every message in Python (``flow_renderer`` None, as
with RIBFLOW_PURE_LPM=1), the other hands each message to the compiled core first, which
renders it or leaves it to Python. Everything both write (enriched records, dead letters) must
be the same bytes, over more than 100k varied records per formatting option: ADD-PATH
choices by next hop, IPv6, unrouted addresses, VRF/RD records, extra fields, odd and malformed
values. The compiled core must also render most of them itself, or the comparison would say
nothing about it.
"""

from __future__ import annotations

import random
from typing import Any

import orjson
import pytest

from ribflow.enrich.pmacct import FormatOptions
from ribflow.rib.lpm import COMPILED, PURE_ENV
from ribflow.rib.prefix import AFI_IP, AFI_IP6, format_address, parse_address
from tests.enrich.fakes import Harness
from tests.fixtures.synth import SynthTable
from tests.rib.builders import Stream, attrs

ROUTER, EMPTY = "10.255.0.1", "10.255.0.2"
T = 1_796_000_000_000
ADDPATH_V4 = ["203.0.113.0/24", "198.51.100.0/24", "192.0.2.0/25"]
ADDPATH_V6 = ["2001:db8:aa::/48", "2001:db8:bb::/64"]
HOPS_V4 = ["10.0.0.1", "10.0.0.2", "10.0.0.3"]
HOPS_V6 = ["2001:db8::1", "2001:db8::2", "fe80::1"]
RD = "0:65000:7"


def _bgp() -> list[dict[str, Any]]:
    s = Stream(ROUTER)
    out: list[dict[str, Any]] = []
    for msg in SynthTable(4000).updates(ROUTER, time_ms=T):
        s.seq += 1
        msg.update(epoch=s.epoch, seq=s.seq)
        out.append(msg)
    rnd = random.Random(11)
    for prefixes, hops in ((ADDPATH_V4, HOPS_V4), (ADDPATH_V6, HOPS_V6)):
        for pid, hop in enumerate(hops, 1):
            a = attrs(65001, 64500 + pid, 64999, local_pref=100 + pid, med=pid,
                      communities=[f"65001:{rnd.randrange(1000)}"], large=["65001:1:2"],
                      ext=["target:65001:7"])  # fmt: skip
            out.append(s.update(prefixes, next_hop=hop, attrs=a, path_id=pid))
    more = attrs(65001, 1)  # a more specific with a path of its own
    out.append(s.update(["203.0.113.128/26"], next_hop="10.0.0.4", attrs=more, path_id=9))
    out.append(s.update(["10.77.0.0/16"], next_hop="192.0.2.77", attrs=attrs(65077), rd=RD))
    out.append(s.update(["2001:db8:77::/48"], next_hop="2001:db8::77", attrs=attrs(65078), rd=RD))
    return out


def _host(rnd: random.Random, prefix: str) -> str:
    net, _, length = prefix.partition("/")
    afi = AFI_IP6 if ":" in net else AFI_IP
    bits = 128 if afi == AFI_IP6 else 32
    base = parse_address(net)[1]
    return format_address(afi, base | rnd.getrandbits(bits - int(length)))


ODD_KINDS = frozenset({12, 13, 16, 17, 18, 20, 21})


def _mutate(rnd: random.Random, rec: dict[str, Any], v6: list[str], odd: bool) -> dict[str, Any]:
    """A record changed in up to two ways: the common shapes of real exports (ADD-PATH, IPv6,
    unrouted, absent values), and in ``odd`` messages also malformed or unusual ones."""
    for _ in range(rnd.choice((0, 0, 1, 1, 2))):
        kind = rnd.randrange(30)
        if kind in ODD_KINDS and not odd:
            continue
        if kind < 5:  # ADD-PATH destination, next hop matching, not, or absent
            fam = rnd.random() < 0.4
            pfx = rnd.choice(ADDPATH_V6 if fam else ADDPATH_V4)
            rec["dst_addr"] = _host(rnd, pfx)
            if fam and ":" not in str(rec.get("src_addr")):
                rec["src_addr"] = _host(rnd, rnd.choice(v6))
            elif not fam and ":" in str(rec.get("src_addr")):
                rec["src_addr"] = "192.0.2.200"
            hops = HOPS_V6 if fam else HOPS_V4
            common = [*hops, *hops, None, "", "0.0.0.0", "::"]
            rec["bgp_next_hop"] = rnd.choice(common + (["10.0.0.4", "10.9.9.9", "2001:DB8::2",
                                              "2001:db8:0::1", "010.0.0.1", 5, True]
                                             if odd else []))  # fmt: skip
        elif kind < 9:  # IPv6 both sides
            rec["src_addr"], rec["dst_addr"] = (_host(rnd, rnd.choice(v6)) for _ in range(2))
        elif kind < 11:  # unrouted one side or both
            rec[rnd.choice(("src_addr", "dst_addr"))] = rnd.choice(
                ["240.0.0.1", "0.0.0.0", "255.255.255.255"]
            )
        elif kind == 11:
            rec["src_addr"], rec["dst_addr"] = "3fff::1", rnd.choice(["::", "::1", "3fff:1::"])
        elif kind == 12:  # VRF
            rec["mpls_vpn_rd"] = rnd.choice([RD, "0:65000:8", ""])
            rec["dst_addr"] = rnd.choice(["10.77.1.2", "2001:db8:77::5", rec.get("dst_addr")])
        elif kind == 13:  # extra fields
            extra: list[dict[str, Any]] = [
                {"mac_src": "00:11:22:33:44:55", "vlan_out": 7}, {"tag": 7, "label": "k1%v1"},
                {"fwd_status": 130}, {"mpls_label_stack": [16000, 17000]}, {"unknown_key": 1},
            ]  # fmt: skip
            rec.update(rnd.choice(extra))
        elif kind == 14:  # falsy or default-taking values
            rec[rnd.choice(("sampling_rate", "tos", "in_if", "proto", "version", "tcp_flags"))] = (
                rnd.choice([0, None])
            )
        elif kind == 15:  # times: absent, zero, sub-second, far
            rec[rnd.choice(("start_ms", "end_ms", "time_received_ms", "time_export_ms"))] = (
                rnd.choice(
                    [0, None, 1, 999, T + 1, 253_402_300_799_999]
                    + ([253_402_300_800_000, -5] if odd else [])
                )
            )
        elif kind == 16:  # odd numbers
            rec[rnd.choice(("packets", "bytes", "in_if", "src_port", "proto"))] = rnd.choice(
                [1.5, -3, 1 << 62, 1e3, True, False, "7", 255, 256, -1]
            )
        elif kind == 17:  # exporter text
            rec["exporter"] = rnd.choice(['we"ird', "ü-router", "tab\there", "a\\b", "", 7, None])
        elif kind == 18:  # address spellings
            rec[rnd.choice(("src_addr", "dst_addr"))] = rnd.choice(
                ["01.2.3.4", "1.2.3", "1.2.3.4 ", "::ffff:192.0.2.1", "2001:DB8:AA::1",
                 "2001:db8:aa:0:0:0:0:1", "fe80::1%eth0", "1::2::3", "", None, 5, "a.b.c.d"]
            )  # fmt: skip
        elif kind == 19:  # versions
            rec["version"] = rnd.choice([5, 9, 10, 5005, 7] + (["9"] if odd else []))
        elif kind == 20:
            rec.pop(rnd.choice(("packets", "exporter", "dst_addr", "tos", "start_ms")), None)
        elif kind == 21:
            rec["vlan"] = rnd.choice([None, 7, "x", [1], {"a": 1}])
    return rec


def _messages(n_records: int) -> list[bytes]:
    table = SynthTable(4000)
    rnd = random.Random(3)
    v6 = [r.prefix for r in table.routes if r.afi == AFI_IP6] + ADDPATH_V6
    base = table.flow_records(n_records, exporter=ROUTER, time_ms=T)
    out: list[bytes] = []
    i = 0
    while i < len(base):
        k = rnd.choice((1, 5, 25, 25, 30))
        odd = rnd.random() < 0.25  # a message with unusual records or an unusual shape
        records = [_mutate(rnd, rec, v6, odd) for rec in base[i : i + k]]
        msg = {"v": 1, "router": ROUTER, "exporter": ROUTER, "records": records}
        i += k
        raw = orjson.dumps(msg)
        shape = rnd.randrange(40) if odd else 40
        if shape == 0:
            raw = orjson.dumps(msg, option=orjson.OPT_INDENT_2)  # blanks everywhere
        elif shape == 1:
            raw = raw.replace(b'"src_port"', b'"src_port":1,"src_port"', 1)  # repeated key
        elif shape == 2:
            raw = raw[:-3]  # truncated
        elif shape == 3:
            raw = b'{"v":1,"records":{"a":1}}'
        elif shape == 4:
            raw = raw.replace(b'"records":[', b'"records":[7,', 1)
        elif shape == 5:
            raw = raw + b" x"
        elif shape == 6:
            raw = raw.replace(b'"v":1', b'"v":1,"note":"\\u00fc\\n","n":[1,{"a":null}]', 1)
        elif shape == 7:
            raw = b'{"records":[]}'
        elif shape == 8:
            raw = raw.replace(b'"exporter":"', b'"exporter":"\\u0041', 1)
        out.append(raw)
    return out


class _Counting:
    """Wraps the compiled renderer, counting the messages it rendered itself."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.rendered, self.records = inner, 0, 0

    def render(self, raw: bytes, v4: Any, v6: Any) -> Any:
        done = self.inner.render(raw, v4, v6)
        if done is not None:
            self.rendered += 1
            self.records += len(done[0])
        return done


@pytest.mark.parametrize(
    "options",
    [
        FormatOptions(writer_id="w/1"),
        FormatOptions(
            writer_id='w"2', as_path_as_array=True, comms_as_array=True, timestamps_usec=True
        ),
        FormatOptions(writer_id="w/3", timestamps_since_epoch=True, timestamps_usec=True),
        FormatOptions(writer_id="w/4", timestamps_since_epoch=True),
    ],
)
def test_compiled_renderer_writes_what_python_writes(
    options: FormatOptions, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(PURE_ENV, raising=False)  # the compiled tables, whatever the run's
    assert COMPILED is not None, "the compiled core (rust/ribflow-lpm) is not installed"
    python, compiled = Harness(options), Harness(options)
    python.enricher.flow_renderer = None
    counting = _Counting(compiled.enricher.flow_renderer)
    assert counting.inner is not None
    compiled.enricher.flow_renderer = counting
    for h in (python, compiled):
        for msg in _bgp():
            h.bgp(ROUTER, msg)
    messages = _messages(125_000)
    total = 0
    for i, raw in enumerate(messages):
        key = EMPTY if i % 50 == 0 else ROUTER  # a router without routes too
        written = python.flows(key, raw)
        assert compiled.flows(key, raw) == written, raw[:200]
        total += written
    got, want = compiled.out.sent_to("flows-enriched"), python.out.sent_to("flows-enriched")
    assert len(got) == len(want)
    for n, (a, b) in enumerate(zip(got, want, strict=True)):
        assert a == b, (n, a, b)  # key and value, byte for byte

    def letters(h: Harness) -> list[tuple[bytes | None, dict[str, Any]]]:
        out = [(k, orjson.loads(v or b"")) for k, v in h.out.sent_to("flows-dlq")]
        for _, envelope in out:
            envelope.pop("time_ms")  # when it was written
        return out

    assert letters(compiled) == letters(python)
    assert len(letters(python)) > 1000  # the odd records were rejected, the same way
    assert total > 100_000
    # the compiled core rendered the common shape itself (ADD-PATH, IPv6, unrouted included)
    assert counting.rendered > 0.6 * len(messages) and counting.records > 70_000, (
        counting.rendered, counting.records, len(messages),
    )  # fmt: skip
    assert python.enricher.stats() == compiled.enricher.stats()
