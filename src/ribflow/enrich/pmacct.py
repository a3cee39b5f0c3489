"""pmacct-compatible JSON: enriched flow records (bgp_table_dump records: pmacct_dump).

Key names, value types and string encodings follow what nfacctd 1.7 writes (see
tests/data/enrich/pmacct-enriched-full.json, nfacctd's own output): ASNs, preferences, masks and
counters are integers, ``tcp_flags`` a decimal string, ``ip_proto`` pmacct's protocol name,
AS paths and communities space-separated in pmacct with the spaces turned into ``_`` in flow
records (JSON arrays as an option), and an unrouted address gets AS 0, empty strings, mask 0
and network ``0.0.0.0`` / ``::``. Timestamps are UTC.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Final

import orjson

from ribflow.enrich.pmacct_extra import BASE_KEYS, BASE_LEN, extras, extras_json, has_extras
from ribflow.protocols import PROTO_TEXT
from ribflow.rib.attrs import RouteAttrs
from ribflow.rib.lpm import COMPILED, pure_forced
from ribflow.rib.prefix import AFI_IP, format_address


def pmacct_tcp_flags(flags: int, proto: int, version: int | None) -> int:
    """The tcp_flags nfacctd prints for a record's (non-zero) ``flags``: NetFlow v5's only for
    TCP (NF_tcp_flags_handler), and the low octet of a two-byte tcpControlBits (RFC 7125: the
    header's flags byte; pmacct 1.7.8+, where 1.7.7 prints 0 for a two-byte element)."""
    if version == 5 and proto != 6:
        return 0
    return flags & 0xFF


# flow-record version -> pmacct's export_proto_version (sFlow v5 is 5 there)
_EXPORT_VERSION: Final = {5: 5, 9: 9, 10: 10, 5005: 5}

_NO_DST = (0, "", "", "", "", 0, 0, 0)  # as, comms, ecomms, lcomms, as_path, lp, med, peer_as
_ZERO_TS = "0000-00-00 00:00:00"


@dataclass(frozen=True, slots=True)
class FormatOptions:
    """Encoding choices, mirroring pmacct's options of the same meaning."""

    as_path_as_array: bool = False
    comms_as_array: bool = False
    timestamps_since_epoch: bool = False
    timestamps_usec: bool = False
    writer_id: str = "ribflow-enricher/0"
    fields: tuple[str, ...] | None = None
    fwd_status_encode_as_string: bool = False
    mpls_label_stack_encode_as_array: bool = False
    pre_tag_label_encode_as_map: bool = False


def _joined(text: str, as_array: bool) -> Any:
    if as_array:
        return text.split(" ") if text else []
    return text.replace(" ", "_")


class Timestamps:
    """Formats epoch-ms times the way the options ask, caching the per-second strftime."""

    __slots__ = ("_cache", "_epoch", "_usec", "by_ms", "since_epoch", "usec")

    def __init__(self, since_epoch: bool, usec: bool) -> None:
        self._epoch, self._usec = since_epoch, usec
        self.since_epoch, self.usec = since_epoch, usec
        self._cache: dict[int, str] = {}  # second -> text
        # ms -> text: the records of a batch share their times (read directly by the hot path)
        self.by_ms: dict[int | None, str] = {}

    def __call__(self, ms: int | None) -> str:
        text = self.by_ms.get(ms)
        if text is None:
            if len(self.by_ms) > 65536:
                self.by_ms.clear()
            text = self.by_ms[ms] = self._format(ms)
        return text

    def _format(self, ms: int | None) -> str:
        if not ms:
            if self._epoch:
                return "0.000000" if self._usec else "0"
            return _ZERO_TS + ".000000" if self._usec else _ZERO_TS
        sec, rem = divmod(ms, 1000)
        text = self._cache.get(sec)
        if text is None:
            gm = time.gmtime(sec)
            text = str(sec) if self._epoch else time.strftime("%Y-%m-%d %H:%M:%S", gm)
            if len(self._cache) > 4096:
                self._cache.clear()
            self._cache[sec] = text
        return f"{text}.{rem * 1000:06d}" if self._usec else text


# The record as text, keys in nfacctd's order. The %s slots take JSON already encoded: the
# BGP-derived keys come as two pre-rendered runs per attribute set and role (``_Parts``), the
# exporter per exporter, the writer id once. The %d slots take integers (a non-integer raises
# TypeError, so a malformed input record is rejected instead of producing invalid JSON), and the
# "%s" slots text known to need no escaping: validated addresses, protocol names, timestamps.
_TEMPLATE = (
    '{"event_type":"purge","as_src":%s,%s,"peer_as_src":%s,"peer_as_dst":%s,'
    '"peer_ip_src":%s,"peer_ip_dst":"%s",%s,"iface_in":%d,"iface_out":%d,'
    '"ip_src":"%s","net_src":"%s","ip_dst":"%s","net_dst":"%s","mask_src":%d,"mask_dst":%d,'
    '"port_src":%d,"port_dst":%d,"tcp_flags":"%d","ip_proto":"%s","tos":%d,"sampling_rate":%d,'
    '"timestamp_start":"%s","timestamp_end":"%s","timestamp_arrival":"%s",'
    '"timestamp_export":"%s","export_proto_version":%d,"flows":1,"packets":%d,"bytes":%d'
)
_DST_KEYS: Final = ("as_dst", "comms", "ecomms", "lcomms", "as_path", "local_pref", "med")
_SRC_KEYS: Final = ("comms_src", "ecomms_src", "lcomms_src", "as_path_src", "local_pref_src",
                    "med_src")  # fmt: skip


def _encode(value: Any) -> str:
    """JSON of one value; plain ints and escape-free strings without a library call."""
    if type(value) is int:
        return str(value)
    if type(value) is str and value.isprintable() and '"' not in value and "\\" not in value:
        return f'"{value}"'
    return orjson.dumps(value).decode()


def _encoded(values: tuple[Any, ...]) -> tuple[str, ...]:
    return tuple(_encode(v) for v in values)


# What a record needs of one attribute set (or of "no route"), rendered once: the destination
# run (as_dst .. med), the source run (comms_src .. med_src), as_src and the peer AS as JSON.
_Parts = tuple[str, str, str, str]


def _parts(encoded: tuple[str, ...]) -> _Parts:
    dst = ",".join(f'"{k}":{v}' for k, v in zip(_DST_KEYS, encoded[:7], strict=True))
    src = ",".join(f'"{k}":{v}' for k, v in zip(_SRC_KEYS, encoded[1:7], strict=True))
    return dst, src, encoded[0], encoded[7]


class FlowFormatter:
    """Builds pmacct flow records from a flow record and its source/destination matches."""

    __slots__ = (
        "_comms_array",
        "_exporters",
        "_fields",
        "_fwd_as_string",
        "_label_as_map",
        "_nets",
        "_no_route_parts",
        "_no_route_values",
        "_path_array",
        "_stack_as_array",
        "_tail",
        "_token",
        "timestamp",
        "writer_id",
    )

    def __init__(self, options: FormatOptions) -> None:
        self._path_array = ca = options.as_path_as_array
        self._comms_array = cc = options.comms_as_array
        self._fields = options.fields
        self.writer_id = options.writer_id
        # "writer_id":... closes the record (after the extra keys of pmacct_extra, if any)
        self._tail = b',"writer_id":' + orjson.dumps(options.writer_id) + b"}"
        self._fwd_as_string = options.fwd_status_encode_as_string
        self._stack_as_array = options.mpls_label_stack_encode_as_array
        self._label_as_map = options.pre_tag_label_encode_as_map
        self.timestamp = Timestamps(options.timestamps_since_epoch, options.timestamps_usec)
        self._token = object()  # identifies this formatter's cached parts in RouteAttrs
        self._exporters: dict[str, str] = {}
        self._nets: tuple[dict[int, str], dict[int, str]] = ({}, {})  # per family: net -> text
        empty_c: Any = [] if cc else ""
        self._no_route_values: tuple[Any, ...] = (
            (0, empty_c, empty_c, empty_c, [] if ca else "", 0, 0, 0) if cc or ca else _NO_DST
        )
        self._no_route_parts = _parts(_encoded(self._no_route_values))

    def _cached(self, attrs: RouteAttrs) -> tuple[Any, tuple[Any, ...], _Parts]:
        cached = attrs.fmt_cache
        if cached is not None and cached[0] is self._token:
            return cached  # type: ignore[no-any-return]
        ca, pa = self._comms_array, self._path_array
        values = (
            attrs.last_as,
            _joined(attrs.comms_str, ca),
            _joined(attrs.ecomms_str, ca),
            _joined(attrs.lcomms_str, ca),
            _joined(attrs.as_path_str, pa),
            attrs.local_pref or 0,
            attrs.med or 0,
            attrs.first_as,
        )
        cached = (self._token, values, _parts(_encoded(values)))
        attrs.fmt_cache = cached
        return cached

    def compiled_renderer(self) -> Any | None:
        """The compiled core's renderer of whole ``flows`` messages with this formatter's
        options and per-set fragments (``ribflow_lpm.FlowRenderer``), or None: no compiled
        core, the pure-Python tables forced (``RIBFLOW_PURE_LPM``), or a ``fields`` selection."""
        if self._fields is not None or COMPILED is None or pure_forced():
            return None
        ts = self.timestamp
        return COMPILED.FlowRenderer(
            self._token, self._cached, RouteAttrs, self._no_route_parts, self._tail,
            list(PROTO_TEXT), ts.since_epoch, ts.usec,
        )  # fmt: skip

    def attr_values(self, attrs: RouteAttrs) -> tuple[Any, ...]:
        """(as, comms, ecomms, lcomms, as_path, local_pref, med, peer_as), cached per set."""
        return self._cached(attrs)[1]

    def _no_route(self) -> tuple[Any, ...]:
        return self._no_route_values

    @staticmethod
    def _net(nets: dict[int, str], afi: int, network: int) -> str:
        if len(nets) > 262144:
            nets.clear()
        text = nets[network] = format_address(afi, network)
        return text

    def record_json(
        self,
        rec: dict[str, Any],
        afi: int,
        src: tuple[int, int, RouteAttrs] | None,
        dst: tuple[int, int, RouteAttrs] | None,
    ) -> bytes:
        """:meth:`record` encoded as JSON; ``src``/``dst`` are ``(network, length, attrs)``."""
        s_net, s_len, s_attrs = src if src is not None else (0, 0, None)
        d_net, d_len, d_attrs = dst if dst is not None else (0, 0, None)
        return self.flow_json(rec, afi, s_net, s_len, s_attrs, d_net, d_len, d_attrs)

    def flow_json(
        self,
        rec: dict[str, Any],
        afi: int,
        s_net: int,
        s_len: int,
        s_attrs: RouteAttrs | None,
        d_net: int,
        d_len: int,
        d_attrs: RouteAttrs | None,
    ) -> bytes:
        """:meth:`record` encoded as JSON, built as text (the per-flow hot path).

        A side without a match has ``attrs`` None. ``rec["src_addr"]`` and ``rec["dst_addr"]``
        must be valid addresses (the caller parsed them); every other field is checked by the
        formatting itself. With ``fields`` set it falls back to :meth:`record`.
        """
        if self._fields is not None:
            src = None if s_attrs is None else (s_net, s_len, s_attrs)
            dst = None if d_attrs is None else (d_net, d_len, d_attrs)
            return orjson.dumps(self.record(rec, afi, src, dst))
        zero = "0.0.0.0" if afi == AFI_IP else "::"
        nets = self._nets[afi == AFI_IP]
        if d_attrs is not None:
            d = self._cached(d_attrs)[2]
            net_dst = nets.get(d_net) or self._net(nets, afi, d_net)
            peer_ip_dst = d_attrs.next_hop or zero
        else:
            d, net_dst, d_len, peer_ip_dst = self._no_route_parts, zero, 0, zero
        if s_attrs is not None:
            s = self._cached(s_attrs)[2]
            net_src = nets.get(s_net) or self._net(nets, afi, s_net)
        else:
            s, net_src, s_len = self._no_route_parts, zero, 0
        exporter = rec["exporter"]  # any text: JSON-encoded (cached per exporter)
        exporter_json = self._exporters.get(exporter)
        if exporter_json is None:
            if len(self._exporters) > 65536:
                self._exporters.clear()
            exporter_json = self._exporters[exporter] = orjson.dumps(exporter).decode()
        g, ts = rec.get, self.timestamp
        cached_ts = ts.by_ms.get  # the times of a batch repeat: look them up without a call
        proto = g("proto") or 0
        if not 0 <= proto < 256:
            raise ValueError(f"proto {proto}")
        start, end = g("start_ms"), g("end_ms")
        received, exported = g("time_received_ms"), g("time_export_ms")
        flags = g("tcp_flags") or 0
        if flags:
            flags = pmacct_tcp_flags(flags, proto, g("version"))
        text = _TEMPLATE % (
            s[2], d[0], s[3], d[3], exporter_json, peer_ip_dst, s[1],
            g("in_if") or 0, g("out_if") or 0,
            rec["src_addr"], net_src, rec["dst_addr"], net_dst, s_len, d_len,
            g("src_port") or 0, g("dst_port") or 0, flags, PROTO_TEXT[proto],
            g("tos") or 0, g("sampling_rate") or 1,
            cached_ts(start) or ts(start), cached_ts(end) or ts(end),
            cached_ts(received) or ts(received), cached_ts(exported) or ts(exported),
            _EXPORT_VERSION.get(g("version") or 0, 0), rec["packets"], rec["bytes"],
        )  # fmt: skip
        if len(rec) != BASE_LEN and not BASE_KEYS.issuperset(rec):  # pmacct_extra.has_extras
            text += extras_json(rec, PROTO_TEXT, self._fwd_as_string, self._stack_as_array,
                                self._label_as_map)  # fmt: skip
        return text.encode() + self._tail

    def record(
        self,
        rec: dict[str, Any],
        afi: int,
        src: tuple[int, int, RouteAttrs] | None,
        dst: tuple[int, int, RouteAttrs] | None,
    ) -> dict[str, Any]:
        """The pmacct record of one flow; ``src``/``dst`` are ``(network, length, attrs)``."""
        zero = "0.0.0.0" if afi == AFI_IP else "::"
        if dst is not None:
            d = self.attr_values(dst[2])
            net_dst, mask_dst, peer_ip_dst = format_address(afi, dst[0]), dst[1], dst[2].next_hop
        else:
            d, net_dst, mask_dst, peer_ip_dst = self._no_route(), zero, 0, zero
        if src is not None:
            s = self.attr_values(src[2])
            net_src, mask_src = format_address(afi, src[0]), src[1]
        else:
            s, net_src, mask_src = self._no_route(), zero, 0
        ts = self.timestamp
        proto = rec.get("proto") or 0
        out = {
            "event_type": "purge",
            "as_src": s[0],
            "as_dst": d[0],
            "comms": d[1],
            "ecomms": d[2],
            "lcomms": d[3],
            "as_path": d[4],
            "local_pref": d[5],
            "med": d[6],
            "peer_as_src": s[7],
            "peer_as_dst": d[7],
            "peer_ip_src": rec["exporter"],
            "peer_ip_dst": peer_ip_dst or zero,
            "comms_src": s[1],
            "ecomms_src": s[2],
            "lcomms_src": s[3],
            "as_path_src": s[4],
            "local_pref_src": s[5],
            "med_src": s[6],
            "iface_in": rec.get("in_if") or 0,
            "iface_out": rec.get("out_if") or 0,
            "ip_src": rec["src_addr"],
            "net_src": net_src,
            "ip_dst": rec["dst_addr"],
            "net_dst": net_dst,
            "mask_src": mask_src,
            "mask_dst": mask_dst,
            "port_src": rec.get("src_port") or 0,
            "port_dst": rec.get("dst_port") or 0,
            "tcp_flags": str(
                pmacct_tcp_flags(rec.get("tcp_flags") or 0, proto, rec.get("version"))
            ),
            "ip_proto": PROTO_TEXT[proto] if 0 <= proto < 256 else str(proto),
            "tos": rec.get("tos") or 0,
            "sampling_rate": rec.get("sampling_rate") or 1,
            "timestamp_start": ts(rec.get("start_ms")),
            "timestamp_end": ts(rec.get("end_ms")),
            "timestamp_arrival": ts(rec.get("time_received_ms")),
            "timestamp_export": ts(rec.get("time_export_ms")),
            "export_proto_version": _EXPORT_VERSION.get(rec.get("version") or 0, 0),
            "flows": 1,
            "packets": rec["packets"],
            "bytes": rec["bytes"],
        }
        if has_extras(rec):  # tunnel, MPLS, VRF... fields (absent from most exports)
            out.update(extras(rec, PROTO_TEXT, self._fwd_as_string, self._stack_as_array,
                              self._label_as_map))  # fmt: skip
        out["writer_id"] = self.writer_id
        if self._fields is not None:
            return {k: out[k] for k in self._fields if k in out}
        return out
