"""sFlow v5 counter records (bytes in, JSON-ready dicts out).

Each known record (enterprise 0) is a fixed XDR layout; its fields are named after the sFlow v5
and host-sFlow specifications in snake case. A record longer than its layout is read up to the
layout (agents may append fields in newer versions); a shorter one, or one of an unknown format,
is kept as raw bytes (base64) so nothing an agent sent is lost. The JSON of a counter sample is
the contract schemas/sflow-counters.v1.json.
"""

from __future__ import annotations

import base64
import struct
from dataclasses import dataclass
from typing import Any

from ribflow.flow.errors import FlowDecodeError


@dataclass(frozen=True, slots=True)
class CounterLayout:
    """Name and XDR layout of one counter record format."""

    name: str
    layout: struct.Struct
    fields: tuple[str, ...]


def _layout(name: str, spec: str) -> CounterLayout:
    """``spec``: whitespace-separated ``field:code`` with struct codes I (u32), Q (u64), f."""
    names, codes = [], []
    for item in spec.split():
        field, code = item.split(":")
        names.append(field)
        codes.append(code)
    return CounterLayout(name, struct.Struct("!" + "".join(codes)), tuple(names))


GENERIC = _layout(
    "generic",
    "if_index:I if_type:I if_speed:Q if_direction:I if_status:I in_octets:Q in_ucast_pkts:I "
    "in_multicast_pkts:I in_broadcast_pkts:I in_discards:I in_errors:I in_unknown_protos:I "
    "out_octets:Q out_ucast_pkts:I out_multicast_pkts:I out_broadcast_pkts:I out_discards:I "
    "out_errors:I promiscuous_mode:I",
)
ETHERNET = _layout(
    "ethernet",
    "alignment_errors:I fcs_errors:I single_collision_frames:I multiple_collision_frames:I "
    "sqe_test_errors:I deferred_transmissions:I late_collisions:I excessive_collisions:I "
    "internal_mac_transmit_errors:I carrier_sense_errors:I frame_too_longs:I "
    "internal_mac_receive_errors:I symbol_errors:I",
)
TOKEN_RING = _layout(
    "token_ring",
    "line_errors:I burst_errors:I ac_errors:I abort_trans_errors:I internal_errors:I "
    "lost_frame_errors:I receive_congestions:I frame_copied_errors:I token_errors:I "
    "soft_errors:I hard_errors:I signal_loss:I transmit_beacons:I recoverys:I lobe_wires:I "
    "removes:I singles:I freq_errors:I",
)
VG = _layout(
    "vg_100base",
    "in_high_priority_frames:I in_high_priority_octets:Q in_norm_priority_frames:I "
    "in_norm_priority_octets:Q in_ipm_errors:I in_oversize_frame_errors:I in_data_errors:I "
    "in_null_addressed_frames:I out_high_priority_frames:I out_high_priority_octets:Q "
    "transition_into_trainings:I hc_in_high_priority_octets:Q hc_in_norm_priority_octets:Q "
    "hc_out_high_priority_octets:Q",
)
VLAN = _layout(
    "vlan",
    "vlan_id:I octets:Q ucast_pkts:I multicast_pkts:I broadcast_pkts:I discards:I",
)
PROCESSOR = _layout(
    "processor",
    "cpu_5s:I cpu_1m:I cpu_5m:I total_memory:Q free_memory:Q",
)
HOST_CPU = _layout(
    "host_cpu",
    "load_one:f load_five:f load_fifteen:f proc_run:I proc_total:I cpu_num:I cpu_speed:I "
    "uptime:I cpu_user:I cpu_nice:I cpu_system:I cpu_idle:I cpu_wio:I cpu_intr:I cpu_sintr:I "
    "interrupts:I contexts:I",
)
HOST_MEMORY = _layout(
    "host_memory",
    "mem_total:Q mem_free:Q mem_shared:Q mem_buffers:Q mem_cached:Q swap_total:Q swap_free:Q "
    "page_in:I page_out:I swap_in:I swap_out:I",
)
HOST_DISK_IO = _layout(
    "host_disk_io",
    "disk_total:Q disk_free:Q part_max_used:I reads:I bytes_read:Q read_time:I writes:I "
    "bytes_written:Q write_time:I",
)
HOST_NET_IO = _layout(
    "host_net_io",
    "bytes_in:Q pkts_in:I errs_in:I drops_in:I bytes_out:Q pkts_out:I errs_out:I drops_out:I",
)

