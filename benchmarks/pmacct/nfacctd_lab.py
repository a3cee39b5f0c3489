"""nfacctd_lab.py -- the processes of bench_nfacctd.py: configs, gobgpd's session, the cgroup, stop.

write_configs writes nfacctd.conf (and, in bgp mode, the bgp_agent_map and gobgpd.toml) into the
run directory; gobgp_neighbor reads the session state and advertised routes from gobgpd's API;
cg_setup / cg_usage make and read the cgroup-v1 cpuacct group nfacctd runs in (its forked purge
writers' CPU never reaches the plugin's cutime); stop ends nfacctd (SIGINT) and every process in
``started`` by PID, and removes the cgroup.
"""

import json
import os
import signal
import subprocess
import time

GOBGP = ["gobgp", "-u", "127.0.0.3", "-p", "50051"]
started = []  # Popen objects we started
CG = (
    "/sys/fs/cgroup/cpuacct/anchor-bench-%d" % os.getpid()
)  # cgroup v1 cpuacct for nfacctd + its writer children


def cg_setup():
    try:
        os.mkdir(CG)
        return True
    except OSError as e:
        log("no cpuacct cgroup (%s): writer-children CPU will be taken from cutime/cstime only" % e)
        return False


def cg_usage():
    try:
        with open(CG + "/cpuacct.usage") as f:
            return int(f.read()) / 1e9
    except OSError:
        return None


def log(*a):
    print(time.strftime("%H:%M:%S"), *a, flush=True)


def write_configs(a, d):
    out = "/dev/null" if a.output == "devnull" else os.path.join(d, "out.json")
    c = [
        "daemonize: false",
        "logfile: %s/nfacctd.log" % d,
        "pidfile: %s/nfacctd.pid" % d,
        "nfacctd_ip: 127.0.0.4",
        "nfacctd_port: 2100",
        "nfacctd_time_new: true",
        "nfacctd_pipe_size: 4194304",  # SO_RCVBUF (net.core.rmem_max here = 4 MiB)
        "plugin_pipe_size: 104857600",
        "plugin_buffer_size: 102400",
    ]
    if a.mode == "bgp":
        c += [
            "bgp_daemon: true",
            "bgp_daemon_ip: 127.0.0.4",
            "bgp_daemon_port: 179",
            "bgp_daemon_id: 10.0.0.4",
            "bgp_daemon_as: 65001",
            "bgp_daemon_max_peers: 10",
            "bgp_agent_map: %s/bgp_agent.map" % d,
            "nfacctd_as: bgp",
        ]
        if not a.no_net_bgp:
            c += ["nfacctd_net: bgp"]
        with open(os.path.join(d, "bgp_agent.map"), "w") as f:
            f.write("bgp_ip=10.0.0.3\t\tip=127.0.0.1\n")
        with open(os.path.join(d, "gobgpd.toml"), "w") as f:
            f.write("""[global.config]
  as = 65001
  router-id = "10.0.0.3"
  port = 179
  local-address-list = ["127.0.0.3"]
[[neighbors]]
  [neighbors.config]
    neighbor-address = "127.0.0.4"
    peer-as = 65001
  [neighbors.transport.config]
    local-address = "127.0.0.3"
  [neighbors.timers.config]
    connect-retry = 2
  [neighbors.route-reflector.config]
    route-reflector-client = true
    route-reflector-cluster-id = "10.0.0.3"
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "ipv4-unicast"
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "ipv6-unicast"
""")
    else:
        c += ["nfacctd_as: netflow", "nfacctd_net: netflow"]
    c += [
        "plugins: print[out]",
        "aggregate[out]: src_host, dst_host, src_port, dst_port, proto, src_as, dst_as, as_path, "
        "peer_dst_ip, local_pref, std_comm",
        "print_output[out]: json",
        "print_output_file[out]: %s" % out,
        "print_output_file_append[out]: true",
        "print_refresh_time[out]: %d" % a.refresh,
        "print_cache_entries[out]: %d" % a.cache_entries,
    ]
    with open(os.path.join(d, "nfacctd.conf"), "w") as f:
        f.write("\n".join(c) + "\n")
    return out


def gobgp_neighbor():
    try:
        j = json.loads(
            subprocess.run(
                GOBGP + ["neighbor", "127.0.0.4", "-j"], capture_output=True, text=True, timeout=10
            ).stdout
        )
    except Exception:
        return None, 0
    st = j.get("state", {})
    adv = 0
    for af in j.get("afi_safis", []) or []:
        adv += int(af.get("state", {}).get("advertised", 0) or 0)
    return st.get("session_state"), adv


def stop(d, gob):
    pidf = os.path.join(d, "nfacctd.pid")
    try:
        core = int(open(pidf).read().split()[0])
        os.kill(core, signal.SIGINT)  # nfacctd exits cleanly on SIGINT (not on SIGTERM)
        for _ in range(100):
            if (
                not os.path.exists("/proc/%d" % core)
                or open("/proc/%d/stat" % core).read().split(") ")[1][0] == "Z"
            ):
                break
            time.sleep(0.1)
    except (OSError, ValueError):
        pass
    for p in started:
        if p.poll() is None and "nfacctd" not in p.args:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
    for p in started:  # nfacctd launcher (== core pid after exec)
        if p.poll() is None:
            p.send_signal(signal.SIGINT)
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
    if os.path.isdir(CG):
        for _ in range(50):
            try:
                os.rmdir(CG)
                break
            except OSError:
                time.sleep(0.2)
