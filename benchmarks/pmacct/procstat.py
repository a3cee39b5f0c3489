"""procstat.py -- what bench_nfacctd.py reads while nfacctd runs: /proc and the JSON output.

pstat gives a process's CPU times and RSS, children its child processes (the print plugin and
its purge writers), udp_drops the kernel's drop count of nfacctd's UDP socket, and count_output
the records (lines, sum of "packets", records without an AS path) in the print plugin's file.
"""

import os
import re

TCK = os.sysconf("SC_CLK_TCK")


def pstat(pid):
    """(utime, stime, cutime, cstime) seconds and RSS kB of pid."""
    with open("/proc/%d/stat" % pid) as f:
        s = f.read()
    fl = s[s.rindex(")") + 2 :].split()
    ut, st, cut, cst = (int(x) / TCK for x in fl[11:15])
    rss = 0
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
    return ut, st, cut, cst, rss


def children(pid):
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                s = f.read()
            if int(s[s.rindex(")") + 2 :].split()[1]) == pid:
                with open("/proc/%s/cmdline" % d, "rb") as f:
                    out.append((int(d), f.read().replace(b"\0", b" ").decode().strip()))
        except (OSError, ValueError):
            pass
    return out


def udp_drops(port=2100, ip_hex="0400007F"):
    key = "%s:%04X" % (ip_hex, port)
    with open("/proc/net/udp") as f:
        for line in f:
            p = line.split()
            if len(p) > 12 and p[1] == key:
                return int(p[-1])
    return 0


def count_output(path, off):
    lines = pk = noas = 0
    with open(path, "rb") as f:
        f.seek(off)
        rx = re.compile(rb'"packets": (\d+)')
        while True:
            b = f.read(64 << 20)
            if not b:
                break
            nl = b.rfind(b"\n")
            if nl >= 0 and nl != len(b) - 1:
                f.seek(f.tell() - (len(b) - nl - 1))
                b = b[: nl + 1]
            lines += b.count(b"\n")
            noas += b.count(b'"as_path": ""')
            pk += sum(int(x) for x in rx.findall(b))
    return lines, pk, noas
