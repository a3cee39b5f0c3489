"""Information elements (IANA IPFIX registry ids, shared with NetFlow v9 field types) we use.

Only the elements that feed a normalised record, the sampling state or the clock are named here;
every other element is skipped by length. For each record key, ``SOURCES`` lists the elements that
can fill it, best first: the first one present in a template wins.

Enterprise elements (IPFIX, enterprise bit set) are keyed ``(pen, id)``. The only enterprise
number we map is RFC 5103's reverse PEN 29305: ``(29305, n)`` is the reverse-direction twin of
IANA element ``n`` (biflows). Unknown enterprise elements are skipped by their length.
"""

from __future__ import annotations

from typing import Final

# RFC 5103 reverse information elements live under this private enterprise number.
REVERSE_PEN: Final = 29305
# IPFIX variable-length marker in a template (RFC 7011 §7); NetFlow v9 exporters borrow it too.
VARLEN: Final = 0xFFFF

# Counters
OCTET_DELTA, PACKET_DELTA = 1, 2
POST_OCTET_DELTA, POST_PACKET_DELTA = 23, 24
OCTET_TOTAL, PACKET_TOTAL = 85, 86
INITIATOR_OCTETS, INITIATOR_PACKETS = 231, 298
# Header fields
PROTOCOL, TOS, TCP_FLAGS = 4, 5, 6
SRC_PORT, DST_PORT = 7, 11
UDP_SRC_PORT, UDP_DST_PORT, TCP_SRC_PORT, TCP_DST_PORT = 180, 181, 182, 183
SRC_V4, DST_V4, SRC_V6, DST_V6 = 8, 12, 27, 28
SRC_MASK_V4, DST_MASK_V4, SRC_MASK_V6, DST_MASK_V6 = 9, 13, 29, 30
IN_IF, OUT_IF, IN_PHYS_IF, OUT_PHYS_IF = 10, 14, 252, 253
NEXT_HOP_V4, NEXT_HOP_V6, BGP_NEXT_HOP_V4, BGP_NEXT_HOP_V6 = 15, 62, 18, 63
SRC_AS, DST_AS = 16, 17
VLAN_ID, DOT1Q_VLAN_ID = 58, 243
DIRECTION = 61
# Layer 2, MPLS, VPN, tunnels, SRv6 (issue 13: what ISP routers send)
SRC_MAC, POST_DST_MAC, DST_MAC, POST_SRC_MAC = 56, 57, 80, 81
POST_VLAN_ID, POST_DOT1Q_VLAN_ID = 59, 254
ETHERNET_TYPE = 256
MPLS_LABELS = tuple(range(70, 80))  # mplsTopLabelStackSection .. mplsLabelStackSection10
FORWARDING_STATUS = 89
MPLS_VPN_RD = 90
INTERFACE_NAME, INTERFACE_DESCRIPTION = 82, 83
INGRESS_VRF_ID, EGRESS_VRF_ID, VRF_NAME = 234, 235, 236
SRH_SEGMENT_LIST = 497  # srhSegmentIPv6ListSection (RFC 9487)
HUAWEI_PEN, HUAWEI_SRV6_SEGMENT_LIST = 2011, 505  # Huawei's element before RFC 9487
# Time
LAST_SWITCHED, FIRST_SWITCHED = 21, 22  # ms since the exporter's boot (sysUpTime)
START_SEC, END_SEC = 150, 151
START_MS, END_MS = 152, 153
START_US, END_US = 154, 155  # NTP format (RFC 7011 §6.1.9)
START_NS, END_NS = 156, 157  # NTP format
START_DELTA_US, END_DELTA_US = 158, 159  # microseconds before the export time
SYSTEM_INIT_MS = 160  # absolute boot time (ms) that 21/22 are relative to
# Sampling
SAMPLING_INTERVAL = 34
SAMPLING_ALGORITHM = 35
SAMPLER_ID = 48
SAMPLER_MODE = 49
SAMPLER_RANDOM_INTERVAL = 50
SELECTOR_ID = 302
SAMPLING_PACKET_INTERVAL, SAMPLING_PACKET_SPACE = 305, 306
SAMPLING_SIZE, SAMPLING_POPULATION = 309, 310

# record key -> elements that can fill it, best first.
SOURCES: Final[dict[str, tuple[int, ...]]] = {
    "src_port": (SRC_PORT, TCP_SRC_PORT, UDP_SRC_PORT),
    "dst_port": (DST_PORT, TCP_DST_PORT, UDP_DST_PORT),
    "proto": (PROTOCOL,),
    "tos": (TOS,),
    "tcp_flags": (TCP_FLAGS,),
    "in_if": (IN_IF, IN_PHYS_IF),
    "out_if": (OUT_IF, OUT_PHYS_IF),
    "vlan": (VLAN_ID, DOT1Q_VLAN_ID),
    "src_as": (SRC_AS,),
    "dst_as": (DST_AS,),
    "packets": (PACKET_DELTA, PACKET_TOTAL, POST_PACKET_DELTA, INITIATOR_PACKETS),
    "bytes": (OCTET_DELTA, OCTET_TOTAL, POST_OCTET_DELTA, INITIATOR_OCTETS),
    "direction": (DIRECTION,),
}

# Address-like keys: (IPv4 element, IPv6 element).
ADDRESS_SOURCES: Final[dict[str, tuple[int, int]]] = {
    "src_addr": (SRC_V4, SRC_V6),
    "dst_addr": (DST_V4, DST_V6),
    "next_hop": (NEXT_HOP_V4, NEXT_HOP_V6),
    "bgp_next_hop": (BGP_NEXT_HOP_V4, BGP_NEXT_HOP_V6),
}
MASK_SOURCES: Final[dict[str, tuple[int, int]]] = {
    "src_mask": (SRC_MASK_V4, SRC_MASK_V6),
    "dst_mask": (DST_MASK_V4, DST_MASK_V6),
}

# Largest value a record key may hold (schemas/flows.v1.json); wider exported fields are checked.
MAX_VALUE: Final[dict[str, int]] = {
    "src_port": 0xFFFF,
    "dst_port": 0xFFFF,
    "proto": 0xFF,
    "tos": 0xFF,
    "tcp_flags": 0xFFFF,
    "in_if": 0xFFFFFFFF,
    "out_if": 0xFFFFFFFF,
    "vlan": 4095,
    "src_as": 0xFFFFFFFF,
    "dst_as": 0xFFFFFFFF,
    "src_mask": 128,
    "dst_mask": 128,
}
