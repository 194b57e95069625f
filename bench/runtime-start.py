#!/usr/bin/python3
"""Start latency of an OCI runtime: N sequential `run` of /bin/true in a
busybox bundle, pier-runtime side by side with crun (and runc when asked).

crun 1.8 and runc 1.1 refuse hybrid cgroup hosts, so each peer runs in a
private mount namespace where /sys/fs/cgroup/unified is unmounted; pier-runtime
runs on the host as it is.  Reports the median per run, the ratio to pier and
the peak RSS of one run (GNU time's %M).

usage: bench/runtime-start.py [--runs 100] [--pier build/pier-runtime] [--peers crun,runc]
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def make_bundle(pier, where):
    rootfs = os.path.join(where, "rootfs")
    os.makedirs(os.path.join(rootfs, "bin"))
    shutil.copy("/bin/busybox", os.path.join(rootfs, "bin", "busybox"))
    os.symlink("busybox", os.path.join(rootfs, "bin", "true"))
    os.symlink("busybox", os.path.join(rootfs, "bin", "sh"))
    for d in ("proc", "sys", "dev", "tmp"):
        os.makedirs(os.path.join(rootfs, d))
    subprocess.run([pier, "spec", "--bundle", where], check=True)
    cfg_path = os.path.join(where, "config.json")
    with open(cfg_path) as f:
        cfg = json.load(f)
    cfg["process"]["terminal"] = False
    cfg["process"]["args"] = ["/bin/true"]
    # crun 1.8 accepts only 1.0.x configs; the bundle is shared by every runtime
    cfg["ociVersion"] = "1.0.2"
    with open(cfg_path, "w") as f:
        json.dump(cfg, f)
    return where


def loop(cmd_prefix, bundle, root, runs):
    """Time `runs` sequential runs in this process (the peers call us again
    inside their mount namespace)."""
    times = []
    for i in range(runs):
        cid = "bench%d" % i
        t0 = time.perf_counter()
        r = subprocess.run(cmd_prefix + ["--root", root, "run", "--bundle", bundle, cid],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        t1 = time.perf_counter()
        if r.returncode != 0:
            sys.exit("run failed: %s" % r.stderr.decode())
        times.append((t1 - t0) * 1000.0)
    rss = subprocess.run(["/usr/bin/time", "-f", "%M"] + cmd_prefix +
                         ["--root", root, "run", "--bundle", bundle, "rss"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    peak_kb = int(rss.stderr.strip().splitlines()[-1])
    return {"median_ms": statistics.median(times), "p90_ms": sorted(times)[int(len(times) * 0.9) - 1],
            "min_ms": min(times), "peak_rss_kb": peak_kb}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=100)
    ap.add_argument("--pier", default=os.path.join(HERE, "..", "build", "pier-runtime"))
    ap.add_argument("--peers", default="crun")
    ap.add_argument("--inner", help=argparse.SUPPRESS)
    ap.add_argument("--bundle", help=argparse.SUPPRESS)
    ap.add_argument("--root", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.inner:
        print(json.dumps(loop([a.inner], a.bundle, a.root, a.runs)))
        return
    pier = os.path.abspath(a.pier)
    # State under /run (tmpfs), where runtimes keep it by default.
    work = tempfile.mkdtemp(prefix="pier-bench-", dir="/run")
    try:
        bundle = make_bundle(pier, os.path.join(work, "bundle"))
        results = {"pier-runtime": loop([pier], bundle, os.path.join(work, "pier-root"), a.runs)}
        for peer in [p for p in a.peers.split(",") if p]:
            exe = shutil.which(peer)
            if exe is None:
                print("%s: not installed, skipped" % peer)
                continue
            # With cgroup2 unmounted, crun and runc write their "unified"
            # cgroup dirs into the plain tmpfs underneath: remove them after.
            inner = ("umount /sys/fs/cgroup/unified || exit 1; /usr/bin/python3 %s --inner %s "
                     "--bundle %s --root %s --runs %d; rc=$?; "
                     "rm -rf /sys/fs/cgroup/unified/bench[0-9]* /sys/fs/cgroup/unified/rss; exit $rc") % (
                         os.path.abspath(__file__), exe, bundle, os.path.join(work, peer + "-root"), a.runs)
            out = subprocess.run(["unshare", "-m", "sh", "-c", inner], check=True,
                                 stdout=subprocess.PIPE, text=True).stdout
            results[peer] = json.loads(out.strip().splitlines()[-1])
        base = results["pier-runtime"]["median_ms"]
        print("%d sequential `run /bin/true` (busybox bundle, pid/net/ipc/uts/mount/cgroup namespaces)" % a.runs)
        print("%-14s %10s %10s %10s %12s %14s" % ("runtime", "median ms", "p90 ms", "min ms", "peak RSS KiB",
                                                  "median / pier"))
        for name, r in results.items():
            print("%-14s %10.2f %10.2f %10.2f %12d %14.2f" % (name, r["median_ms"], r["p90_ms"], r["min_ms"],
                                                              r["peak_rss_kb"], r["median_ms"] / base))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
