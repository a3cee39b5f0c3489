#!/usr/bin/env python3
"""flowgen.py -- build NetFlow v9 / IPFIX export packets for the anchor benchmarks.

The template is taken verbatim from a real softflowd capture (pcap or pcapng,
default tests/data/flows/lab/flows-v9.pcap resp. flows-ipfix.pcap): the first data
template that carries IPv4 src/dst (softflowd's template 1024: src/dst IPv4,
first/last switched, bytes, packets, in/out ifindex, direction, end reason,
ports, proto, tcp flags, ip version, tos = 42 bytes/record).  Data packets are
then crafted against that template with RECS records each, whose src/dst hosts
are drawn uniformly from the /24s of the MRT table made by gen_mrt.py
(N4 /24s starting at 11.0.0.0), so every record hits a different prefix.
Every record has packets=1, so sum(packets) at the collector == flows received.

Usage:
  flowgen.py pool OUT.bin --version 9|10 [--flows 1000000] [--recs 25] [--seed 1]
  flowgen.py show POOL.bin                  # print summary of a pool file
Pool file format: b"AFPOOL1\\n", then u32 count, then count x (u16 len, bytes);
entry 0 is the template packet, entries 1.. are data packets.  Sequence
numbers / export times inside the packets are patched by sender.py.
"""

import argparse
import ipaddress
import os
import random
import struct
import time

_LAB = os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "data", "flows", "lab"
)
DEF_PCAP = {9: os.path.join(_LAB, "flows-v9.pcap"), 10: os.path.join(_LAB, "flows-ipfix.pcap")}


# ---------------------------------------------------------------- pcap reading
def _link_payload(linktype, pkt):
    """Return the IPv4/IPv6 packet inside a link-layer frame."""
    if linktype == 1:  # Ethernet
        et = struct.unpack("!H", pkt[12:14])[0]
        off = 14
        while et == 0x8100:
            et = struct.unpack("!H", pkt[off + 2 : off + 4])[0]
            off += 4
        return pkt[off:]
    if linktype == 113:  # Linux cooked v1
        return pkt[16:]
    if linktype == 276:  # Linux cooked v2
        return pkt[20:]
    if linktype in (0, 108):  # BSD loopback
        return pkt[4:]
    if linktype in (101, 228, 229):  # raw IP
        return pkt
    raise ValueError("unsupported linktype %d" % linktype)


def _udp_payload(ip):
    v = ip[0] >> 4
    if v == 4:
        ihl = (ip[0] & 15) * 4
        if ip[9] != 17:
            return None
        udp = ip[ihl:]
    elif v == 6:
        if ip[6] != 17:
            return None
        udp = ip[40:]
    else:
        return None
    ulen = struct.unpack("!H", udp[4:6])[0]
    return udp[8:ulen]


def read_udp_payloads(path):
    """Yield UDP payloads from a classic pcap or a pcapng file (no external deps)."""
    d = open(path, "rb").read()
    magic = d[:4]
    out = []
    if magic == b"\x0a\x0d\x0d\x0a":  # pcapng
        off, linktypes, endian = 0, [], "<"
        while off + 12 <= len(d):
            btype = struct.unpack(endian + "I", d[off : off + 4])[0]
            if btype == 0x0A0D0D0A:
                bom = d[off + 8 : off + 12]
                endian = "<" if bom == b"\x4d\x3c\x2b\x1a" else ">"
                linktypes = []
            blen = struct.unpack(endian + "I", d[off + 4 : off + 8])[0]
            body = d[off + 8 : off + blen - 4]
            if btype == 1:  # IDB
                linktypes.append(struct.unpack(endian + "H", body[:2])[0])
            elif btype == 6:  # EPB
                ifid, _th, _tl, caplen, _ol = struct.unpack(endian + "IIIII", body[:20])
                pl = _udp_payload(_link_payload(linktypes[ifid], body[20 : 20 + caplen]))
                if pl:
                    out.append(pl)
            off += blen
    else:  # classic pcap
        m = struct.unpack("<I", magic)[0]
        endian = "<" if m in (0xA1B2C3D4, 0xA1B23C4D) else ">"
        linktype = struct.unpack(endian + "I", d[20:24])[0] & 0x0FFFFFFF
        off = 24
        while off + 16 <= len(d):
            _s, _u, caplen, _ol = struct.unpack(endian + "IIII", d[off : off + 16])
            pl = _udp_payload(_link_payload(linktype, d[off + 16 : off + 16 + caplen]))
            if pl:
                out.append(pl)
            off += 16 + caplen
    return out


# ------------------------------------------------------------ template handling
def find_template(payloads, version):
    """Return (template_id, [(type,len)...], raw_template_record_bytes) of the first
    data template that contains IPv4 src (8) and dst (12)."""
    for p in payloads:
        if struct.unpack("!H", p[:2])[0] != version:
            continue
        off = 20 if version == 9 else 16
        end = len(p) if version == 9 else struct.unpack("!H", p[2:4])[0]
        while off + 4 <= end:
            sid, slen = struct.unpack("!HH", p[off : off + 4])
            if slen < 4:
                break
            if sid == (0 if version == 9 else 2):
                r = off + 4
                while r + 4 <= off + slen:
                    tid, cnt = struct.unpack("!HH", p[r : r + 4])
                    if tid < 256:
                        break
                    fields, q = [], r + 4
                    for _ in range(cnt):
                        ft, fl = struct.unpack("!HH", p[q : q + 4])
                        q += 4
                        if version == 10 and ft & 0x8000:
                            q += 4  # enterprise number
                        fields.append((ft & 0x7FFF, fl))
                    types = [f[0] for f in fields]
                    if 8 in types and 12 in types and all(fl != 0xFFFF for _, fl in fields):
                        return tid, fields, p[r:q]
                    r = q
            off += slen
    raise SystemExit("no IPv4 data template found")


