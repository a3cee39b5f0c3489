#!/usr/bin/env python3
"""bench_nfacctd.py -- nfacctd (pmacct) NetFlow v9 throughput / CPU / memory anchor.

  bench_nfacctd.py --mode bgp|nobgp [--output file|devnull] [--rates 50000,100000,...,0]
                   [--seconds 10] [--pool $BENCH_OUT/pool-v9-2M.bin] [--outdir DIR]

bgp   : gobgpd (127.0.0.3, AS65001) is started, peers with nfacctd's BGP daemon
        (127.0.0.4:179); the MRT table (default $BENCH_OUT/rib-100k.mrt,
        100k v4 + 20k v6) is injected with `gobgp mrt inject global`; nfacctd
        runs with nfacctd_as: bgp + bgp_agent_map (flows from 127.0.0.1 -> RIB of
        10.0.0.3).  Core-process RSS is sampled before the session, with the
        session up and 0 routes, and after the table is fully ingested.
nobgp : no BGP daemon, nfacctd_as: netflow (decode + cache + JSON only).
Both  : one print plugin, JSON, aggregate src_host,dst_host,src_port,dst_port,proto,
        src_as,dst_as,as_path,peer_dst_ip,local_pref,std_comm; output either to a
        file (records counted: sum of "packets", every sent record has packets=1)
        or to /dev/null (then only CPU and kernel socket drops are known).
For each rate step: sender.py sends for --seconds, the script waits for the print
plugin to purge, then reads utime+stime of the core process and
utime+stime+cutime+cstime of the print plugin (its cache purges run in forked
writer children, reaped by the plugin, so they land in cutime/cstime), kernel
drops on the UDP socket (/proc/net/udp) and counts the emitted records.
Everything goes to OUTDIR (default $BENCH_OUT/nfacctd-MODE-OUTPUT); results.json
and a table on stdout.  All processes started here are stopped at the end.
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from nfacctd_lab import (
    CG,
    GOBGP,
    cg_setup,
    cg_usage,
    gobgp_neighbor,
    log,
    started,
    stop,
    write_configs,
)
from procstat import children, count_output, pstat, udp_drops

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.environ.get("BENCH_OUT", os.path.abspath("bench-out"))


def _term(signum, frame):
    raise SystemExit("signal %d" % signum)


def main():
    signal.signal(signal.SIGTERM, _term)
    signal.signal(signal.SIGHUP, _term)
    ap = argparse.ArgumentParser()
    ap.add_argument("--mode", choices=("bgp", "nobgp"), default="bgp")
    ap.add_argument("--output", choices=("file", "devnull"), default="file")
    ap.add_argument("--rates", default="50000,100000,150000,200000,250000,300000,400000,0")
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--refresh", type=int, default=5)
    ap.add_argument("--cache-entries", type=int, default=500009)
    ap.add_argument("--pool", default=os.path.join(OUT, "pool-v9-2M.bin"))
    ap.add_argument("--pool-flows", type=int, default=2000000)
    ap.add_argument("--mrt", default=os.path.join(OUT, "rib-100k.mrt"))
    ap.add_argument("--expect-routes", type=int, default=120000)
    ap.add_argument("--no-net-bgp", action="store_true", help="bgp mode without nfacctd_net: bgp")
    ap.add_argument("--outdir")
    a = ap.parse_args()
    d = a.outdir or os.path.join(OUT, "nfacctd-%s-%s" % (a.mode, a.output))
    os.makedirs(d, exist_ok=True)
    for f in ("nfacctd.log", "out.json", "nfacctd.pid"):
        if os.path.exists(os.path.join(d, f)):
            os.unlink(os.path.join(d, f))
    if not os.path.exists(a.pool):
        log("building pool", a.pool)
        subprocess.run(
            [
                sys.executable,
                os.path.join(HERE, "flowgen.py"),
                "pool",
                a.pool,
                "--version",
                "9",
                "--flows",
                str(a.pool_flows),
            ],
            check=True,
        )
    outfile = write_configs(a, d)
    res = {"mode": a.mode, "output": a.output, "conf": os.path.join(d, "nfacctd.conf"), "steps": []}
    gob = None
    try:
        cg = cg_setup()
        cmd = ["nfacctd", "-f", os.path.join(d, "nfacctd.conf")]
        if cg:  # join the cgroup, then exec nfacctd (so its forked purge writers are accounted too)
            cmd = ["sh", "-c", 'echo $$ > %s/cgroup.procs && exec "$@"' % CG, "sh"] + cmd
        nf = subprocess.Popen(
            cmd,
            start_new_session=True,
            stdout=open(os.path.join(d, "nfacctd.stdout"), "w"),
            stderr=subprocess.STDOUT,
        )
        started.append(nf)
        pidf = os.path.join(d, "nfacctd.pid")
        for _ in range(100):
            if os.path.exists(pidf) and open(pidf).read().strip():
                break
            time.sleep(0.1)
        core = int(open(pidf).read().split()[0])
        res["core_pid"] = core
        time.sleep(6)
        plug = [p for p, c in children(core) if "Plugin" in c]
        log("nfacctd core pid", core, "(launched pid %d)" % nf.pid, "children", children(core))
        plugin = plug[0]
        res["rss_core_kb_start"] = pstat(core)[4]
        res["rss_plugin_kb_start"] = pstat(plugin)[4]
        if a.mode == "bgp":
            gob = subprocess.Popen(
                start_new_session=True,
                args=[
                    "gobgpd",
                    "-f",
                    os.path.join(d, "gobgpd.toml"),
                    "-p",
                    "--api-hosts",
                    "127.0.0.3:50051",
                    "--pprof-disable",
                ],
                stdout=open(os.path.join(d, "gobgpd.log"), "w"),
                stderr=subprocess.STDOUT,
            )
            started.append(gob)
            t0 = time.time()
            while time.time() - t0 < 60:
                st, _ = gobgp_neighbor()
                if st in ("established", "ESTABLISHED", 6, "BGP_FSM_ESTABLISHED"):
                    break
                time.sleep(0.5)
            log("BGP session state", st)
            time.sleep(3)
            c0 = pstat(core)
            res["rss_core_kb_session_0routes"] = c0[4]
            ti = time.time()
            r = subprocess.run(
                GOBGP + ["mrt", "inject", "global", a.mrt], capture_output=True, text=True
            )
            res["mrt_inject_s"] = round(time.time() - ti, 2)
            log("mrt inject rc", r.returncode, r.stderr.strip()[:200], "%.1fs" % (time.time() - ti))
            # wait until gobgp's advertised count and nfacctd's CPU are stable
            last, stable = None, 0
            while time.time() - ti < 300:
                time.sleep(1)
                st, adv = gobgp_neighbor()
                c = pstat(core)
                cur = (adv, round(c[0] + c[1], 2))
                stable = stable + 1 if cur == last else 0
                last = cur
                if adv >= a.expect_routes and stable >= 3:
                    break
            c1 = pstat(core)
            res["routes_advertised_by_gobgp"] = adv
            res["bgp_ingest_core_cpu_s"] = round(c1[0] + c1[1] - c0[0] - c0[1], 2)
            res["rss_core_kb_after_table"] = c1[4]
            res["rss_gobgpd_kb_after_table"] = pstat(gob.pid)[4]
            res["kb_per_route_core"] = round((c1[4] - c0[4]) / max(adv, 1), 3)
            log(
                "routes advertised",
                adv,
                "core RSS kB start/session/after",
                res["rss_core_kb_start"],
                c0[4],
                c1[4],
                "ingest CPU s",
                res["bgp_ingest_core_cpu_s"],
            )
        # warm-up: template + a few flows, wait for one purge, then discard output
        subprocess.run(
            [
                sys.executable,
                os.path.join(HERE, "sender.py"),
                a.pool,
                "--flows",
                "50000",
                "--rate",
                "50000",
                "--offset",
                "79000",
            ],
            capture_output=True,
        )
        time.sleep(a.refresh + 3)
        if outfile != "/dev/null":
            open(outfile, "w").close()
        seq, offset = 10**6, 0
        for rate in [float(x) for x in a.rates.split(",")]:
            pre_c, pre_p, drops0, cg0 = pstat(core), pstat(plugin), udp_drops(), cg_usage()
            loglen0 = os.path.getsize(os.path.join(d, "nfacctd.log"))
            r = subprocess.run(
                [
                    sys.executable,
                    os.path.join(HERE, "sender.py"),
                    a.pool,
                    "--rate",
                    str(rate),
                    "--seconds",
                    str(a.seconds),
                    "--start-seq",
                    str(seq),
                    "--offset",
                    str(offset),
                ],
                capture_output=True,
                text=True,
            )
            snd = json.loads(r.stdout.strip().splitlines()[-1])
            seq, offset = snd["next_seq"], snd["next_offset"]
            # wait until nfacctd (core + plugin + writer children) has been idle for a whole refresh
            # interval + 2 s, so the plugin's pipe backlog is drained and the last purge is written
            t_end, idle_since, lastsz, lastcpu = time.time(), None, -1, None
            while True:
                time.sleep(1)
                sz = os.path.getsize(outfile) if outfile != "/dev/null" else 0
                busy = any(True for _ in children(plugin))
                cu = cg_usage()
                if cu is None:
                    c_, p_ = pstat(core), pstat(plugin)
                    cu = c_[0] + c_[1] + p_[0] + p_[1] + p_[2] + p_[3]
                # an empty 5-s purge (fork of the ~2 GB plugin) costs a few 10 ms; draining costs ~1 CPU-s/s
                idle = lastcpu is not None and cu - lastcpu < 0.25 and sz == lastsz and not busy
                lastsz, lastcpu = sz, cu
                if not idle:
                    idle_since = None
                elif idle_since is None:
                    idle_since = time.time()
                if idle_since and time.time() - idle_since >= a.refresh + 2:
                    break
                if time.time() - t_end > 300:
                    log("WARNING: nfacctd never went idle")
                    break
            step_wait_s = round(time.time() - t_end, 1)
            post_c, post_p, drops1, cg1 = pstat(core), pstat(plugin), udp_drops(), cg_usage()
            with open(os.path.join(d, "nfacctd.log"), "rb") as f:
                f.seek(loglen0)
                warn = [
                    l.decode(errors="replace").strip() for l in f if b"WARN" in l or b"ERROR" in l
                ]
            step = {
                "target_flows_per_s": rate,
                "sent_flows": snd["flows"],
                "send_s": snd["seconds"],
                "sent_flows_per_s": snd["flows_per_s"],
                "sender_cpu_s": snd["sender_cpu_s"],
                "core_cpu_s": round(post_c[0] + post_c[1] - pre_c[0] - pre_c[1], 2),
                "plugin_cpu_s": round(post_p[0] + post_p[1] - pre_p[0] - pre_p[1], 2),
                "plugin_writer_children_cpu_s": round(
                    post_p[2] + post_p[3] - pre_p[2] - pre_p[3], 2
                ),
                "cgroup_total_cpu_s": round(cg1 - cg0, 2) if cg0 is not None else None,
                "udp_socket_drops": drops1 - drops0,
                "drain_wait_s": step_wait_s,
                "pmacct_warnings": len(warn),
                "warn_sample": warn[:3],
                "rss_core_kb": post_c[4],
                "rss_plugin_kb": post_p[4],
            }
            if outfile != "/dev/null":
                lines, pk, noas = count_output(outfile, 0)
                with open(outfile, "rb") as f, open(os.path.join(d, "out-sample.json"), "ab") as g:
                    for _ in range(3):
                        g.write(f.readline())
                open(outfile, "w").close()
                step.update(
                    {
                        "out_lines": lines,
                        "out_flows": pk,
                        "out_lines_no_as_path": noas,
                        "loss_pct": round(100.0 * (1 - pk / snd["flows"]), 3),
                        "emitted_flows_per_s_of_send_window": round(pk / snd["seconds"]),
                    }
                )
                done = pk
            else:
                done = snd["flows"] - (drops1 - drops0) * snd["recs_per_packet"]
                step["loss_pct_from_socket_drops"] = round(
                    100.0 * (drops1 - drops0) * snd["recs_per_packet"] / snd["flows"], 3
                )
            if (
                step["cgroup_total_cpu_s"] is not None
            ):  # writers = everything in the cgroup but core + plugin
                step["plugin_writer_children_cpu_s"] = round(
                    max(
                        0.0, step["cgroup_total_cpu_s"] - step["core_cpu_s"] - step["plugin_cpu_s"]
                    ),
                    2,
                )
            plug_all = step["plugin_cpu_s"] + step["plugin_writer_children_cpu_s"]
            step["core_flows_per_cpu_s"] = (
                round(done / step["core_cpu_s"]) if step["core_cpu_s"] else None
            )
            step["plugin_flows_per_cpu_s"] = round(done / plug_all) if plug_all else None
            step["total_flows_per_cpu_s"] = (
                round(done / (step["core_cpu_s"] + plug_all))
                if step["core_cpu_s"] + plug_all
                else None
            )
            res["steps"].append(step)
            log(json.dumps(step))
    finally:
        stop(d, gob)
        with open(os.path.join(d, "results.json"), "w") as f:
            json.dump(res, f, indent=1)
    print_table(res)


def print_table(res):
    print("\nmode=%s output=%s" % (res["mode"], res["output"]))
    for k in (
        "rss_core_kb_start",
        "rss_core_kb_session_0routes",
        "rss_core_kb_after_table",
        "routes_advertised_by_gobgp",
        "kb_per_route_core",
        "bgp_ingest_core_cpu_s",
        "mrt_inject_s",
        "rss_gobgpd_kb_after_table",
        "rss_plugin_kb_start",
    ):
        if k in res:
            print("  %-30s %s" % (k, res[k]))
    print(
        "  %9s %9s %8s %7s %5s %9s %9s %9s %9s %9s %6s"
        % (
            "target/s",
            "sent/s",
            "loss%",
            "drops",
            "warn",
            "core_cpu",
            "plug_cpu",
            "core f/cs",
            "plug f/cs",
            "all f/cs",
            "noAS",
        )
    )
    for s in res["steps"]:
        print(
            "  %9d %9d %8s %7d %5d %9.2f %9.2f %9s %9s %9s %6s"
            % (
                s["target_flows_per_s"],
                s["sent_flows_per_s"],
                s.get("loss_pct", s.get("loss_pct_from_socket_drops")),
                s["udp_socket_drops"],
                s["pmacct_warnings"],
                s["core_cpu_s"],
                s["plugin_cpu_s"] + s["plugin_writer_children_cpu_s"],
                s["core_flows_per_cpu_s"],
                s["plugin_flows_per_cpu_s"],
                s["total_flows_per_cpu_s"],
                s.get("out_lines_no_as_path", "-"),
            )
        )


if __name__ == "__main__":
    main()
