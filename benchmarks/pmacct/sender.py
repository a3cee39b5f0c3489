#!/usr/bin/env python3
"""sender.py -- blast a flowgen pool at a collector at a fixed flow rate.

Usage: sender.py POOL.bin --rate FLOWS_PER_S|0 (0 = as fast as possible)
                 [--seconds S | --flows N] [--dst 127.0.0.4:2100] [--src 127.0.0.1]
                 [--template-every 200] [--start-seq N]
Sends the template packet first (then waits 0.2 s), then data packets round-robin
from the pool, re-sending the template every --template-every data packets.
Sequence numbers are patched per packet (v9: export-packet counter, IPFIX: record
counter).  Prints one JSON line: packets, flows, template packets, seconds,
achieved flows/s, sender CPU seconds, last sequence number.
"""

import argparse
import json
import os
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import flowgen
from pacing import pace


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("pool")
    ap.add_argument("--rate", type=float, default=0)
    ap.add_argument("--seconds", type=float, default=0)
    ap.add_argument("--flows", type=int, default=0)
    ap.add_argument("--dst", default="127.0.0.4:2100")
    ap.add_argument("--src", default="127.0.0.1")
    ap.add_argument("--template-every", type=int, default=200)
    ap.add_argument("--start-seq", type=int, default=0)
    ap.add_argument("--offset", type=int, default=0, help="start index into the pool")
    a = ap.parse_args()
    tpl, data = flowgen.read_pool(a.pool)
    version, reclen, recs = flowgen.pool_info(tpl, data[0])
    bufs = [bytearray(p) for p in data]
    tbuf = bytearray(tpl)
    host, port = a.dst.rsplit(":", 1)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
    s.bind((a.src, 0))  # unconnected: ICMP port-unreachable must not abort the run
    addr = (host, int(port))
    sendto = s.sendto

    def send(b):
        sendto(b, addr)

    seq = a.start_seq
    seqoff = 12 if version == 9 else 8
    pack_into = struct.pack_into
    npool = len(bufs)
    limit_pk = (a.flows + recs - 1) // recs if a.flows else 0
    pps = a.rate / recs if a.rate else 0
    # template first
    pack_into("!I", tbuf, seqoff, seq)
    send(tbuf)
    if version == 9:
        seq += 1
    time.sleep(0.2)
    c0 = time.process_time()
    t0 = time.perf_counter()
    tend = t0 + a.seconds if a.seconds else float("inf")
    sent = tsent = 0
    i = a.offset % npool
    te = a.template_every
    while True:
        # batch of 32 packets between clock checks
        for _ in range(32):
            b = bufs[i]
            pack_into("!I", b, seqoff, seq)
            send(b)
            seq += 1 if version == 9 else recs
            sent += 1
            i += 1
            if i == npool:
                i = 0
            if sent % te == 0:
                pack_into("!I", tbuf, seqoff, seq)
                send(tbuf)
                tsent += 1
                if version == 9:
                    seq += 1
            if limit_pk and sent >= limit_pk:
                break
        now = time.perf_counter()
        if (limit_pk and sent >= limit_pk) or now >= tend:
            break
        pace(sent, pps, t0, now)
    el = time.perf_counter() - t0
    print(
        json.dumps(
            {
                "version": version,
                "packets": sent,
                "flows": sent * recs,
                "recs_per_packet": recs,
                "template_packets": tsent + 1,
                "seconds": round(el, 3),
                "target_flows_per_s": a.rate,
                "flows_per_s": round(sent * recs / el),
                "sender_cpu_s": round(time.process_time() - c0, 3),
                "next_seq": seq,
                "next_offset": i,
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
