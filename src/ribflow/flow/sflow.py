"""sFlow v5 decoder: datagram -> flow records (one per packet sample) + counter samples.

Layout (sFlow v5 specification, XDR): a datagram header (version 5, agent address, sub-agent id,
sequence, uptime, sample count), then samples, each ``(enterprise << 12 | format, length, body)``:
flow sample (1), counter sample (2), expanded flow sample (3), expanded counter sample (4).
A flow sample holds records: the raw packet header (1) decoded by :mod:`sflow_header`, sampled
IPv4/IPv6 (3/4), extended switch/router/gateway (1001-1003); others are skipped by length.

Each flow sample gives one record: packets 1, bytes = the sampled frame's length, the sample's
sampling rate; exporter = the agent address, version 5005, domain = the sub-agent id. sFlow has
no export clock, so start/end times are the receive time. Lengths and counts are checked against
the datagram: a lying one stops that sample (or the datagram) and is reported in
``DecodeResult.errors``; a datagram with nothing usable raises :class:`FlowDecodeError`.
Samples of non-IP packets are counted in ``DecodeResult.skipped``. No logging, no metrics: the
collector does both from the result.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterator
from typing import Any

from ribflow.flow import sflow_records as fr
from ribflow.flow.errors import FlowDecodeError
from ribflow.flow.sflow_counters import CounterRecordError, decode_counter_record
from ribflow.flow.types import DecodeResult, FlowRecord

__all__ = ["SFLOW_VERSION_TAG", "SflowDecoder", "is_sflow"]

SFLOW_VERSION_TAG = 5005  # "version" of sFlow v5 records in flows.v1

FLOW_SAMPLE, COUNTER_SAMPLE, EXPANDED_FLOW_SAMPLE, EXPANDED_COUNTER_SAMPLE = 1, 2, 3, 4
UNKNOWN_IF = 0x3FFFFFFF
MAX_SAMPLES = 1024  # a 64 KiB datagram cannot hold more (each sample has >= 8 bytes + body)
MAX_RECORDS = 1024

_HEAD = struct.Struct("!II")  # version, agent address type
_AFTER_AGENT = struct.Struct("!IIII")  # sub-agent id, sequence, uptime ms, sample count
_TLV = struct.Struct("!II")  # data format, length
_FLOW = struct.Struct("!IIIIIIII")  # seq, source id, rate, pool, drops, input, output, records
_XFLOW = struct.Struct(
    "!IIIIIIIIIII"
)  # seq, id type, id index, rate, pool, drops, in f/v, out f/v, n
_COUNTERS = struct.Struct("!III")  # seq, source id, records
_XCOUNTERS = struct.Struct("!IIII")  # seq, source id type, source id index, records
_inet_ntop = socket.inet_ntop

# the keys of schemas/flows.v1.json $defs/record, in order
_RECORD_KEYS = (
    "exporter", "version", "domain", "time_received_ms", "time_export_ms", "start_ms", "end_ms",
    "src_addr", "dst_addr", "src_port", "dst_port", "proto", "tos", "tcp_flags", "in_if",
    "out_if", "vlan", "next_hop", "bgp_next_hop", "src_as", "dst_as", "src_mask", "dst_mask",
    "packets", "bytes", "sampling_rate", "direction", "flow_type",
)  # fmt: skip
_EMPTY: FlowRecord = dict.fromkeys(_RECORD_KEYS)


def is_sflow(data: bytes) -> bool:
    """Whether a UDP payload looks like sFlow v5 (version word 5, agent type 1 or 2)."""
    return len(data) >= 8 and data[:4] == b"\x00\x00\x00\x05" and data[4:7] == b"\x00\x00\x00" \
        and data[7] in (1, 2)  # fmt: skip


class SflowDecoder:
    """Decodes sFlow v5 datagrams; stateless (sFlow carries everything in each datagram)."""

    def decode(self, data: bytes, exporter: str, received_ms: int) -> DecodeResult:
        """Decode one datagram (``exporter``: its UDP source, used only in error details)."""
        n = len(data)
        if n < 8:
            raise FlowDecodeError("sflow_truncated", f"{n} bytes from {exporter}")
        version, agent_type = _HEAD.unpack_from(data)
        if version != 5:
            raise FlowDecodeError("sflow_version", f"version {version} from {exporter}")
        if agent_type == 1:
            off = 12
            agent_raw = data[8:12]
            family = socket.AF_INET
        elif agent_type == 2:
            off = 24
            agent_raw = data[8:24]
            family = socket.AF_INET6
        else:
            raise FlowDecodeError("sflow_agent_type", f"agent type {agent_type} from {exporter}")
        if n < off + _AFTER_AGENT.size:
            raise FlowDecodeError("sflow_truncated", f"header cut at {n} bytes from {exporter}")
        agent = _inet_ntop(family, agent_raw)
        sub_agent, dgram_seq, uptime, count = _AFTER_AGENT.unpack_from(data, off)
        off += _AFTER_AGENT.size
        result = DecodeResult(exporter=agent)
        if count > MAX_SAMPLES:
            result.errors.append("sflow_sample_count")
            count = MAX_SAMPLES
        base = dict(_EMPTY)
        base.update(
            exporter=agent,
            version=SFLOW_VERSION_TAG,
            domain=sub_agent,
            time_received_ms=received_ms,
            start_ms=received_ms,
            end_ms=received_ms,
            packets=1,
        )
        head = {
            "v": 1,
            "exporter": agent,
            "domain": sub_agent,
            "datagram_seq": dgram_seq,
            "uptime_ms": uptime,
            "time_received_ms": received_ms,
        }
        for _ in range(count):
            if off + 8 > n:
                result.errors.append("sflow_sample_count")
                break
            tag, length = _TLV.unpack_from(data, off)
            body_start = off + 8
            off = body_start + length
            if off > n or length & 3:
                result.errors.append("sflow_sample_length")
                break
            try:
                if tag in (FLOW_SAMPLE, EXPANDED_FLOW_SAMPLE):  # (enterprise 0)
                    expanded = tag == EXPANDED_FLOW_SAMPLE
                    self._flow_sample(data, body_start, off, expanded, base, result)
                elif tag in (COUNTER_SAMPLE, EXPANDED_COUNTER_SAMPLE):
                    body = data[body_start:off]
                    self._counter_sample(body, tag == EXPANDED_COUNTER_SAMPLE, head, result)
            except (struct.error, IndexError, ValueError, OverflowError):
                # a defect we did not foresee: lose this sample, never the datagram
                result.errors.append("sflow_malformed")
        if result.errors and not result.records and not result.counters:
            raise FlowDecodeError(result.errors[0], f"agent {agent} via {exporter}")
        return result

    def _flow_sample(
        self,
        data: bytes,
        start: int,
        end: int,
        expanded: bool,
        base: FlowRecord,
        result: DecodeResult,
    ) -> None:
        """One flow sample at ``data[start:end]`` (read in place)."""
        if expanded:
            if start + _XFLOW.size > end:
                result.errors.append("sflow_sample_short")
                return
            (_seq, id_type, id_index, rate, _pool, _drops, in_fmt, in_val, out_fmt, out_val,
             n_records) = _XFLOW.unpack_from(data, start)  # fmt: skip
            off = start + _XFLOW.size
        else:
            if start + _FLOW.size > end:
                result.errors.append("sflow_sample_short")
                return
            _seq, source, rate, _pool, _drops, inp, outp, n_records = _FLOW.unpack_from(data, start)
            id_type, id_index = source >> 24, source & 0xFFFFFF
            in_fmt, in_val = inp >> 30, inp & UNKNOWN_IF
            out_fmt, out_val = outp >> 30, outp & UNKNOWN_IF
            off = start + _FLOW.size
        rec = base.copy()
        # ifIndex, or None for 'unknown', 'discarded' (format 1) and 'multiple' (format 2)
        in_if = in_val if in_fmt == 0 and in_val != UNKNOWN_IF else None
        out_if = out_val if out_fmt == 0 and out_val != UNKNOWN_IF else None
        rec["in_if"] = in_if
        rec["out_if"] = out_if
        rec["sampling_rate"] = rate or 1
        if id_type == 0 and in_if is not None and id_index == in_if:
            rec["direction"] = "ingress"
        elif id_type == 0 and out_if is not None and id_index == out_if:
            rec["direction"] = "egress"
        if n_records > MAX_RECORDS:
            result.errors.append("sflow_record_count")
            return
        have_ip = False
        switch: tuple[int, int] | None = None  # the extended switch record's VLANs
        header_vlan: int | None = None  # the raw header's VLAN tag
        tag_after_switch = False
        for tag, rstart, rend in _records(data, off, end, n_records, result.errors):
            try:
                if tag == fr.RAW_HEADER:  # enterprise 0 (tag = enterprise << 12 | format)
                    if not have_ip:
                        switch_vlan, rec["vlan"] = rec["vlan"], None
                        try:
                            have_ip = fr.raw_header(data, rstart, rend, rec)
                        finally:
                            header_vlan, tag_after_switch = rec["vlan"], switch is not None
                            if switch_vlan is not None:  # the switch's VLAN wins
                                rec["vlan"] = switch_vlan
                elif tag == fr.EXTENDED_SWITCH:
                    switch = fr.extended_switch(data[rstart:rend], rec)
                elif tag == fr.SAMPLED_IPV4:
                    if not have_ip:
                        fr.sampled_ipv4(data[rstart:rend], rec)
                        have_ip = True
                elif tag == fr.SAMPLED_IPV6:
                    if not have_ip:
                        fr.sampled_ipv6(data[rstart:rend], rec)
                        have_ip = True
                elif tag == fr.EXTENDED_ROUTER:
                    fr.extended_router(data[rstart:rend], rec)
                elif tag == fr.EXTENDED_GATEWAY:
                    fr.extended_gateway(data[rstart:rend], rec)
            except fr.FlowRecordError as exc:
                result.errors.append(exc.reason)
        if have_ip:
            if rec["bytes"] is None:
                rec["bytes"] = 0
            if switch is not None or header_vlan is not None:
                rec["vlan_pmacct"] = fr.pmacct_vlan(switch, header_vlan, tag_after_switch)
            result.records.append(rec)
        else:
            result.skipped += 1  # a well-formed sample of a non-IP packet

    def _counter_sample(
        self, body: bytes, expanded: bool, head: dict[str, Any], result: DecodeResult
    ) -> None:
        if expanded:
            if len(body) < _XCOUNTERS.size:
                result.errors.append("sflow_sample_short")
                return
            seq, id_type, id_index, n_records = _XCOUNTERS.unpack_from(body)
            off = _XCOUNTERS.size
        else:
            if len(body) < _COUNTERS.size:
                result.errors.append("sflow_sample_short")
                return
            seq, source, n_records = _COUNTERS.unpack_from(body)
            id_type, id_index = source >> 24, source & 0xFFFFFF
            off = _COUNTERS.size
        if n_records > MAX_RECORDS:
            result.errors.append("sflow_record_count")
            return
        records: list[dict[str, Any]] = []
        for tag, start, stop in _records(body, off, len(body), n_records, result.errors):
            try:
                records.append(decode_counter_record(tag >> 12, tag & 0xFFF, body[start:stop]))
            except CounterRecordError:
                result.errors.append("sflow_counter_record")
        sample = dict(head)
        sample.update(
            expanded=expanded,
            sample_seq=seq,
            source_id_type=id_type,
            source_id_index=id_index,
            records=records,
        )
        result.counters.append(sample)


def _records(
    data: bytes, off: int, end: int, n_records: int, errors: list[str]
) -> Iterator[tuple[int, int, int]]:
    """A sample's records as (tag, start, end) in ``data[off:end]``; a count or a length that
    runs past the sample ends them with its reason in ``errors``."""
    for _ in range(n_records):
        if off + 8 > end:
            errors.append("sflow_record_count")
            return
        tag, length = _TLV.unpack_from(data, off)
        start = off + 8
        off = start + length
        if off > end:
            errors.append("sflow_record_length")
            return
        yield tag, start, off