class Builder:
    def __init__(self, version, pcap=None, recs=25, n4=100000, base="11.0.0.0", seed=1):
        self.version, self.recs, self.n4 = version, recs, n4
        self.base = int(ipaddress.IPv4Address(base))
        self.rnd = random.Random(seed)
        pl = read_udp_payloads(pcap or DEF_PCAP[version])
        self.tid, self.fields, self.trec = find_template(pl, version)
        fmt = "!"
        for ft, fl in self.fields:
            fmt += {1: "B", 2: "H", 4: "I", 8: "Q"}.get(fl, "%ds" % fl)
        self.st = struct.Struct(fmt)
        self.reclen = self.st.size

    def _header(self, count_or_len):
        now = int(time.time())
        if self.version == 9:  # version, count, sysuptime, unix_secs, seq, source_id
            return struct.pack("!HHIIII", 9, count_or_len, 1000000, now, 0, 0)
        return struct.pack(
            "!HHIII", 10, count_or_len, now, 0, 0
        )  # version, length, time, seq, domain

    def template_packet(self):
        sid = 0 if self.version == 9 else 2
        body = struct.pack("!HH", sid, 4 + len(self.trec)) + self.trec
        if self.version == 9:
            return self._header(1) + body
        return self._header(16 + len(body)) + body

    def record(self):
        r = self.rnd
        rr = r.random
        src = self.base + (int(rr() * self.n4) << 8) + 1 + int(rr() * 254)
        dst = self.base + (int(rr() * self.n4) << 8) + 1 + int(rr() * 254)
        proto = 6 if rr() < 0.6 else 17
        last = 900000 + int(rr() * 90000)
        v = {
            8: src,
            12: dst,
            22: last - int(rr() * 60000),
            21: last,
            1: 40 + int(rr() * 1460),
            2: 1,
            10: 1 + int(rr() * 48),
            14: 1 + int(rr() * 48),
            136: 2,
            7: 1024 + int(rr() * 64511),
            11: (80, 443, 53, 22, 1 + int(rr() * 65535))[int(rr() * 5)],
            4: proto,
            6: 0x18 if proto == 6 else 0,
            60: 4,
        }
        vals = []
        for ft, fl in self.fields:
            x = v.get(ft, 0)
            vals.append(x if fl in (1, 2, 4, 8) else x.to_bytes(fl, "big"))
        return self.st.pack(*vals)

    def data_packet(self):
        recs = b"".join(self.record() for _ in range(self.recs))
        body_len = 4 + len(recs)
        if self.version == 9:
            pad = (-body_len) % 4
            body = struct.pack("!HH", self.tid, body_len + pad) + recs + b"\0" * pad
            return self._header(self.recs) + body
        body = struct.pack("!HH", self.tid, body_len) + recs
        return self._header(16 + len(body)) + body


def write_pool(path, pkts):
    with open(path, "wb") as f:
        f.write(b"AFPOOL1\n" + struct.pack("!I", len(pkts)))
        for p in pkts:
            f.write(struct.pack("!H", len(p)) + p)


def read_pool(path):
    d = open(path, "rb").read()
    assert d[:8] == b"AFPOOL1\n", "not a pool file"
    n = struct.unpack("!I", d[8:12])[0]
    off, pkts = 12, []
    for _ in range(n):
        l = struct.unpack("!H", d[off : off + 2])[0]
        pkts.append(d[off + 2 : off + 2 + l])
        off += 2 + l
    return pkts[0], pkts[1:]


def pool_info(tpl, data0):
    """(version, record length, records per data packet) of a pool."""
    version = struct.unpack("!H", tpl[:2])[0]
    h = 20 if version == 9 else 16
    cnt = struct.unpack("!H", tpl[h + 6 : h + 8])[0]
    q, reclen = h + 8, 0
    for _ in range(cnt):
        ft, fl = struct.unpack("!HH", tpl[q : q + 4])
        q += 4
        if version == 10 and ft & 0x8000:
            q += 4
        reclen += fl
    setlen = struct.unpack("!H", data0[h + 2 : h + 4])[0]
    return version, reclen, (setlen - 4) // reclen


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("pool")
    p.add_argument("out")
    p.add_argument("--version", type=int, default=9, choices=(9, 10))
    p.add_argument("--flows", type=int, default=1000000)
    p.add_argument("--recs", type=int, default=25)
    p.add_argument("--n4", type=int, default=100000)
    p.add_argument("--base", default="11.0.0.0")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--pcap")
    s = sub.add_parser("show")
    s.add_argument("pool")
    a = ap.parse_args()
    if a.cmd == "pool":
        b = Builder(a.version, a.pcap, a.recs, a.n4, a.base, a.seed)
        t0 = time.time()
        pkts = [b.template_packet()] + [
            b.data_packet() for _ in range((a.flows + a.recs - 1) // a.recs)
        ]
        write_pool(a.out, pkts)
        print(
            "wrote %s: v%d template %d (%d fields, %d B/record), %d data packets x %d records = %d flows, "
            "%d B/packet, %.1fs"
            % (
                a.out,
                a.version,
                b.tid,
                len(b.fields),
                b.reclen,
                len(pkts) - 1,
                a.recs,
                (len(pkts) - 1) * a.recs,
                len(pkts[1]),
                time.time() - t0,
            )
        )
    else:
        t, d = read_pool(a.pool)
        print(
            "template packet %d B, %d data packets, first %d B, version %d"
            % (len(t), len(d), len(d[0]), struct.unpack("!H", d[0][:2])[0])
        )


if __name__ == "__main__":
    main()