# (enterprise, format) -> layout; enterprise 0 is the sFlow standard
LAYOUTS: dict[tuple[int, int], CounterLayout] = {
    (0, 1): GENERIC,
    (0, 2): ETHERNET,
    (0, 3): TOKEN_RING,
    (0, 4): VG,
    (0, 5): VLAN,
    (0, 1001): PROCESSOR,
    (0, 2003): HOST_CPU,
    (0, 2004): HOST_MEMORY,
    (0, 2005): HOST_DISK_IO,
    (0, 2006): HOST_NET_IO,
}
HOST_DESCR = (0, 2000)
HOST_ADAPTERS = (0, 2001)

_U32 = struct.Struct("!I")
_MAX_ADAPTERS = 1024


class CounterRecordError(FlowDecodeError):
    """A known counter record is shorter than its layout or internally inconsistent."""

    def __init__(self, detail: str) -> None:
        super().__init__("sflow_counter_record", detail)


def decode_counter_record(enterprise: int, fmt: int, data: bytes) -> dict[str, Any]:
    """One counter record as a dict: ``enterprise``, ``format``, ``name`` and its fields.

    Unknown formats give ``name`` null and the bytes in ``data_b64``. Raises
    :class:`CounterRecordError` when a known record is malformed.
    """
    key = (enterprise, fmt)
    out: dict[str, Any] = {"enterprise": enterprise, "format": fmt}
    layout = LAYOUTS.get(key)
    if layout is not None:
        if len(data) < layout.layout.size:
            raise CounterRecordError(f"{layout.name}: {len(data)} < {layout.layout.size} bytes")
        out["name"] = layout.name
        values = layout.layout.unpack_from(data)
        for name, value in zip(layout.fields, values, strict=True):
            out[name] = round(value, 4) if isinstance(value, float) else value
        if layout is GENERIC:
            status = out.pop("if_status")
            out["if_admin_up"] = bool(status & 1)
            out["if_oper_up"] = bool(status & 2)
        return out
    if key == HOST_DESCR:
        out["name"] = "host_descr"
        out.update(_host_descr(data))
        return out
    if key == HOST_ADAPTERS:
        out["name"] = "host_adapters"
        out["adapters"] = _host_adapters(data)
        return out
    out["name"] = None
    out["data_b64"] = base64.b64encode(data).decode("ascii")
    return out


def _xdr_string(data: bytes, off: int, limit: int) -> tuple[str, int]:
    if off + 4 > len(data):
        raise CounterRecordError("string length beyond record")
    n = _U32.unpack_from(data, off)[0]
    if n > limit or off + 4 + n > len(data):
        raise CounterRecordError(f"string of {n} bytes beyond record")
    text = data[off + 4 : off + 4 + n].decode("utf-8", "replace")
    return text, off + 4 + ((n + 3) & ~3)


def _host_descr(data: bytes) -> dict[str, Any]:
    hostname, off = _xdr_string(data, 0, 64)
    if off + 24 > len(data):
        raise CounterRecordError("host_descr shorter than its fixed part")
    uuid = data[off : off + 16].hex()
    machine_type, os_name = struct.unpack_from("!II", data, off + 16)
    os_release, _ = _xdr_string(data, off + 24, 32)
    return {
        "hostname": hostname,
        "uuid": uuid,
        "machine_type": machine_type,
        "os_name": os_name,
        "os_release": os_release,
    }


def _host_adapters(data: bytes) -> list[dict[str, Any]]:
    if len(data) < 4:
        raise CounterRecordError("host_adapters without a count")
    count = _U32.unpack_from(data, 0)[0]
    if count > _MAX_ADAPTERS:
        raise CounterRecordError(f"absurd adapter count {count}")
    off, adapters = 4, []
    for _ in range(count):
        if off + 8 > len(data):
            raise CounterRecordError("adapter beyond record")
        if_index, n_macs = struct.unpack_from("!II", data, off)
        off += 8
        if n_macs > _MAX_ADAPTERS or off + 8 * n_macs > len(data):
            raise CounterRecordError("MAC list beyond record")
        macs = [data[off + 8 * i : off + 8 * i + 6].hex(":") for i in range(n_macs)]
        off += 8 * n_macs
        adapters.append({"if_index": if_index, "macs": macs})
    return adapters
